#include "emulator/amqp/selector_filter.hpp"

#include <charconv>
#include <cstdint>

#include "emulator/core/ascii.hpp"

namespace emu::amqp {

namespace {

constexpr std::size_t max_length = 1024;
constexpr std::string_view prefix = "amqp.annotation.";

using kind = core::event_position::kind;
using parsed = emu::result<core::event_position, std::string>;

parsed refuse(std::string text) {
  return failure<std::string>{std::move(text)};
}

/// A fragment of the peer's text as a refusal quotes it: anything but printable ASCII as \xHH,
/// cut to at most 64 characters (then "..."), so the message stays one short line (it goes
/// back to the peer in the attach's error).
std::string shown(std::string_view s) {
  constexpr std::size_t max_shown = 64;
  constexpr std::string_view hex = "0123456789abcdef";
  std::string out;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t width = c >= 0x20 && c < 0x7f ? 1 : 4;
    if (out.size() + width > max_shown) break;
    if (width == 1) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  if (i < s.size()) out += "...";
  return out;
}

void skip_spaces(std::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
}

}  // namespace

parsed parse_selector_filter(std::string_view s) {
  if (s.size() > max_length)
    return refuse("the selector filter is longer than " + std::to_string(max_length) +
                  " characters");
  if (s.find('\0') != std::string_view::npos)
    return refuse("the selector filter contains a NUL character");
  skip_spaces(s);
  if (s.size() < prefix.size() || !core::iequals(s.substr(0, prefix.size()), prefix))
    return refuse("the selector filter must start with 'amqp.annotation.'");
  s.remove_prefix(prefix.size());
  std::size_t name_end = 0;
  while (name_end < s.size() && s[name_end] != ' ' && s[name_end] != '\t' && s[name_end] != '>' &&
         s[name_end] != '<' && s[name_end] != '=' && s[name_end] != '!')
    ++name_end;
  const std::string_view name = s.substr(0, name_end);
  s.remove_prefix(name_end);
  core::event_position p;
  if (core::iequals(name, "x-opt-offset")) {
    p.what = kind::offset;
  } else if (core::iequals(name, "x-opt-sequence-number")) {
    p.what = kind::sequence_number;
  } else if (core::iequals(name, "x-opt-enqueued-time") ||
             core::iequals(name, "x-opt-enqueuedtimeutc")) {
    p.what = kind::enqueued_time;
  } else {
    return refuse("unknown annotation '" + shown(name) + "' in the selector filter");
  }
  skip_spaces(s);
  if (s.starts_with(">=")) {
    p.inclusive = true;
    s.remove_prefix(2);
  } else if (s.starts_with(">")) {
    s.remove_prefix(1);
  } else {
    return refuse("expected > or >= after '" + shown(name) + "'");
  }
  skip_spaces(s);
  std::string_view value;
  if (!s.empty() && s.front() == '\'') {
    const auto close = s.find('\'', 1);
    if (close == std::string_view::npos) return refuse("unterminated quote in the selector filter");
    value = s.substr(1, close - 1);
    s.remove_prefix(close + 1);
  } else {
    std::size_t end = 0;
    while (end < s.size() && s[end] != ' ' && s[end] != '\t') ++end;
    value = s.substr(0, end);
    s.remove_prefix(end);
  }
  skip_spaces(s);
  if (!s.empty()) return refuse("trailing text after the value of the selector filter");
  if (p.what == kind::offset && value == "@latest") {
    p.what = kind::latest;
    p.value = 0;
    p.inclusive = false;
    return p;
  }
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc{} || end != value.data() + value.size() ||
      (value.size() > 1 && value[0] == '+'))
    return refuse("the value of '" + shown(name) + "' must be an integer, not '" + shown(value) +
                  "'");
  if (p.what == kind::enqueued_time ? n < 0 : n < -1)
    return refuse("the value of '" + shown(name) + "' is out of range");
  p.value = n;
  return p;
}

std::string to_selector_filter(const core::event_position& p) {
  const std::string op = p.inclusive ? " >= '" : " > '";
  switch (p.what) {
    case kind::latest:
      return "amqp.annotation.x-opt-offset > '@latest'";
    case kind::offset:
      return "amqp.annotation.x-opt-offset" + op + std::to_string(p.value) + "'";
    case kind::sequence_number:
      return "amqp.annotation.x-opt-sequence-number" + op + std::to_string(p.value) + "'";
    case kind::enqueued_time:
      return "amqp.annotation.x-opt-enqueued-time" + op + std::to_string(p.value) + "'";
  }
  return {};
}

}  // namespace emu::amqp
