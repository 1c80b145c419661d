#include "emulator/amqp/twin_message.hpp"

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/message.hpp>
#include <proton/symbol.hpp>

#include <cstdint>
#include <exception>

namespace emu::amqp {

namespace {

amqp_error refusal(std::string_view condition, std::string text) {
  return amqp_error{std::string(condition), std::move(text), 0};
}

constexpr std::string_view reported_resource = "/properties/reported";
constexpr std::string_view desired_resource = "/notifications/twin/properties/desired";

/// The body's bytes: one data section, or none (empty).
std::optional<std::string> data_body(const decoded_message& dm) {
  if (dm.body.value || dm.body.sequence || dm.body.data > 1) return std::nullopt;
  if (dm.body.data == 0) return std::string{};
  const proton::value& body = dm.message.body();
  if (body.type() != proton::BINARY) return std::nullopt;
  const auto bin = proton::get<proton::binary>(body);
  return std::string(bin.begin(), bin.end());
}

std::vector<char> encode(proton::message& m) {
  auto bytes = encode_message(m);
  return bytes ? std::move(*bytes) : std::vector<char>{};
}

}  // namespace

static decoded<twin_request> decode_twin_request_unchecked(std::span<const char> bytes) {
  auto dm = decode_message(bytes);
  if (!dm) return dm.error();
  const proton::message& m = dm->message;
  twin_request r;
  r.correlation_id = m.correlation_id();
  if (r.correlation_id.empty() || !valid_id_type(r.correlation_id.type()))
    return refusal(condition::invalid_field,
                   "A twin request needs a correlation-id (string, uuid, ulong or binary): the "
                   "response carries it.");
  const auto body = data_body(*dm);
  if (!body)
    return refusal(condition::decode_error, "A twin request's body must be one data section.");
  const std::string operation = annotation_text(m, "operation");
  const std::string resource = annotation_text(m, "resource");
  if (operation == "GET" && resource.empty()) {
    r.operation = twin_operation::get;
  } else if (operation == "PATCH" && resource == reported_resource) {
    auto patch = nlohmann::json::parse(*body, nullptr, /*allow_exceptions=*/false);
    if (patch.is_discarded() || !patch.is_object()) {
      // The text IoT Hub sends (azure-iot-sdk-node#590), as over MQTT.
      r.problem = "Provided json is not a valid 'tags' or 'properties' object.";
      return r;
    }
    r.operation = twin_operation::patch_reported;
    r.patch = std::move(patch);
  } else if (operation == "PUT" && resource == desired_resource) {
    r.operation = twin_operation::subscribe_desired;
  } else if (operation == "DELETE" && resource == desired_resource) {
    r.operation = twin_operation::unsubscribe_desired;
  } else {
    r.problem = "Unknown twin operation '" + operation + "'" +
                (resource.empty() ? std::string() : " on '" + resource + "'") + ".";
  }
  return r;
}

decoded<twin_request> decode_twin_request(std::span<const char> bytes) {
  return decode_without_throwing("The twin request",
                                 [&] { return decode_twin_request_unchecked(bytes); });
}

std::vector<char> encode_twin_response(const proton::message_id& correlation_id, int status,
                                       std::optional<std::int64_t> version, std::string_view body) {
  proton::message m;
  m.correlation_id(correlation_id);
  m.message_annotations().put(proton::symbol("status"), static_cast<std::int32_t>(status));
  if (version) m.message_annotations().put(proton::symbol("version"), *version);
  m.body(proton::binary(body.begin(), body.end()));
  m.inferred(true);  // a data section, not an amqp-value holding a binary
  return encode(m);
}

std::vector<char> encode_desired_notification(std::int64_t version, std::string_view patch) {
  proton::message m;
  m.message_annotations().put(proton::symbol("version"), version);
  m.body(proton::binary(patch.begin(), patch.end()));
  m.inferred(true);  // a data section, not an amqp-value holding a binary
  return encode(m);
}

}  // namespace emu::amqp
