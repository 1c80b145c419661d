#pragma once
/// What the server, its connections and its hub-executor callbacks share. Owned by shared_ptr:
/// the executor's event listener keeps it alive as long as the executor, so it holds no asio
/// objects (see connection_registry for why that matters).
///
/// Thread safety: the settings are read-only after construction; the registry locks itself;
/// the executor is thread-safe; the log sink must be thread-safe.
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "emulator/core/hub_event.hpp"
#include "emulator/mqtt/gateway/connection_registry.hpp"
#include "emulator/mqtt/gateway/gateway_settings.hpp"
#include "emulator/runtime/hub_executor.hpp"
#include "emulator/runtime/log_throttle.hpp"

namespace emu::mqtt {

struct gateway_context {
  gateway_context(gateway_settings s, runtime::hub_executor& e)
      : settings(std::move(s)), executor(e) {}

  const gateway_settings settings;
  runtime::hub_executor& executor;
  connection_registry registry;
  std::atomic<std::uint64_t> next_connection_id{1};
  runtime::log_throttle refusals;  // "connection refused" at most once a second

  void log(log_level level, std::string_view text) const {
    if (settings.log) settings.log(level, text);
  }

  /// Hub events (executor thread, after commit): route them to the connections concerned.
  void on_hub_event(const core::hub_event& e);
};

/// A SAS token for logs: its `sr`, `skn` and `se` only, never the signature (nor the key).
std::string describe_token(std::string_view token);

}  // namespace emu::mqtt
