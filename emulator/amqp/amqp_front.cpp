#include "emulator/amqp/amqp_front.hpp"

#include <atomic>
#include <type_traits>
#include <utility>
#include <variant>

#include "emulator/amqp/amqp_session.hpp"
#include "emulator/amqp/amqp_state.hpp"

namespace emu::amqp {

namespace {

amqp_settings with_names(amqp_settings s, const std::string& hub_name, core::host_names hosts,
                         core::time_point created) {
  s.hub_name = hub_name;
  s.hosts = std::move(hosts);
  s.hub_created = created;
  return s;
}

template <class Fn>
void post_to(const net::connection_handle& c, Fn fn) {
  c.post([fn = std::move(fn)](net::protocol& p) mutable {
    static_cast<amqp_session&>(p).run([&](amqp_connection* conn) {
      if (conn != nullptr) fn(*conn);
    });
  });
}

}  // namespace

amqp_state::amqp_state(amqp_settings s, executor::hub_executor& e)
    : settings(std::move(s)),
      executor(e),
      connections(std::make_shared<net::connection_set>(settings.max_connections)) {}

void amqp_state::on_hub_event(const core::hub_event& e) {
  if (const auto* d = std::get_if<core::event::feedback_delivery>(&e)) {
    if (const auto c = routes.feedback.find(d->receiver)) {
      post_to(*c, [receiver = d->receiver, batch = d->batch](amqp_connection& conn) mutable {
        conn.feedback_delivery(receiver, std::move(batch));
      });
    }
    // No route: the link is gone, and its receiver's detach gives the batch back.
  } else if (const auto* t = std::get_if<core::event::telemetry_delivery>(&e)) {
    if (const auto c = routes.readers.find(t->reader)) {
      post_to(*c, [reader = t->reader, events = t->events](amqp_connection& conn) {
        conn.telemetry_delivery(reader, events);
      });
    }
  } else if (const auto* r = std::get_if<core::event::telemetry_reader_ended>(&e)) {
    if (const auto c = routes.readers.find(r->reader)) {
      post_to(*c, [reader = r->reader, why = r->why](amqp_connection& conn) {
        conn.telemetry_reader_ended(reader, why);
      });
    }
  } else if (const auto* c2d = std::get_if<core::event::c2d_delivery>(&e)) {
    // Device AMQP sessions (the MQTT gateway routes its own).
    if (const auto c = routes.device_sessions.find(c2d->device_id, c2d->epoch)) {
      post_to(*c, [device = c2d->device_id, epoch = c2d->epoch,
                   d = c2d->delivery](amqp_connection& conn) mutable {
        conn.device_c2d_delivery(device, epoch, std::move(d));
      });
    }
  } else if (const auto* ended = std::get_if<core::event::session_ended>(&e)) {
    if (const auto c = routes.device_sessions.find(ended->device_id, ended->epoch)) {
      post_to(*c, [device = ended->device_id, epoch = ended->epoch, why = ended->why](
                      amqp_connection& conn) { conn.device_session_ended(device, epoch, why); });
    }
  } else if (const auto* desired = std::get_if<core::event::desired_patch>(&e)) {
    if (const auto c = routes.device_sessions.latest(desired->device_id)) {
      post_to(*c, [device = desired->device_id, version = desired->version,
                   patch = desired->patch.dump()](amqp_connection& conn) {
        conn.device_desired_patch(device, version, patch);
      });
    }
  } else if (const auto* call = std::get_if<core::event::method_request>(&e)) {
    // No route: the call times out (504101), as on IoT Hub when the device vanishes.
    if (const auto c = routes.device_sessions.find(call->device_id, call->epoch)) {
      post_to(*c, [device = call->device_id, epoch = call->epoch, id = call->call_id,
                   name = call->name, payload = call->payload](amqp_connection& conn) {
        conn.device_method_request(device, epoch, id, name, payload);
      });
    }
  } else if (const auto* fault = std::get_if<core::event::fault_requested>(&e)) {
    // Test control's fault for a device session on this front (no route: not on AMQP).
    if (const auto c = routes.device_sessions.find(fault->device_id, fault->epoch)) {
      post_to(*c, [device = fault->device_id, r = fault->request](amqp_connection& conn) {
        conn.schedule_fault(device, r);
      });
    }
  } else if (const auto* paused = std::get_if<core::event::fronts_paused>(&e)) {
    connections->set_paused(paused->paused.contains("amqp"));
  } else if (std::holds_alternative<core::event::tokens_expired>(e)) {
    for (const auto& c : connections->handles())
      post_to(c, [](amqp_connection& conn) { conn.expire_all_tokens(); });
  } else if (std::holds_alternative<core::event::hub_reset>(e)) {
    for (const auto& c : connections->handles()) c.post([](net::protocol& p) { p.on_hub_reset(); });
  }
}

amqp_front::amqp_front(amqp_settings settings, const std::string& hub_name, core::host_names hosts,
                       executor::hub_executor& executor, asio::io_context& io)
    : state_(std::make_shared<amqp_state>(
          with_names(std::move(settings), hub_name, std::move(hosts), executor.now()), executor)),
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
  // The port this listener is bound to (known after bind when asked for port 0): sessions
  // name it in redirects.
  auto local_port = std::make_shared<std::atomic<std::uint16_t>>(port);
  auto l = std::make_unique<net::listener>(
      io_, tls, state_->connections, std::move(options), [state = state_, local_port] {
        return std::make_unique<amqp_session>(state, local_port->load());
      });
  const auto bound = l->listen(address, port);
  local_port->store(bound);
  if (tls != nullptr && tls_port_->load() == 0) tls_port_->store(bound);
  listeners_.push_back(std::move(l));
  return bound;
}

std::unique_ptr<net::protocol> amqp_front::make_websocket_session() const {
  return std::make_unique<amqp_session>(state_, tls_port_->load());
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

net::front_numbers amqp_front::numbers() const {
  return net::numbers_of(*state_->connections, &state_->refusals);
}

}  // namespace emu::amqp
