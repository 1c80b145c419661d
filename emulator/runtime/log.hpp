#pragma once
/// Minimal leveled logging to stderr, one whole line per call (safe from any thread).
/// Never pass keys or whole SAS tokens: log a token's sr/skn/se only (security by default).
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string_view>

namespace emu::runtime {

enum class log_level { error = 0, warn = 1, info = 2, debug = 3 };

inline std::atomic<int>& log_threshold() {
  static std::atomic<int> level{static_cast<int>(log_level::info)};
  return level;
}

inline bool log_enabled(log_level l) {
  return static_cast<int>(l) <= log_threshold().load();
}

inline void log(log_level l, std::string_view component, std::string_view message) {
  if (!log_enabled(l)) return;
  static std::mutex m;
  static constexpr std::string_view names[] = {"error", "warn", "info", "debug"};
  std::lock_guard lock(m);
  std::fprintf(stderr, "[%.*s] %.*s: %.*s\n", static_cast<int>(names[static_cast<int>(l)].size()),
               names[static_cast<int>(l)].data(), static_cast<int>(component.size()),
               component.data(), static_cast<int>(message.size()), message.data());
}

}  // namespace emu::runtime
