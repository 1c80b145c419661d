#include "emulator/amqp/event_message.hpp"

#include <cstdint>
#include <string_view>
#include <unordered_set>
#include <variant>

#include "emulator/amqp/amqp_writer.hpp"

namespace emu::amqp {

namespace {

// AMQP 1.0 §3.2 section descriptors.
constexpr std::uint8_t section_message_annotations = 0x72;
constexpr std::uint8_t section_properties = 0x73;
constexpr std::uint8_t section_application_properties = 0x74;
constexpr std::uint8_t section_data = 0x75;

/// The stamps the hub appends to a device's properties (mqtt/session): message annotations.
/// The module id comes from the event itself, never from a property a device could set.
bool is_hub_stamp(std::string_view name) {
  return name == "iothub-connection-device-id" || name == "iothub-connection-auth-method" ||
         name == "iothub-connection-auth-generation-id";
}

struct text {
  std::string_view value;
};
struct timestamp {
  std::int64_t unix_ms;
};
using annotation_value = std::variant<text, timestamp, std::int64_t>;

struct annotation {
  std::string_view key;
  annotation_value value;
};
struct app_property {
  std::string_view name;
  std::string_view value;
};

/// Calls `emit` for each entry whose key no later entry repeats: an AMQP map holds distinct
/// keys, and the last value wins as it did with proton::map::put.
template <class Entry, class Key, class Emit>
void for_each_last(const std::vector<Entry>& entries, Key key, Emit emit) {
  if (entries.size() <= 16) {
    for (std::size_t i = 0; i < entries.size(); ++i) {
      bool repeated = false;
      for (std::size_t j = i + 1; j < entries.size() && !repeated; ++j)
        repeated = key(entries[j]) == key(entries[i]);
      if (!repeated) emit(entries[i]);
    }
    return;
  }
  std::unordered_set<std::string_view> seen;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it)
    if (seen.insert(key(*it)).second) emit(*it);
}

}  // namespace

std::vector<char> encode_event(const core::telemetry_message& e) {
  // The properties section's fields (AMQP 1.0 §3.2.4), in list order up to content-encoding.
  enum field {
    message_id,
    user_id,
    to,
    subject,
    reply_to,
    correlation_id,
    content_type,
    content_encoding,
    field_count
  };
  std::string_view fields[field_count];
  bool present[field_count] = {};
  auto set = [&](field f, std::string_view v) {
    fields[f] = v;
    present[f] = true;
  };

  std::vector<annotation> annotations;
  std::vector<app_property> app;
  annotations.reserve(12);
  app.reserve(e.properties.size());
  for (const auto& p : e.properties) {
    const std::string_view n = p.name;
    if (n == "$.mid") {
      set(message_id, p.value);
    } else if (n == "$.cid") {
      set(correlation_id, p.value);
    } else if (n == "$.uid") {
      set(user_id, p.value);
    } else if (n == "$.ct") {
      set(content_type, p.value);
    } else if (n == "$.ce") {
      set(content_encoding, p.value);
    } else if (n == "$.to") {
      set(to, p.value);
    } else if (n == "$.sub") {
      annotations.push_back({"dt-subject", text{p.value}});
    } else if (n == "$.ctime") {
      app.push_back({"iothub-creation-time-utc", p.value});
    } else if (n.starts_with("$.")) {
      continue;
    } else if (n == "iothub-connection-module-id") {
      continue;  // from the event itself, below
    } else if (is_hub_stamp(n)) {
      annotations.push_back({n, text{p.value}});
    } else {
      app.push_back({n, p.value});
    }
  }
  if (!e.module_id.empty())
    annotations.push_back({"iothub-connection-module-id", text{e.module_id}});
  const std::int64_t enqueued = core::to_unix_ms(e.enqueued_time);
  const std::string offset = std::to_string(e.offset);
  annotations.push_back({"iothub-enqueuedtime", timestamp{enqueued}});
  annotations.push_back({"iothub-message-source", text{e.source}});
  annotations.push_back({"x-opt-sequence-number", e.sequence_number});
  annotations.push_back({"x-opt-offset", text{offset}});
  annotations.push_back({"x-opt-enqueued-time", timestamp{enqueued}});
  annotations.push_back({"x-opt-partition-key", text{e.device_id}});

  std::vector<char> out;
  out.reserve(e.body.size() + e.stored_size() + 400);
  amqp_writer w(out);

  w.descriptor(section_message_annotations);
  auto map = w.open_map();
  for_each_last(
      annotations, [](const annotation& a) { return a.key; },
      [&](const annotation& a) {
        w.symbol(a.key);
        if (const auto* t = std::get_if<text>(&a.value)) {
          w.string(t->value);
        } else if (const auto* ts = std::get_if<timestamp>(&a.value)) {
          w.timestamp(ts->unix_ms);
        } else {
          w.long_value(std::get<std::int64_t>(a.value));
        }
        map.count += 2;
      });
  w.close(map);

  int last = -1;
  for (int f = 0; f < field_count; ++f)
    if (present[f]) last = f;
  if (last >= 0) {
    w.descriptor(section_properties);
    auto list = w.open_list();
    for (int f = 0; f <= last; ++f, ++list.count) {
      if (!present[f]) {
        w.null();
      } else if (f == user_id) {
        w.binary(fields[f]);  // user-id is binary (§3.2.4)
      } else if (f == content_type || f == content_encoding) {
        w.symbol(fields[f]);  // content-type and content-encoding are symbols
      } else {
        w.string(fields[f]);  // message-id and correlation-id as the strings the device sent
      }
    }
    w.close(list);
  }

  if (!app.empty()) {
    w.descriptor(section_application_properties);
    auto props = w.open_map();
    for_each_last(
        app, [](const app_property& p) { return p.name; },
        [&](const app_property& p) {
          w.string(p.name);
          w.string(p.value);
          props.count += 2;
        });
    w.close(props);
  }

  w.descriptor(section_data);
  w.binary(e.body);
  return out;
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
