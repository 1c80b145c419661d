#include "emulator/https/device_api.hpp"

#include <optional>
#include <string>
#include <utility>

#include "emulator/core/telemetry_stamps.hpp"
#include "emulator/https/device_message.hpp"
#include "emulator/https/error_response.hpp"
#include "emulator/https/http_codec.hpp"
#include "emulator/https/lock_token.hpp"

namespace emu::https {

namespace {

core::error lock_lost() {
  return core::error{core::hub_error::device_message_lock_lost,
                     "The message lock was lost: the lock token is not the current lock of a "
                     "message of this device (completed, timed out or never issued)."};
}

core::settlement settlement_of(route_kind k) {
  switch (k) {
    case route_kind::device_reject_c2d:
      return core::settlement::reject;
    case route_kind::device_abandon_c2d:
      return core::settlement::abandon;
    default:
      return core::settlement::complete;
  }
}

/// The C2D message as the device API answers a receive (next-capabilities §5).
http_response c2d_response(const std::string& device_id, const core::c2d_delivery& d) {
  const core::c2d_message& m = d.message;
  const core::c2d_content& c = m.content;
  http_response r;
  r.status = 200;
  r.body = c.body;
  r.content_type = "application/octet-stream";
  auto& h = r.headers;
  h.emplace_back("ETag", "\"" + to_string(lock_token{m.seq, d.lock_id}) + "\"");
  if (!c.message_id.empty()) h.emplace_back("iothub-messageid", c.message_id);
  if (!c.correlation_id.empty()) h.emplace_back("iothub-correlationid", c.correlation_id);
  if (!c.user_id.empty()) h.emplace_back("iothub-userid", c.user_id);
  h.emplace_back("iothub-to",
                 c.to.empty() ? "/devices/" + device_id + "/messages/deviceBound" : c.to);
  if (m.expiry_time != core::time_point{})
    h.emplace_back("iothub-expiry", core::to_iso8601(m.expiry_time));
  h.emplace_back("iothub-ack", std::string(core::to_string(c.ack)));
  h.emplace_back("iothub-sequencenumber", std::to_string(m.seq));
  h.emplace_back("iothub-enqueuedtime", core::to_iso8601(m.enqueued_time));
  h.emplace_back("iothub-deliverycount", std::to_string(m.delivery_count));
  // A property whose name cannot be a header field name is left out, and control characters
  // in values become spaces: one odd property must not make every receive of the device fail
  // in the client's HTTP parser (the SDKs read the others).
  for (const auto& p : c.properties) {
    if (!is_header_name(p.name)) continue;
    std::string value = p.value;
    for (char& ch : value)
      if ((static_cast<unsigned char>(ch) < 0x20 && ch != '\t') || ch == 0x7f) ch = ' ';
    h.emplace_back("iothub-app-" + p.name, std::move(value));
  }
  if (!c.content_type.empty()) h.emplace_back("ContentType", c.content_type);
  if (!c.content_encoding.empty()) h.emplace_back("ContentEncoding", c.content_encoding);
  return r;
}

}  // namespace

std::variant<http_response, hub_call> prepare_device_api(
    const route& r, const http_request& request,
    std::shared_ptr<const core::client_certificate> certificate) {
  if (request.authorization.empty() && !certificate)
    return error_response(401, "IotHubUnauthorizedAccess",
                          "The request has no Authorization header (SharedAccessSignature) "
                          "and the connection no client certificate.");
  // Parsed here, on the I/O thread; refused by the hub call after the token was checked.
  std::optional<core::result<std::vector<device_message>>> messages;
  if (r.kind == route_kind::device_send_event) messages = parse_device_messages(request);
  std::optional<core::result<lock_token>> token;
  if (r.kind == route_kind::device_complete_c2d || r.kind == route_kind::device_reject_c2d ||
      r.kind == route_kind::device_abandon_c2d) {
    const auto parsed = parse_lock_token(r.lock_token);
    const auto if_match = request.if_match.empty() ? parsed : parse_lock_token(request.if_match);
    if (!parsed) {
      token = core::error{core::hub_error::argument_invalid,
                          "The lock token in the path is not a lock token."};
    } else if (!if_match || !(*if_match == *parsed)) {
      token = core::error{core::hub_error::precondition_failed,
                          "If-Match does not name the lock token of the path."};
    } else {
      token = *parsed;
    }
  }
  return hub_call{[r, credential = core::device_credential{request.authorization, certificate},
                   messages = std::move(messages), token = std::move(token)](
                      core::hub& hub, core::time_point now) mutable -> hub_answer {
    const auto grant = hub.authenticate_device(credential, r.device_id, now);
    if (!grant) return grant.error();
    switch (r.kind) {
      case route_kind::device_send_event: {
        if (!*messages) return messages->error();
        const core::device* d = hub.find_device(r.device_id);
        if (d == nullptr) return core::error{core::hub_error::device_not_found, "Device gone."};
        const std::string generation = d->generation_id;
        if (auto refused = hub.fault_refusal(r.device_id, now)) return std::move(*refused);
        for (auto& m : **messages) {
          core::stamp_telemetry(m.properties, r.device_id, generation, !grant->policy.empty());
          auto recorded =
              hub.record_telemetry(r.device_id, std::move(m.properties), std::move(m.body), now);
          // Throttled or over the daily quota (throttling.hpp): 429 / 403 for the request; what
          // the batch stored before stays (a retry repeats it: at least once). A fault window
          // starts after the batch that asked for it (device_faults.hpp).
          if (!recorded) return std::move(recorded.error());
          if (recorded->fault)
            hub.note_fault(r.device_id, recorded->fault->kind, "ignored",
                           "an HTTPS device keeps no connection to fault", now);
        }
        return no_content{};
      }
      case route_kind::device_receive_c2d:
        if (auto throttled = hub.throttle(core::throttled_operation::c2d_receive, now))
          return std::move(*throttled);
        return c2d_received{hub.lock_next(r.device_id, now)};
      case route_kind::device_complete_c2d:
      case route_kind::device_reject_c2d:
      case route_kind::device_abandon_c2d: {
        if (!*token) return token->error();
        const auto settled =
            hub.settle(r.device_id, (*token)->seq, (*token)->lock_id, settlement_of(r.kind), now);
        if (!settled) return lock_lost();
        return no_content{};
      }
      default:
        return core::error{core::hub_error::argument_invalid, "No such device operation."};
    }
  }};
}

http_response render_device_api(const route& r, const hub_answer& a) {
  if (const auto* e = std::get_if<core::error>(&a)) return error_response(*e);
  if (const auto* c = std::get_if<c2d_received>(&a)) {
    if (!c->delivery) {
      http_response empty;
      empty.status = 204;
      return empty;
    }
    return c2d_response(r.device_id, *c->delivery);
  }
  if (std::holds_alternative<no_content>(a)) {
    http_response ok;
    ok.status = 204;
    return ok;
  }
  return error_response(500, "ServerError", "Unexpected answer of the hub.");
}

http_response handle_device_api(core::hub& hub, core::time_point now, const route& r,
                                const http_request& request) {
  auto prepared = prepare_device_api(r, request);
  if (auto* immediate = std::get_if<http_response>(&prepared)) return std::move(*immediate);
  return render_device_api(r, std::get<hub_call>(prepared)(hub, now));
}

}  // namespace emu::https
