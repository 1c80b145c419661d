#pragma once
/// The telemetry log: device-to-cloud messages as received (spec §3.6), kept in a bounded log
/// (oldest dropped first) until the Event Hubs-compatible endpoint serves it to back-ends.
///
/// Thread safety: none; part of the hub.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/core/c2d_message.hpp"
#include "emulator/core/journal.hpp"
#include "emulator/core/telemetry_message.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

class telemetry_log {
 public:
  telemetry_log(const std::size_t& capacity, journal& j) : capacity_(capacity), journal_(j) {}

  void restore(const std::vector<telemetry_message>& messages);
  void clear() { messages_.clear(); }

  /// Appends a message; the oldest ones go when the log holds more than its capacity.
  std::uint64_t append(std::string_view device_id, std::vector<property> properties,
                       std::string body, time_point now);
  std::vector<telemetry_message> messages() const;

 private:
  const std::size_t& capacity_;
  journal& journal_;
  std::map<std::uint64_t, telemetry_message> messages_;
};

}  // namespace emu::core
