#include "emulator/amqp/amqp_session.hpp"

#include <algorithm>
#include <utility>

#include "emulator/amqp/amqp_state.hpp"

namespace emu::amqp {

amqp_session::amqp_session(std::shared_ptr<amqp_state> state, std::uint16_t local_port)
    : state_(std::move(state)), local_port_(local_port) {}

amqp_session::~amqp_session() = default;

void amqp_session::on_open(net::link& l) {
  // Hub answers come back through the connection's handle, to this session, on its strand.
  auto post = [handle = l.handle()](std::function<void(amqp_connection*)> fn) {
    const bool posted =
        handle.post([fn](net::protocol& p) { static_cast<amqp_session&>(p).run(fn); });
    if (!posted) fn(nullptr);  // the connection is gone: the answer gives back what it holds
  };
  conn_ = std::make_unique<amqp_connection>(state_->executor, state_->settings, std::move(post),
                                            l.handle(), state_->routes, l.peer());
  conn_->set_local_port(local_port_);
  conn_->set_peer_certificates(l.peer_certificates());
  if (l.transport_name().ends_with("+ws")) conn_->set_transport("AMQP/WebSocket");
  conn_->set_refusal_counts(&state_->refusals);
  if (!conn_->start(net::steady_clock::now())) {
    conn_.reset();
    l.close_now("Proton could not allocate the connection");
    return;
  }
  conn_->log(log_level::debug, "accepted (" + l.transport_name() + ")");
  after_activity();
}

void amqp_session::run(const std::function<void(amqp_connection*)>& fn) {
  fn(conn_.get());
  after_activity();
}

bool amqp_session::wants_input() const {
  // While the hub checks a SASL PLAIN password the next bytes wait (amqp_connection::feed).
  return conn_ != nullptr && conn_->accepting_input();
}

std::size_t amqp_session::input_limit() const {
  // The connection takes whole frames: at most one incomplete frame is ever held. Before the
  // peer's open that is the small pre-open frame limit (issue 7).
  const std::size_t frame =
      conn_ ? conn_->frame_limit() : state_->settings.max_frame_size_before_open;
  return std::max<std::size_t>(frame, 4096);
}

std::size_t amqp_session::on_input(std::span<const std::uint8_t> bytes) {
  if (!conn_) return bytes.size();
  const std::size_t used =
      conn_->feed(std::span<const char>(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  after_activity();
  return used;
}

void amqp_session::on_input_closed(std::string_view error) {
  if (!conn_) return;
  if (!error.empty()) conn_->log(log_level::debug, "read failed: " + std::string(error));
  conn_->read_closed();
  after_activity();
}

void amqp_session::on_deadline(net::steady_time) {
  after_activity();
}

void amqp_session::on_clock_travel() {
  // A token's expiry is in hub time: tick() compares it with the hub's clock again.
  after_activity();
}

void amqp_session::on_shutdown(std::string_view) {
  close_with(
      amqp_error{std::string(condition::connection_forced), "The emulator is shutting down.", 0});
}

void amqp_session::close_with(const amqp_error& e) {
  if (!conn_) return;
  conn_->close(e);
  after_activity();
}

void amqp_session::on_closed(std::string_view reason) {
  if (conn_) conn_->log(log_level::debug, "closed: " + std::string(reason));
  // Releases what the links still hold (feedback receivers are detached) now.
  conn_.reset();
  next_.reset();
}

void amqp_session::after_activity() {
  if (!conn_ || closing_) return;
  next_ = conn_->tick(net::steady_clock::now());
  conn_->take_output(link_->output());
  if (conn_->take_abort()) {
    // Fault injection's KillTcp: cut once what is written (the accepted disposition of the
    // message that asked for it) is out.
    if (link_->output_pending() == 0) {
      abort_now();
      return;
    }
    abort_when_flushed_ = true;
  }
  if (conn_->write_closed()) {
    // Our close frame (or nothing, after a transport error) is the last: write it, then end.
    closing_ = true;
    next_.reset();
    link_->close("AMQP connection closed", conn_->peer_may_still_send());
  }
}

void amqp_session::on_output_flushed() {
  if (abort_when_flushed_) abort_now();
}

void amqp_session::abort_now() {
  abort_when_flushed_ = false;
  closing_ = true;
  next_.reset();
  link_->abort("fault injection: KillTcp");
}

void amqp_session::on_hub_reset() {
  close_with(amqp_error{std::string(condition::connection_forced), "The hub was reset.", 0});
}

}  // namespace emu::amqp
