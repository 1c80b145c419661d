// The one mapping of hub errors to AMQP conditions (spec §4.4, sdk-wire §2.5).
#include <doctest/doctest.h>

#include "emulator/amqp/errors.hpp"

using namespace emu::amqp;
using emu::core::error;
using emu::core::hub_error;

TEST_CASE("hub errors map to the conditions the SDKs turn into their exceptions") {
  const auto cond = [](hub_error e) { return to_amqp_error(error{e, "m"}).condition; };
  CHECK(cond(hub_error::device_not_found) == "amqp:not-found");
  CHECK(cond(hub_error::device_maximum_queue_depth_exceeded) == "amqp:resource-limit-exceeded");
  CHECK(cond(hub_error::message_too_large) == "amqp:link:message-size-exceeded");
  CHECK(cond(hub_error::unauthorized) == "amqp:unauthorized-access");
  CHECK(cond(hub_error::argument_invalid) == "amqp:invalid-field");
  CHECK(cond(hub_error::device_message_lock_lost) == "com.microsoft:message-lock-lost");
  CHECK(cond(hub_error::server_error) == "amqp:internal-error");
  CHECK(cond(hub_error::precondition_failed) == "amqp:internal-error");
}

TEST_CASE("descriptions are ErrorCode:{Name};{message} and carry the error number") {
  const auto e = to_amqp_error(error{hub_error::device_not_found, "Device x not found."});
  CHECK(e.description == "ErrorCode:DeviceNotFound;Device x not found.");
  CHECK(e.error_code == 404001);
  CHECK(decode_error("bad").condition == "amqp:decode-error");
  CHECK(decode_error("bad").description == "ErrorCode:ArgumentInvalid;bad");
  CHECK(invalid_field("x").condition == "amqp:invalid-field");
  CHECK(commit_failed().condition == "amqp:internal-error");
  CHECK(unauthorized("no token").condition == "amqp:unauthorized-access");
}
