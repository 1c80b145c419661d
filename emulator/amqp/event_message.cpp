#include "emulator/amqp/event_message.hpp"

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/message.hpp>
#include <proton/scalar.hpp>
#include <proton/symbol.hpp>
#include <proton/timestamp.hpp>

#include <cstdint>
#include <string_view>

#include "emulator/amqp/message_codec.hpp"

namespace emu::amqp {

namespace {

bool starts_with_iothub_stamp(std::string_view name) {
  return name == "iothub-connection-device-id" || name == "iothub-connection-auth-method" ||
         name == "iothub-connection-auth-generation-id" || name == "iothub-connection-module-id";
}

}  // namespace

std::vector<char> encode_event(const core::telemetry_message& e) {
  proton::message m;
  auto& annotations = m.message_annotations();
  auto& app = m.properties();
  for (const auto& p : e.properties) {
    const std::string_view n = p.name;
    if (n == "$.mid") {
      m.id(p.value);
    } else if (n == "$.cid") {
      m.correlation_id(p.value);
    } else if (n == "$.uid") {
      m.user(p.value);
    } else if (n == "$.ct") {
      m.content_type(p.value);
    } else if (n == "$.ce") {
      m.content_encoding(p.value);
    } else if (n == "$.to") {
      m.to(p.value);
    } else if (n == "$.sub") {
      annotations.put(proton::symbol("dt-subject"), proton::scalar(p.value));
    } else if (n == "$.ctime") {
      app.put("iothub-creation-time-utc", proton::scalar(p.value));
    } else if (n.starts_with("$.")) {
      continue;
    } else if (starts_with_iothub_stamp(n)) {
      annotations.put(proton::symbol(p.name), proton::scalar(p.value));
    } else {
      app.put(p.name, proton::scalar(p.value));
    }
  }
  if (!e.module_id.empty())
    annotations.put(proton::symbol("iothub-connection-module-id"), proton::scalar(e.module_id));
  const proton::timestamp enqueued(core::to_unix_ms(e.enqueued_time));
  annotations.put(proton::symbol("iothub-enqueuedtime"), proton::scalar(enqueued));
  annotations.put(proton::symbol("iothub-message-source"), proton::scalar(e.source));
  annotations.put(proton::symbol("x-opt-sequence-number"),
                  proton::scalar(static_cast<std::int64_t>(e.sequence_number)));
  annotations.put(proton::symbol("x-opt-offset"), proton::scalar(std::to_string(e.offset)));
  annotations.put(proton::symbol("x-opt-enqueued-time"), proton::scalar(enqueued));
  annotations.put(proton::symbol("x-opt-partition-key"), proton::scalar(e.device_id));
  m.body(proton::binary(e.body));
  m.inferred(true);  // a binary body with `inferred` is sent as one data section
  auto bytes = encode_message(m);
  return bytes ? std::move(*bytes) : std::vector<char>{};
}

std::string event_delivery_tag(const core::telemetry_message& e) {
  std::string tag(8, '\0');
  auto v = static_cast<std::uint64_t>(e.sequence_number);
  for (int i = 7; i >= 0; --i) {
    tag[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return tag;
}

}  // namespace emu::amqp
