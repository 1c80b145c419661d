#pragma once
/// Shared access signature tokens (spec §5.1, §5.2):
///   SharedAccessSignature sr={url-encoded uri}&sig={url-encoded base64}&se={unix s}[&skn={policy}]
/// Field order varies; field names match case-insensitively; the prefix is exact.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/core/errors.hpp"

namespace emu::core {

struct sas_token {
  std::string resource_uri_raw;  // `sr` exactly as in the token (still URL-encoded)
  std::string resource_uri;      // `sr` URL-decoded
  std::string signature;         // `sig` URL-decoded (base64 text)
  std::int64_t expiry = 0;       // `se`, seconds since 1970-01-01 UTC
  std::string key_name;          // `skn` URL-decoded; empty for device-key tokens
};

/// Parses a token. Errors are `argument_invalid` with a reason that never contains the
/// signature. Duplicate fields, a missing or empty sr/sig/se, a non-integer (or negative) se and
/// a malformed %-escape are refused; unknown fields and empty `&&` segments are ignored.
result<sas_token> parse_sas_token(std::string_view text);

/// HMAC-SHA256 over `resource_uri_raw + "\n" + se` with the base64-decoded key, compared in
/// constant time to the token's signature (spec §5.1: sign the `sr` exactly as it appears).
/// False for a key that is not base64. Does not check expiry or scope.
bool signature_matches(const sas_token& token, std::string_view base64_key);

/// The same HMAC with the key's TEXT as the HMAC key (its bytes as written, not decoded): how
/// the Event Hubs clients sign (next-capabilities §1.3, core-amqp `hmacSha256`), so the same
/// SharedAccessKey gives another signature there than on the IoT Hub side.
bool signature_matches_text_key(const sas_token& token, std::string_view key_text);

/// Makes a token the way the SDKs do: sr = url_encode(resource_uri), sig = url_encode(base64
/// HMAC), field order sr, sig, skn, se as Node's toString writes it (skn omitted when key_name
/// is empty). Byte-identical to the Node SDK's device tokens except for ids containing `*`
/// (Node writes `%2a`); Node's service client puts the bare HostName in `sr` unencoded, so
/// `localhost:15671` differs (`%3A` here). Both verify, since sr is signed as written. An
/// undecodable key signs with an empty key (the token then verifies against no real key).
std::string make_sas_token(std::string_view resource_uri, std::string_view base64_key,
                           std::string_view key_name, std::int64_t expiry);

/// A token as it may appear in a log: its `sr`, `skn` and `se`, never the signature (nor, of
/// course, a key); "(not a SAS token)" for anything else.
std::string describe_token(std::string_view token);

/// True when `scope` covers `target` as a segment-wise prefix (spec §5.2): `h/a/b` covers
/// `h/a/b` and `h/a/b/c` but not `h/a/bc`. Compared case-insensitively (host names and the
/// SDKs' path spellings differ only in case); a trailing `/` on `scope` is ignored.
bool resource_covers(std::string_view scope, std::string_view target);

}  // namespace emu::core
