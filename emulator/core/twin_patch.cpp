#include "emulator/core/twin_patch.hpp"

namespace emu::core {

using json = nlohmann::json;

std::string_view to_string(twin_part p) {
  switch (p) {
    case twin_part::tags:
      return "tags";
    case twin_part::desired:
      return "desired properties";
    case twin_part::reported:
      return "reported properties";
  }
  return "properties";
}

std::size_t twin_limits::max_bytes(twin_part p) {
  switch (p) {
    case twin_part::tags:
      return max_tags_bytes;
    case twin_part::desired:
      return max_desired_bytes;
    case twin_part::reported:
      return max_reported_bytes;
  }
  return max_reported_bytes;
}

namespace {

status invalid(twin_part part, const std::string& what) {
  return error{
      hub_error::argument_invalid,
      "Provided json is not a valid '" + std::string(to_string(part)) + "' object: " + what + "."};
}

/// DOC "Tags and properties format": case-sensitive keys up to 1 KB of UTF-8, excluding
/// control characters (C0, C1), `.`, `$` and SP.
std::optional<std::string> key_problem(std::string_view key) {
  if (key.empty()) return "an empty property name";
  if (key.size() > twin_limits::max_key_bytes) return "a property name longer than 1 KB";
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c == 0x7f) return "a control character in a property name";
    // C1 controls U+0080..U+009F are UTF-8 0xC2 0x80..0x9F.
    if (c == 0xc2 && i + 1 < key.size() && static_cast<unsigned char>(key[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(key[i + 1]) <= 0x9f)
      return "a control character in a property name";
    if (c == '.' || c == '$' || c == ' ')
      return "'" + std::string(1, static_cast<char>(c)) + "' in the property name '" +
             std::string(key.substr(0, 64)) + "'";
  }
  return std::nullopt;
}

/// Walks `value` at nesting `depth` (the section root is 0). Recursion is bounded by
/// max_depth + 1: deeper documents are refused before descending further.
std::optional<std::string> value_problem(const json& value, int depth) {
  switch (value.type()) {
    case json::value_t::object:
    case json::value_t::array: {
      if (depth > twin_limits::max_depth)
        return "nesting deeper than " + std::to_string(twin_limits::max_depth) + " levels";
      if (value.is_object()) {
        for (const auto& [key, member] : value.items()) {
          if (auto p = key_problem(key)) return p;
          if (auto p = value_problem(member, depth + 1)) return p;
        }
      } else {
        for (const auto& element : value)
          if (auto p = value_problem(element, depth + 1)) return p;
      }
      return std::nullopt;
    }
    case json::value_t::string:
      if (value.get_ref<const std::string&>().size() > twin_limits::max_string_bytes)
        return "a string value longer than 4 KB";
      return std::nullopt;
    case json::value_t::number_integer: {
      const auto v = value.get<std::int64_t>();
      if (v < twin_limits::min_integer || v > twin_limits::max_integer)
        return "an integer outside [-4503599627370496, 4503599627370495]";
      return std::nullopt;
    }
    case json::value_t::number_unsigned: {
      if (value.get<std::uint64_t>() > static_cast<std::uint64_t>(twin_limits::max_integer))
        return "an integer outside [-4503599627370496, 4503599627370495]";
      return std::nullopt;
    }
    case json::value_t::number_float:
    case json::value_t::boolean:
    case json::value_t::null:
      return std::nullopt;
    case json::value_t::binary:
    case json::value_t::discarded:
      break;
  }
  return "a value that is not JSON";
}

}  // namespace

status check_twin_patch(const json& patch, twin_part part) {
  if (!patch.is_object()) return invalid(part, "it is not a JSON object");
  for (const auto& [key, member] : patch.items()) {
    if (auto p = key_problem(key)) return invalid(part, *p);
    if (auto p = value_problem(member, 1)) return invalid(part, *p);
  }
  return success();
}

std::size_t twin_section_size(const json& values) {
  return values.dump().size();
}

status check_twin_size(const json& values, twin_part part) {
  const auto size = twin_section_size(values);
  const auto max = twin_limits::max_bytes(part);
  if (size <= max) return success();
  std::string name(to_string(part));
  name[0] = static_cast<char>(name[0] - 'a' + 'A');
  return error{hub_error::argument_invalid, name + " would be " + std::to_string(size) +
                                                " bytes; the maximum is " + std::to_string(max) +
                                                " bytes."};
}

namespace {

void stamp_node(json& meta, const std::string& stamp, std::optional<std::int64_t> version) {
  meta["$lastUpdated"] = stamp;
  if (version) meta["$lastUpdatedVersion"] = *version;
}

}  // namespace

json metadata_for(const json& values, const std::string& stamp,
                  std::optional<std::int64_t> version) {
  json meta = json::object();
  if (values.is_object()) {
    for (const auto& [key, member] : values.items())
      meta[key] = metadata_for(member, stamp, version);
  }
  stamp_node(meta, stamp, version);
  return meta;
}

void merge_twin_patch(json& values, json& metadata, const json& patch, const std::string& stamp,
                      std::optional<std::int64_t> version) {
  if (!values.is_object()) values = json::object();
  if (!metadata.is_object()) metadata = json::object();
  for (const auto& [key, member] : patch.items()) {
    if (member.is_null()) {
      values.erase(key);
      metadata.erase(key);
    } else if (member.is_object()) {
      auto& target = values[key];
      auto& target_meta = metadata[key];
      if (!target.is_object()) {
        target = json::object();
        target_meta = json::object();
      }
      merge_twin_patch(target, target_meta, member, stamp, version);
    } else {
      values[key] = member;
      metadata[key] = metadata_for(member, stamp, version);
    }
  }
  stamp_node(metadata, stamp, version);
}

json top_level_diff(const json& before, const json& after) {
  json patch = json::object();
  if (before.is_object()) {
    for (const auto& [key, member] : before.items())
      if (!after.contains(key)) patch[key] = nullptr;
  }
  if (after.is_object()) {
    for (const auto& [key, member] : after.items()) {
      const auto old = before.is_object() ? before.find(key) : before.end();
      if (!before.is_object() || old == before.end() || *old != member) patch[key] = member;
    }
  }
  return patch;
}

}  // namespace emu::core
