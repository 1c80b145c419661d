#include "emulator/core/telemetry_stamps.hpp"

#include <string>

#include "emulator/core/ascii.hpp"
#include "emulator/core/identity_key.hpp"

namespace emu::core {

namespace {

constexpr std::string_view stamp_device_id = "iothub-connection-device-id";
constexpr std::string_view stamp_module_id = "iothub-connection-module-id";
constexpr std::string_view stamp_generation_id = "iothub-connection-auth-generation-id";
constexpr std::string_view stamp_auth_method = "iothub-connection-auth-method";

bool is_stamp(std::string_view name) {
  return iequals(name, stamp_device_id) || iequals(name, stamp_module_id) ||
         iequals(name, stamp_generation_id) || iequals(name, stamp_auth_method);
}

}  // namespace

void stamp_telemetry(std::vector<property>& properties, std::string_view identity,
                     std::string_view generation_id, bool hub_scope) {
  std::erase_if(properties, [](const property& x) { return is_stamp(x.name); });
  const auto ref = split_identity(identity);
  properties.push_back({std::string(stamp_device_id), std::string(ref.device_id)});
  if (ref.is_module())
    properties.push_back({std::string(stamp_module_id), std::string(ref.module_id)});
  properties.push_back({std::string(stamp_generation_id), std::string(generation_id)});
  properties.push_back({std::string(stamp_auth_method),
                        hub_scope ? R"({"scope":"hub","type":"sas","issuer":"iothub"})"
                                  : R"({"scope":"device","type":"sas","issuer":"iothub"})"});
}

}  // namespace emu::core
