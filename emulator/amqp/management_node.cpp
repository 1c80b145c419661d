#include "emulator/amqp/management_node.hpp"

#include <proton/codec/map.hpp>
#include <proton/codec/vector.hpp>
#include <proton/scalar.hpp>
#include <proton/symbol.hpp>
#include <proton/timestamp.hpp>
#include <proton/value.hpp>

#include <cstdint>
#include <exception>
#include <map>

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/message_codec.hpp"
#include "emulator/core/ascii.hpp"

namespace emu::amqp {

namespace {

proton::message reply_to(const proton::message_id& id, int code, const std::string& description) {
  proton::message m;
  m.correlation_id(id);
  m.properties().put("status-code", proton::scalar(static_cast<std::int32_t>(code)));
  m.properties().put("status-description", proton::scalar(description));
  return m;
}

}  // namespace

emu::result<management_request, management_status> parse_management_request(
    const proton::message& m, std::string_view event_hub_name) {
  management_status status;
  status.id = m.id();
  status.reply_to = m.reply_to();
  try {
    const std::string operation = text_property(m, "operation");
    if (operation != "READ") {
      status.description = "Unsupported $management operation '" + operation + "' (only READ).";
      return status;
    }
    management_request r;
    r.id = status.id;
    r.reply_to = status.reply_to;
    r.name = text_property(m, "name");
    const std::string type = text_property(m, "type");
    if (type == "com.microsoft:eventhub") {
      r.what = management_request::kind::eventhub;
    } else if (type == "com.microsoft:partition") {
      r.what = management_request::kind::partition;
      r.partition = text_property(m, "partition");
      if (r.partition.empty()) {
        status.description = "A partition READ needs the 'partition' property.";
        return status;
      }
    } else {
      status.description = "Unsupported $management type '" + type + "'.";
      return status;
    }
    if (!core::iequals(r.name, event_hub_name)) {
      status.code = 404;
      status.description = "The event hub '" + r.name + "' does not exist (this hub's is '" +
                           std::string(event_hub_name) + "').";
      return status;
    }
    return r;
  } catch (const std::exception&) {
    status.description = "The $management request has malformed properties.";
    return status;
  }
}

proton::message make_eventhub_reply(const management_request& r, std::string_view event_hub_name,
                                    core::time_point created, int partition_count) {
  proton::message m = reply_to(r.id, 200, "OK");
  std::vector<std::string> ids;
  for (int i = 0; i < partition_count; ++i) ids.push_back(std::to_string(i));
  std::map<std::string, proton::value> body;
  body["name"] = std::string(event_hub_name);
  body["type"] = std::string("com.microsoft:eventhub");
  body["created_at"] = proton::timestamp(core::to_unix_ms(created));
  body["partition_count"] = static_cast<std::int32_t>(partition_count);
  body["partition_ids"] = ids;
  m.body(body);
  return m;
}

proton::message make_partition_reply(const management_request& r, std::string_view event_hub_name,
                                     const core::partition_info& info) {
  proton::message m = reply_to(r.id, 200, "OK");
  std::map<std::string, proton::value> body;
  body["name"] = std::string(event_hub_name);
  body["type"] = std::string("com.microsoft:partition");
  body["partition"] = std::to_string(info.partition);
  body["begin_sequence_number"] = static_cast<std::int64_t>(info.begin_sequence_number);
  body["last_enqueued_sequence_number"] = static_cast<std::int64_t>(info.last_sequence_number);
  body["last_enqueued_offset"] = std::to_string(info.last_offset);
  body["last_enqueued_time_utc"] = proton::timestamp(core::to_unix_ms(info.last_enqueued_time));
  body["is_partition_empty"] = info.empty;
  m.body(body);
  return m;
}

proton::message make_management_error(const proton::message_id& id, int code,
                                      std::string_view condition, const std::string& description) {
  proton::message m = reply_to(id, code, description);
  m.properties().put("error-condition", proton::scalar(std::string(condition)));
  return m;
}

void management_request_link::reply(const proton::message& m, const std::string& to) {
  auto bytes = encode_message(m);
  if (bytes) conn_.send_reply(node_kind::management, to, std::move(*bytes), serial());
}

void management_request_link::handle_request(std::string_view bytes) {
  auto decoded_request = decode_message(std::span<const char>(bytes.data(), bytes.size()));
  if (!decoded_request) {
    conn_.log(log_level::warn,
              "$management: undecodable request: " + decoded_request.error().description);
    return;
  }
  const std::string& hub_name = conn_.settings().hub_name;
  auto parsed = parse_management_request(decoded_request->message, hub_name);
  if (!parsed) {
    const management_status& s = parsed.error();
    conn_.log(log_level::info, "$management: refused request: " + s.description);
    reply(make_management_error(s.id, s.code,
                                s.code == 404 ? condition::not_found : condition::invalid_field,
                                s.description),
          s.reply_to);
    return;
  }
  if (!conn_.authorized()) {
    reply(make_management_error(parsed->id, 401, condition::unauthorized_access,
                                "Put a SAS token on $cbs first."),
          parsed->reply_to);
    return;
  }
  struct answer {
    int partition_count = 0;
    core::result<core::partition_info> partition = core::partition_info{};
  };
  conn_.submit(
      [r = *parsed](core::hub& h, core::time_point) {
        answer a;
        a.partition_count = h.partition_count();
        if (r.what == management_request::kind::partition) a.partition = h.partition(r.partition);
        return a;
      },
      [r = *parsed, serial = serial()](amqp_connection* c, bool, answer a) {
        if (c == nullptr) return;
        auto* self = c->find<management_request_link>(serial);
        const std::string& hub = c->settings().hub_name;
        proton::message m;
        if (r.what == management_request::kind::eventhub) {
          m = make_eventhub_reply(r, hub, c->created(), a.partition_count);
        } else if (a.partition) {
          m = make_partition_reply(r, hub, *a.partition);
        } else {
          const amqp_error e = to_amqp_error(a.partition.error());
          m = make_management_error(r.id, 404, e.condition, e.description);
        }
        auto encoded = encode_message(m);
        if (encoded)
          c->send_reply(node_kind::management, r.reply_to, std::move(*encoded),
                        self != nullptr ? serial : 0);
      });
}

}  // namespace emu::amqp
