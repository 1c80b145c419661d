#include "emulator/amqp/cbs_node.hpp"

#include <proton/binary.hpp>
#include <proton/scalar.hpp>
#include <proton/value.hpp>

#include <exception>
#include <optional>
#include <string>

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/message_codec.hpp"
#include "emulator/core/access_policy.hpp"
#include "emulator/core/crypto.hpp"
#include "emulator/core/identity_key.hpp"
#include "emulator/core/sas_token.hpp"

namespace emu::amqp {

namespace {

/// The identity a resource names: `{host}/devices/{id}[/…]`, or a module's
/// `{host}/devices/{id}/modules/{mid}[/…]` as `{id}/{mid}` (next-capabilities §4: device tokens
/// carry it in `sr`, a policy token with DeviceConnect only in the CBS `name`). `resource` is
/// already URL-decoded (the token's sr) or is decoded here once (`encoded`: the audience).
std::optional<std::string> device_named_by(std::string_view resource, bool encoded) {
  std::string decoded(resource);
  if (encoded) {
    auto d = core::url_decode(resource);
    if (!d) return std::nullopt;
    decoded = std::move(*d);
  }
  const auto at = decoded.find("/devices/");
  if (at == std::string::npos) return std::nullopt;
  const std::string rest = decoded.substr(at + 9);
  const std::string id = rest.substr(0, rest.find('/'));
  if (id.empty()) return std::nullopt;
  constexpr std::string_view modules = "/modules/";
  if (rest.compare(id.size(), modules.size(), modules) == 0) {
    const std::string after = rest.substr(id.size() + modules.size());
    const std::string module = after.substr(0, after.find('/'));
    if (!module.empty()) return core::module_key(id, module);
  }
  return id;
}

}  // namespace

emu::result<put_token_request, cbs_status> parse_put_token(const proton::message& m) {
  cbs_status status;
  status.id = m.id();
  status.reply_to = m.reply_to();
  try {
    const std::string operation = text_property(m, "operation");
    if (operation != "put-token") {
      status.description = "Unsupported CBS operation '" + operation + "' (only put-token).";
      return status;
    }
    const std::string type = text_property(m, "type");
    if (type != "servicebus.windows.net:sastoken" && type != "azure-devices.net:sastoken") {
      status.description = "Unsupported token type '" + type + "'.";
      return status;
    }
    put_token_request req;
    req.id = status.id;
    req.reply_to = status.reply_to;
    req.audience = text_property(m, "name");
    const proton::value& body = m.body();
    if (body.type() == proton::STRING) {
      req.token = proton::get<std::string>(body);
    } else if (body.type() == proton::BINARY) {
      req.token = std::string(proton::get<proton::binary>(body));
    }
    if (req.token.empty()) {
      status.description = "The put-token request carries no token.";
      return status;
    }
    return req;
  } catch (const std::exception&) {
    status.description = "The put-token request has malformed properties.";
    return status;
  }
}

proton::message make_cbs_reply(const proton::message_id& request_id, const std::string& reply_to,
                               int status_code, const std::string& description) {
  proton::message m;
  m.correlation_id(request_id);
  if (!reply_to.empty()) m.to(reply_to);
  // sdk-wire §2.3 / spec §4.2: status-code is an AMQP int (uAMQP reads it with
  // amqpvalue_get_int, C# casts it); a 32-bit C++ int encodes as exactly that.
  m.properties().put("status-code", proton::scalar(static_cast<std::int32_t>(status_code)));
  m.properties().put("status-description", proton::scalar(description));
  return m;
}

// ---- request link ----------------------------------------------------------------------

void cbs_request_link::reply(const proton::message_id& id, const std::string& reply_to, int code,
                             const std::string& description) {
  auto bytes = encode_message(make_cbs_reply(id, reply_to, code, description));
  if (bytes) conn_.send_reply(node_kind::cbs, reply_to, std::move(*bytes), serial());
}

void cbs_request_link::handle_request(std::string_view bytes) {
  auto decoded_request = decode_message(std::span<const char>(bytes.data(), bytes.size()));
  if (!decoded_request) {
    // Without a decodable message there is no message-id to correlate a reply with.
    conn_.log(log_level::warn, "CBS: undecodable request: " + decoded_request.error().description);
    return;
  }
  auto parsed = parse_put_token(decoded_request->message);
  if (!parsed) {
    const cbs_status& status = parsed.error();
    conn_.log(log_level::info, "CBS: refused request: " + status.description);
    reply(status.id, status.reply_to, status.code, status.description);
    return;
  }
  auto req = std::move(*parsed);
  conn_.log(log_level::info,
            "CBS: put-token for '" + req.audience + "' (" + core::describe_token(req.token) + ")");
  conn_.cbs_started();
  conn_.submit(
      [token = req.token, audience = req.audience](
          core::hub& h, core::time_point now) -> core::result<core::auth_grant> {
        if (auto& faults = h.test_faults(); faults.rejected_put_tokens > 0) {
          --faults.rejected_put_tokens;
          return core::error{core::hub_error::unauthorized,
                             "The put-token was rejected (test control: rejectNextPutTokens)."};
        }
        // A token for a device (its sr or the audience names one: device AMQP) is checked as
        // the device's first, so a policy with both ServiceConnect and DeviceConnect
        // (iothubowner) opens that device's links; any other token as a service's.
        auto device = std::optional<std::string>{};
        if (const auto sas = core::parse_sas_token(token))
          device = device_named_by(sas->resource_uri, false);
        if (!device) device = device_named_by(audience, true);
        if (device) {
          auto as_device = h.authenticate_device(token, *device, now);
          if (as_device) return as_device;
          auto service = h.authenticate_service(token, core::permission::service_connect, now);
          return service ? service : as_device;
        }
        return h.authenticate_service(token, core::permission::service_connect, now);
      },
      // Authentication changes no state, so the round's commit result does not matter here.
      [id = req.id, reply_to = req.reply_to, serial = serial(), token = req.token](
          amqp_connection* c, bool /*committed*/, core::result<core::auth_grant> r) {
        if (c == nullptr) return;
        if (r.ok()) {
          c->set_grant(r.value(), core::device_credential{token, nullptr});
          auto reply = encode_message(make_cbs_reply(id, reply_to, 200, "OK"));
          if (reply) c->send_reply(node_kind::cbs, reply_to, std::move(*reply), serial);
        } else {
          const amqp_error e = to_amqp_error(r.error());
          c->log(log_level::info, "CBS: put-token refused: " + e.description);
          c->count_refusal("cbs_token_refused");
          auto reply = encode_message(make_cbs_reply(id, reply_to, 401, e.description));
          if (reply) c->send_reply(node_kind::cbs, reply_to, std::move(*reply), serial);
        }
        c->cbs_finished();
      });
}

}  // namespace emu::amqp
