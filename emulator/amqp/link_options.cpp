#include "emulator/amqp/link_options.hpp"

#include <string_view>

namespace emu::amqp {

namespace {

constexpr std::string_view selector_key = "apache.org:selector-filter:string";
constexpr std::uint64_t selector_code = 0x0000468C00000004ULL;
constexpr std::string_view epoch_key = "com.microsoft:epoch";

std::optional<std::string_view> key_text(pn_data_t* d) {
  const pn_type_t t = pn_data_type(d);
  pn_bytes_t b{};
  if (t == PN_SYMBOL) {
    b = pn_data_get_symbol(d);
  } else if (t == PN_STRING) {
    b = pn_data_get_string(d);
  } else {
    return std::nullopt;
  }
  return std::string_view(b.start, b.size);
}

std::optional<std::int64_t> integer(pn_data_t* d) {
  switch (pn_data_type(d)) {
    case PN_LONG:
      return pn_data_get_long(d);
    case PN_INT:
      return pn_data_get_int(d);
    case PN_SHORT:
      return pn_data_get_short(d);
    case PN_BYTE:
      return pn_data_get_byte(d);
    case PN_ULONG: {
      const auto v = pn_data_get_ulong(d);
      if (v > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
      return static_cast<std::int64_t>(v);
    }
    case PN_UINT:
      return pn_data_get_uint(d);
    case PN_USHORT:
      return pn_data_get_ushort(d);
    case PN_UBYTE:
      return pn_data_get_ubyte(d);
    default:
      return std::nullopt;
  }
}

/// Positions `d` on the value of `key` in the map at its top level; false if not found.
bool find_map_value(pn_data_t* d, std::string_view key) {
  pn_data_rewind(d);
  if (!pn_data_next(d) || pn_data_type(d) != PN_MAP) return false;
  pn_data_enter(d);
  while (pn_data_next(d)) {
    const auto k = key_text(d);
    if (!pn_data_next(d)) return false;
    if (k && *k == key) return true;
  }
  return false;
}

}  // namespace

emu::result<std::optional<std::string>, std::string> selector_filter_text(pn_data_t* filter) {
  // An entry is a selector filter by its key (the clients use the filter's name) or by its
  // descriptor (Proton's Selector option names it "selector").
  if (filter == nullptr) return std::optional<std::string>{};
  pn_data_rewind(filter);
  if (!pn_data_next(filter) || pn_data_type(filter) != PN_MAP) return std::optional<std::string>{};
  pn_data_enter(filter);
  while (pn_data_next(filter)) {
    const auto key = key_text(filter);
    if (!pn_data_next(filter)) break;
    const bool by_key = key && *key == selector_key;
    if (pn_data_type(filter) != PN_DESCRIBED) {
      if (by_key)
        return failure<std::string>{std::string("the selector filter is not a described value")};
      continue;
    }
    pn_data_enter(filter);
    if (!pn_data_next(filter))
      return failure<std::string>{std::string("a filter has no descriptor")};
    const bool by_code =
        pn_data_type(filter) == PN_ULONG && pn_data_get_ulong(filter) == selector_code;
    const auto name = key_text(filter);
    const bool by_name = name && *name == selector_key;
    if (!by_code && !by_name) {
      if (by_key)
        return failure<std::string>{std::string("the selector filter has an unknown descriptor")};
      pn_data_exit(filter);
      continue;
    }
    if (!pn_data_next(filter) || pn_data_type(filter) != PN_STRING)
      return failure<std::string>{std::string("the selector filter's value is not a string")};
    const pn_bytes_t b = pn_data_get_string(filter);
    return std::optional<std::string>(std::string(b.start, b.size));
  }
  return std::optional<std::string>{};
}

std::optional<std::int64_t> link_epoch(pn_data_t* properties) {
  if (properties == nullptr || !find_map_value(properties, epoch_key)) return std::nullopt;
  return integer(properties);
}

std::string link_channel(pn_data_t* properties) {
  if (properties == nullptr || !find_map_value(properties, "com.microsoft:channel-correlation-id"))
    return {};
  const auto type = pn_data_type(properties);
  if (type != PN_STRING && type != PN_SYMBOL) return {};
  const pn_bytes_t b =
      type == PN_STRING ? pn_data_get_string(properties) : pn_data_get_symbol(properties);
  return std::string(b.start, b.size);
}

}  // namespace emu::amqp
