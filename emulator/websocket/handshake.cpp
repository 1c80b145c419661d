#include "emulator/websocket/handshake.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cctype>

namespace emu::websocket {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// Calls fn(token) for each element of a comma-separated list until it returns true.
template <class Fn>
bool any_element(std::string_view list, Fn fn) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    if (fn(trim(list.substr(0, comma)))) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

/// base64 of exactly 16 bytes: 22 characters and "==".
bool is_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (std::size_t i = 0; i < 22; ++i) {
    const char c = key[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
  }
  return true;
}

handshake_result refuse(int status, std::string why) {
  handshake_result r;
  r.status = status;
  r.error = std::move(why);
  return r;
}

}  // namespace

std::string accept_key(std::string_view key) {
  static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string text(key);
  text += guid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  std::string out(28, '\0');  // base64 of 20 bytes
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), digest, SHA_DIGEST_LENGTH);
  return out;
}

handshake_result check_upgrade(const upgrade_request& r,
                               std::span<const std::string_view> supported) {
  if (r.method != "GET") return refuse(405, "A WebSocket upgrade must be a GET.");
  if (!any_element(r.upgrade, [](std::string_view t) { return iequals(t, "websocket"); }))
    return refuse(400, "This path serves WebSocket only: Upgrade: websocket is missing.");
  if (!any_element(r.connection, [](std::string_view t) { return iequals(t, "upgrade"); }))
    return refuse(400, "Connection: Upgrade is missing.");
  if (trim(r.version) != "13") return refuse(426, "Only Sec-WebSocket-Version 13 is supported.");
  if (!is_key(trim(r.key))) return refuse(400, "Sec-WebSocket-Key is missing or malformed.");
  handshake_result ok;
  const bool found = any_element(r.protocols, [&](std::string_view t) {
    for (std::size_t i = 0; i < supported.size(); ++i) {
      if (iequals(t, supported[i])) {
        ok.protocol = std::string(t);
        ok.chosen = i;
        return true;
      }
    }
    return false;
  });
  if (!found) {
    std::string names;
    for (const auto s : supported) names += (names.empty() ? "" : ", ") + std::string(s);
    return refuse(400, "Sec-WebSocket-Protocol must offer one of: " + names + ".");
  }
  ok.status = 101;
  ok.accept = accept_key(trim(r.key));
  return ok;
}

}  // namespace emu::websocket
