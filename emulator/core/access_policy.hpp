#pragma once
/// Shared access policies and their permissions (spec §5.3).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace emu::core {

enum class permission : std::uint8_t {
  registry_read = 1,
  registry_write = 2,
  service_connect = 4,
  device_connect = 8,
};

using permission_set = std::uint8_t;

constexpr permission_set operator|(permission a, permission b) {
  return static_cast<permission_set>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
constexpr permission_set operator|(permission_set a, permission b) {
  return static_cast<permission_set>(a | static_cast<std::uint8_t>(b));
}
constexpr bool has(permission_set set, permission p) {
  return (set & static_cast<std::uint8_t>(p)) != 0;
}

struct access_policy {
  std::string name;
  std::string primary_key;    // base64
  std::string secondary_key;  // base64
  permission_set permissions = 0;
  friend bool operator==(const access_policy&, const access_policy&) = default;
};

/// "RegistryRead", "RegistryWrite", "ServiceConnect", "DeviceConnect" (the names used in the
/// Azure portal and ARM templates; the config file uses them too).
std::string_view to_string(permission p);
bool parse_permission(std::string_view name, permission& out);

}  // namespace emu::core
