#pragma once
/// The messages of a device's method links over AMQP (next-capabilities §3.3), without I/O.
///
/// A call (our sender on `/devices/{id}/methods/devicebound`): application property
/// `IoThub-methodname`, `correlation-id` an AMQP **uuid** (the C SDK refuses other types with
/// amqp:decode-error; Node takes a 16-byte uuid), and a data body holding the payload's JSON
/// (`null` when there is none: Node makes an empty body `undefined`).
///
/// The answer (the device's sender): the call's correlation-id (Node re-encodes the
/// uuid-looking string as a uuid; a string in uuid form is taken too), application property
/// `IoThub-status` (an integer), a data body with the JSON the caller gets.
///
/// The call's uuid carries the hub's call id, so the answer finds its call without a table:
/// bytes 0-7 are a fixed mark, bytes 8-15 the call id, big-endian.
///
/// Pure functions; thread-safe.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/amqp/message_codec.hpp"

namespace emu::amqp {

/// The call `call_id` of method `name` with `payload` (JSON text; empty = `null`).
std::vector<char> encode_method_request(std::uint64_t call_id, std::string_view name,
                                        std::string_view payload);

struct method_response {
  std::optional<std::uint64_t> call_id;  ///< nullopt: not a correlation-id we sent
  int status = 0;
  std::string payload;  ///< the body's text
};

/// A device's answer. amqp:decode-error for a malformed message or a body other than one data
/// section; amqp:invalid-field without an integer `IoThub-status` (it is not an answer).
decoded<method_response> decode_method_response(std::span<const char> bytes);

/// The uuid of call `call_id`, canonical text form (tests, logs).
std::string method_call_uuid(std::uint64_t call_id);

}  // namespace emu::amqp
