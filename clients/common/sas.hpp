#pragma once
/// SAS tokens for IoT Hub, as the Azure IoT SDKs make them:
///
///   SharedAccessSignature sr={url-encoded resource}&sig={url-encoded base64 HMAC}&se={expiry}
///                         [&skn={policy name}]
///
/// The signature is HMAC-SHA256, keyed with the base64-decoded shared access key, over
/// "{url-encoded resource}\n{expiry}".
///
/// The samples stand alone: they talk to the hub (or the emulator) only through public protocols
/// and libraries, so this duplicates on purpose a little of what the emulator has in
/// emulator/core/crypto. Do not replace it with the emulator's code.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iothub_samples {

/// encodeURIComponent-strict: everything except A-Z a-z 0-9 - _ . ~ becomes %XX (upper case).
std::string url_encode(std::string_view text);

/// Percent-decoding. `+` stays `+` (the SDKs do the same); a malformed escape stays as is.
std::string url_decode(std::string_view text);

std::string base64_encode(std::string_view bytes);

/// Standard alphabet with padding; nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);

/// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256(std::string_view key, std::string_view data);

/// A SAS token for `resource` (not yet url-encoded, e.g. "myhub.azure-devices.net/devices/d1"),
/// valid until `expiry` (seconds since the Unix epoch). `key_name` is empty for device keys.
/// Throws std::invalid_argument if `key_base64` is not base64.
std::string make_sas_token(std::string_view resource, std::string_view key_base64,
                           std::string_view key_name, std::int64_t expiry);

/// Seconds since the Unix epoch, `ttl_seconds` from now.
std::int64_t expiry_in(std::int64_t ttl_seconds);

}  // namespace iothub_samples
