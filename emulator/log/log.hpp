#pragma once
/// The emulator's log: one line per event on stderr, each with a UTC timestamp, a level and
/// the component ("app", "hub", "storage", "tls", "net", "mqtt", "amqp", "https"):
///
///     2026-12-03T08:16:55.123Z info mqtt: #7 127.0.0.1:50412 device 'dev1' connected (…)
///
/// spdlog (Debian libspdlog-dev) with fmt formatting: a call below the current level returns
/// before anything is formatted, so debug lines cost nothing when debug is off. One level
/// scale for every component (`--log-level`, config `logLevel`).
///
/// Never log keys, passwords or whole SAS tokens: a token is logged as its sr/skn/se
/// (core::describe_token).
///
/// Thread safety: every function may be called from any thread.
#include <spdlog/logger.h>

#include <optional>
#include <string_view>

namespace emu::log {

enum class level { debug, info, warn, error };

/// "debug", "info", "warn" or "error"; nullopt for anything else.
std::optional<level> parse_level(std::string_view name);
std::string_view to_string(level l);

/// Sets the level of every component (default: info).
void set_level(level l);
level current_level();

/// The logger of a component, created on first use with the shared stderr sink. Keep the
/// reference (e.g. in a function-local static): it is valid for the whole process.
spdlog::logger& get(std::string_view component);

}  // namespace emu::log
