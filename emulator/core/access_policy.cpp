#include "emulator/core/access_policy.hpp"

#include <array>
#include <utility>

namespace emu::core {

namespace {
constexpr std::array<std::pair<permission, std::string_view>, 4> permission_names{{
    {permission::registry_read, "RegistryRead"},
    {permission::registry_write, "RegistryWrite"},
    {permission::service_connect, "ServiceConnect"},
    {permission::device_connect, "DeviceConnect"},
}};
}  // namespace

std::string_view to_string(permission p) {
  for (const auto& [value, name] : permission_names)
    if (value == p) return name;
  return "";
}

bool parse_permission(std::string_view name, permission& out) {
  for (const auto& [value, n] : permission_names) {
    if (n == name) {
      out = value;
      return true;
    }
  }
  return false;
}

}  // namespace emu::core
