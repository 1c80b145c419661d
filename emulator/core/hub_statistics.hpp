#pragma once
/// What the hub has done since the process started, and what it holds now: the numbers behind
/// `/metrics` (issue 18) and the dashboard. Plain values, read on the hub executor
/// (hub::statistics()) and rendered elsewhere.
///
/// The tallies count what happened in this process, rounds later rolled back by a failed
/// commit included (a metric says what the hub did, not what is stored); they start at zero
/// after a restart, as Prometheus counters may.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "emulator/core/feedback.hpp"

namespace emu::core {

/// Cloud-to-device messages by what became of them (spec §1.1).
struct c2d_tally {
  std::uint64_t sent = 0;       ///< admitted to a queue
  std::uint64_t delivered = 0;  ///< locked for a device (each delivery attempt)
  std::uint64_t abandoned = 0;  ///< given back by the device (abandon, MQTT has none)
  /// Ended, by feedback status: completed (success), expired, delivery count exceeded,
  /// rejected, purged (also counted when no feedback was asked for).
  std::array<std::uint64_t, 5> ended{};

  std::uint64_t ended_as(feedback_status s) const { return ended[static_cast<std::size_t>(s)]; }
};

/// Feedback (spec §2.3).
struct feedback_tally {
  std::uint64_t records = 0;            ///< records written
  std::uint64_t batches = 0;            ///< batches cut
  std::uint64_t batches_completed = 0;  ///< batches a back-end accepted
};

/// One Event Hubs partition of the telemetry log.
struct partition_statistics {
  int partition = 0;
  std::uint64_t appended = 0;  ///< events ever appended (its next sequence number)
  std::uint64_t read = 0;      ///< events handed to readers since start
  std::uint64_t retained = 0;  ///< events the log holds now
};

struct hub_statistics {
  std::size_t devices = 0;
  std::size_t modules = 0;
  std::size_t connected_identities = 0;
  std::size_t c2d_enqueued = 0;   ///< messages in the Enqueued state now
  std::size_t c2d_invisible = 0;  ///< messages locked for a device now
  c2d_tally c2d;
  std::size_t feedback_pending_records = 0;  ///< not yet cut into a batch
  std::size_t feedback_waiting_batches = 0;  ///< cut, not yet accepted
  feedback_tally feedback;
  std::vector<partition_statistics> partitions;
  std::uint64_t throttled = 0;         ///< operations refused by a throttle since start
  std::uint64_t quota_refused = 0;     ///< messages refused by the daily quota since start
  std::uint64_t connects_refused = 0;  ///< connects refused by the per-identity bound
};

}  // namespace emu::core
