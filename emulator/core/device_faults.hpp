#pragma once
/// What the hub keeps of fault injection (issue 17, next-capabilities §7): the Invoke* windows
/// during which an identity's operations are refused, and the fault log that test control
/// shows (`GET /admin/faults`), so a test can wait for a fault to have happened instead of
/// sleeping.
///
/// Connection faults (KillTcp, KillAmqp*, ShutDown*) are carried out by the front that holds
/// the connection; it reports back what it did (hub::note_fault). Nothing here is durable: after
/// a restart no fault is pending (nor is any connection).
///
/// Not thread-safe: the hub executor's thread only.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/core/errors.hpp"
#include "emulator/core/fault_request.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

/// One line of the fault log.
struct fault_record {
  std::uint64_t id = 0;
  time_point time{};
  std::string identity;  // `{deviceId}` or `{deviceId}/{moduleId}`
  std::string type;      // "KillTcp", … as the request named it (or as given, if unknown)
  /// requested: the hub received it; applied: a front carried it out (or a window opened);
  /// ignored: it could not be carried out (`detail` says why); ended: a window closed.
  std::string event;
  std::string detail;
};

class device_faults {
 public:
  /// The fault log keeps this many records, the oldest go first.
  static constexpr std::size_t max_records = 1000;

  /// An Invoke* fault: from now + delay for its length, refusal() answers for `identity`.
  void open_window(std::string_view identity, const fault_request& r, time_point now);
  /// The error an operation of `identity` gets at `now` (throttled, quota exceeded,
  /// unauthorized), if a window is open.
  std::optional<error> refusal(std::string_view identity, time_point now) const;
  /// Drops windows that ended before `now`, logging `ended` for each.
  void expire(time_point now);
  /// The earliest end of an open window.
  std::optional<time_point> next_deadline() const;

  void record(std::string_view identity, std::string_view type, std::string event,
              std::string detail, time_point now);
  const std::deque<fault_record>& records() const { return records_; }

  /// Everything goes (test control reset).
  void clear();

 private:
  struct window {
    fault_kind kind = fault_kind::invoke_throttling;
    time_point from{};
    time_point until{};
  };
  std::map<std::string, window, std::less<>> windows_;
  std::deque<fault_record> records_;
  std::uint64_t next_id_ = 1;
};

}  // namespace emu::core
