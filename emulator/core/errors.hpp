#pragma once
/// IoT Hub-shaped errors returned by the core. Fronts map them to wire outcomes in one place
/// each (AMQP conditions: spec §4.4; HTTP status: spec §6.3; MQTT: CONNACK 5 or close).
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "emulator/base/result.hpp"

namespace emu::core {

enum class hub_error {
  argument_invalid,                     // 400004
  unauthorized,                         // 401002 IotHubUnauthorizedAccess
  device_maximum_queue_depth_exceeded,  // 403004
  device_not_found,                     // 404001
  device_not_online,                    // 404103 (direct methods)
  device_already_exists,                // 409001
  precondition_failed,                  // 412001
  device_message_lock_lost,             // 412002
  message_too_large,                    // 413001
  server_error,                         // 500001
  gateway_timeout,                      // 504101 (direct methods: no answer in time)
  entity_not_found,                     // 404 (Event Hubs: no such consumer group or partition)
  receiver_disconnected,                // 409 (Event Hubs: a reader with a higher epoch took over)
  certificate_not_found,                // 404 (CA certificates: no such name)
  module_not_found,                     // 404010
  module_already_exists,                // 409301 ModuleAlreadyExistsOnDevice
  too_many_modules,                     // 413003 TooManyModulesOnDevice
  throttled,                            // 429001 ThrottlingException
  quota_exceeded,                       // 403002 IotHubQuotaExceeded
};

/// The error's name as IoT Hub spells it ("DeviceNotFound"), used in `ErrorCode:` texts.
std::string_view error_name(hub_error e);
/// The six-digit IoT Hub error number (spec §6.3), e.g. 404001.
int error_number(hub_error e);

struct error {
  hub_error code;
  std::string message;
};

/// A hub result: the value, or the IoT Hub-shaped error (base/result.hpp).
template <class T>
using result = emu::result<T, error>;

using ok_t = emu::ok_t;
using status = result<ok_t>;
inline status success() {
  return ok_t{};
}

}  // namespace emu::core
