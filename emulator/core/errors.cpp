#include "emulator/core/errors.hpp"

namespace emu::core {

std::string_view error_name(hub_error e) {
  switch (e) {
    case hub_error::argument_invalid:
      return "ArgumentInvalid";
    case hub_error::unauthorized:
      return "IotHubUnauthorizedAccess";
    case hub_error::device_maximum_queue_depth_exceeded:
      return "DeviceMaximumQueueDepthExceeded";
    case hub_error::device_not_found:
      return "DeviceNotFound";
    case hub_error::device_not_online:
      return "DeviceNotOnline";
    case hub_error::device_already_exists:
      return "DeviceAlreadyExists";
    case hub_error::precondition_failed:
      return "PreconditionFailed";
    case hub_error::device_message_lock_lost:
      return "DeviceMessageLockLost";
    case hub_error::message_too_large:
      return "MessageTooLarge";
    case hub_error::server_error:
      return "ServerError";
    case hub_error::gateway_timeout:
      return "GatewayTimeout";
    case hub_error::entity_not_found:
      return "EntityNotFound";
    case hub_error::receiver_disconnected:
      return "ReceiverDisconnected";
    case hub_error::certificate_not_found:
      return "CertificateNotFound";
    case hub_error::module_not_found:
      return "ModuleNotFound";
    case hub_error::module_already_exists:
      return "ModuleAlreadyExistsOnDevice";
    case hub_error::too_many_modules:
      return "TooManyModulesOnDevice";
    case hub_error::throttled:
      return "ThrottlingException";
    case hub_error::quota_exceeded:
      return "IotHubQuotaExceeded";
  }
  return "ServerError";
}

int error_number(hub_error e) {
  switch (e) {
    case hub_error::argument_invalid:
      return 400004;
    case hub_error::unauthorized:
      return 401002;
    case hub_error::device_maximum_queue_depth_exceeded:
      return 403004;
    case hub_error::device_not_found:
      return 404001;
    case hub_error::device_not_online:
      return 404103;
    case hub_error::device_already_exists:
      return 409001;
    case hub_error::precondition_failed:
      return 412001;
    case hub_error::device_message_lock_lost:
      return 412002;
    case hub_error::message_too_large:
      return 413001;
    case hub_error::server_error:
      return 500001;
    case hub_error::gateway_timeout:
      return 504101;
    // Event Hubs errors have no six-digit IoT Hub number; the HTTP-like status stands in.
    case hub_error::entity_not_found:
      return 404;
    case hub_error::receiver_disconnected:
      return 409;
    // ARM answers an unknown certificate name with 404 "CertificateNotFound" (UNCONFIRMED number).
    case hub_error::certificate_not_found:
      return 404002;
    case hub_error::module_not_found:
      return 404010;
    case hub_error::module_already_exists:
      return 409301;
    case hub_error::too_many_modules:
      return 413003;
    case hub_error::throttled:
      return 429001;
    case hub_error::quota_exceeded:
      return 403002;
  }
  return 500001;
}

}  // namespace emu::core
