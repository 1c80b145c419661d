#include "emulator/core/device.hpp"

#include "emulator/core/limits.hpp"

namespace emu::core {

std::string_view to_string(device_status s) {
  return s == device_status::enabled ? "enabled" : "disabled";
}

std::string_view to_string(auth_type t) {
  switch (t) {
    case auth_type::sas:
      return "sas";
    case auth_type::self_signed:
      return "selfSigned";
    case auth_type::certificate_authority:
      return "certificateAuthority";
    case auth_type::none:
      return "none";
  }
  return "sas";
}

std::optional<auth_type> parse_auth_type(std::string_view text) {
  for (const auto t :
       {auth_type::sas, auth_type::self_signed, auth_type::certificate_authority, auth_type::none})
    if (text == to_string(t)) return t;
  return std::nullopt;
}

/// SHA-1 (40) or SHA-256 (64) hex digits, upper-cased; nullopt otherwise.
std::optional<std::string> normal_thumbprint(std::string_view text) {
  if (text.size() != 40 && text.size() != 64) return std::nullopt;
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c >= '0' && c <= '9')
      out.push_back(c);
    else if (c >= 'a' && c <= 'f')
      out.push_back(static_cast<char>(c - 'a' + 'A'));
    else if (c >= 'A' && c <= 'F')
      out.push_back(c);
    else
      return std::nullopt;
  }
  return out;
}

bool is_valid_device_id(std::string_view id) {
  if (id.empty() || id.size() > limits::device_id_max_length) return false;
  for (const char c : id) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum) continue;
    switch (c) {
      case '-':
      case '.':
      case '+':
      case '%':
      case '_':
      case '#':
      case '*':
      case '?':
      case '!':
      case '(':
      case ')':
      case ',':
      case '=':
      case '@':
      case '$':
      case '\'':
      case ':':
      case ';':
        continue;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace emu::core
