#pragma once
/// Small crypto and encoding helpers over OpenSSL libcrypto: base64, HMAC-SHA256, URL
/// encoding, constant-time comparison, random keys.
#include <optional>
#include <string>
#include <string_view>

namespace emu::core {

std::string base64_encode(std::string_view bytes);
/// Standard alphabet with padding; returns nullopt on any invalid character or length.
std::optional<std::string> base64_decode(std::string_view text);
/// HMAC-SHA256 of `message` with raw `key` bytes; returns the 32-byte digest.
std::string hmac_sha256(std::string_view key, std::string_view message);
/// Percent-encodes every byte except A-Z a-z 0-9 and `-_.~` (as JavaScript's
/// encodeURIComponent plus `!'()*`, i.e. the SDKs' "encodeUriComponentStrict"). Upper-case hex.
std::string url_encode(std::string_view s);
/// Decodes %XX escapes (either hex case). `+` stays `+` (spec §4.3: `+` is a legal id
/// character). Returns nullopt on a malformed escape.
std::optional<std::string> url_decode(std::string_view s);
/// Compares in time independent of where the inputs differ (lengths may leak).
bool constant_time_equal(std::string_view a, std::string_view b);
/// A new random 32-byte key, base64 (what Azure generates for devices and policies).
std::string random_key_base64();

}  // namespace emu::core
