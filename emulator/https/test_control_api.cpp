#include "emulator/https/test_control_api.hpp"

#include <cmath>
#include <string>

#include "emulator/core/crypto.hpp"
#include "emulator/core/fault_request.hpp"
#include "emulator/core/identity_key.hpp"
#include "emulator/https/device_json.hpp"
#include "emulator/https/error_response.hpp"
#include "emulator/https/iso8601.hpp"
#include "emulator/https/text_checks.hpp"
#include "emulator/https/twin_json.hpp"

namespace emu::https {

namespace {

using json = nlohmann::json;

json properties_json(const std::vector<core::property>& properties) {
  json out = json::object();
  for (const auto& p : properties) out[p.name] = p.value;
  return out;
}

json text_or_null(const std::string& bytes) {
  return is_valid_utf8(bytes) ? json(bytes) : json(nullptr);
}

core::error invalid(std::string message) {
  return core::error{core::hub_error::argument_invalid, std::move(message)};
}

/// A member that must be a string when present: false on a wrong type.
bool read_string(const json& doc, const char* name, std::string& out) {
  const auto it = doc.find(name);
  if (it == doc.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

}  // namespace

json message_json(const core::c2d_message& m) {
  const bool locked = m.state == core::c2d_state::invisible;
  return json{
      {"seq", m.seq},
      {"deviceId", m.device_id},
      {"messageId", m.content.message_id},
      {"correlationId", m.content.correlation_id},
      {"userId", m.content.user_id},
      {"contentType", m.content.content_type},
      {"contentEncoding", m.content.content_encoding},
      {"state", m.state == core::c2d_state::enqueued ? "Enqueued" : "Invisible"},
      {"deliveryCount", m.delivery_count},
      {"enqueuedTimeUtc", core::to_iso8601(m.enqueued_time)},
      {"expiryTimeUtc", core::to_iso8601(m.expiry_time)},
      {"lockExpiryUtc", locked ? json(core::to_iso8601(m.lock_expiry)) : json(nullptr)},
      {"ack", std::string(core::to_string(m.content.ack))},
      {"properties", properties_json(m.content.properties)},
      {"body", text_or_null(m.content.body)},
      {"bodyBase64", core::base64_encode(m.content.body)},
  };
}

json feedback_record_json(const core::feedback_record& r) {
  const std::string status(core::to_string(r.status));
  return json{
      {"id", r.id},
      {"originalMessageId", r.original_message_id},
      {"deviceId", r.device_id},
      {"deviceGenerationId", r.device_generation_id},
      {"statusCode", status},
      {"description", status},
      {"enqueuedTimeUtc", core::to_iso8601(r.enqueued_time)},
      {"batchId", r.batch_id},
  };
}

json feedback_batch_json(const core::feedback_batch& b) {
  json records = json::array();
  for (const auto& r : b.records) records.push_back(feedback_record_json(r));
  const bool locked = b.lock_id != 0;
  return json{
      {"id", b.id},
      {"createdTimeUtc", core::to_iso8601(b.created)},
      {"expiryTimeUtc", core::to_iso8601(b.expiry)},
      {"deliveryCount", b.delivery_count},
      {"locked", locked},
      {"lockExpiryUtc", locked ? json(core::to_iso8601(b.lock_expiry)) : json(nullptr)},
      {"records", std::move(records)},
  };
}

json telemetry_json(const core::telemetry_message& t) {
  return json{
      {"partition", t.partition},
      {"sequenceNumber", t.sequence_number},
      {"offset", std::to_string(t.offset)},
      {"deviceId", t.device_id},
      {"moduleId", null_if_empty(t.module_id)},
      {"source", t.source},
      {"enqueuedTimeUtc", core::to_iso8601(t.enqueued_time)},
      {"properties", properties_json(t.properties)},
      {"body", text_or_null(t.body)},
      {"bodyBase64", core::base64_encode(t.body)},
  };
}

json clock_json(core::time_point now, core::duration offset) {
  return json{{"nowUtc", core::to_iso8601(now)},
              {"nowUnixMs", core::to_unix_ms(now)},
              {"offsetMs", offset.count()}};
}

core::result<admin_message> parse_admin_message(std::string_view body, std::string_view device_id) {
  const json doc = body.empty() ? json::object() : json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return invalid("The request body must be a JSON object describing the message.");

  admin_message parsed;
  core::c2d_content& c = parsed.content;
  c.to = "/devices/" + std::string(device_id) + "/messages/devicebound";
  if (!read_string(doc, "messageId", c.message_id) ||
      !read_string(doc, "correlationId", c.correlation_id) ||
      !read_string(doc, "userId", c.user_id) || !read_string(doc, "contentType", c.content_type) ||
      !read_string(doc, "contentEncoding", c.content_encoding))
    return invalid(
        "messageId, correlationId, userId, contentType and contentEncoding must be "
        "strings.");

  std::string ack;
  if (!read_string(doc, "ack", ack)) return invalid("ack must be a string.");
  if (!ack.empty()) {
    const auto mode = core::parse_ack_mode(ack);
    if (!mode) return invalid("ack must be one of none, positive, negative, full.");
    c.ack = *mode;
  }

  if (const auto p = doc.find("properties"); p != doc.end() && !p->is_null()) {
    if (!p->is_object()) return invalid("properties must be an object of strings.");
    for (const auto& [name, value] : p->items()) {
      if (!value.is_string()) return invalid("properties must be an object of strings.");
      // `iothub-ack` is the ack, not an application property (c2d_message.hpp).
      if (name == "iothub-ack") return invalid("Use the ack member instead of iothub-ack.");
      c.properties.push_back({name, value.get<std::string>()});
    }
  }

  const bool has_text = doc.contains("body") && !doc["body"].is_null();
  const bool has_base64 = doc.contains("bodyBase64") && !doc["bodyBase64"].is_null();
  if (has_text && has_base64) return invalid("Give body or bodyBase64, not both.");
  if (has_text) {
    if (!read_string(doc, "body", c.body)) return invalid("body must be a string.");
  } else if (has_base64) {
    std::string text;
    if (!read_string(doc, "bodyBase64", text)) return invalid("bodyBase64 must be a string.");
    auto bytes = core::base64_decode(text);
    if (!bytes) return invalid("bodyBase64 is not valid base64.");
    c.body = std::move(*bytes);
  }

  const bool has_expiry = doc.contains("expiryTimeUtc") && !doc["expiryTimeUtc"].is_null();
  const bool has_ttl = doc.contains("ttlSeconds") && !doc["ttlSeconds"].is_null();
  if (has_expiry && has_ttl) return invalid("Give expiryTimeUtc or ttlSeconds, not both.");
  if (has_expiry) {
    std::string text;
    if (!read_string(doc, "expiryTimeUtc", text)) return invalid("expiryTimeUtc must be a string.");
    const auto t = parse_iso8601(text);
    if (!t) return invalid("expiryTimeUtc must be ISO 8601 UTC, e.g. 2026-01-01T12:00:00Z.");
    c.absolute_expiry = *t;
  } else if (has_ttl) {
    const auto& ttl = doc["ttlSeconds"];
    if (!ttl.is_number() || !std::isfinite(ttl.get<double>()) || ttl.get<double>() > 1e9 ||
        ttl.get<double>() < -1e9)
      return invalid("ttlSeconds must be a number of seconds.");
    parsed.ttl = core::duration{static_cast<std::int64_t>(std::llround(ttl.get<double>() * 1000))};
  }
  return parsed;
}

core::result<core::c2d_content> parse_admin_message(std::string_view body,
                                                    std::string_view device_id,
                                                    core::time_point now) {
  auto parsed = parse_admin_message(body, device_id);
  if (!parsed) return parsed.error();
  if (parsed->ttl) parsed->content.absolute_expiry = now + *parsed->ttl;
  return std::move(parsed->content);
}

json fault_record_json(const core::fault_record& f) {
  const auto ref = core::split_identity(f.identity);
  return json{{"id", f.id},
              {"timeUtc", core::to_iso8601(f.time)},
              {"deviceId", std::string(ref.device_id)},
              {"moduleId", null_if_empty(std::string(ref.module_id))},
              {"type", f.type},
              {"event", f.event},
              {"detail", f.detail}};
}

nlohmann::json chaos_json(const core::hub_faults& f) {
  return json{
      {"commitDelayMs", f.commit_delay.count()},      {"failNextCommits", f.failing_commits},
      {"failNextWrites", f.io.failing_writes},        {"failNextSyncs", f.io.failing_syncs},
      {"rejectNextPutTokens", f.rejected_put_tokens}, {"pausedFronts", f.paused_fronts}};
}

core::result<chaos_patch> parse_chaos_patch(std::string_view body) {
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return invalid("The request body must be a JSON object such as {\"failNextCommits\":2}.");
  chaos_patch p;
  for (const auto& item : doc.items()) {
    // Named, not a structured binding: the lambda below captures it (clang 14 refuses a
    // captured binding).
    const std::string& key = item.key();
    const json& value = item.value();
    const auto count = [&](std::int64_t max) -> std::optional<std::int64_t> {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
          value.get<std::int64_t>() > max)
        return std::nullopt;
      return value.get<std::int64_t>();
    };
    if (key == "commitDelayMs") {
      // Up to a minute: longer than the fronts' hub timeout (10 s), so a test can see a hung
      // store answered with 503 (and /health fail).
      const auto v = count(60'000);
      if (!v) return invalid("commitDelayMs must be a whole number of milliseconds, 0 to 60000.");
      p.commit_delay = core::duration{*v};
    } else if (key == "failNextCommits") {
      const auto v = count(1'000'000);
      if (!v) return invalid("failNextCommits must be a whole number, 0 to 1000000.");
      p.failing_commits = static_cast<int>(*v);
    } else if (key == "failNextWrites") {
      const auto v = count(1'000'000);
      if (!v) return invalid("failNextWrites must be a whole number, 0 to 1000000.");
      p.failing_writes = static_cast<int>(*v);
    } else if (key == "failNextSyncs") {
      const auto v = count(1'000'000);
      if (!v) return invalid("failNextSyncs must be a whole number, 0 to 1000000.");
      p.failing_syncs = static_cast<int>(*v);
    } else if (key == "rejectNextPutTokens") {
      const auto v = count(1'000'000);
      if (!v) return invalid("rejectNextPutTokens must be a whole number, 0 to 1000000.");
      p.rejected_put_tokens = static_cast<int>(*v);
    } else if (key == "pausedFronts") {
      std::set<std::string> fronts;
      if (!value.is_array()) return invalid("pausedFronts must be an array of \"mqtt\", \"amqp\".");
      for (const auto& f : value) {
        if (!f.is_string() || (f != "mqtt" && f != "amqp"))
          return invalid("pausedFronts must be an array of \"mqtt\", \"amqp\".");
        fronts.insert(f.get<std::string>());
      }
      p.paused_fronts = std::move(fronts);
    } else {
      return invalid("Unknown member '" + key.substr(0, 64) +
                     "': commitDelayMs, failNextCommits, failNextWrites, failNextSyncs, "
                     "rejectNextPutTokens, pausedFronts.");
    }
  }
  return p;
}

core::result<core::fault_request> parse_admin_fault(std::string_view body) {
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return invalid("The request body must be a JSON object such as {\"type\":\"KillTcp\"}.");
  // The same names and rules as the telemetry properties (fault_request.hpp).
  std::vector<core::property> properties;
  const auto add = [&](const char* member, std::string_view property) -> bool {
    const auto it = doc.find(member);
    if (it == doc.end() || it->is_null()) return true;
    if (it->is_string()) {
      properties.push_back({std::string(property), it->get<std::string>()});
    } else if (it->is_number() && std::string_view(member) != "type" &&
               std::string_view(member) != "reason") {
      properties.push_back({std::string(property), it->dump()});
    } else {
      return false;
    }
    return true;
  };
  if (!add("type", core::fault_type_property) || !add("reason", core::fault_reason_property) ||
      !add("delayInSecs", core::fault_delay_property) ||
      !add("durationInSecs", core::fault_duration_property))
    return invalid("type and reason must be strings; delayInSecs and durationInSecs numbers.");
  auto parsed = core::parse_fault_request(properties);
  if (!parsed.problem.empty()) return invalid(parsed.problem + ".");
  if (!parsed.request)
    return invalid(
        "type is required: KillTcp, ShutDownMqtt, KillAmqpConnection, … "
        "(README \"Testing failures\").");
  return std::move(*parsed.request);
}

std::variant<http_response, hub_call> prepare_test_control(const route& r,
                                                           const http_request& request) {
  switch (r.kind) {
    case route_kind::admin_get_messages:
      return hub_call{[id = r.device_id](core::hub& hub, core::time_point) -> hub_answer {
        if (hub.find_device(id) == nullptr)
          return core::error{core::hub_error::device_not_found, "Device " + id + " not found."};
        return hub.queue_of(id);
      }};
    case route_kind::admin_get_twin:
      return hub_call{[id = r.device_id](core::hub& hub, core::time_point) -> hub_answer {
        auto t = hub.twin(id);
        if (!t) return t.error();
        const core::device* d = hub.find_device(id);
        if (d == nullptr) return core::error{core::hub_error::device_not_found, "Device gone."};
        return twin_history_view{
            twin_view{std::move(*t), *d, hub.queued_count(id), hub.presence(id)},
            hub.twin_history(id)};
      }};
    case route_kind::admin_patch_twin: {
      auto parsed = parse_twin_patch(request.body);
      if (!parsed) return error_response(parsed.error());
      return hub_call{[id = r.device_id, u = std::move(*parsed)](
                          core::hub& hub, core::time_point now) -> hub_answer {
        auto t = hub.update_twin(id, u, "*", now);
        if (!t) return t.error();
        const core::device* d = hub.find_device(id);
        if (d == nullptr) return core::error{core::hub_error::device_not_found, "Device gone."};
        return twin_view{std::move(*t), *d, hub.queued_count(id), hub.presence(id)};
      }};
    }
    case route_kind::admin_post_message: {
      auto parsed = parse_admin_message(request.body, r.device_id);
      if (!parsed) return error_response(parsed.error());
      return hub_call{[id = r.device_id, m = std::move(*parsed)](
                          core::hub& hub, core::time_point now) mutable -> hub_answer {
        if (m.ttl) m.content.absolute_expiry = now + *m.ttl;
        const auto seq = hub.enqueue(id, std::move(m.content), now);
        if (!seq) return seq.error();
        return enqueued{*seq};
      }};
    }
    case route_kind::admin_feedback:
      return hub_call{[](core::hub& hub, core::time_point) -> hub_answer {
        return feedback_state{hub.pending_feedback(), hub.feedback_batches()};
      }};
    case route_kind::admin_telemetry:
      return hub_call{
          [](core::hub& hub, core::time_point) -> hub_answer { return hub.telemetry(); }};
    case route_kind::admin_reset:
      return hub_call{[](core::hub& hub, core::time_point now) -> hub_answer {
        hub.reset(now);
        return empty_object{};
      }};
    case route_kind::admin_post_fault: {
      auto parsed = parse_admin_fault(request.body);
      if (!parsed) return error_response(parsed.error());
      return hub_call{[id = r.device_id, f = std::move(*parsed)](
                          core::hub& hub, core::time_point now) -> hub_answer {
        if (auto s = hub.inject_fault(id, f, now); !s) return s.error();
        return empty_object{};
      }};
    }
    case route_kind::admin_get_chaos:
      return hub_call{
          [](core::hub& hub, core::time_point) -> hub_answer { return hub.test_faults(); }};
    case route_kind::admin_patch_chaos: {
      auto parsed = parse_chaos_patch(request.body);
      if (!parsed) return error_response(parsed.error());
      return hub_call{[p = std::move(*parsed)](core::hub& hub, core::time_point) -> hub_answer {
        auto& f = hub.test_faults();
        if (p.commit_delay) f.commit_delay = *p.commit_delay;
        if (p.failing_commits) f.failing_commits = *p.failing_commits;
        if (p.failing_writes) f.io.failing_writes = *p.failing_writes;
        if (p.failing_syncs) f.io.failing_syncs = *p.failing_syncs;
        if (p.rejected_put_tokens) f.rejected_put_tokens = *p.rejected_put_tokens;
        if (p.paused_fronts && *p.paused_fronts != f.paused_fronts) {
          f.paused_fronts = *p.paused_fronts;
          hub.fronts_paused_changed();
        }
        return f;
      }};
    }
    case route_kind::admin_expire_tokens:
      return hub_call{[](core::hub& hub, core::time_point now) -> hub_answer {
        hub.expire_all_tokens(now);
        return empty_object{};
      }};
    case route_kind::admin_faults:
      return hub_call{[](core::hub& hub, core::time_point) -> hub_answer {
        const auto& log = hub.fault_log();
        return std::vector<core::fault_record>(log.begin(), log.end());
      }};
    default:
      return error_response(404, "NotFound", "No such test-control operation.");
  }
}

http_response render_test_control(const hub_answer& a) {
  return std::visit(
      [](const auto& x) -> http_response {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, core::error>) {
          return error_response(x);
        } else if constexpr (std::is_same_v<T, std::vector<core::c2d_message>>) {
          json list = json::array();
          for (const auto& m : x) list.push_back(message_json(m));
          return json_response(list);
        } else if constexpr (std::is_same_v<T, twin_view>) {
          return json_response(twin_json(x.twin, x.device, x.queued, x.presence));
        } else if constexpr (std::is_same_v<T, twin_history_view>) {
          json history = json::array();
          for (const auto& c : x.history)
            history.push_back(json{{"version", c.version},
                                   {"part", c.part},
                                   {"by", c.by},
                                   {"patch", c.patch},
                                   {"time", core::to_iso8601(c.at)}});
          return json_response(
              json{{"twin", twin_json(x.view.twin, x.view.device, x.view.queued, x.view.presence)},
                   {"history", history}});
        } else if constexpr (std::is_same_v<T, enqueued>) {
          return json_response(json{{"seq", x.seq}}, 201);
        } else if constexpr (std::is_same_v<T, feedback_state>) {
          json pending = json::array();
          for (const auto& rec : x.pending) pending.push_back(feedback_record_json(rec));
          json batches = json::array();
          for (const auto& b : x.batches) batches.push_back(feedback_batch_json(b));
          return json_response(json{{"pending", pending}, {"batches", batches}});
        } else if constexpr (std::is_same_v<T, std::vector<core::telemetry_message>>) {
          json list = json::array();
          for (const auto& t : x) list.push_back(telemetry_json(t));
          return json_response(list);
        } else if constexpr (std::is_same_v<T, core::hub_faults>) {
          return json_response(chaos_json(x));
        } else if constexpr (std::is_same_v<T, std::vector<core::fault_record>>) {
          json list = json::array();
          for (const auto& f : x) list.push_back(fault_record_json(f));
          return json_response(list);
        } else if constexpr (std::is_same_v<T, empty_object>) {
          return json_response(json::object());
        } else {
          return error_response(500, "ServerError", "Unexpected answer of the hub.");
        }
      },
      a);
}

http_response handle_test_control(core::hub& hub, core::time_point now, const route& r,
                                  const http_request& request) {
  auto prepared = prepare_test_control(r, request);
  if (auto* immediate = std::get_if<http_response>(&prepared)) return std::move(*immediate);
  return render_test_control(std::get<hub_call>(prepared)(hub, now));
}

}  // namespace emu::https
