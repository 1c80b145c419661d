#include "emulator/amqp/amqp_front.hpp"

#include <type_traits>
#include <utility>
#include <variant>

#include "emulator/amqp/amqp_session.hpp"
#include "emulator/amqp/amqp_state.hpp"

namespace emu::amqp {

namespace {

amqp_settings with_names(amqp_settings s, const std::string& hub_name,
                         const std::string& host_name) {
  s.hub_name = hub_name;
  s.host_name = host_name;
  return s;
}

}  // namespace

amqp_state::amqp_state(amqp_settings s, executor::hub_executor& e)
    : settings(std::move(s)),
      executor(e),
      connections(std::make_shared<net::connection_set>(settings.max_connections)) {}

void amqp_state::on_hub_event(const core::hub_event& e) {
  if (const auto* d = std::get_if<core::event::feedback_delivery>(&e)) {
    if (const auto c = routes.find(d->receiver)) {
      c->post([receiver = d->receiver, batch = d->batch](net::protocol& p) mutable {
        static_cast<amqp_session&>(p).run([&](amqp_connection* conn) {
          if (conn != nullptr) conn->feedback_delivery(receiver, std::move(batch));
        });
      });
    }
    // No route: the link is gone, and its receiver's detach gives the batch back.
  } else if (std::holds_alternative<core::event::hub_reset>(e)) {
    for (const auto& c : connections->handles()) {
      c.post([](net::protocol& p) {
        static_cast<amqp_session&>(p).close_with(
            amqp_error{std::string(condition::connection_forced), "The hub was reset.", 0});
      });
    }
  }
}

amqp_front::amqp_front(amqp_settings settings, const std::string& hub_name,
                       const std::string& host_name, executor::hub_executor& executor,
                       asio::io_context& io)
    : state_(std::make_shared<amqp_state>(with_names(std::move(settings), hub_name, host_name),
                                          executor)),
      io_(io) {
  executor.add_listener([state = state_](const core::hub_event& e) { state->on_hub_event(e); });
}

amqp_front::~amqp_front() {
  stop();
  // What never closed (its io pool is gone) holds the shared state: drop it here.
  state_->connections->clear();
}

std::uint16_t amqp_front::listen(const std::string& address, std::uint16_t port, SSL_CTX* tls) {
  net::listener_options options{"amqp", "amqp.maxConnections", {}};
  // The TLS handshake gets the AMQP handshake time-out; the AMQP open gets it again after.
  options.connection.tls_handshake_timeout = state_->settings.handshake_timeout;
  auto l = std::make_unique<net::listener>(
      io_, tls, state_->connections, std::move(options),
      [state = state_] { return std::make_unique<amqp_session>(state); });
  const auto bound = l->listen(address, port);
  listeners_.push_back(std::move(l));
  return bound;
}

void amqp_front::stop() {
  for (auto& l : listeners_) l->stop();
  state_->connections->close("the emulator is stopping");
}

bool amqp_front::wait_closed(std::chrono::milliseconds timeout) {
  return state_->connections->wait_empty(timeout);
}

void amqp_front::clock_advanced() {
  state_->connections->poke_all();
}

std::size_t amqp_front::connection_count() const {
  return state_->connections->size();
}

}  // namespace emu::amqp
