#include "emulator/core/telemetry_readers.hpp"

#include <algorithm>
#include <vector>

#include "emulator/core/ascii.hpp"

namespace emu::core {

result<std::uint64_t> telemetry_readers::attach(const reader_request& r, const telemetry_log& log) {
  const std::string group = ascii_lowercase(r.consumer_group);
  std::vector<std::uint64_t> taken_over;
  for (const auto& [id, other] : readers_.entries()) {
    if (other.partition != r.partition || other.group != group) continue;
    if (!other.epoch) {
      if (r.epoch) taken_over.push_back(id);
      continue;
    }
    if (!r.epoch || *other.epoch > *r.epoch)
      return error{hub_error::receiver_disconnected,
                   "A reader with epoch " + std::to_string(*other.epoch) + " reads partition " +
                       std::to_string(r.partition) + " of consumer group '" + r.consumer_group +
                       "'" + (r.epoch ? ", higher than " + std::to_string(*r.epoch) : "") + "."};
    taken_over.push_back(id);
  }
  for (const auto id : taken_over) {
    readers_.erase(id);
    journal_.emit(event::telemetry_reader_ended{
        id, error{hub_error::receiver_disconnected,
                  "New receiver with higher epoch of '" + std::to_string(*r.epoch) +
                      "' is created hence current receiver is getting disconnected."}});
  }
  reader_state x;
  x.partition = r.partition;
  x.group = group;
  x.epoch = r.epoch;
  x.next = log.resolve(r.partition, r.start);
  const std::uint64_t id = next_id_++;
  readers_.put(id, std::move(x));
  return id;
}

std::uint64_t telemetry_readers::set_limit(std::uint64_t id, std::uint64_t limit,
                                           const telemetry_log& log) {
  reader_state* r = readers_.modify(id);
  if (r == nullptr) return 0;
  r->limit = limit;
  return deliver_to(id, *r, log);
}

void telemetry_readers::deliver(const telemetry_log& log) {
  for (const auto& [id, r] : readers_.entries()) {
    if (r.sent >= r.limit || r.next >= log.next_sequence_number(r.partition)) continue;
    reader_state* m = readers_.modify(id);
    (void)deliver_to(id, *m, log);
  }
}

std::uint64_t telemetry_readers::deliver_to(std::uint64_t id, reader_state& r,
                                            const telemetry_log& log) {
  if (r.sent >= r.limit) return 0;
  auto events = log.read(r.partition, r.next, static_cast<std::size_t>(r.limit - r.sent));
  if (events.empty()) return 0;
  r.next = events.back()->sequence_number + 1;
  const std::uint64_t n = events.size();
  r.sent += n;
  const auto p = static_cast<std::size_t>(r.partition);
  if (read_.size() <= p) read_.resize(p + 1);
  read_[p] += n;
  journal_.emit(event::telemetry_delivery{id, std::move(events)});
  return n;
}

}  // namespace emu::core
