#pragma once
/// Readers of the telemetry log (issue 14): the receiver links of the Event Hubs-compatible
/// endpoint, `<hub>/ConsumerGroups/<cg>/Partitions/<n>` (next-capabilities §1.5).
///
/// Like feedback receivers, credit is held here and delivery is pushed, never polled: a front
/// attaches a reader at a start position, tells the hub how many events the reader may have
/// received in all (events sent so far + link credit), and gets event::telemetry_delivery
/// batches within that limit: at once for what is already in the log, and at the end of every
/// round for what devices appended in it. A reader without credit holds nothing back: the
/// events stay in the log, devices never wait for readers.
///
/// Epochs (Event Hubs "owner level"): a reader attached with epoch e to a consumer group's
/// partition ends the readers there with no epoch or an epoch <= e (event::
/// telemetry_reader_ended, receiver_disconnected); a reader without epoch, or with a lower
/// one than a reader already there, is refused the same way.
///
/// Readers are volatile (they exist while their links do) and go back to the last commit with
/// the rest of the hub's volatile state when a round fails (undoable_map.hpp).
///
/// Thread safety: none; part of the hub.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/core/errors.hpp"
#include "emulator/core/event_position.hpp"
#include "emulator/core/journal.hpp"
#include "emulator/core/telemetry_log.hpp"
#include "emulator/core/undoable_map.hpp"

namespace emu::core {

struct reader_request {
  int partition = 0;
  /// As the client spelled it; consumer groups are compared case-insensitively.
  std::string consumer_group = "$Default";
  std::optional<std::int64_t> epoch;
  event_position start = event_position::earliest();
};

class telemetry_readers {
 public:
  explicit telemetry_readers(journal& j) : journal_(j) {}

  /// A new reader at `r.start` (the partition and consumer group were checked by the hub).
  /// receiver_disconnected when a reader with a higher epoch (or any epoch, for a reader
  /// without one) reads that partition of that consumer group.
  result<std::uint64_t> attach(const reader_request& r, const telemetry_log& log);
  /// The reader may have received `limit` events in all: delivers what the log has within it
  /// at once. Returns how many events this call delivered.
  std::uint64_t set_limit(std::uint64_t reader, std::uint64_t limit, const telemetry_log& log);
  void detach(std::uint64_t reader) { readers_.erase(reader); }
  /// Delivers to every reader with credit what the log has for it (the end of each round).
  void deliver(const telemetry_log& log);
  /// Every reader ends (reset: their connections are closed too).
  void clear() { readers_.clear(); }
  std::size_t count() const { return readers_.entries().size(); }

  /// Events handed to readers since start, by partition.
  std::uint64_t read_from(int partition) const {
    const auto p = static_cast<std::size_t>(partition);
    return p < read_.size() ? read_[p] : 0;
  }
  void commit_volatile() { readers_.commit(); }
  void rollback_volatile() { readers_.rollback(); }

 private:
  struct reader_state {
    int partition = 0;
    std::string group;  // lower case
    std::optional<std::int64_t> epoch;
    std::int64_t next = 0;  // sequence number of the next event to deliver
    std::uint64_t limit = 0;
    std::uint64_t sent = 0;
  };
  std::uint64_t deliver_to(std::uint64_t id, reader_state& r, const telemetry_log& log);

  journal& journal_;
  undoable_map<std::uint64_t, reader_state> readers_;
  std::vector<std::uint64_t> read_;  // by partition
  std::uint64_t next_id_ = 1;
};

}  // namespace emu::core
