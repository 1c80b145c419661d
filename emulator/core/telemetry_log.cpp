#include "emulator/core/telemetry_log.hpp"

#include <algorithm>

#include "emulator/core/partition_key.hpp"

namespace emu::core {

telemetry_log::telemetry_log(const hub_settings& settings, journal& j)
    : settings_(settings), journal_(j) {
  restore({}, {});
}

void telemetry_log::restore(std::vector<telemetry_message> events,
                            const std::vector<partition_counters>& counters) {
  partitions_.clear();
  bytes_ = 0;
  count_ = 0;
  counters_stored_ = !counters.empty();
  int count = settings_.partition_count;
  if (!counters.empty()) {
    count = 0;
    for (const auto& c : counters) count = std::max(count, c.partition + 1);
  }
  count = std::clamp(count, 1, limits::d2c_max_partition_count);
  partitions_.resize(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) partitions_[static_cast<std::size_t>(i)].counters.partition = i;
  for (const auto& c : counters)
    if (c.partition >= 0 && c.partition < count)
      partitions_[static_cast<std::size_t>(c.partition)].counters = c;
  for (auto& e : events) {
    if (e.partition < 0 || e.partition >= count) continue;
    auto& p = partitions_[static_cast<std::size_t>(e.partition)];
    const auto size = e.stored_size();
    bytes_ += size;
    ++count_;
    // A store written before the counters existed cannot be behind its own events.
    p.counters.next_sequence_number =
        std::max(p.counters.next_sequence_number, e.sequence_number + 1);
    p.counters.next_offset =
        std::max(p.counters.next_offset, e.offset + static_cast<std::int64_t>(size));
    p.events.push_back(std::make_shared<const telemetry_message>(std::move(e)));
  }
}

void telemetry_log::clear() {
  for (auto& p : partitions_) p.events.clear();
  bytes_ = 0;
  count_ = 0;
  // The reset removed the counters from the store too: numbers are never reused, so a hub
  // that had telemetry stores them again.
  if (counters_stored_) store_counters();
}

void telemetry_log::store_counters() {
  for (const auto& p : partitions_) journal_.record(change::put_partition_counters{p.counters});
  counters_stored_ = true;
}

event_ptr telemetry_log::append(telemetry_message m, time_point now) {
  // A hub stores its partitions' counters (and so its partition count) with its first event.
  if (!counters_stored_) store_counters();
  const int index = partition_of(m.device_id, partition_count());
  auto& p = partitions_[static_cast<std::size_t>(index)];
  m.partition = index;
  m.sequence_number = p.counters.next_sequence_number++;
  m.offset = p.counters.next_offset;
  p.counters.next_offset += static_cast<std::int64_t>(m.stored_size());
  // Enqueued times never go back within a partition (positions by time are binary searched).
  m.enqueued_time = p.events.empty() ? now : std::max(now, p.events.back()->enqueued_time);
  auto event = std::make_shared<const telemetry_message>(std::move(m));
  bytes_ += event->stored_size();
  ++count_;
  p.events.push_back(event);
  journal_.record(change::put_telemetry{event});
  journal_.record(change::put_partition_counters{p.counters});

  // Bounds in bytes and events: the oldest event of the whole log goes first. The newest one
  // always stays, even if it alone is over the byte bound (it was acknowledged).
  while ((bytes_ > settings_.telemetry_retention_bytes || count_ > settings_.telemetry_capacity) &&
         count_ > 1) {
    partition_state* oldest = nullptr;
    for (auto& q : partitions_) {
      if (q.events.empty()) continue;
      if (&q == &p && q.events.size() == 1) continue;
      if (oldest == nullptr ||
          q.events.front()->enqueued_time < oldest->events.front()->enqueued_time)
        oldest = &q;
    }
    if (oldest == nullptr) break;
    drop_oldest(*oldest, 1);
  }
  return event;
}

void telemetry_log::drop_oldest(partition_state& p, std::size_t n) {
  n = std::min(n, p.events.size());
  if (n == 0) return;
  const std::int64_t up_to = p.events[n - 1]->sequence_number;
  for (std::size_t i = 0; i < n; ++i) {
    bytes_ -= p.events.front()->stored_size();
    --count_;
    p.events.pop_front();
  }
  journal_.record(change::remove_telemetry_up_to{p.counters.partition, up_to});
}

void telemetry_log::trim(time_point now) {
  std::size_t budget = limits::telemetry_trim_per_round;
  for (auto& p : partitions_) {
    std::size_t n = 0;
    while (n < p.events.size() && n < budget &&
           p.events[n]->enqueued_time + settings_.telemetry_retention <= now)
      ++n;
    drop_oldest(p, n);
    budget -= n;
    if (budget == 0) return;
  }
}

std::optional<time_point> telemetry_log::next_deadline() const {
  std::optional<time_point> out;
  for (const auto& p : partitions_) {
    if (p.events.empty()) continue;
    const auto t = p.events.front()->enqueued_time + settings_.telemetry_retention;
    if (!out || t < *out) out = t;
  }
  return out;
}

partition_info telemetry_log::info(int partition) const {
  const auto& p = partitions_.at(static_cast<std::size_t>(partition));
  partition_info i;
  i.partition = partition;
  i.empty = p.events.empty();
  i.begin_sequence_number =
      p.events.empty() ? p.counters.next_sequence_number : p.events.front()->sequence_number;
  i.last_sequence_number = p.counters.next_sequence_number - 1;
  if (!p.events.empty()) {
    i.last_offset = p.events.back()->offset;
    i.last_enqueued_time = p.events.back()->enqueued_time;
  }
  return i;
}

std::int64_t telemetry_log::next_sequence_number(int partition) const {
  return partitions_.at(static_cast<std::size_t>(partition)).counters.next_sequence_number;
}

std::int64_t telemetry_log::resolve(int partition, const event_position& pos) const {
  const auto& p = partitions_.at(static_cast<std::size_t>(partition));
  const auto& ev = p.events;
  const std::int64_t next = p.counters.next_sequence_number;
  const std::int64_t begin = ev.empty() ? next : ev.front()->sequence_number;
  using kind = event_position::kind;
  switch (pos.what) {
    case kind::latest:
      return next;
    case kind::sequence_number: {
      const std::int64_t first = pos.inclusive ? pos.value : pos.value + 1;
      return std::clamp(first, begin, next);
    }
    case kind::offset: {
      const auto it = std::find_if(ev.begin(), ev.end(), [&](const event_ptr& e) {
        return pos.inclusive ? e->offset >= pos.value : e->offset > pos.value;
      });
      // Offsets grow with the sequence number: a binary search would do, the linear scan is
      // only for a reader's attach and stops at the first match.
      return it == ev.end() ? next : (*it)->sequence_number;
    }
    case kind::enqueued_time: {
      const auto t = from_unix_ms(pos.value);
      const auto it = std::partition_point(ev.begin(), ev.end(), [&](const event_ptr& e) {
        return pos.inclusive ? e->enqueued_time < t : e->enqueued_time <= t;
      });
      return it == ev.end() ? next : (*it)->sequence_number;
    }
  }
  return next;
}

std::vector<event_ptr> telemetry_log::read(int partition, std::int64_t from,
                                           std::size_t max) const {
  std::vector<event_ptr> out;
  const auto& ev = partitions_.at(static_cast<std::size_t>(partition)).events;
  if (ev.empty() || max == 0) return out;
  const std::int64_t begin = ev.front()->sequence_number;
  // Sequence numbers are contiguous within the kept events: index = seq - begin.
  std::size_t i = from <= begin ? 0 : static_cast<std::size_t>(from - begin);
  for (; i < ev.size() && out.size() < max; ++i) out.push_back(ev[i]);
  return out;
}

std::vector<telemetry_message> telemetry_log::messages() const {
  std::vector<telemetry_message> out;
  out.reserve(count_);
  for (const auto& p : partitions_)
    for (const auto& e : p.events) out.push_back(*e);
  return out;
}

std::vector<event_ptr> telemetry_log::tail(std::size_t n) const {
  std::vector<event_ptr> out;
  for (const auto& p : partitions_) {
    const auto take = std::min(n, p.events.size());
    out.insert(out.end(), p.events.end() - static_cast<std::ptrdiff_t>(take), p.events.end());
  }
  std::sort(out.begin(), out.end(), [](const event_ptr& a, const event_ptr& b) {
    // Time first; within one instant a partition's own order (sequence numbers).
    if (a->enqueued_time != b->enqueued_time) return a->enqueued_time < b->enqueued_time;
    if (a->partition != b->partition) return a->partition < b->partition;
    return a->sequence_number < b->sequence_number;
  });
  if (out.size() > n) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(n));
  return out;
}

}  // namespace emu::core
