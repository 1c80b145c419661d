#pragma once
/// What the HTTPS front and its connections share. Owned by shared_ptr (every connection keeps
/// it alive). Read-only after construction, except the connection set, which locks itself.
#include <functional>
#include <memory>

#include "emulator/executor/hub_executor.hpp"
#include "emulator/https/https_front.hpp"
#include "emulator/https/https_settings.hpp"
#include "emulator/net/connection_set.hpp"
#include "emulator/net/protocol.hpp"

namespace spdlog {
class logger;
}

namespace emu::https {

struct https_state {
  /// The connections' clock for their deadlines (a parameter, so tests move time instead of
  /// sleeping).
  using clock = std::function<net::steady_time()>;

  https_state(https_settings s, executor::hub_executor& e, clock_travel t,
              clock now = net::steady_clock::now);

  const https_settings settings;
  const clock now;
  executor::hub_executor& executor;
  const clock_travel travel;
  std::shared_ptr<net::connection_set> connections;
  spdlog::logger& log;
};

}  // namespace emu::https
