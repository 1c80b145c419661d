#include "emulator/amqp/cbs_node.hpp"

#include <proton/terminus.h>
#include <proton/binary.hpp>
#include <proton/scalar.hpp>
#include <proton/value.hpp>

#include <exception>

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/message_codec.hpp"
#include "emulator/core/access_policy.hpp"
#include "emulator/core/sas_token.hpp"

namespace emu::amqp {

namespace {

/// CBS requests are small (a token and a few properties); anything bigger is not a request.
constexpr std::size_t max_request_bytes = 64 * 1024;
constexpr std::uint32_t request_credit = 16;

std::string string_property(const proton::message& m, const std::string& name) {
  const auto& props = m.properties();
  if (!props.exists(name)) return {};
  const proton::scalar v = props.get(name);
  if (v.type() == proton::STRING) return proton::get<std::string>(v);
  if (v.type() == proton::SYMBOL) return std::string(proton::get<proton::symbol>(v));
  return {};
}

}  // namespace

emu::result<put_token_request, cbs_status> parse_put_token(const proton::message& m) {
  cbs_status status;
  status.id = m.id();
  status.reply_to = m.reply_to();
  try {
    const std::string operation = string_property(m, "operation");
    if (operation != "put-token") {
      status.description = "Unsupported CBS operation '" + operation + "' (only put-token).";
      return status;
    }
    const std::string type = string_property(m, "type");
    if (type != "servicebus.windows.net:sastoken" && type != "azure-devices.net:sastoken") {
      status.description = "Unsupported token type '" + type + "'.";
      return status;
    }
    put_token_request req;
    req.id = status.id;
    req.reply_to = status.reply_to;
    req.audience = string_property(m, "name");
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

void cbs_request_link::on_open() {
  top_up();
}

void cbs_request_link::top_up() {
  const int credit = pn_link_credit(link_);
  if (credit < static_cast<int>(request_credit / 2))
    pn_link_flow(link_, static_cast<int>(request_credit) - credit);
}

void cbs_request_link::on_delivery(pn_delivery_t* d) {
  if (d != pn_link_current(link_) || !pn_delivery_readable(d)) return;
  char chunk[4096];
  bool too_large = false;
  while (true) {
    const ssize_t n = pn_link_recv(link_, chunk, sizeof chunk);
    if (n <= 0) break;
    if (buffer_.size() + static_cast<std::size_t>(n) > max_request_bytes) {
      too_large = true;
    } else {
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  if (too_large) {
    buffer_.clear();
    reject_delivery(d, amqp_error{std::string(condition::message_size_exceeded),
                                  "A CBS request larger than 64 KB.", 0});
    pn_link_advance(link_);
    top_up();
    return;
  }
  if (pn_delivery_partial(d)) return;
  pn_link_advance(link_);
  if (pn_delivery_aborted(d)) {
    buffer_.clear();
    pn_delivery_settle(d);
    top_up();
    return;
  }
  std::string bytes = std::move(buffer_);
  buffer_.clear();
  accept_delivery(d);
  top_up();
  handle_request(bytes);
}

void cbs_request_link::reply(const proton::message_id& id, const std::string& reply_to, int code,
                             const std::string& description) {
  auto bytes = encode_message(make_cbs_reply(id, reply_to, code, description));
  if (bytes) conn_.send_cbs_reply(reply_to, std::move(*bytes), serial());
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
      [token = std::move(req.token)](core::hub& h, core::time_point now) {
        return h.authenticate_service(token, core::permission::service_connect, now);
      },
      // Authentication changes no state, so the round's commit result does not matter here.
      [id = req.id, reply_to = req.reply_to, serial = serial()](
          amqp_connection* c, bool /*committed*/, core::result<core::auth_grant> r) {
        if (c == nullptr) return;
        if (r.ok()) {
          c->set_grant(r.value());
          auto reply = encode_message(make_cbs_reply(id, reply_to, 200, "OK"));
          if (reply) c->send_cbs_reply(reply_to, std::move(*reply), serial);
        } else {
          const amqp_error e = to_amqp_error(r.error());
          c->log(log_level::info, "CBS: put-token refused: " + e.description);
          auto reply = encode_message(make_cbs_reply(id, reply_to, 401, e.description));
          if (reply) c->send_cbs_reply(reply_to, std::move(*reply), serial);
        }
        c->cbs_finished();
      });
}

// ---- reply link ------------------------------------------------------------------------

void cbs_reply_link::on_delivery(pn_delivery_t* d) {
  // spec §4.2: clients accept (settle) each CBS response; that ends the delivery.
  if (pn_delivery_settled(d) || pn_delivery_remote_state(d) != 0) pn_delivery_settle(d);
}

std::string cbs_reply_link::remote_target() const {
  const char* address = pn_terminus_get_address(pn_link_remote_target(link_));
  return address != nullptr ? address : "";
}

void cbs_reply_link::send(std::vector<char> bytes) {
  if (queue_.size() >= max_queued_) {
    conn_.log(log_level::warn, "CBS: reply dropped, the client's $cbs receiver gives no credit");
    return;
  }
  queue_.push_back(std::move(bytes));
  send_queued();
}

void cbs_reply_link::send_queued() {
  while (!queue_.empty() && pn_link_credit(link_) > 0) {
    const std::string tag = std::to_string(next_tag_++);
    pn_delivery(link_, pn_dtag(tag.data(), tag.size()));
    const auto& bytes = queue_.front();
    pn_link_send(link_, bytes.data(), bytes.size());
    pn_link_advance(link_);  // settled in on_delivery, when the client has settled it
    queue_.pop_front();
  }
}

}  // namespace emu::amqp
