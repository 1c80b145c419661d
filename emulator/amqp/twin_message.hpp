#pragma once
/// The messages of a device's twin links over AMQP (next-capabilities §2.5), without I/O.
///
/// Requests (the device's sender on `/devices/{id}/twin`): message annotation `operation` =
/// GET | PATCH | PUT | DELETE, `resource` = (none) | `/properties/reported` |
/// `/notifications/twin/properties/desired`, a `correlation-id` (Node and C send a string),
/// a data body (`" "` for GET/PUT/DELETE, the JSON patch for PATCH).
///
/// Responses (our sender): the request's correlation-id with its type, message annotations
/// `status` (AMQP int: the C SDK reads it with amqpvalue_get_int) and, where there is one,
/// `version` (AMQP long: the C SDK refuses any other type); a data body (JSON, empty for 204).
/// Desired-property notifications carry no correlation-id (Node tells them from responses by
/// that), the patch with its `$version` as body and `version` as annotation.
///
/// Pure functions; thread-safe.
#include <proton/message_id.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/amqp/message_codec.hpp"

namespace emu::amqp {

enum class twin_operation {
  get,                  ///< GET: the whole twin
  patch_reported,       ///< PATCH /properties/reported
  subscribe_desired,    ///< PUT /notifications/twin/properties/desired
  unsubscribe_desired,  ///< DELETE /notifications/twin/properties/desired
  invalid,              ///< anything else: answered 400 with `problem`
};

struct twin_request {
  proton::message_id correlation_id;
  twin_operation operation = twin_operation::invalid;
  std::string problem;   ///< why the request is invalid
  nlohmann::json patch;  ///< PATCH: the reported patch (an object)
};

/// A twin request. amqp:decode-error for a malformed message or a body that is not data
/// sections; amqp:invalid-field without a correlation-id (no answer could be matched). An
/// unknown operation or resource, or a PATCH body that is not a JSON object, is a request with
/// operation `invalid` (the device gets a 400 response, as over MQTT).
decoded<twin_request> decode_twin_request(std::span<const char> bytes);

/// A response to the request with `correlation_id`.
std::vector<char> encode_twin_response(const proton::message_id& correlation_id, int status,
                                       std::optional<std::int64_t> version, std::string_view body);

/// A desired-properties notification: `patch` is the JSON text with `$version`.
std::vector<char> encode_desired_notification(std::int64_t version, std::string_view patch);

}  // namespace emu::amqp
