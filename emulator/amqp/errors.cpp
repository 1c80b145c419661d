#include "emulator/amqp/errors.hpp"

namespace emu::amqp {

namespace {

std::string describe(core::hub_error code, std::string_view message) {
  std::string text = "ErrorCode:";
  text += core::error_name(code);
  text += ';';
  text += message;
  return text;
}

amqp_error make(std::string_view cond, core::hub_error code, std::string_view message) {
  return amqp_error{std::string(cond), describe(code, message), core::error_number(code)};
}

}  // namespace

amqp_error to_amqp_error(const core::error& e) {
  // spec §4.4 / sdk-wire §2.5: the condition alone decides the SDK's exception type.
  switch (e.code) {
    case core::hub_error::device_not_found:
    case core::hub_error::module_not_found:
      return make(condition::not_found, e.code, e.message);
    case core::hub_error::device_maximum_queue_depth_exceeded:
      return make(condition::resource_limit_exceeded, e.code, e.message);
    case core::hub_error::message_too_large:
      return make(condition::message_size_exceeded, e.code, e.message);
    case core::hub_error::unauthorized:
      return make(condition::unauthorized_access, e.code, e.message);
    case core::hub_error::argument_invalid:
      return make(condition::invalid_field, e.code, e.message);
    case core::hub_error::device_message_lock_lost:
      return make(condition::message_lock_lost, e.code, e.message);
    case core::hub_error::entity_not_found:
      // next-capabilities §9.6: core-amqp maps it to a non-retryable error.
      return make(condition::not_found, e.code, e.message);
    case core::hub_error::receiver_disconnected:
      // next-capabilities §1.2: core-amqp maps amqp:link:stolen to ReceiverDisconnectedError.
      return make(condition::link_stolen, e.code, e.message);
    case core::hub_error::throttled:
      // spec §4.4 (CS-ERR): Node maps it to ThrottlingError, which its retry policy retries.
      return make(condition::device_container_throttled, e.code, e.message);
    case core::hub_error::quota_exceeded:
      return make(condition::quota_exceeded, e.code, e.message);
    case core::hub_error::certificate_not_found:
    case core::hub_error::device_already_exists:
    case core::hub_error::module_already_exists:
    case core::hub_error::too_many_modules:
    case core::hub_error::precondition_failed:
    case core::hub_error::server_error:
    case core::hub_error::device_not_online:
    case core::hub_error::gateway_timeout:
      break;
  }
  return make(condition::internal_error, e.code, e.message);
}

amqp_error decode_error(std::string_view what) {
  return make(condition::decode_error, core::hub_error::argument_invalid, what);
}

amqp_error invalid_field(std::string_view what) {
  return make(condition::invalid_field, core::hub_error::argument_invalid, what);
}

amqp_error commit_failed() {
  return make(condition::internal_error, core::hub_error::server_error,
              "The hub could not store the change; try again.");
}

amqp_error unauthorized(std::string_view what) {
  return make(condition::unauthorized_access, core::hub_error::unauthorized, what);
}

}  // namespace emu::amqp
