#pragma once
/// The key of an identity that connects: a device id, or `{deviceId}/{moduleId}` for a module
/// identity (issue 16) — the MQTT client id of spec §3.2. Sessions, twins, direct methods and
/// presence are kept per identity key, so a module is a connecting identity like a device.
/// Device and module ids never contain `/` (is_valid_device_id), so the key is unambiguous.
///
/// Pure; thread-safe.
#include <string>
#include <string_view>

namespace emu::core {

/// `{deviceId}/{moduleId}`.
inline std::string module_key(std::string_view device_id, std::string_view module_id) {
  std::string key;
  key.reserve(device_id.size() + 1 + module_id.size());
  key += device_id;
  key += '/';
  key += module_id;
  return key;
}

/// The parts of an identity key; `module_id` is empty for a device.
struct identity_ref {
  std::string_view device_id;
  std::string_view module_id;
  bool is_module() const { return !module_id.empty(); }
};

/// `{deviceId}` or `{deviceId}/{moduleId}` with both parts non-empty and at most one `/`.
/// Anything else (`d/`, `/m`, `d/m/x`) names no identity.
inline bool is_identity_key(std::string_view key) {
  if (key.empty()) return false;
  const auto slash = key.find('/');
  if (slash == std::string_view::npos) return true;
  return slash > 0 && slash + 1 < key.size() && key.find('/', slash + 1) == std::string_view::npos;
}

inline identity_ref split_identity(std::string_view key) {
  const auto slash = key.find('/');
  if (slash == std::string_view::npos) return {key, {}};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

}  // namespace emu::core
