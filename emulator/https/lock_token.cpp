#include "emulator/https/lock_token.hpp"

namespace emu::https {

namespace {

constexpr std::size_t token_length = 36;

bool is_dash_position(std::size_t i) {
  return i == 8 || i == 13 || i == 18 || i == 23;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string to_string(const lock_token& t) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(token_length);
  int nibble = 0;
  for (std::size_t i = 0; i < token_length; ++i) {
    if (is_dash_position(i)) {
      out.push_back('-');
      continue;
    }
    const std::uint64_t word = nibble < 16 ? t.seq : t.lock_id;
    const int shift = 60 - 4 * (nibble % 16);
    out.push_back(digits[(word >> shift) & 0xf]);
    ++nibble;
  }
  return out;
}

std::optional<lock_token> parse_lock_token(std::string_view text) {
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"')
    text = text.substr(1, text.size() - 2);
  if (text.size() != token_length) return std::nullopt;
  lock_token t;
  int nibble = 0;
  for (std::size_t i = 0; i < token_length; ++i) {
    if (is_dash_position(i)) {
      if (text[i] != '-') return std::nullopt;
      continue;
    }
    const int v = hex_value(text[i]);
    if (v < 0) return std::nullopt;
    std::uint64_t& word = nibble < 16 ? t.seq : t.lock_id;
    word = (word << 4) | static_cast<std::uint64_t>(v);
    ++nibble;
  }
  return t;
}

}  // namespace emu::https
