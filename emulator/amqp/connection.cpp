#include "emulator/amqp/connection.hpp"

#include <proton/connection.h>
#include <proton/event.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include <algorithm>
#include <cstring>

#include "emulator/amqp/address.hpp"
#include "emulator/amqp/c2d_receiver.hpp"
#include "emulator/amqp/cbs_node.hpp"
#include "emulator/amqp/device_c2d_sender.hpp"
#include "emulator/amqp/device_method_links.hpp"
#include "emulator/amqp/device_twin_links.hpp"
#include "emulator/amqp/encoding_check.hpp"
#include "emulator/amqp/feedback_sender.hpp"
#include "emulator/amqp/link_options.hpp"
#include "emulator/amqp/management_node.hpp"
#include "emulator/amqp/partition_sender.hpp"
#include "emulator/amqp/reply_link.hpp"
#include "emulator/amqp/selector_filter.hpp"
#include "emulator/amqp/telemetry_receiver.hpp"
#include "emulator/amqp/transfer_frame.hpp"
#include "emulator/amqp/twin_message.hpp"
#include "emulator/core/access_policy.hpp"
#include "emulator/core/identity_key.hpp"
#include "emulator/core/sas_token.hpp"
#include "emulator/log/log.hpp"

namespace emu::amqp {

namespace {

constexpr std::size_t protocol_header_size = 8;
constexpr std::size_t frame_header_size = 8;

std::uint32_t read_be32(std::span<const char> b) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(b[i]);
  return v;
}

std::string condition_text(pn_condition_t* c) {
  if (c == nullptr || !pn_condition_is_set(c)) return "";
  const char* name = pn_condition_get_name(c);
  const char* description = pn_condition_get_description(c);
  std::string text = name != nullptr ? name : "";
  if (description != nullptr && *description != '\0') {
    text += ": ";
    text += description;
  }
  return text;
}

std::string terminus_address(pn_terminus_t* t) {
  const char* a = pn_terminus_get_address(t);
  return a != nullptr ? a : "";
}

}  // namespace

// ---- helpers shared with the link handlers ---------------------------------------------

void set_condition(pn_condition_t* c, const amqp_error& e) {
  pn_condition_set_name(c, e.condition.c_str());
  pn_condition_set_description(c, e.description.c_str());
  if (e.error_code != 0) {
    pn_data_t* info = pn_condition_info(c);
    pn_data_clear(info);
    pn_data_put_map(info);
    pn_data_enter(info);
    pn_data_put_symbol(
        info, pn_bytes(std::strlen("com.microsoft:error-code"), "com.microsoft:error-code"));
    pn_data_put_int(info, e.error_code);
    pn_data_exit(info);
  }
}

void accept_delivery(pn_delivery_t* d) {
  pn_delivery_update(d, PN_ACCEPTED);
  pn_delivery_settle(d);
}

void reject_delivery(pn_delivery_t* d, const amqp_error& e) {
  set_condition(pn_disposition_condition(pn_delivery_local(d)), e);
  pn_delivery_update(d, PN_REJECTED);
  pn_delivery_settle(d);
}

// ---- lifetime ----------------------------------------------------------------------------

amqp_connection::amqp_connection(executor::hub_executor& executor, const amqp_settings& settings,
                                 post_fn post, net::connection_handle handle,
                                 amqp::link_routes& routes, std::string peer)
    : executor_(executor),
      settings_(settings),
      post_(std::move(post)),
      handle_(std::move(handle)),
      routes_(routes),
      peer_(std::move(peer)),
      sasl_([this](plain_response r) { on_sasl_plain(std::move(r)); }) {}

amqp_connection::~amqp_connection() {
  drop_all_links();
}

bool amqp_connection::start(steady_time now) {
  if (!driver_.init()) return false;
  pn_transport_t* t = driver_.transport();
  // Server mode makes the transport auto-detect its layers from the client's first header:
  // `AMQP 3 1 0 0` → our SASL (installed below), `AMQP 0 1 0 0` → plain AMQP, as Node's rhea
  // and C# send it (ARCHITECTURE "Clients without SASL"). Authentication is not required at
  // the transport (pn_transport_require_auth stays false), so the bare header is accepted and
  // authorisation happens per link, through CBS.
  pn_transport_set_server(t);
  sasl_.install(t);
  pn_transport_set_max_frame(t, static_cast<std::uint32_t>(settings_.max_frame_size));
  pn_transport_set_channel_max(
      t, static_cast<std::uint16_t>(std::max<std::size_t>(settings_.max_sessions, 1) - 1));
  pn_transport_set_idle_timeout(t, static_cast<pn_millis_t>(settings_.idle_timeout.count()));
  pn_connection_set_container(driver_.connection(), "iothub-emulator");
  open_deadline_ = now + settings_.handshake_timeout;
  pump();
  return true;
}

void amqp_connection::log(log_level level, std::string_view text) const {
  static auto& logger = emu::log::get("amqp");
  const auto l = level == log_level::debug  ? spdlog::level::debug
                 : level == log_level::info ? spdlog::level::info
                 : level == log_level::warn ? spdlog::level::warn
                                            : spdlog::level::err;
  if (logger.should_log(l)) logger.log(l, "{}: {}", peer_, text);
}

bool amqp_connection::accepting_input() const {
  return !sasl_.waiting();
}

// ---- input -----------------------------------------------------------------------------------

bool amqp_connection::push_to_driver(std::span<const char> bytes, std::size_t& pushed) {
  pn_connection_driver_t* d = driver_.get();
  pushed = 0;
  while (pushed < bytes.size()) {
    const pn_rwbytes_t buf = pn_connection_driver_read_buffer(d);
    if (buf.size == 0) return false;
    const std::size_t n = std::min(buf.size, bytes.size() - pushed);
    std::memcpy(buf.start, bytes.data() + pushed, n);
    pn_connection_driver_read_done(d, n);
    pushed += n;
  }
  return true;
}

std::size_t amqp_connection::frame_limit() const {
  if (remote_opened_) return settings_.max_frame_size;
  return std::min<std::size_t>(settings_.max_frame_size, settings_.max_frame_size_before_open);
}

std::size_t amqp_connection::feed(std::span<const char> bytes) {
  pn_connection_driver_t* d = driver_.get();
  if (d == nullptr || failed_ || pn_connection_driver_read_closed(d)) return bytes.size();
  std::size_t consumed = 0;
  while (consumed < bytes.size()) {
    // While the hub checks a SASL PLAIN password, the next bytes (perhaps an AMQP header the
    // client pipelined) must wait: Proton would read them as SASL frames.
    if (sasl_.waiting()) break;
    if (pn_connection_driver_read_closed(d)) return bytes.size();
    const auto rest = bytes.subspan(consumed);
    if (unit_left_ == 0) {
      if (rest.size() < frame_header_size) break;
      if (std::memcmp(rest.data(), "AMQP", 4) == 0) {
        unit_left_ = protocol_header_size;
      } else {
        const std::uint32_t size = read_be32(rest);
        const std::size_t limit = frame_limit();
        if (size < frame_header_size || size > limit) {
          protocol_error("amqp:connection:framing-error",
                         "frame size " + std::to_string(size) + " outside 8.." +
                             std::to_string(limit) + (remote_opened_ ? "" : " before open"));
          return bytes.size();
        }
        if (!authenticated_ && input_before_auth_ + size > settings_.max_input_before_auth) {
          protocol_error(condition::resource_limit_exceeded,
                         "more than " + std::to_string(settings_.max_input_before_auth) +
                             " bytes before the connection was authorised");
          return bytes.size();
        }
        if (rest.size() < size) break;  // wait for the whole frame
        const std::size_t offset =
            static_cast<std::size_t>(static_cast<unsigned char>(rest[4])) * 4;
        if (offset < frame_header_size || offset > size) {
          protocol_error("amqp:connection:framing-error", "bad frame data offset");
          return bytes.size();
        }
        const auto body = rest.subspan(offset, size - offset);
        if (!body.empty() && !first_value_size(body)) {
          protocol_error("amqp:decode-error", "malformed frame body");
          return bytes.size();
        }
        // Proton does not report a delivery's message-format: read it here, for the
        // deliveries this frame's events show (transfer_frame.hpp).
        transfer_format_ = transfer_message_format(body).value_or(0);
        unit_left_ = size;
      }
    }
    const std::size_t n = std::min(unit_left_, rest.size());
    std::size_t pushed = 0;
    const bool all = push_to_driver(rest.first(n), pushed);
    consumed += pushed;
    unit_left_ -= pushed;
    if (!authenticated_) input_before_auth_ += pushed;
    pump();
    if (!all) break;  // Proton's input buffer is full: more after it has processed this
  }
  return consumed;
}

void amqp_connection::protocol_error(std::string_view cond, std::string_view description) {
  failed_ = true;
  log(log_level::info, "protocol error: " + std::string(cond) + ": " + std::string(description));
  pn_connection_driver_t* d = driver_.get();
  if (d == nullptr) return;
  const std::string name(cond);
  const std::string text(description);
  pn_connection_driver_errorf(d, name.c_str(), "%s", text.c_str());
  pn_connection_driver_read_close(d);
  pump();
}

void amqp_connection::read_closed() {
  if (pn_connection_driver_t* d = driver_.get()) {
    pn_connection_driver_read_close(d);
    pump();
  }
}

void amqp_connection::write_failed() {
  if (pn_connection_driver_t* d = driver_.get()) {
    pn_connection_driver_close(d);
    pump();
  }
}

// ---- output and time -----------------------------------------------------------------------

void amqp_connection::take_output(std::vector<std::uint8_t>& out) {
  pn_connection_driver_t* d = driver_.get();
  if (d == nullptr) return;
  while (true) {
    pump();
    const pn_bytes_t b = pn_connection_driver_write_buffer(d);
    if (b.size == 0) {
      if (!pn_connection_driver_has_event(d)) break;
      continue;
    }
    out.insert(out.end(), reinterpret_cast<const std::uint8_t*>(b.start),
               reinterpret_cast<const std::uint8_t*>(b.start) + b.size);
    pn_connection_driver_write_done(d, b.size);
  }
  // After our own protocol error Proton has written everything it will (its header, open and
  // close with the error, if it got that far). Before a protocol header was recognised it
  // writes nothing and would keep the connection open: end the write side ourselves.
  if (failed_ && !pn_connection_driver_write_closed(d)) {
    pn_connection_driver_write_close(d);
    pump();
  }
}

bool amqp_connection::write_closed() {
  pn_connection_driver_t* d = driver_.get();
  return d == nullptr || pn_connection_driver_write_closed(d);
}

bool amqp_connection::peer_may_still_send() {
  if (failed_) return true;
  pn_connection_driver_t* d = driver_.get();
  if (d == nullptr) return false;
  return (pn_connection_state(d->connection) & PN_REMOTE_CLOSED) == 0 &&
         !pn_connection_driver_read_closed(d);
}

bool amqp_connection::finished() {
  pn_connection_driver_t* d = driver_.get();
  return d == nullptr || pn_connection_driver_finished(d);
}

std::optional<steady_time> amqp_connection::tick(steady_time now) {
  pn_connection_driver_t* d = driver_.get();
  if (d == nullptr || pn_connection_driver_finished(d)) return std::nullopt;
  std::optional<steady_time> next;
  const auto sooner = [&next](steady_time t) { next = next ? std::min(*next, t) : t; };

  if (!remote_opened_ && !failed_) {
    if (now >= open_deadline_) {
      protocol_error("amqp:connection:forced", "no AMQP open within the handshake time-out");
      return std::nullopt;
    }
    sooner(open_deadline_);
  }

  // Proton's idle time-out and heartbeats run on our clock (milliseconds of steady_clock).
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::int64_t deadline = pn_transport_tick(driver_.transport(), now_ms);
  if (deadline != 0) sooner(steady_time(std::chrono::milliseconds(deadline)));

  // A token's expiry is in hub time (the executor's clock, which tests may move forward). A
  // device's token that expires unrenewed ends the connection too (as its MQTT connection).
  const core::time_point hub_now = executor_.now();
  const auto valid = [&](const core::auth_grant& g) {
    if (hub_now >= g.expiry) return false;
    // Capped before the conversion to steady_clock's nanoseconds: a certificate's notAfter may
    // be 9999-12-31 (RFC 5280 §4.1.2.5), which overflows int64 nanoseconds.
    const auto left = std::min<core::duration>(g.expiry - hub_now, std::chrono::hours(24));
    sooner(now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(left));
    return true;
  };
  if (grant_ && !valid(*grant_)) {
    grant_.reset();
    close(unauthorized("The SAS token of this connection expired and was not renewed."));
  }
  // A device's token that expires unrenewed ends that device's links; the connection ends
  // when no valid token is left on it (other devices sharing it keep going).
  std::vector<std::string> expired;
  for (auto it = device_grants_.begin(); it != device_grants_.end();) {
    if (valid(it->second)) {
      ++it;
      continue;
    }
    expired.push_back(it->first);
    device_credentials_.erase(it->first);
    it = device_grants_.erase(it);
  }
  if (!expired.empty() && !grant_ && device_grants_.empty()) {
    // No valid token is left: the sessions end, then the connection closes. Not link by link
    // first: the Node SDK waits 45 s for the answers to its own detaches of links the peer
    // detached before it reports a close (its "rundown"); an ended session spares that.
    const amqp_error e =
        unauthorized("The SAS tokens of this connection expired and were not renewed.");
    for (const auto& device : expired)
      log(log_level::info, "device '" + device + "': the SAS token expired and was not renewed");
    end_all_sessions(&e);
    close(e);
  } else {
    for (const auto& device : expired) device_token_expired(device);
  }
  if (!pending_faults_.empty()) apply_due_faults(hub_now, now, sooner);
  device_sessions().refuse_due(now, sooner);
  pump();
  return next;
}

// ---- server side ----------------------------------------------------------------------------

void amqp_connection::close(const amqp_error& e) {
  pn_connection_t* c = driver_.connection();
  if (c == nullptr) return;
  if ((pn_connection_state(c) & PN_LOCAL_CLOSED) == 0) {
    log(log_level::info, "closing: " + e.condition + ": " + e.description);
    set_condition(pn_connection_condition(c), e);
    if ((pn_connection_state(c) & PN_LOCAL_UNINIT) != 0) pn_connection_open(c);
    pn_connection_close(c);
  }
  drop_all_links();
  pump();
}

void amqp_connection::feedback_delivery(std::uint64_t receiver, core::feedback_batch batch) {
  for (auto& [serial, h] : links_) {
    auto* f = dynamic_cast<feedback_sender*>(h.get());
    if (f != nullptr && f->receiver() == receiver) {
      f->deliver(std::move(batch));
      return;
    }
  }
  // The link is gone: its receiver's detach gives the batch back to the queue.
}

void amqp_connection::telemetry_delivery(
    std::uint64_t reader,
    const std::vector<std::shared_ptr<const core::telemetry_message>>& events) {
  for (auto& [serial, h] : links_) {
    auto* p = dynamic_cast<partition_sender*>(h.get());
    if (p != nullptr && p->reader() == reader) {
      p->deliver(events);
      return;
    }
  }
  // The link is gone: the events stay in the log, nothing to give back.
}

void amqp_connection::device_c2d_delivery(const std::string& device_id, std::uint64_t epoch,
                                          core::c2d_delivery d) {
  for (auto& [serial, h] : links_) {
    auto* s = dynamic_cast<device_c2d_sender*>(h.get());
    if (s != nullptr && !s->closed() && s->device_id() == device_id && s->epoch() == epoch) {
      s->deliver(std::move(d));
      pump();
      return;
    }
  }
  // The link is gone: its session's end gives the message back to the queue.
}

void amqp_connection::device_token_expired(const std::string& device_id) {
  const amqp_error e =
      unauthorized("The SAS token of device '" + device_id + "' expired and was not renewed.");
  log(log_level::info, "device '" + device_id + "': " + e.description);
  for (auto& [serial, h] : links_) {
    if (auto* d = dynamic_cast<device_link*>(h.get());
        d != nullptr && d->device_id() == device_id) {
      d->end(e);
    } else if (auto* t = dynamic_cast<telemetry_receiver*>(h.get());
               t != nullptr && t->device_id() == device_id) {
      set_condition(pn_link_condition(t->link()), e);
      pn_link_close(t->link());
    }
  }
}

void amqp_connection::device_session_ended(const std::string& device_id, std::uint64_t epoch,
                                           core::session_end why) {
  if (why == core::session_end::device_changed) {
    // Its status, keys or credentials changed: what admitted it here (a token or the client
    // certificate, whose grant may last years) must be proven again before new links attach.
    device_grants_.erase(device_id);
    device_credentials_.erase(device_id);
    certificate_refusals_.erase(device_id);
  }
  device_sessions_.ended(device_id, epoch, why);
}

void amqp_connection::device_desired_patch(const std::string& device_id, std::int64_t version,
                                           const std::string& patch) {
  // Nothing is queued for a device that does not listen: it GETs the twin when it subscribes
  // (DOC device twins "Device reconnection flow"), as over MQTT.
  bool sent = false;
  for_each_link<twin_sender>([&](twin_sender& s) {
    if (s.device_id() != device_id || !s.wants_desired() || s.closed()) return;
    s.send(encode_desired_notification(version, patch));
    sent = true;
  });
  if (sent) pump();
}

void amqp_connection::device_method_request(const std::string& device_id, std::uint64_t epoch,
                                            std::uint64_t call_id, const std::string& name,
                                            const std::string& payload) {
  method_request_sender* newest = nullptr;
  for_each_link<method_request_sender>([&](method_request_sender& s) {
    if (s.device_id() == device_id && s.epoch() == epoch && !s.closed()) newest = &s;
  });
  // No method link (it closed meanwhile): the call times out for its caller (504101).
  if (newest == nullptr) return;
  newest->call(call_id, name, payload);
  pump();
}

core::device_credential amqp_connection::device_credential(const std::string& device_id) const {
  const auto it = device_credentials_.find(device_id);
  return it == device_credentials_.end() ? core::device_credential{} : it->second;
}

void amqp_connection::telemetry_reader_ended(std::uint64_t reader, const core::error& why) {
  for (auto& [serial, h] : links_) {
    auto* p = dynamic_cast<partition_sender*>(h.get());
    if (p != nullptr && p->reader() == reader) {
      p->end(why);
      pump();
      return;
    }
  }
}

// ---- authorisation and CBS ------------------------------------------------------------------

bool amqp_connection::authorized() const {
  return grant_ && core::has(grant_->permissions, core::permission::service_connect) &&
         executor_.now() < grant_->expiry;
}

void amqp_connection::set_grant(core::auth_grant grant, core::device_credential credential) {
  if (!grant.device_id.empty()) {
    device_credentials_.insert_or_assign(grant.device_id, std::move(credential));
    // A device's token (its key, or a policy with DeviceConnect): that device's own links.
    log(log_level::info, "authorised for device '" + grant.device_id + "'" +
                             (grant.policy.empty() ? "" : " by policy '" + grant.policy + "'"));
    authenticated_ = true;
    const std::string id = grant.device_id;
    device_grants_.insert_or_assign(id, std::move(grant));
    return;
  }
  log(log_level::info, "authorised as policy '" + grant.policy + "'");
  if (core::has(grant.permissions, core::permission::service_connect)) authenticated_ = true;
  grant_ = std::move(grant);
}

const core::auth_grant* amqp_connection::device_grant(std::string_view device_id) const {
  const auto it = device_grants_.find(device_id);
  if (it == device_grants_.end() || executor_.now() >= it->second.expiry) return nullptr;
  return &it->second;
}

bool amqp_connection::try_certificate(const std::string& device_id) {
  const auto& chain = transport_certificates();
  if (chain.empty() || certificate_refusals_.contains(device_id)) return false;
  auto parsed = core::parse_client_certificate(chain);
  if (!parsed) {
    certificate_refusals_.emplace(device_id, parsed.error().message);
    return false;
  }
  auto certificate = std::make_shared<const core::client_certificate>(std::move(*parsed));
  log(log_level::info, "authenticating device '" + device_id + "' with client certificate " +
                           core::describe(*certificate));
  ++cbs_in_flight_;  // attaches wait for the answer as they wait for a put-token
  submit(
      [id = device_id, certificate](core::hub& h, core::time_point now) {
        return h.authenticate_device_certificate(*certificate, id, now);
      },
      [id = device_id, certificate](amqp_connection* c, bool, core::result<core::auth_grant> res) {
        if (c == nullptr) return;
        if (res.ok()) {
          c->set_grant(res.value(), core::device_credential{{}, certificate});
        } else {
          c->log(log_level::info,
                 "client certificate refused for device '" + id + "': " + res.error().message);
          c->certificate_refusals_.emplace(id, res.error().message);
          c->count_refusal("certificate_refused");
        }
        c->cbs_finished();
      });
  return true;
}

void amqp_connection::cbs_finished() {
  if (cbs_in_flight_ > 0) --cbs_in_flight_;
  if (cbs_in_flight_ > 0 || deferred_attaches_.empty()) return;
  auto waiting = std::move(deferred_attaches_);
  deferred_attaches_.clear();
  for (pn_link_t* link : waiting) decide_attach(link);
}

void amqp_connection::send_reply(node_kind node, std::string_view reply_to, std::vector<char> bytes,
                                 std::uint64_t request_serial) {
  pn_session_t* session = nullptr;
  if (const auto it = links_.find(request_serial); it != links_.end())
    session = pn_link_session(it->second->link());
  reply_link* by_target = nullptr;
  reply_link* in_session = nullptr;
  reply_link* newest = nullptr;
  // links_ is ordered by serial, i.e. by attach order: the last match is the newest.
  for (auto& [serial, h] : links_) {
    auto* r = dynamic_cast<reply_link*>(h.get());
    if (r == nullptr || r->node() != node) continue;
    newest = r;
    if (session != nullptr && pn_link_session(r->link()) == session) in_session = r;
    if (by_target == nullptr && !reply_to.empty() && r->remote_target() == reply_to) by_target = r;
  }
  reply_link* chosen = by_target != nullptr    ? by_target
                       : in_session != nullptr ? in_session
                                               : newest;
  if (chosen == nullptr) {
    log(log_level::warn, std::string("no receiver link with source ") +
                             (node == node_kind::cbs ? "$cbs" : "$management") + " for the reply");
    return;
  }
  chosen->send(std::move(bytes));
}

void amqp_connection::on_sasl_plain(plain_response r) {
  const auto user = parse_service_user(r.authcid);
  if (!user && !r.authcid.empty() && r.authcid.find('@') == std::string::npos) {
    // The Event Hubs way (the C SDK's e2e reader, next-capabilities §1.1): the policy's name
    // and its key as the password.
    log(log_level::info, "SASL PLAIN as policy '" + r.authcid + "' with its key");
    submit(
        [policy = r.authcid, key = std::move(r.password)](core::hub& h, core::time_point now) {
          return h.authenticate_policy_key(policy, key, core::permission::service_connect, now);
        },
        [authcid = r.authcid](amqp_connection* c, bool, core::result<core::auth_grant> res) {
          if (c == nullptr) return;
          if (res.ok()) {
            c->set_grant(res.value());
            c->sasl_.complete(true, authcid);
          } else {
            c->log(log_level::info, "SASL PLAIN refused: " + res.error().message);
            c->count_refusal("sasl_failed");
            c->sasl_.complete(false, {});
          }
        });
    return;
  }
  if (const auto device = parse_device_user(r.authcid);
      !user && device && names_this_hub(device->hub, settings_.hub_name, settings_.hosts)) {
    // The legacy device clients (next-capabilities §4): `{deviceId}@sas.{hubName}` and the
    // device's SAS token; the connection then holds that device's grant, as after its CBS
    // put-token.
    log(log_level::info, "SASL PLAIN as device '" + device->device_id + "' (" +
                             core::describe_token(r.password) + ")");
    submit(
        [id = device->device_id, token = r.password](core::hub& h, core::time_point now) {
          return h.authenticate_device(token, id, now);
        },
        [authcid = r.authcid, token = r.password](amqp_connection* c, bool,
                                                  core::result<core::auth_grant> res) {
          if (c == nullptr) return;
          if (res.ok()) {
            c->set_grant(res.value(), core::device_credential{token, nullptr});
            c->sasl_.complete(true, authcid);
          } else {
            c->log(log_level::info, "SASL PLAIN refused: " + res.error().message);
            c->count_refusal("sasl_failed");
            c->sasl_.complete(false, {});
          }
        });
    return;
  }
  if (!user || !names_this_hub(user->hub, settings_.hub_name, settings_.hosts)) {
    log(log_level::info, "SASL PLAIN refused: user name '" + r.authcid +
                             "' is not {policy}@sas.root.{hubName} or {deviceId}@sas.{hubName} "
                             "of this hub");
    count_refusal("sasl_failed");
    sasl_.complete(false, {});
    return;
  }
  log(log_level::info,
      "SASL PLAIN as '" + r.authcid + "' (" + core::describe_token(r.password) + ")");
  submit(
      [token = std::move(r.password)](core::hub& h, core::time_point now) {
        return h.authenticate_service(token, core::permission::service_connect, now);
      },
      [authcid = r.authcid](amqp_connection* c, bool /*committed*/,
                            core::result<core::auth_grant> res) {
        if (c == nullptr) return;
        if (res.ok()) {
          c->set_grant(res.value());
          c->sasl_.complete(true, authcid);
        } else {
          c->log(log_level::info, "SASL PLAIN refused: " + res.error().message);
          c->count_refusal("sasl_failed");
          c->sasl_.complete(false, {});
        }
      });
}

// ---- events --------------------------------------------------------------------------------

void amqp_connection::pump() {
  pn_connection_driver_t* d = driver_.get();
  if (d == nullptr || in_pump_) return;
  in_pump_ = true;
  while (pn_event_t* e = pn_connection_driver_next_event(d)) handle(e);
  in_pump_ = false;
}

void amqp_connection::handle(pn_event_t* e) {
  switch (pn_event_type(e)) {
    case PN_CONNECTION_REMOTE_OPEN: {
      remote_opened_ = true;
      pn_connection_t* c = pn_event_connection(e);
      if ((pn_connection_state(c) & PN_LOCAL_UNINIT) != 0) pn_connection_open(c);
      const char* container = pn_connection_remote_container(c);
      log(log_level::debug, std::string("open from container '") +
                                (container != nullptr ? container : "") + "' (SASL " +
                                (sasl_.mechanism().empty() ? "none" : sasl_.mechanism()) + ")");
      break;
    }
    case PN_CONNECTION_REMOTE_CLOSE: {
      pn_connection_t* c = pn_event_connection(e);
      if (auto text = condition_text(pn_connection_remote_condition(c)); !text.empty())
        log(log_level::info, "peer closed with " + text);
      drop_all_links();
      if ((pn_connection_state(c) & PN_LOCAL_CLOSED) == 0) pn_connection_close(c);
      break;
    }
    case PN_SESSION_REMOTE_OPEN: {
      pn_session_t* s = pn_event_session(e);
      if ((pn_session_state(s) & PN_LOCAL_UNINIT) != 0) pn_session_open(s);
      break;
    }
    case PN_SESSION_REMOTE_CLOSE: {
      pn_session_t* s = pn_event_session(e);
      drop_session_links(s);
      if ((pn_session_state(s) & PN_LOCAL_CLOSED) == 0) pn_session_close(s);
      pn_session_free(s);
      break;
    }
    case PN_LINK_REMOTE_OPEN: {
      pn_link_t* link = pn_event_link(e);
      if ((pn_link_state(link) & PN_LOCAL_UNINIT) != 0) decide_attach(link);
      break;
    }
    case PN_LINK_REMOTE_DETACH:
    case PN_LINK_REMOTE_CLOSE: {
      pn_link_t* link = pn_event_link(e);
      drop_link(link);
      if ((pn_link_state(link) & PN_LOCAL_CLOSED) == 0) {
        if (pn_event_type(e) == PN_LINK_REMOTE_DETACH) {
          pn_link_detach(link);
        } else {
          pn_link_close(link);
        }
      }
      pn_link_free(link);
      break;
    }
    case PN_LINK_FLOW:
      if (link_handler* h = handler_of(pn_event_link(e))) h->on_flow();
      break;
    case PN_DELIVERY: {
      pn_delivery_t* d = pn_event_delivery(e);
      if (link_handler* h = handler_of(pn_delivery_link(d))) h->on_delivery(d);
      break;
    }
    case PN_TRANSPORT_ERROR: {
      // A peer that sent its close and then dropped the socket without waiting for ours (the
      // C SDK's service client does) ended normally: Proton still reports "connection
      // aborted", which is worth a line at debug only (issue 21).
      pn_connection_t* c = pn_event_connection(e);
      const bool closed_by_peer = c != nullptr && (pn_connection_state(c) & PN_REMOTE_CLOSED) != 0;
      log(closed_by_peer ? log_level::debug : log_level::info,
          "transport error: " + condition_text(pn_transport_condition(pn_event_transport(e))));
      drop_all_links();
      break;
    }
    case PN_TRANSPORT_CLOSED:
      drop_all_links();
      break;
    default:
      break;
  }
}

// ---- links ----------------------------------------------------------------------------------

void amqp_connection::decide_attach(pn_link_t* link) {
  const bool we_send = pn_link_is_sender(link);
  const std::string address =
      terminus_address(we_send ? pn_link_remote_source(link) : pn_link_remote_target(link));
  if (links_.size() >= settings_.max_links) {
    refuse_link(link, amqp_error{std::string(condition::resource_limit_exceeded),
                                 "Too many links on this connection.", 0});
    return;
  }
  const node_kind kind = classify_address(address, settings_.hub_name);
  switch (kind) {
    case node_kind::cbs:
      if (we_send) {
        accept_link(link, std::make_unique<reply_link>(*this, link, next_serial_++, kind,
                                                       settings_.max_queued_cbs_replies));
      } else {
        accept_link(link, std::make_unique<cbs_request_link>(*this, link, next_serial_++));
      }
      return;
    case node_kind::management:
      // Like $cbs, open to all: each request is checked (management_node.cpp).
      if (we_send) {
        accept_link(link, std::make_unique<reply_link>(*this, link, next_serial_++, kind,
                                                       settings_.max_queued_cbs_replies));
      } else {
        accept_link(link, std::make_unique<management_request_link>(*this, link, next_serial_++));
      }
      return;
    case node_kind::event_hub_partition:
      if (!we_send) {
        refuse_link(link,
                    amqp_error{std::string(condition::not_allowed),
                               "'" + address + "' only delivers events: attach a receiver.", 0});
        return;
      }
      break;
    case node_kind::events_redirect:
      break;
    case node_kind::c2d:
      if (we_send) {
        refuse_link(link,
                    amqp_error{std::string(condition::not_allowed),
                               "'" + address + "' only accepts messages: attach a sender.", 0});
        return;
      }
      break;
    case node_kind::feedback:
      if (!we_send) {
        refuse_link(link,
                    amqp_error{std::string(condition::not_allowed),
                               "'" + address + "' only delivers feedback: attach a receiver.", 0});
        return;
      }
      break;
    case node_kind::device:
      decide_device_attach(link, address, we_send);
      return;
    case node_kind::unknown:
      refuse_link(link,
                  amqp_error{std::string(condition::not_found),
                             "No node '" + address +
                                 "' on the service endpoint (known: $cbs, /messages/devicebound, "
                                 "/messages/serviceBound/feedback, /messages/events, $management, "
                                 "<hub>/ConsumerGroups/<group>/Partitions/<n>, "
                                 "/devices/<id>/messages/events).",
                             0});
      return;
  }
  if (!authorized()) {
    // A put-token may still be on its way through the hub: decide when it is answered.
    if (cbs_in_flight_ > 0) {
      deferred_attaches_.push_back(link);
      return;
    }
    refuse_link(link, unauthorized("Put a SAS token with ServiceConnect on $cbs (or use SASL "
                                   "PLAIN) before attaching '" +
                                   address + "'."));
    return;
  }
  if (kind == node_kind::c2d) {
    accept_link(link, std::make_unique<c2d_receiver>(*this, link, next_serial_++));
  } else if (kind == node_kind::events_redirect) {
    redirect_link(link);
  } else if (kind == node_kind::event_hub_partition) {
    attach_partition_reader(link, address);
  } else {
    accept_link(link, std::make_unique<feedback_sender>(*this, link, next_serial_++));
  }
}

void amqp_connection::decide_device_attach(pn_link_t* link, const std::string& address,
                                           bool we_send) {
  const auto device = parse_device_address(address);
  if (!device) {
    refuse_link(link, amqp_error{std::string(condition::not_found),
                                 "'" + address + "' is not a device link address.", 0});
    return;
  }
  // Only a connection holding this device's token learns anything about its links.
  const core::auth_grant* grant = device_grant(device->device_id);
  if (grant == nullptr) {
    if (cbs_in_flight_ > 0) {  // its put-token may be on its way through the hub
      deferred_attaches_.push_back(link);
      return;
    }
    if (try_certificate(device->device_id)) {  // an X.509 device: no CBS (next-cap. §4)
      deferred_attaches_.push_back(link);
      return;
    }
    const auto refused = certificate_refusals_.find(device->device_id);
    refuse_link(link,
                unauthorized(refused != certificate_refusals_.end()
                                 ? "The client certificate does not admit device '" +
                                       device->device_id + "': " + refused->second
                                 : "Put a SAS token of device '" + device->device_id +
                                       "' on $cbs (or connect with its X.509 certificate) before "
                                       "attaching '" +
                                       address + "'."));
    return;
  }
  if (device->kind == device_link_kind::c2d &&
      core::split_identity(device->device_id).is_module()) {
    // C2D is for devices (issue 16): a module receives none.
    refuse_link(link,
                amqp_error{std::string(condition::not_allowed),
                           "'" + address + "': modules receive no cloud-to-device messages.", 0});
    return;
  }
  switch (device->kind) {
    case device_link_kind::telemetry:
      if (we_send) break;
      accept_link(
          link, std::make_unique<telemetry_receiver>(*this, link, next_serial_++, device->device_id,
                                                     !grant->policy.empty()));
      return;
    case device_link_kind::c2d:
      if (!we_send) break;
      accept_link(link, std::make_unique<device_c2d_sender>(*this, link, next_serial_++,
                                                            device->device_id));
      return;
    case device_link_kind::twin: {
      // next-capabilities §2.5: both links of the pair carry the same channel id.
      std::string channel = link_channel(pn_link_remote_properties(link));
      if (we_send) {
        accept_link(link, std::make_unique<twin_sender>(*this, link, next_serial_++,
                                                        device->device_id, std::move(channel)));
      } else {
        accept_link(link, std::make_unique<twin_request_receiver>(
                              *this, link, next_serial_++, device->device_id, std::move(channel)));
      }
      return;
    }
    case device_link_kind::methods:
      if (we_send) {
        accept_link(link, std::make_unique<method_request_sender>(*this, link, next_serial_++,
                                                                  device->device_id));
      } else {
        accept_link(link, std::make_unique<method_response_receiver>(*this, link, next_serial_++,
                                                                     device->device_id));
      }
      return;
  }
  refuse_link(link, amqp_error{std::string(condition::not_allowed),
                               "'" + address +
                                   "' is attached the other way round: telemetry with "
                                   "a sender, C2D with a receiver.",
                               0});
}

void amqp_connection::accept_link(pn_link_t* link, std::unique_ptr<link_handler> handler) {
  pn_terminus_copy(pn_link_source(link), pn_link_remote_source(link));
  pn_terminus_copy(pn_link_target(link), pn_link_remote_target(link));
  if (const auto limit = handler->max_message_size()) pn_link_set_max_message_size(link, limit);
  pn_link_open(link);
  link_handler* h = handler.get();
  links_.emplace(h->serial(), std::move(handler));
  log(log_level::debug, std::string("attached ") +
                            (pn_link_is_sender(link) ? "sender " : "receiver ") +
                            pn_link_name(link));
  h->on_open();
}

namespace {

/// AMQP 1.0 §2.6.3: a refused attach carries a null terminus for our side; the detach with
/// the error follows.
void open_refused(pn_link_t* link) {
  if (pn_link_is_sender(link)) {
    pn_terminus_set_type(pn_link_source(link), PN_UNSPECIFIED);
    pn_terminus_copy(pn_link_target(link), pn_link_remote_target(link));
  } else {
    pn_terminus_copy(pn_link_source(link), pn_link_remote_source(link));
    pn_terminus_set_type(pn_link_target(link), PN_UNSPECIFIED);
  }
  pn_link_open(link);
}

}  // namespace

void amqp_connection::refuse_link(pn_link_t* link, const amqp_error& e) {
  open_refused(link);
  set_condition(pn_link_condition(link), e);
  pn_link_close(link);
  log(log_level::info, "refused link '" + std::string(pn_link_name(link)) + "': " + e.condition +
                           ": " + e.description);
}

void amqp_connection::redirect_link(pn_link_t* link) {
  // next-capabilities §1.7: the IoT Hub path of the built-in endpoint answers with
  // amqp:link:redirect to the Event Hubs-compatible one, here on this same listener. The
  // @azure/event-hubs 1.x client needs info.hostname and info.address, the address matching
  // `5671/<eventHub>/$management`.
  const std::string port = std::to_string(local_port_);
  const std::string target =
      "amqps://" + settings_.hosts.primary + ":" + port + "/" + settings_.hub_name + "/$management";
  open_refused(link);
  pn_condition_t* c = pn_link_condition(link);
  pn_condition_set_name(c, std::string(condition::link_redirect).c_str());
  pn_condition_set_description(c,
                               "The built-in endpoint is read through its Event "
                               "Hubs-compatible name.");
  pn_data_t* info = pn_condition_info(c);
  pn_data_clear(info);
  pn_data_put_map(info);
  pn_data_enter(info);
  const auto put = [info](std::string_view key, std::string_view value) {
    pn_data_put_symbol(info, pn_bytes(key.size(), key.data()));
    pn_data_put_string(info, pn_bytes(value.size(), value.data()));
  };
  put("hostname", settings_.hosts.primary);
  put("network-host", settings_.hosts.primary);
  pn_data_put_symbol(info, pn_bytes(4, "port"));
  pn_data_put_int(info, local_port_);
  put("address", target);
  pn_data_exit(info);
  pn_link_close(link);
  log(log_level::info, "redirected link '" + std::string(pn_link_name(link)) + "' to " + target);
}

void amqp_connection::attach_partition_reader(pn_link_t* link, const std::string& address) {
  const auto parts = parse_partition_address(address, settings_.hub_name);
  core::reader_request request;
  request.consumer_group = parts->consumer_group;
  request.epoch = link_epoch(pn_link_remote_properties(link));
  auto text = selector_filter_text(pn_terminus_filter(pn_link_remote_source(link)));
  if (!text) {
    refuse_link(link, invalid_field(text.error()));
    return;
  }
  if (*text) {
    auto position = parse_selector_filter(**text);
    if (!position) {
      refuse_link(link, invalid_field(position.error()));
      return;
    }
    request.start = *position;
  }
  accept_link(link, std::make_unique<partition_sender>(*this, link, next_serial_++,
                                                       parts->partition_id, std::move(request)));
}

link_handler* amqp_connection::handler_of(pn_link_t* link) {
  for (auto& [serial, h] : links_) {
    if (h->link() == link) return h.get();
  }
  return nullptr;
}

void amqp_connection::drop_link(pn_link_t* link) {
  std::erase(deferred_attaches_, link);
  for (auto it = links_.begin(); it != links_.end(); ++it) {
    if (it->second->link() == link) {
      it->second->on_closed();
      links_.erase(it);
      return;
    }
  }
}

void amqp_connection::drop_session_links(pn_session_t* session) {
  std::erase_if(deferred_attaches_,
                [session](pn_link_t* l) { return pn_link_session(l) == session; });
  for (auto it = links_.begin(); it != links_.end();) {
    if (pn_link_session(it->second->link()) == session) {
      it->second->on_closed();
      it = links_.erase(it);
    } else {
      ++it;
    }
  }
}

void amqp_connection::drop_all_links() {
  deferred_attaches_.clear();
  auto links = std::move(links_);
  links_.clear();
  for (auto& [serial, h] : links) h->on_closed();
}

}  // namespace emu::amqp
