#pragma once
/// The dashboard's live activity feed (issue 18): what the hub told the fronts after each
/// committed round (C2D deliveries, direct method calls and their outcomes, desired-property
/// changes, sessions taken over, feedback batches sent, faults, resets), as short lines with
/// the hub's time. Kept in memory only and bounded (the newest `capacity` lines), like the
/// registry's presence: the dashboard shows what happened since the process started.
///
/// Thread safety: record() runs on the hub executor (an executor listener), newest() on any
/// I/O thread; one mutex guards the lines.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "emulator/core/hub_event.hpp"
#include "emulator/core/time.hpp"

namespace emu::https {

struct activity_line {
  std::uint64_t seq = 0;  ///< from 1, +1 per line
  core::time_point at{};
  std::string kind;  ///< "c2d", "method", "twin", "session", "feedback", "fault", "hub"
  std::string device_id;
  std::string text;
};

class dashboard_activity {
 public:
  explicit dashboard_activity(std::size_t capacity = 200) : capacity_(capacity) {}

  /// The line a hub event makes (none for telemetry deliveries: the telemetry tail shows
  /// those, and for events the dashboard does not show).
  void record(const core::hub_event& e, core::time_point now);
  /// The newest lines, oldest first.
  std::vector<activity_line> newest() const;

 private:
  void add(core::time_point at, std::string kind, std::string device_id, std::string text);

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<activity_line> lines_;
  std::uint64_t next_seq_ = 1;
  /// Method calls on their way to a device, by call id, so their outcome names the device and
  /// the method (event::method_result carries only the call id). Bounded like the lines.
  std::map<std::uint64_t, std::pair<std::string, std::string>> calls_;
};

}  // namespace emu::https
