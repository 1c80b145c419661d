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
/// signature. Duplicate fields, a missing sr/sig/se, a non-integer se are refused.
result<sas_token> parse_sas_token(std::string_view text);

/// HMAC-SHA256 over `resource_uri_raw + "\n" + se` with the base64-decoded key, compared in
/// constant time to the token's signature (spec §5.1: sign the `sr` exactly as it appears).
bool signature_matches(const sas_token& token, std::string_view base64_key);

/// Makes a token the way the SDKs do: sr = url_encode(resource_uri), sig = url_encode(base64
/// HMAC), field order sr, sig, se, skn (skn omitted when key_name is empty).
std::string make_sas_token(std::string_view resource_uri, std::string_view base64_key,
                           std::string_view key_name, std::int64_t expiry);

/// True when `scope` covers `target` as a segment-wise prefix (spec §5.2): `h/a/b` covers
/// `h/a/b` and `h/a/b/c` but not `h/a/bc`. Compared case-insensitively (host names and the
/// SDKs' path spellings differ only in case); a trailing `/` on `scope` is ignored.
bool resource_covers(std::string_view scope, std::string_view target);

}  // namespace emu::core
