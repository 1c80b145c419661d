#pragma once
/// The emulator's `/metrics` page (issue 18): the hub's statistics (core/hub_statistics.hpp),
/// the executor's commits (executor/commit_statistics.hpp) and each front's connections
/// (net/front_numbers.hpp), as Prometheus families named `iothub_*`. Pure.
///
/// No label carries a device id or anything a client chose: the series stay few however many
/// devices connect (fronts, partitions, outcomes and refusal reasons are fixed sets).
#include <string>
#include <vector>

#include "emulator/core/hub_statistics.hpp"
#include "emulator/executor/commit_statistics.hpp"
#include "emulator/net/front_numbers.hpp"

namespace emu::metrics {

struct front_metrics {
  std::string front;  ///< mqtt, amqp, https
  net::front_numbers numbers;
};

struct metrics_input {
  core::hub_statistics hub;
  executor::commit_numbers commits;
  std::vector<front_metrics> fronts;
};

std::string render_metrics(const metrics_input& in);

}  // namespace emu::metrics
