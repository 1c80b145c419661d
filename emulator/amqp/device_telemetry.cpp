#include "emulator/amqp/device_telemetry.hpp"

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/message_id.hpp>
#include <proton/symbol.hpp>
#include <proton/timestamp.hpp>
#include <proton/value.hpp>

#include <exception>
#include "emulator/core/limits.hpp"
#include "emulator/core/time.hpp"

namespace emu::amqp {

namespace {

amqp_error refusal(std::string_view condition, std::string text) {
  return amqp_error{std::string(condition), std::move(text), 0};
}

}  // namespace

static decoded<device_telemetry> decode_device_telemetry_unchecked(std::span<const char> bytes) {
  auto dm = decode_message(bytes);
  if (!dm) return dm.error();
  const proton::message& m = dm->message;
  if (dm->body.value || dm->body.sequence)
    return refusal(condition::decode_error,
                   "The message body must be a data section (amqp-value and amqp-sequence bodies "
                   "are not supported).");
  if (dm->body.data > 1)
    return refusal(condition::decode_error, "The message body must be ONE data section.");

  device_telemetry t;
  auto& props = t.properties;
  const proton::message_id id = m.id();
  const proton::message_id cid = m.correlation_id();
  if (!valid_id_type(id.type()) || !valid_id_type(cid.type()))
    return refusal(condition::invalid_field,
                   "message-id and correlation-id must be a string, uuid, ulong or binary.");
  if (!id.empty()) props.push_back({"$.mid", message_id_to_string(id)});
  if (!cid.empty()) props.push_back({"$.cid", message_id_to_string(cid)});
  if (!m.user().empty()) props.push_back({"$.uid", m.user()});
  if (!m.content_type().empty()) props.push_back({"$.ct", m.content_type()});
  if (!m.content_encoding().empty()) props.push_back({"$.ce", m.content_encoding()});
  if (const auto expiry = m.expiry_time().milliseconds(); expiry != 0)
    props.push_back({"$.exp", core::to_iso8601(core::from_unix_ms(expiry))});
  if (auto ifid = annotation_text(m, "iothub-interface-id"); !ifid.empty())
    props.push_back({"$.ifid", std::move(ifid)});
  if (auto subject = annotation_text(m, "dt-subject"); !subject.empty())
    props.push_back({"$.sub", std::move(subject)});

  auto refused = for_each_application_property(
      m, [&props](std::string name, const proton::value& val) -> std::optional<amqp_error> {
        auto text = property_text(val);
        if (!text)
          return refusal(condition::invalid_field,
                         "Application property '" + name + "' has a type that is not supported.");
        // `$.` names are the system properties' (the MQTT property bag's): an application
        // property must not pose as one.
        if (!name.starts_with("$.")) props.push_back({std::move(name), std::move(*text)});
        return std::nullopt;
      });
  if (refused) return *refused;
  if (dm->body.data == 1) {
    const proton::value& body = m.body();
    if (body.type() != proton::BINARY)
      return refusal(condition::decode_error, "The data section is not binary.");
    const auto bin = proton::get<proton::binary>(body);
    t.body.assign(bin.begin(), bin.end());
  }
  std::size_t size = t.body.size();
  for (const auto& p : props) size += p.name.size() + p.value.size();
  if (size > core::limits::d2c_max_message_size)
    return refusal(condition::message_size_exceeded,
                   "The message is " + std::to_string(size) + " bytes; the limit is " +
                       std::to_string(core::limits::d2c_max_message_size) + ".");
  return t;
}

decoded<device_telemetry> decode_device_telemetry(std::span<const char> bytes) {
  return decode_without_throwing("The telemetry message",
                                 [&] { return decode_device_telemetry_unchecked(bytes); });
}

decoded<std::vector<device_telemetry>> decode_device_telemetry_batch(std::span<const char> bytes) {
  auto sections = data_sections(bytes);
  if (!sections) return sections.error();
  if (sections->empty())
    return refusal(condition::decode_error, "A batched message holds no messages.");
  if (sections->size() > max_batch_messages)
    return refusal(condition::decode_error, "A batched message holds more than " +
                                                std::to_string(max_batch_messages) + " messages.");
  std::vector<device_telemetry> out;
  out.reserve(sections->size());
  for (const auto& inner : *sections) {
    auto t = decode_device_telemetry(std::span<const char>(inner.data(), inner.size()));
    if (!t) {
      auto e = t.error();
      e.description = "In a batched message: " + e.description;
      return e;
    }
    out.push_back(std::move(*t));
  }
  return out;
}

}  // namespace emu::amqp
