#pragma once
/// IoT Hub-shaped errors returned by the core. Fronts map them to wire outcomes in one place
/// each (AMQP conditions: spec §4.4; HTTP status: spec §6.3; MQTT: CONNACK 5 or close).
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace emu::core {

enum class hub_error {
  argument_invalid,                     // 400004
  unauthorized,                         // 401002 IotHubUnauthorizedAccess
  device_maximum_queue_depth_exceeded,  // 403004
  device_not_found,                     // 404001
  device_already_exists,                // 409001
  precondition_failed,                  // 412001
  device_message_lock_lost,             // 412002
  message_too_large,                    // 413001
  server_error,                         // 500001
};

/// The error's name as IoT Hub spells it ("DeviceNotFound"), used in `ErrorCode:` texts.
std::string_view error_name(hub_error e);
/// The six-digit IoT Hub error number (spec §6.3), e.g. 404001.
int error_number(hub_error e);

struct error {
  hub_error code;
  std::string message;
};

/// A value or an error. (std::expected is C++23; this is the small subset we need.)
template <class T>
class result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(error e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  const error& err() const { return std::get<1>(v_); }

 private:
  std::variant<T, error> v_;
};

struct ok_t {};
using status = result<ok_t>;
inline status success() {
  return ok_t{};
}

}  // namespace emu::core
