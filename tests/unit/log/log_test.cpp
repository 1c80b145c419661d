// The log's one level scale (issue 12): the names the command line and the config accept, and
// that a line below the level is not even formatted.
#include <doctest/doctest.h>

#include <spdlog/logger.h>

#include "emulator/log/log.hpp"

using namespace emu;

namespace {

/// Counts how often it is formatted.
struct counted {
  int* formatted;
};

}  // namespace

template <>
struct fmt::formatter<counted> : fmt::formatter<std::string_view> {
  auto format(const counted& c, fmt::format_context& ctx) const {
    ++*c.formatted;
    return fmt::formatter<std::string_view>::format("counted", ctx);
  }
};

TEST_CASE("level names: error, warn, info, debug, and nothing else") {
  for (const auto l : {log::level::error, log::level::warn, log::level::info, log::level::debug})
    CHECK(log::parse_level(log::to_string(l)) == l);
  CHECK_FALSE(log::parse_level("warning").has_value());
  CHECK_FALSE(log::parse_level("DEBUG").has_value());
  CHECK_FALSE(log::parse_level("").has_value());
}

TEST_CASE("one level for every component; below it nothing is formatted") {
  auto& a = log::get("unit-a");
  log::set_level(log::level::warn);
  auto& b = log::get("unit-b");  // created after set_level: the same level
  CHECK(log::current_level() == log::level::warn);
  CHECK_FALSE(a.should_log(spdlog::level::info));
  CHECK_FALSE(b.should_log(spdlog::level::info));
  CHECK(b.should_log(spdlog::level::warn));
  int formatted = 0;
  a.debug("{}", counted{&formatted});
  a.info("{}", counted{&formatted});
  CHECK(formatted == 0);
  log::set_level(log::level::debug);
  CHECK(a.should_log(spdlog::level::debug));
  CHECK(&log::get("unit-a") == &a);  // one logger per component
  log::set_level(log::level::info);
}
