#include "emulator/mqtt/gateway/gateway.hpp"

#include <type_traits>
#include <utility>
#include <variant>

#include "emulator/log/log.hpp"
#include "emulator/mqtt/gateway/device_connection.hpp"
#include "emulator/mqtt/gateway/gateway_state.hpp"

namespace emu::mqtt {

namespace {

gateway_settings with_host(gateway_settings s, core::host_names hosts) {
  s.session.hosts = std::move(hosts);
  return s;
}

close_reason reason_of(core::session_end why) {
  return why == core::session_end::taken_over ? close_reason::taken_over
                                              : close_reason::device_changed;
}

}  // namespace

gateway_state::gateway_state(gateway_settings s, executor::hub_executor& e)
    : settings(std::move(s)),
      executor(e),
      connections(std::make_shared<net::connection_set>(settings.max_connections)),
      log(emu::log::get("mqtt")) {}

void gateway_state::on_hub_event(const core::hub_event& e) {
  std::visit(
      [this](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, core::event::c2d_delivery>) {
          if (const auto c = routes.find(x.device_id, x.epoch)) {
            c->post([d = x.delivery, qos = x.qos](net::protocol& p) mutable {
              static_cast<device_connection&>(p).on_delivery(std::move(d), qos);
            });
          }
          // No route: the connection is gone, and its session's end on the hub gives the
          // message back to the queue.
        } else if constexpr (std::is_same_v<T, core::event::session_ended>) {
          if (const auto c = routes.find(x.device_id, x.epoch)) {
            c->post([why = x.why](net::protocol& p) {
              static_cast<device_connection&>(p).close_now(
                  reason_of(why), why == core::session_end::taken_over
                                      ? "a new connection with the same client id"
                                      : "the device was changed in the registry");
            });
          }
        } else if constexpr (std::is_same_v<T, core::event::desired_patch>) {
          if (const auto c = routes.latest(x.device_id)) {
            c->post([version = x.version, patch = x.patch](net::protocol& p) {
              static_cast<device_connection&>(p).on_desired_patch(version, patch);
            });
          }
        } else if constexpr (std::is_same_v<T, core::event::method_request>) {
          // No route: the call times out (504101), as on IoT Hub when the device vanishes.
          if (const auto c = routes.find(x.device_id, x.epoch)) {
            c->post([id = x.call_id, name = x.name, payload = x.payload](net::protocol& p) mutable {
              static_cast<device_connection&>(p).on_method_request(id, name, std::move(payload));
            });
          }
        } else if constexpr (std::is_same_v<T, core::event::fault_requested>) {
          // Test control's fault for this session's connection; no route: it is gone already.
          if (const auto c = routes.find(x.device_id, x.epoch)) {
            c->post([r = x.request](net::protocol& p) mutable {
              static_cast<device_connection&>(p).schedule_fault(std::move(r));
            });
          }
        } else if constexpr (std::is_same_v<T, core::event::fronts_paused>) {
          connections->set_paused(x.paused.contains("mqtt"));
        } else if constexpr (std::is_same_v<T, core::event::tokens_expired>) {
          for (const auto& c : connections->handles())
            c.post(
                [](net::protocol& p) { static_cast<device_connection&>(p).expire_credentials(); });
        } else if constexpr (std::is_same_v<T, core::event::hub_reset>) {
          for (const auto& c : connections->handles())
            c.post([](net::protocol& p) { p.on_hub_reset(); });
        }
      },
      e);
}

gateway::gateway(gateway_settings settings, core::host_names hosts,
                 executor::hub_executor& executor, asio::io_context& io)
    : state_(std::make_shared<gateway_state>(with_host(std::move(settings), std::move(hosts)),
                                             executor)),
      io_(io) {
  executor.add_listener([state = state_](const core::hub_event& e) { state->on_hub_event(e); });
}

gateway::~gateway() {
  stop();
  // What never closed (its io pool is gone) holds the shared state: drop it here.
  state_->connections->clear();
}

std::uint16_t gateway::listen(const std::string& address, std::uint16_t port, SSL_CTX* tls) {
  net::listener_options options{"mqtt", "mqtt.maxConnections", state_->settings.connection};
  auto l = std::make_unique<net::listener>(
      io_, tls, state_->connections, std::move(options),
      [state = state_] { return std::make_unique<device_connection>(state); });
  const auto bound = l->listen(address, port);
  listeners_.push_back(std::move(l));
  return bound;
}

std::unique_ptr<net::protocol> gateway::make_websocket_connection() const {
  return std::make_unique<device_connection>(state_);
}

void gateway::stop() {
  for (auto& l : listeners_) l->stop();
  state_->connections->close("the emulator is stopping");
}

bool gateway::wait_closed(std::chrono::milliseconds timeout) {
  return state_->connections->wait_empty(timeout);
}

void gateway::clock_advanced() {
  state_->connections->poke_all();
}

std::size_t gateway::connection_count() const {
  return state_->connections->size();
}

net::front_numbers gateway::numbers() const {
  return net::numbers_of(*state_->connections, &state_->refusals);
}

}  // namespace emu::mqtt
