#include "emulator/amqp/method_message.hpp"

#include <proton/binary.hpp>
#include <proton/message.hpp>
#include <proton/scalar.hpp>
#include <proton/uuid.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <exception>
#include <limits>

namespace emu::amqp {

namespace {

amqp_error refusal(std::string_view condition, std::string text) {
  return amqp_error{std::string(condition), std::move(text), 0};
}

/// Bytes 0-7 of every call's uuid (byte 6 holds a version nibble 4, for parsers that look).
constexpr std::array<std::uint8_t, 8> call_mark{0x1e, 0x07, 0xb0, 0xe1, 0x3a, 0x11, 0x40, 0x00};

proton::uuid call_uuid(std::uint64_t call_id) {
  proton::uuid u{};
  std::copy(call_mark.begin(), call_mark.end(), u.begin());
  for (int i = 0; i < 8; ++i)
    u[static_cast<std::size_t>(8 + i)] = static_cast<std::uint8_t>(call_id >> (56 - 8 * i));
  return u;
}

std::optional<std::uint64_t> call_of(const proton::uuid& u) {
  if (!std::equal(call_mark.begin(), call_mark.end(), u.begin())) return std::nullopt;
  std::uint64_t id = 0;
  for (std::size_t i = 8; i < 16; ++i) id = (id << 8) | u[i];
  return id;
}

/// A uuid in its canonical text form (8-4-4-4-12 hex digits), any case.
std::optional<proton::uuid> parse_uuid(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  proton::uuid u{};
  std::size_t byte = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(text.data() + i, text.data() + i + 2, v, 16);
    if (ec != std::errc{} || end != text.data() + i + 2) return std::nullopt;
    u[byte++] = static_cast<std::uint8_t>(v);
    i += 2;
  }
  return u;
}

std::optional<std::int64_t> integer_of(const proton::value& v) {
  switch (v.type()) {
    case proton::BYTE:
    case proton::SHORT:
    case proton::INT:
    case proton::LONG:
    case proton::UBYTE:
    case proton::USHORT:
    case proton::UINT: {
      const auto text = property_text(v);
      std::int64_t n = 0;
      if (!text || std::from_chars(text->data(), text->data() + text->size(), n).ec != std::errc{})
        return std::nullopt;
      return n;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

std::vector<char> encode_method_request(std::uint64_t call_id, std::string_view name,
                                        std::string_view payload) {
  proton::message m;
  m.correlation_id(call_uuid(call_id));
  m.properties().put("IoThub-methodname", std::string(name));
  const std::string_view body = payload.empty() ? std::string_view("null") : payload;
  m.body(proton::binary(body.begin(), body.end()));
  m.inferred(true);  // a data section, not an amqp-value holding a binary
  auto bytes = encode_message(m);
  return bytes ? std::move(*bytes) : std::vector<char>{};
}

static decoded<method_response> decode_method_response_unchecked(std::span<const char> bytes) {
  auto dm = decode_message(bytes);
  if (!dm) return dm.error();
  if (dm->body.value || dm->body.sequence || dm->body.data > 1)
    return refusal(condition::decode_error, "A method response's body must be one data section.");
  const proton::message& m = dm->message;
  method_response r;
  const proton::message_id cid = m.correlation_id();
  if (cid.type() == proton::UUID) {
    r.call_id = call_of(proton::get<proton::uuid>(cid));
  } else if (cid.type() == proton::STRING) {
    if (const auto u = parse_uuid(proton::get<std::string>(cid))) r.call_id = call_of(*u);
  }
  std::optional<std::int64_t> status;
  if (auto bad = for_each_application_property(
          m, [&status](std::string name, const proton::value& v) -> std::optional<amqp_error> {
            if (name == "IoThub-status") status = integer_of(v);
            return std::nullopt;
          })) {
    return *bad;
  }
  if (!status || *status < std::numeric_limits<int>::min() ||
      *status > std::numeric_limits<int>::max())
    return refusal(condition::invalid_field,
                   "A method response needs the application property IoThub-status (an int).");
  r.status = static_cast<int>(*status);
  if (dm->body.data == 1) {
    const proton::value& body = m.body();
    if (body.type() != proton::BINARY)
      return refusal(condition::decode_error, "A method response's body must be a data section.");
    const auto bin = proton::get<proton::binary>(body);
    r.payload.assign(bin.begin(), bin.end());
  }
  return r;
}

decoded<method_response> decode_method_response(std::span<const char> bytes) {
  return decode_without_throwing("The method response",
                                 [&] { return decode_method_response_unchecked(bytes); });
}

std::string method_call_uuid(std::uint64_t call_id) {
  return call_uuid(call_id).str();
}

}  // namespace emu::amqp
