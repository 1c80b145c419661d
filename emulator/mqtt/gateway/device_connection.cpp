#include "emulator/mqtt/gateway/device_connection.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <utility>

#include "emulator/core/hub.hpp"
#include "emulator/core/limits.hpp"
#include "emulator/core/sas_token.hpp"
#include "emulator/mqtt/codec/encoder.hpp"
#include "emulator/mqtt/gateway/gateway_state.hpp"

namespace emu::mqtt {

namespace {

/// The longest MQTT fixed header: one type byte and four remaining-length bytes.
constexpr std::size_t max_fixed_header = 5;
/// The CONNACK refusal as /metrics names it (iothub_connections_refused_total{reason}).
std::string_view refusal_reason(connect_return_code code) {
  switch (code) {
    case connect_return_code::unacceptable_protocol_version:
      return "unacceptable_protocol_version";
    case connect_return_code::identifier_rejected:
      return "identifier_rejected";
    case connect_return_code::server_unavailable:
      return "server_unavailable";
    case connect_return_code::bad_username_or_password:
      return "bad_username_or_password";
    case connect_return_code::not_authorized:
      return "not_authorized";
    case connect_return_code::accepted:
      break;
  }
  return "other";
}
/// How long a KillTcp waits for the acknowledgement before it to be written out.
constexpr std::chrono::seconds kill_tcp_linger{2};

}  // namespace

device_connection::device_connection(std::shared_ptr<gateway_state> state)
    : state_(std::move(state)),
      session_(state_->settings.session),
      decoder_(
          decoder_limits{packet_size_limit(state_->settings, session::phase::awaiting_connect)}) {}

device_connection::~device_connection() = default;

core::time_point device_connection::hub_now() const {
  // The executor's clock (wall clock + test-control offset), so deadlines agree with the hub.
  return state_->executor.now();
}

std::string device_connection::who() const {
  std::string text = "#" + std::to_string(link_->id()) + " " + link_->peer();
  if (!device_id_.empty()) text += " device '" + device_id_ + "'";
  return text;
}

// ---- net::protocol ----------------------------------------------------------------------------

void device_connection::on_open(net::link& l) {
  state_->log.debug("#{} {} {} up", l.id(), l.peer(), l.transport_name());
  if (!link_->peer_certificates().empty()) session_.client_certificate_presented();
  apply(session_.on_open(hub_now()));
}

bool device_connection::wants_input() const {
  // Back-pressure: no reading while the hub authenticates, or while many hub requests of this
  // device are outstanding (a device that floods publishes).
  return !closed_ && session_.accepting_packets() &&
         hub_requests_ < state_->settings.max_pending_hub_requests;
}

std::size_t device_connection::input_limit() const {
  return packet_size_limit(state_->settings, session_.current_phase()) + max_fixed_header;
}

std::size_t device_connection::on_input(std::span<const std::uint8_t> bytes) {
  std::size_t used = 0;
  while (!closed_ && !close_reason_ && session_.accepting_packets() && used < bytes.size()) {
    // The limit grows once the CONNECT is accepted (bytes pipelined behind it are decoded with
    // the larger one).
    decoder_.set_limits(
        decoder_limits{packet_size_limit(state_->settings, session_.current_phase())});
    auto r = decoder_.decode(bytes.subspan(used));
    if (r.status == decode_status::need_more) break;
    if (r.status == decode_status::error) {
      if (r.error == decode_error::packet_too_large &&
          session_.current_phase() != session::phase::connected) {
        state_->log.debug(
            "{}: first packet larger than {} bytes before the CONNECT was accepted "
            "(mqtt.maxConnectPacketSize)",
            who(), packet_size_limit(state_->settings, session_.current_phase()));
      }
      apply(session_.on_decode_error(r.error, hub_now()));
      return bytes.size();
    }
    used += r.consumed;
    log_packet(r.value);
    apply(session_.on_packet(std::move(r.value), hub_now()));
  }
  return used;
}

void device_connection::on_input_closed(std::string_view error) {
  close_now(close_reason::connection_lost,
            error.empty() ? std::string("closed by the peer") : std::string(error));
}

std::optional<net::steady_time> device_connection::deadline() const {
  // A KillTcp waits for its acknowledgement to go out, but not for a peer that never reads.
  if (abort_when_flushed_) return abort_by_;
  if (held_refusal_) return refuse_at_;
  auto at = session_.timer();
  // Faults wait for no closing connection (on_deadline would not apply them: no spin).
  if (!closed_ && !close_reason_)
    for (const auto& f : faults_)
      if (!at || f.due < *at) at = f.due;
  if (!at) return std::nullopt;
  // Hub time → the connection's steady clock. The two run together until hub time jumps
  // (clock travel, a forward step of the wall clock: a new clock generation): then the mapping
  // is taken anew, so the same hub deadline maps to an earlier steady time (the gateway pokes
  // every connection to ask again). A stable mapping also keeps the connection's timer from
  // being re-armed on every packet.
  const auto generation = state_->executor.clock_generation();
  if (!anchor_ || generation != anchor_generation_) {
    anchor_ = std::pair{hub_now(), net::steady_clock::now()};
    anchor_generation_ = generation;
  }
  const auto [hub_then, steady_then] = *anchor_;
  return steady_then + std::chrono::duration_cast<net::steady_clock::duration>(*at - hub_then);
}

void device_connection::on_deadline(net::steady_time now) {
  if (abort_when_flushed_) {
    if (now < abort_by_) return;
    abort_when_flushed_ = false;
    link_->abort("fault injection: KillTcp (the acknowledgement was not read in time)");
    return;
  }
  if (held_refusal_) {
    if (now < refuse_at_) return;
    auto answer = std::move(*held_refusal_);
    held_refusal_.reset();
    if (!closed_) apply(session_.on_auth_result(std::move(answer), hub_now()));
    return;
  }
  apply_due_faults();
  if (closed_ || close_reason_) return;
  apply(session_.on_timer(hub_now()));  // checks what is due itself, and re-arms
}

// ---- fault injection (issue 17, next-capabilities §7.2) --------------------------------------

void device_connection::schedule_fault(core::fault_request r) {
  if (closed_ || close_reason_) return;
  if (core::is_amqp_only(r.kind)) {
    // An AMQP connection's fault on an MQTT connection: nothing to cut (as the C# suite never
    // sends these over MQTT). Said in the fault log rather than guessed at.
    note_fault(r.kind, "ignored", "an AMQP fault on an MQTT connection");
    return;
  }
  faults_.push_back(pending_fault{hub_now() + r.delay, std::move(r)});
  // deadline() is read again after this callback: a fault without delay fires next.
}

void device_connection::apply_due_faults() {
  const auto now = hub_now();
  while (!closed_ && !close_reason_) {
    const auto due = std::find_if(faults_.begin(), faults_.end(),
                                  [now](const pending_fault& f) { return f.due <= now; });
    if (due == faults_.end()) return;
    const core::fault_request r = std::move(due->request);
    faults_.erase(due);
    apply_fault(r);
  }
}

void device_connection::apply_fault(const core::fault_request& r) {
  const std::string reason = r.reason.empty() ? std::string(core::to_string(r.kind)) : r.reason;
  note_fault(r.kind, "applied", "MQTT (" + link_->transport_name() + ")");
  if (r.kind == core::fault_kind::shut_down_mqtt) {
    // MQTT 3.1.1 has no server DISCONNECT: what is written goes out, then TLS close_notify
    // and FIN (next-capabilities §7.2).
    if (closed_ || close_reason_) return;
    close_reason_ = close_reason::fault_injection;
    log_close(close_reason::fault_injection, "ShutDownMqtt: " + reason);
    apply(session_.close(close_reason::fault_injection, hub_now()));
    link_->close(reason);
    return;
  }
  // KillTcp: cut without any goodbye, once the acknowledgement of the message that asked for it
  // is out (so the SDK does not send it again after reconnecting: the C# suite's "infinite
  // loop", next-capabilities §7.2).
  close_reason_ = close_reason::fault_injection;
  log_close(close_reason::fault_injection, "KillTcp: " + reason);
  apply(session_.close(close_reason::fault_injection, hub_now()));
  if (link_->output_pending() == 0)
    link_->abort("fault injection: KillTcp");
  else {
    abort_when_flushed_ = true;
    abort_by_ = net::steady_clock::now() + kill_tcp_linger;
  }
}

void device_connection::on_output_flushed() {
  if (abort_when_flushed_) {
    abort_when_flushed_ = false;
    link_->abort("fault injection: KillTcp");
  }
}

void device_connection::note_fault(core::fault_kind kind, std::string event, std::string detail) {
  state_->executor.post([identity = device_id_, kind, event = std::move(event),
                         detail = std::move(detail)](core::hub& h, core::time_point now) mutable {
    h.note_fault(identity, kind, std::move(event), std::move(detail), now);
    return executor::hub_executor::completion{};
  });
}

void device_connection::on_shutdown(std::string_view) {
  close_now(close_reason::server_shutdown, "the emulator is stopping");
}

void device_connection::on_closed(std::string_view reason) {
  closed_ = true;
  if (!close_reason_) {
    // The transport ended it (a write failed, the close linger passed, …).
    close_reason_ = close_reason::connection_lost;
    log_close(close_reason::connection_lost, reason);
    apply(session_.close(close_reason::connection_lost, hub_now()));
  }
  hub_disconnect();
}

// ---- from the hub -----------------------------------------------------------------------------

void device_connection::on_delivery(core::c2d_delivery d, int qos) {
  // Closed meanwhile: the session's end on the hub gives the message back (spec §1.6).
  if (closed_ || close_reason_) return;
  apply(session_.on_delivery(std::move(d), qos, hub_now()));
}

void device_connection::on_desired_patch(std::int64_t version, const nlohmann::json& patch) {
  if (closed_ || close_reason_) return;
  // Rendered here, on the connection's strand, not on the hub executor (issue 12).
  apply(session_.on_desired_patch(version, patch.dump(), hub_now()));
}

void device_connection::on_method_request(std::uint64_t call_id, const std::string& name,
                                          std::string payload) {
  if (closed_) return;
  apply(session_.on_method_request(name, std::to_string(call_id), std::move(payload), hub_now()));
}

void device_connection::close_now(close_reason why, std::string detail) {
  if (closed_ || close_reason_) return;
  close_reason_ = why;
  log_close(why, detail);
  // Whatever the session still has to do (publish the Will) goes first.
  apply(session_.close(why, hub_now()));
  link_->close(detail);
}

void device_connection::close_after_flush(close_reason why, const std::string& detail) {
  if (closed_ || close_reason_) return;
  close_reason_ = why;
  log_close(why, detail);
  // The last packets (a CONNACK 5, …) leave first, within the connection's close linger. A
  // client that pipelined more after its CONNECT is still sending: what arrives is read and
  // dropped, so it reads the CONNACK (and its return code) instead of a TCP reset.
  link_->close(detail, /*drain_input=*/true);
}

// ---- actions ----------------------------------------------------------------------------------

void device_connection::apply(actions list) {
  for (auto& a : list) apply_one(a);
}

void device_connection::apply_one(session_action& a) {
  std::visit(
      [this](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, action::send>) {
          if (closed_) return;
          if (const auto* c = std::get_if<connack>(&x.value);
              c != nullptr && c->return_code != connect_return_code::accepted)
            state_->refusals.count(refusal_reason(c->return_code));
          if (const auto e = encode(x.value, link_->output()); e != encode_error::none) {
            close_now(close_reason::protocol_error,
                      "cannot encode a packet: " + std::string(to_string(e)));
          }
        } else if constexpr (std::is_same_v<T, action::close>) {
          close_after_flush(x.reason, x.detail);
        } else if constexpr (std::is_same_v<T, action::authenticate>) {
          hub_connect(std::move(x));
        } else if constexpr (std::is_same_v<T, action::store_subscription>) {
          hub_subscribe(x.qos);
        } else if constexpr (std::is_same_v<T, action::settle>) {
          hub_settle(x.seq, x.lock_id);
        } else if constexpr (std::is_same_v<T, action::store_telemetry>) {
          hub_store_telemetry(std::move(x));
        } else if constexpr (std::is_same_v<T, action::set_timer>) {
          // deadline() reads the session's timer after every callback.
        } else if constexpr (std::is_same_v<T, action::twin_request>) {
          hub_twin(std::move(x));
        } else if constexpr (std::is_same_v<T, action::store_iothub_topics>) {
          // Posted before the SUBACK is written: a method call made after the device saw
          // its SUBACK finds it reachable (the executor runs work in order).
          state_->executor.post([device = device_id_, epoch = epoch_, topics = x.topics](
                                    core::hub& h, core::time_point now) {
            (void)h.set_iothub_topics(device, epoch, topics, now);
            return executor::hub_executor::completion{};
          });
        } else if constexpr (std::is_same_v<T, action::method_response>) {
          state_->executor.post([device = device_id_, epoch = epoch_, r = std::move(x)](
                                    core::hub& h, core::time_point) mutable {
            (void)h.answer_method(device, epoch, r.rid, r.status, std::move(r.payload));
            return executor::hub_executor::completion{};
          });
        }
      },
      a);
}

// ---- hub work ---------------------------------------------------------------------------------
// Each request runs on the hub executor; its answer (after the commit) comes back to this
// connection's strand through its handle. If the connection is gone by then, what the answer
// brought is given back on the executor.

void device_connection::request_done() {
  if (hub_requests_ > 0) --hub_requests_;
}

void device_connection::hub_connect(action::authenticate a) {
  ++hub_requests_;
  device_id_ = a.device_id;
  token_authenticated_ = !a.password.empty();
  state_->log.debug("{} CONNECT clean={} token {}", who(), a.clean_session ? 1 : 0,
                    core::describe_token(a.password));
  core::session_request request;
  request.device_id = a.device_id;
  request.token = std::move(a.password);
  request.clean_session = a.clean_session;
  request.inflight_window = a.inflight_window;
  request.refuse_while_refusing = true;  // hub::session_request: no cut-and-reconnect loop
  request.transport = link_->transport_name().ends_with("+ws") ? "MQTT/WebSocket" : "MQTT";
  if (request.token.empty()) {
    // An X.509 device (spec §3.2): the certificate it presented in the TLS handshake.
    auto certificate = core::parse_client_certificate(link_->peer_certificates());
    if (certificate) {
      state_->log.debug("{} CONNECT with client certificate {}", who(),
                        core::describe(*certificate));
      request.certificate =
          std::make_shared<const core::client_certificate>(std::move(*certificate));
    }
  }
  state_->executor.submit(
      [request = std::move(request)](core::hub& h, core::time_point now) {
        return h.connect_device(request, now);
      },
      [state = state_, handle = link_->handle(), device = a.device_id](
          bool committed, core::result<core::session_grant> r) mutable {
        auth_result answer;
        const bool throttled = !r && r.error().code == core::hub_error::throttled;
        if (!r && (r.error().code == core::hub_error::throttled ||
                   r.error().code == core::hub_error::quota_exceeded)) {
          // The connection throttle (throttling.hpp), a throttling window, the day's quota used
          // up: CONNACK 3, Server unavailable, which the SDKs retry with their back-off (5
          // would stop them: not authorized).
          answer.result = auth_result::outcome::store_failed;
          answer.reason = r.error().message;
        } else if (!r) {
          answer.result = auth_result::outcome::refused;
          answer.reason = r.error().message;
        } else if (!committed) {
          // The round was rolled back, the session with it.
          answer.result = auth_result::outcome::store_failed;
          answer.reason = "the hub could not commit the connection";
        } else {
          answer.result = auth_result::outcome::accepted;
          answer.epoch = r->epoch;
          answer.expiry = r->expiry;
          answer.generation_id = r->generation_id;
          answer.hub_scope = r->hub_scope;
          answer.stored_subscription = r->subscription;
          answer.stored_iothub_topics = r->iothub_topics;
          // Before this round's events are handed out: its deliveries find the connection.
          state->routes.set(device, r->epoch, handle);
        }
        const auto epoch = answer.epoch;
        const bool accepted = answer.result == auth_result::outcome::accepted;
        const bool posted =
            handle.post([answer = std::move(answer), throttled](net::protocol& p) mutable {
              auto& c = static_cast<device_connection&>(p);
              c.request_done();
              if (answer.result == auth_result::outcome::accepted) c.epoch_ = answer.epoch;
              if (c.closed_) {
                c.hub_disconnect();  // closed while the hub was answering: end the session now
                return;
              }
              const bool ok = answer.result == auth_result::outcome::accepted;
              if (throttled) {
                // Held before it is sent (Azure shapes throttled traffic: "excess is queued, then
                // rejected", spec §6.1): a client that reconnects the moment it is refused makes
                // one attempt a second per connection instead of hundreds, and the storm costs
                // the emulator next to nothing. Reading stays paused (authenticating).
                c.held_refusal_ = std::move(answer);
                c.refuse_at_ = net::steady_clock::now() + core::limits::throttled_refusal_delay;
                return;
              }
              c.apply(c.session_.on_auth_result(std::move(answer), c.hub_now()));
              if (ok && c.session_.current_phase() == session::phase::connected) {
                const auto qos = c.session_.subscription_qos();
                c.state_->log.info("{} connected ({}, clean={}, c2d subscription {})", c.who(),
                                   c.link_->transport_name(), c.session_.clean_session() ? 1 : 0,
                                   qos ? "QoS " + std::to_string(*qos) : std::string("none"));
              }
            });
        if (!posted && accepted) {
          state->routes.remove(device, epoch);
          state->executor.post([device, epoch](core::hub& h, core::time_point now) {
            h.disconnect_device(device, epoch, now);
            return executor::hub_executor::completion{};
          });
        }
      });
}

void device_connection::hub_disconnect() {
  if (epoch_ == 0) return;
  const auto epoch = std::exchange(epoch_, 0);
  state_->routes.remove(device_id_, epoch);
  state_->executor.post([device = device_id_, epoch](core::hub& h, core::time_point now) {
    // Spec §1.6 (emulator choice): the session's unacknowledged messages go back at once.
    h.disconnect_device(device, epoch, now);
    return executor::hub_executor::completion{};
  });
}

void device_connection::hub_subscribe(std::optional<int> qos) {
  ++hub_requests_;
  state_->executor.submit(
      [device = device_id_, epoch = epoch_, qos](core::hub& h, core::time_point now) {
        return h.subscribe_c2d(device, epoch, qos, now).ok();
      },
      [handle = link_->handle()](bool committed, bool ok) {
        handle.post([stored = committed && ok](net::protocol& p) {
          auto& c = static_cast<device_connection&>(p);
          c.request_done();
          if (!c.closed_) c.apply(c.session_.on_subscription_stored(stored, c.hub_now()));
        });
      });
}

void device_connection::hub_settle(std::uint64_t seq, std::uint64_t lock_id) {
  state_->executor.post(
      [device = device_id_, epoch = epoch_, seq, lock_id](core::hub& h, core::time_point now) {
        // A lost lock (timed out, or given back when a new connection took over) is ignored:
        // the message was or will be delivered again (at-least-once, spec §1.5).
        (void)h.settle(device, epoch, seq, lock_id, core::settlement::complete, now);
        return executor::hub_executor::completion{};
      });
}

void device_connection::hub_store_telemetry(action::store_telemetry t) {
  ++hub_requests_;
  const auto packet_id = t.packet_id;
  state_->executor.submit(
      [device = device_id_, t = std::move(t)](core::hub& h, core::time_point now) mutable {
        return h.record_telemetry(device, std::move(t.properties), std::move(t.body), now);
      },
      [handle = link_->handle(), packet_id](bool committed,
                                            core::result<core::recorded_telemetry> r) {
        handle.post([committed, packet_id, r = std::move(r)](net::protocol& p) mutable {
          auto& c = static_cast<device_connection&>(p);
          c.request_done();
          if (c.closed_) return;
          if (committed && !r) {
            // Throttled, quota exceeded, unauthorized (a fault-injection window): MQTT 3.1.1
            // cannot refuse one PUBLISH, so the connection ends without its PUBACK and the
            // device sends it again after reconnecting, as IoT Hub does.
            c.close_after_flush(
                close_reason::operation_refused,
                std::string(core::error_name(r.error().code)) + ": " + r.error().message);
            return;
          }
          c.apply(c.session_.on_telemetry_stored(packet_id, committed, c.hub_now()));
          if (committed && r->fault) c.schedule_fault(std::move(*r->fault));
        });
      });
}

void device_connection::hub_twin(action::twin_request t) {
  ++hub_requests_;
  using kind = action::twin_request::kind;
  // The hub's answer as plain values; the JSON is rendered back on this strand.
  struct answer {
    std::optional<core::error> failure;
    std::optional<core::device_twin> twin;  // GET
    std::int64_t version = 0;               // PATCH: the new reported $version
  };
  state_->executor.submit(
      [device = device_id_, epoch = epoch_, what = t.what, patch = std::move(t.patch)](
          core::hub& h, core::time_point now) {
        answer a;
        if (what == kind::get) {
          auto r = h.read_own_twin(device, now);
          if (r)
            a.twin = std::move(*r);
          else
            a.failure = r.error();
        } else {
          auto r = h.patch_reported(device, epoch, patch, now);
          if (r)
            a.version = *r;
          else
            a.failure = r.error();
        }
        return a;
      },
      [handle = link_->handle(), rid = std::move(t.rid), what = t.what, packet_id = t.packet_id](
          bool committed, answer a) mutable {
        handle.post([committed, a = std::move(a), rid = std::move(rid), what,
                     packet_id](net::protocol& p) mutable {
          auto& c = static_cast<device_connection&>(p);
          c.request_done();
          if (c.closed_) return;
          const auto now = c.hub_now();
          twin_answer out;
          out.rid = std::move(rid);
          out.packet_id = packet_id;
          if (!committed) {
            // next-capabilities §2.2: a server error is a 5xx response, not a closed connection.
            out.status = 500;
            out.body = twin_error_body(500001, "The hub could not commit the request.", now);
          } else if (a.failure) {
            const int number = core::error_number(a.failure->code);
            out.status = number / 1000;
            out.body = twin_error_body(number, a.failure->message, now);
          } else if (what == kind::get) {
            out.status = 200;
            out.body = core::twin_for_device(*a.twin).dump();
          } else {
            out.status = 204;
            out.version = a.version;
          }
          c.apply(c.session_.on_twin_response(std::move(out), now));
        });
      });
}

// ---- logs -------------------------------------------------------------------------------------

void device_connection::log_packet(const packet& p) const {
  // Subscriptions are what device SDKs get wrong most (sdk-wire §1.3: no SUBSCRIBE after a
  // token renewal), so they are visible at debug level.
  if (!state_->log.should_log(spdlog::level::debug)) return;
  if (const auto* s = std::get_if<subscribe>(&p)) {
    std::string text;
    for (const auto& f : s->subscriptions)
      text += " " + f.filter + " (QoS " + std::to_string(static_cast<int>(f.qos)) + ")";
    state_->log.debug("{} SUBSCRIBE{}", who(), text);
  } else if (const auto* u = std::get_if<unsubscribe>(&p)) {
    std::string text;
    for (const auto& f : u->filters) text += " " + f;
    state_->log.debug("{} UNSUBSCRIBE{}", who(), text);
  }
}

void device_connection::log_close(close_reason why, std::string_view detail) const {
  auto level = spdlog::level::info;
  switch (why) {
    case close_reason::client_disconnect:
    case close_reason::server_shutdown:
      level = spdlog::level::debug;
      break;
    case close_reason::connection_lost:
    case close_reason::connect_timeout:
      level = device_id_.empty() ? spdlog::level::debug : spdlog::level::info;
      break;
    case close_reason::not_authorized:
    case close_reason::server_unavailable:
    case close_reason::store_failed:
      level = spdlog::level::warn;
      break;
    default:
      break;
  }
  if (!state_->log.should_log(level)) return;
  if (detail.empty()) {
    state_->log.log(level, "{} closed: {}", who(), to_string(why));
  } else {
    state_->log.log(level, "{} closed: {} ({})", who(), to_string(why), detail);
  }
}

}  // namespace emu::mqtt
