#pragma once
/// What the AMQP front, its connections and its hub callbacks share. Owned by shared_ptr
/// (every connection and the executor's event listener keep it alive).
///
/// Thread safety: the settings are read-only; the connection set and the routes lock
/// themselves.
#include <memory>

#include "emulator/amqp/amqp_settings.hpp"
#include "emulator/amqp/link_routes.hpp"
#include "emulator/core/hub_event.hpp"
#include "emulator/executor/hub_executor.hpp"
#include "emulator/net/connection_set.hpp"

namespace emu::amqp {

struct amqp_state {
  amqp_state(amqp_settings s, executor::hub_executor& e);

  const amqp_settings settings;
  executor::hub_executor& executor;
  std::shared_ptr<net::connection_set> connections;
  link_routes routes;
  /// Authentication refused (sasl_failed, cbs_token_refused, …), over TLS and WebSocket alike
  /// (issue 18, /metrics).
  net::refusal_counts refusals;

  /// Hub events (executor thread, after the commit): feedback batches to their links, a reset
  /// to every connection.
  void on_hub_event(const core::hub_event& e);
};

}  // namespace emu::amqp
