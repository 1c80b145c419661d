#include "emulator/https/https_front.hpp"

#include <spdlog/logger.h>

#include <utility>

#include "emulator/https/http_session.hpp"
#include "emulator/https/https_state.hpp"
#include "emulator/log/log.hpp"

namespace emu::https {

https_state::https_state(https_settings s, executor::hub_executor& e, clock_travel t, clock n)
    : settings(std::move(s)),
      now(std::move(n)),
      executor(e),
      travel(std::move(t)),
      connections(std::make_shared<net::connection_set>(settings.max_connections)),
      log(emu::log::get("https")) {}

https_front::https_front(https_settings settings, executor::hub_executor& executor,
                         asio::io_context& io, clock_travel travel)
    : state_(std::make_shared<https_state>(std::move(settings), executor, std::move(travel))),
      io_(io) {
  // Direct methods: the outcome goes to the connection that made the call, rendered there.
  executor.add_listener([state = state_](const core::hub_event& e) {
    // The dashboard's activity feed: what committed rounds told the fronts.
    if (state->settings.dashboard != dashboard_access::off)
      state->activity.record(e, state->executor.now());
    // MQTT and AMQP carried over WebSocket end their sessions like on their own ports.
    if (std::holds_alternative<core::event::hub_reset>(e)) {
      for (const auto& c : state->connections->handles())
        c.post([](net::protocol& p) { p.on_hub_reset(); });
      return;
    }
    const auto* r = std::get_if<core::event::method_result>(&e);
    if (r == nullptr) return;
    if (auto w = state->methods.take(r->call_id)) {
      w->connection.post([generation = w->generation, result = *r](net::protocol& p) {
        static_cast<http_session&>(p).on_method_result(generation, result);
      });
    }
  });
}

https_front::~https_front() {
  stop();
  // What never closed (its io pool is gone) holds the shared state: drop it here.
  state_->connections->clear();
}

std::uint16_t https_front::listen(const std::string& address, std::uint16_t port, SSL_CTX* tls) {
  net::listener_options options{"https", "https.maxConnections", state_->settings.connection};
  auto l = std::make_unique<net::listener>(
      io_, tls, state_->connections, std::move(options),
      [state = state_] { return std::make_unique<http_session>(state); });
  const auto bound = l->listen(address, port);
  if (state_->settings.test_control) state_->log.info("test control is on (loopback clients)");
  if (state_->settings.dashboard == dashboard_access::remote)
    state_->log.info("the dashboard is served to remote peers (with a service SAS token)");
  listeners_.push_back(std::move(l));
  return bound;
}

void https_front::serve_websockets(std::vector<websocket_protocol> protocols) {
  state_->websockets = std::move(protocols);
}

void https_front::clock_advanced() {
  state_->connections->poke_all();
}

void https_front::stop() {
  for (auto& l : listeners_) l->stop();
  state_->connections->close("the emulator is stopping");
}

bool https_front::wait_closed(std::chrono::milliseconds timeout) {
  return state_->connections->wait_empty(timeout);
}

std::size_t https_front::connection_count() const {
  return state_->connections->size();
}

void https_front::serve_metrics(std::function<std::vector<metrics::front_metrics>()> fronts) {
  state_->fronts = std::move(fronts);
}

void https_front::set_dashboard_site(dashboard_site site) {
  state_->set_site(std::move(site));
}

net::front_numbers https_front::numbers() const {
  return net::numbers_of(*state_->connections, nullptr);
}

}  // namespace emu::https
