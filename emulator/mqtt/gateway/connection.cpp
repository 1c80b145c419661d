#include "emulator/mqtt/gateway/connection.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "emulator/core/hub.hpp"
#include "emulator/mqtt/codec/encoder.hpp"
#include "emulator/mqtt/gateway/gateway_context.hpp"

namespace emu::mqtt {

namespace {

/// Read buffers start small and grow to the packet being received (never above the maximum
/// packet size plus its fixed header).
constexpr std::size_t initial_read_buffer = 4096;
constexpr std::size_t max_fixed_header = 5;
/// A write buffer larger than this is freed once flushed instead of being kept for reuse.
constexpr std::size_t keep_write_buffer = 16 * 1024;
/// Reads in one go before yielding the strand to other connections.
constexpr int reads_per_turn = 16;

}  // namespace

connection::connection(std::shared_ptr<gateway_context> context, std::uint64_t id,
                       asio::ip::tcp::socket socket, SSL_CTX* tls)
    : context_(std::move(context)),
      id_(id),
      executor_(socket.get_executor()),
      transport_(std::move(socket), tls),
      timer_(executor_),
      session_(context_->settings.session),
      decoder_(decoder_limits{packet_limit()}) {}

connection::~connection() = default;

core::time_point connection::now() const {
  // The executor's clock (wall clock + test-control offset), so deadlines agree with the hub.
  return context_->executor.now();
}

void connection::start() {
  asio::post(executor_, [self = shared_from_this()] {
    if (self->closed_) return;  // closed before it started (server stopping)
    if (!self->transport_.is_tls()) {
      self->transport_ready_ = true;
      self->transport_up();
      return;
    }
    self->timer_.expires_after(self->context_->settings.tls_handshake_timeout);
    self->timer_.async_wait([self](std::error_code ec) {
      if (ec || self->transport_ready_ || self->closed_) return;
      self->close_now(close_reason::connect_timeout, "TLS handshake timeout");
    });
    self->handshake();
  });
}

void connection::handshake() {
  if (closed_) return;
  auto r = transport_.handshake();
  switch (r.st) {
    case transport::status::ok:
      transport_ready_ = true;
      transport_up();
      return;
    case transport::status::would_block:
      transport_.socket().async_wait(r.wait, [self = shared_from_this()](std::error_code ec) {
        if (ec || self->closed_) return;
        self->handshake();
      });
      return;
    case transport::status::closed:
      close_now(close_reason::connection_lost, "closed during the TLS handshake");
      return;
    case transport::status::failed:
      close_now(close_reason::connection_lost, r.error);
      return;
  }
}

void connection::transport_up() {
  context_->log(log_level::debug, "#" + std::to_string(id_) + " " + transport_.peer() + " " +
                                      transport_.protocol() + " up");
  apply(session_.on_open(now()));
  read_input();
}

// ---- input --------------------------------------------------------------------------------

bool connection::input_paused() const {
  // Back-pressure: no reading while the hub authenticates, while much output is queued (a
  // device that does not read), or while many hub requests of this device are outstanding.
  return !session_.accepting_packets() ||
         out_.size() - out_offset_ > context_->settings.max_output_backlog ||
         hub_requests_ >= context_->settings.max_pending_hub_requests;
}

void connection::resume_input() {
  if (closed_ || closing() || read_waiting_ || !transport_ready_ || input_paused()) return;
  // Posted, never nested: the caller may be inside process_input().
  asio::post(executor_, [self = shared_from_this()] { self->read_input(); });
}

std::size_t connection::packet_limit() const {
  return packet_size_limit(context_->settings, session_.current_phase());
}

bool connection::ensure_read_space() {
  if (in_end_ < in_.size()) return true;
  // Until the hub accepted the CONNECT, only the (small) CONNECT limit can be buffered.
  const std::size_t cap = packet_limit() + max_fixed_header;
  std::size_t want = std::max({initial_read_buffer, in_needed_, in_.size() * 2});
  want = std::min(want, cap);
  if (want <= in_.size()) {
    close_now(close_reason::protocol_error, "packet larger than the maximum packet size");
    return false;
  }
  in_.resize(want);
  return true;
}

void connection::read_input() {
  if (closed_ || read_waiting_) return;
  process_input();  // bytes kept while paused come first
  for (int turn = 0; turn < reads_per_turn; ++turn) {
    if (closed_ || closing() || input_paused()) return;
    if (!ensure_read_space()) return;
    auto r = transport_.read(std::span(in_.data() + in_end_, in_.size() - in_end_));
    switch (r.st) {
      case transport::status::ok:
        in_end_ += r.bytes;
        process_input();
        continue;
      case transport::status::would_block:
        read_waiting_ = true;
        release_buffers_if_idle();
        transport_.socket().async_wait(r.wait, [self = shared_from_this()](std::error_code ec) {
          self->read_waiting_ = false;
          if (ec || self->closed_) return;
          self->read_input();
        });
        return;
      case transport::status::closed:
        close_now(close_reason::connection_lost, "closed by the peer");
        return;
      case transport::status::failed:
        close_now(close_reason::connection_lost, r.error);
        return;
    }
  }
  // A busy device: let the other connections on this thread have a turn.
  asio::post(executor_, [self = shared_from_this()] { self->read_input(); });
}

void connection::process_input() {
  while (!closed_ && !closing() && session_.accepting_packets() && in_end_ > in_begin_) {
    // The limit grows once the CONNECT is accepted (bytes pipelined behind it are decoded
    // with the larger one).
    decoder_.set_limits(decoder_limits{packet_limit()});
    auto r =
        decoder_.decode(std::span<const std::uint8_t>(in_.data() + in_begin_, in_end_ - in_begin_));
    if (r.status == decode_status::need_more) {
      in_needed_ = r.needed;
      break;
    }
    if (r.status == decode_status::error) {
      if (r.error == decode_error::packet_too_large &&
          session_.current_phase() != session::phase::connected) {
        context_->log(log_level::debug,
                      "#" + std::to_string(id_) + " " + transport_.peer() +
                          ": first packet larger than " + std::to_string(packet_limit()) +
                          " bytes before the CONNECT was accepted (mqtt.maxConnectPacketSize)");
      }
      in_begin_ = in_end_ = 0;
      apply(session_.on_decode_error(r.error, now()));
      break;
    }
    in_begin_ += r.consumed;
    in_needed_ = 0;
    log_packet(r.value);
    apply(session_.on_packet(std::move(r.value), now()));
  }
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
  } else if (in_begin_ > 0) {
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
}

void connection::log_packet(const packet& p) const {
  // Subscriptions are what device SDKs get wrong most (sdk-wire §1.3: no SUBSCRIBE after a
  // token renewal), so they are visible at debug level.
  if (const auto* s = std::get_if<subscribe>(&p)) {
    std::string text = "#" + std::to_string(id_) + " device '" + device_id_ + "' SUBSCRIBE";
    for (const auto& f : s->subscriptions)
      text += " " + f.filter + " (QoS " + std::to_string(static_cast<int>(f.qos)) + ")";
    context_->log(log_level::debug, text);
  } else if (const auto* u = std::get_if<unsubscribe>(&p)) {
    std::string text = "#" + std::to_string(id_) + " device '" + device_id_ + "' UNSUBSCRIBE";
    for (const auto& f : u->filters) text += " " + f;
    context_->log(log_level::debug, text);
  }
}

void connection::release_buffers_if_idle() {
  if (in_end_ == in_begin_) {
    std::vector<std::uint8_t>().swap(in_);
    in_begin_ = in_end_ = in_needed_ = 0;
  }
}

// ---- output -------------------------------------------------------------------------------

void connection::flush_output() {
  if (closed_ || write_waiting_) return;
  while (out_offset_ < out_.size()) {
    auto r = transport_.write(std::span(out_.data() + out_offset_, out_.size() - out_offset_));
    switch (r.st) {
      case transport::status::ok:
        out_offset_ += r.bytes;
        continue;
      case transport::status::would_block:
        // The same bytes (plus any appended) are written again when the socket is ready.
        write_waiting_ = true;
        transport_.socket().async_wait(r.wait, [self = shared_from_this()](std::error_code ec) {
          self->write_waiting_ = false;
          if (ec || self->closed_) return;
          self->flush_output();
        });
        return;
      case transport::status::closed:
        close_now(close_reason::connection_lost, "closed by the peer");
        return;
      case transport::status::failed:
        close_now(close_reason::connection_lost, r.error);
        return;
    }
  }
  out_offset_ = 0;
  if (out_.capacity() > keep_write_buffer) {
    std::vector<std::uint8_t>().swap(out_);
  } else {
    out_.clear();
  }
  if (closing()) {
    close_now(close_reason_.value_or(close_reason::server_shutdown));
    return;
  }
  resume_input();
}

// ---- actions ------------------------------------------------------------------------------

void connection::apply(actions list) {
  for (auto& a : list) apply_one(a);
  flush_output();
}

void connection::apply_one(session_action& a) {
  std::visit(
      [this](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, action::send>) {
          if (closed_) return;
          if (const auto e = encode(x.value, out_); e != encode_error::none) {
            close_now(close_reason::protocol_error,
                      "cannot encode a packet: " + std::string(to_string(e)));
          }
        } else if constexpr (std::is_same_v<T, action::close>) {
          close_after_flush(x.reason, std::move(x.detail));
        } else if constexpr (std::is_same_v<T, action::authenticate>) {
          hub_authenticate(std::move(x));
        } else if constexpr (std::is_same_v<T, action::store_subscription>) {
          hub_store_subscription(x.qos);
        } else if constexpr (std::is_same_v<T, action::lock_next>) {
          hub_lock_next();
        } else if constexpr (std::is_same_v<T, action::settle>) {
          hub_settle(x.seq, x.lock_id);
        } else if constexpr (std::is_same_v<T, action::release>) {
          hub_release(x.seq, x.lock_id);
        } else if constexpr (std::is_same_v<T, action::store_telemetry>) {
          hub_store_telemetry(std::move(x));
        } else if constexpr (std::is_same_v<T, action::set_timer>) {
          if (!closing() && !closed_) set_timer(x.at);
        }
      },
      a);
}

void connection::set_timer(core::time_point at) {
  const auto delay = std::max(at - now(), core::duration::zero());
  timer_.expires_after(delay);
  timer_.async_wait([self = shared_from_this()](std::error_code ec) {
    // A wait replaced by a later set_timer is cancelled; one that had already fired runs
    // anyway, which is harmless: the session checks its deadlines against `now`.
    if (ec || self->closed_ || self->closing()) return;
    self->apply(self->session_.on_timer(self->now()));
  });
}

// ---- closing ------------------------------------------------------------------------------

void connection::log_close(close_reason why, const std::string& detail) {
  log_level level = log_level::info;
  switch (why) {
    case close_reason::client_disconnect:
    case close_reason::server_shutdown:
      level = log_level::debug;
      break;
    case close_reason::connection_lost:
    case close_reason::connect_timeout:
      level = device_id_.empty() ? log_level::debug : log_level::info;
      break;
    case close_reason::not_authorized:
    case close_reason::server_unavailable:
    case close_reason::store_failed:
      level = log_level::warning;
      break;
    default:
      break;
  }
  std::string text = "#" + std::to_string(id_) + " " + transport_.peer();
  if (!device_id_.empty()) text += " device '" + device_id_ + "'";
  text += " closed: " + std::string(to_string(why));
  if (!detail.empty()) text += " (" + detail + ")";
  context_->log(level, text);
}

void connection::close_after_flush(close_reason why, std::string detail) {
  if (closed_ || closing_.exchange(true)) return;
  close_reason_ = why;
  close_detail_ = std::move(detail);
  log_close(why, close_detail_);
  context_->registry.remove(id_, device_id_);
  if (out_offset_ >= out_.size() && !write_waiting_) {
    close_now(why);
    return;
  }
  // Give the last packets (a CONNACK 5, …) a moment to leave; then close regardless.
  timer_.expires_after(context_->settings.close_linger);
  timer_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (ec) return;
    self->close_now(self->close_reason_.value_or(close_reason::server_shutdown));
  });
}

void connection::close_now(close_reason why, std::string detail) {
  if (closed_) return;
  if (!closing_.exchange(true)) {
    close_reason_ = why;
    log_close(why, detail);
    context_->registry.remove(id_, device_id_);
  }
  closed_ = true;
  // Whatever the session still has to do: release its locks, publish the Will.
  for (auto& a : session_.close(why, now())) apply_one(a);
  timer_.cancel();
  transport_.close();
  std::vector<std::uint8_t>().swap(in_);
  std::vector<std::uint8_t>().swap(out_);
  in_begin_ = in_end_ = out_offset_ = 0;
}

void connection::on_c2d_available() {
  if (closed_ || closing()) return;
  apply(session_.on_c2d_available(now()));
}

// ---- hub work -----------------------------------------------------------------------------
// Each request runs on the hub executor; its completion (after the commit) comes back to this
// strand through the registry, which refuses once the connection or the gateway is gone.

void connection::hub_request_done() {
  if (hub_requests_ > 0) --hub_requests_;
  resume_input();
}

void connection::hub_authenticate(action::authenticate a) {
  ++hub_requests_;
  device_id_ = a.device_id;
  context_->log(log_level::debug, "#" + std::to_string(id_) + " CONNECT device '" + a.device_id +
                                      "' clean=" + (a.clean_session ? "1" : "0") + " token " +
                                      describe_token(a.password));
  context_->executor.post([ctx = context_, weak = weak_from_this(), id = id_, a = std::move(a)](
                              core::hub& h,
                              core::time_point now) -> runtime::hub_executor::completion {
    auth_result r;
    auto grant = h.authenticate_device(a.password, a.device_id, now);
    if (!grant) {
      r.result = auth_result::outcome::refused;
      r.reason = grant.err().message;
    } else {
      r.result = auth_result::outcome::accepted;
      r.expiry = grant->expiry;
      r.hub_scope = !grant->policy.empty();
      if (const auto* d = h.find_device(a.device_id)) r.generation_id = d->generation_id;
      // MQTT-3.1.2-6 / spec §1.6: a clean session discards the stored one.
      if (a.clean_session)
        h.clear_subscription(a.device_id);
      else
        r.stored_subscription = h.subscription(a.device_id);
      // One connection per device (spec §3.3): whatever an older connection (or the process
      // before a restart) still holds locked goes back to the queue now, in order, so this
      // connection receives it first instead of after the 1-minute lock timeout (spec §1.6).
      for (const auto& m : h.queue_of(a.device_id)) {
        if (m.state == core::c2d_state::invisible) h.release(a.device_id, m.seq, m.lock_id, now);
      }
      const auto old = ctx->registry.claim(a.device_id, id);
      ctx->registry.post_to(old, [](connection& c) {
        c.close_now(close_reason::taken_over, "a new connection with the same client id");
      });
    }
    return [ctx, weak, id, device = a.device_id, r = std::move(r)](bool committed) mutable {
      if (!committed && r.result == auth_result::outcome::accepted) {
        ctx->registry.unclaim(device, id);
        r.result = auth_result::outcome::store_failed;
        r.reason = "the hub could not commit the connection";
      }
      ctx->registry.post_to(weak, [r = std::move(r)](connection& c) mutable {
        const bool accepted = r.result == auth_result::outcome::accepted;
        c.apply(c.session_.on_auth_result(std::move(r), c.now()));
        if (accepted && c.session_.current_phase() == session::phase::connected) {
          c.context_->log(log_level::info,
                          "#" + std::to_string(c.id_) + " " + c.transport_.peer() + " device '" +
                              c.device_id_ + "' connected (" + c.transport_.protocol() +
                              ", clean=" + (c.session_.clean_session() ? "1" : "0") +
                              ", c2d subscription " +
                              (c.session_.subscription_qos()
                                   ? "QoS " + std::to_string(*c.session_.subscription_qos())
                                   : std::string("none")) +
                              ")");
        }
        c.hub_request_done();
      });
    };
  });
}

void connection::hub_store_subscription(std::optional<int> qos) {
  ++hub_requests_;
  context_->executor.post([ctx = context_, weak = weak_from_this(), device = device_id_, qos](
                              core::hub& h, core::time_point) -> runtime::hub_executor::completion {
    if (qos) {
      h.set_subscription(device, *qos);
    } else {
      h.clear_subscription(device);
    }
    return [ctx, weak](bool committed) {
      ctx->registry.post_to(weak, [committed](connection& c) {
        c.apply(c.session_.on_subscription_stored(committed, c.now()));
        c.hub_request_done();
      });
    };
  });
}

void connection::hub_lock_next() {
  ++hub_requests_;
  context_->executor.post([ctx = context_, weak = weak_from_this(), device = device_id_, id = id_](
                              core::hub& h,
                              core::time_point now) -> runtime::hub_executor::completion {
    std::optional<core::c2d_delivery> d;
    // A superseded connection (spec §3.3) must not take the next message.
    if (ctx->registry.is_current(device, id)) d = h.lock_next(device, now);
    return [ctx, weak, device, d = std::move(d)](bool committed) mutable {
      if (!committed) d.reset();  // the lock was rolled back with the round
      const auto seq = d ? d->message.seq : 0;
      const auto lock_id = d ? d->lock_id : 0;
      const bool posted = ctx->registry.post_to(weak, [d = std::move(d)](connection& c) mutable {
        c.apply(c.session_.on_delivery(std::move(d), c.now()));
        c.hub_request_done();
      });
      if (!posted && seq != 0) {
        // Nobody is left to send it: give the message back at once (spec §1.6).
        ctx->executor.post([device, seq, lock_id](core::hub& hh, core::time_point t) {
          hh.release(device, seq, lock_id, t);
          return runtime::hub_executor::completion{};
        });
      }
    };
  });
}

void connection::hub_settle(std::uint64_t seq, std::uint64_t lock_id) {
  context_->executor.post([device = device_id_, seq, lock_id](core::hub& h, core::time_point now) {
    // Lock lost (timed out, or released when another connection took over) is ignored: the
    // message was or will be delivered again (at-least-once, spec §1.5).
    (void)h.settle(device, seq, lock_id, core::settlement::complete, now);
    return runtime::hub_executor::completion{};
  });
}

void connection::hub_release(std::uint64_t seq, std::uint64_t lock_id) {
  context_->executor.post([device = device_id_, seq, lock_id](core::hub& h, core::time_point now) {
    h.release(device, seq, lock_id, now);
    return runtime::hub_executor::completion{};
  });
}

void connection::hub_store_telemetry(action::store_telemetry t) {
  ++hub_requests_;
  context_->executor.post(
      [ctx = context_, weak = weak_from_this(), device = device_id_, t = std::move(t)](
          core::hub& h, core::time_point now) mutable -> runtime::hub_executor::completion {
        h.record_telemetry(device, std::move(t.properties), std::move(t.body), now);
        return [ctx, weak, packet_id = t.packet_id](bool committed) {
          ctx->registry.post_to(weak, [committed, packet_id](connection& c) {
            c.apply(c.session_.on_telemetry_stored(packet_id, committed, c.now()));
            c.hub_request_done();
          });
        };
      });
}

}  // namespace emu::mqtt
