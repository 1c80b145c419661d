#pragma once
/// A device twin as a value (next-capabilities §2, DOC "Understand and use device twins"):
/// tags, desired and reported properties, each property section with its own `$version` and
/// `$metadata`, the twin's `version` and `etag`.
///
/// The JSON documents are held without `$version`/`$metadata`; those are kept beside them and
/// added when the twin is rendered (for the service, with metadata; for the device, without).
///
/// Thread safety: a value; copies are independent.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "emulator/core/time.hpp"

namespace emu::core {

/// One property section (desired or reported).
struct twin_properties {
  nlohmann::json values = nlohmann::json::object();
  /// Mirrors `values`: every object level and every leaf holds `$lastUpdated` (ISO 8601), and
  /// in desired also `$lastUpdatedVersion` (the section `$version` that last wrote it).
  nlohmann::json metadata = nlohmann::json::object();
  /// Starts at 1 (an empty section), +1 per write of the section (next-capabilities §2.2).
  std::int64_t version = 1;
  friend bool operator==(const twin_properties&, const twin_properties&) = default;
};

struct device_twin {
  std::string device_id;
  nlohmann::json tags = nlohmann::json::object();
  twin_properties desired;
  twin_properties reported;
  /// +1 on every change of tags, desired or reported.
  std::int64_t version = 1;
  /// Changes whenever tags or desired change (what a service's If-Match protects).
  std::string etag;
  friend bool operator==(const device_twin&, const device_twin&) = default;
};

/// `values` plus `$metadata` and `$version`, as the service REST API shows a section.
nlohmann::json section_for_service(const twin_properties& p);
/// `values` plus `$version` only, as devices receive a section (MQTT GET, spec table §2.2).
nlohmann::json section_for_device(const twin_properties& p);
/// The device-side GET body: `{"desired": {…,"$version":N}, "reported": {…,"$version":M}}`.
nlohmann::json twin_for_device(const device_twin& t);
/// The body of a device's twin error response (MQTT and AMQP), as IoT Hub's REST errors
/// (next-capabilities §2.2: the Node SDK needs `errorCode`): {"errorCode":400004,
/// "trackingId":…,"message":…,"timestampUtc":…}.
std::string twin_error_body(int error_number, std::string_view message, time_point now);

/// The stored form (one JSON document per twin, storage/ keeps it as text).
std::string to_stored(const device_twin& t);
/// nullopt when `text` is not a twin document this build wrote.
std::optional<device_twin> from_stored(std::string_view device_id, std::string_view text);

}  // namespace emu::core
