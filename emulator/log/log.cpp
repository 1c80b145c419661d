#include "emulator/log/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace emu::log {

namespace {

spdlog::level::level_enum to_spdlog(level l) {
  switch (l) {
    case level::debug:
      return spdlog::level::debug;
    case level::info:
      return spdlog::level::info;
    case level::warn:
      return spdlog::level::warn;
    case level::error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

struct registry {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;
  std::shared_ptr<spdlog::sinks::stderr_sink_mt> sink = [] {
    auto s = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    // UTC with milliseconds and a Z, like every other time the emulator shows.
    s->set_formatter(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %l %n: %v",
                                                                 spdlog::pattern_time_type::utc));
    return s;
  }();
  std::atomic<level> current{level::info};
};

registry& reg() {
  static registry r;
  return r;
}

}  // namespace

std::optional<level> parse_level(std::string_view name) {
  if (name == "debug") return level::debug;
  if (name == "info") return level::info;
  if (name == "warn") return level::warn;
  if (name == "error") return level::error;
  return std::nullopt;
}

std::string_view to_string(level l) {
  switch (l) {
    case level::debug:
      return "debug";
    case level::info:
      return "info";
    case level::warn:
      return "warn";
    case level::error:
      return "error";
  }
  return "info";
}

void set_level(level l) {
  auto& r = reg();
  std::lock_guard lock(r.mutex);
  r.current = l;
  for (auto& [name, logger] : r.loggers) logger->set_level(to_spdlog(l));
}

level current_level() {
  return reg().current.load();
}

spdlog::logger& get(std::string_view component) {
  auto& r = reg();
  std::lock_guard lock(r.mutex);
  if (const auto it = r.loggers.find(component); it != r.loggers.end()) return *it->second;
  auto logger = std::make_shared<spdlog::logger>(std::string(component), r.sink);
  logger->set_level(to_spdlog(r.current));
  // A warning or error must reach the terminal (or the test's log file) even if the process
  // is killed right after.
  logger->flush_on(spdlog::level::warn);
  auto& ref = *logger;
  r.loggers.emplace(std::string(component), std::move(logger));
  return ref;
}

}  // namespace emu::log
