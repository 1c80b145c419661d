#include "emulator/core/feedback_queue.hpp"

#include <algorithm>

namespace emu::core {

bool wants_feedback(ack_mode ack, feedback_status s) {
  if (ack == ack_mode::full) return true;
  if (ack == ack_mode::none) return false;
  return (s == feedback_status::success) == (ack == ack_mode::positive);
}

void feedback_queue::restore(const std::vector<feedback_record>& pending,
                             const std::vector<feedback_batch>& batches) {
  pending_ = pending;
  batches_.clear();
  for (const auto& b : batches) batches_.emplace(b.id, b);
}

void feedback_queue::clear() {
  pending_.clear();
  batches_.clear();
  holders_.clear();
}

void feedback_queue::add(const c2d_message& m, feedback_status s, time_point now) {
  if (!wants_feedback(m.content.ack, s)) return;
  feedback_record r;
  r.id = journal_.next(&hub_counters::next_feedback_id);
  r.original_message_id = m.content.message_id;
  r.device_id = m.device_id;
  r.device_generation_id = m.device_generation_id;
  r.status = s;
  r.enqueued_time = now;
  journal_.record(change::put_feedback_record{r});
  pending_.push_back(std::move(r));
  ++tally_.records;
  if (pending_.size() >= settings_.feedback_batch_max_records) {
    cut(now);
    deliver(now);
  }
}

void feedback_queue::remove_pending_of(std::string_view device_id) {
  std::erase_if(pending_, [&](const feedback_record& r) { return r.device_id == device_id; });
}

void feedback_queue::cut(time_point now) {
  // Spec §2.3: a batch goes out at 64 records or 15 s after the last batch, whichever first;
  // never empty.
  while (!pending_.empty() &&
         (pending_.size() >= settings_.feedback_batch_max_records ||
          now >= journal_.counters().last_batch_time + settings_.feedback_batch_interval)) {
    feedback_batch b;
    b.id = journal_.next(&hub_counters::next_batch_id);
    b.created = now;
    b.expiry = now + settings_.feedback_ttl;
    const auto n = std::min(pending_.size(), settings_.feedback_batch_max_records);
    const auto end = pending_.begin() + static_cast<std::ptrdiff_t>(n);
    b.records.assign(std::make_move_iterator(pending_.begin()), std::make_move_iterator(end));
    pending_.erase(pending_.begin(), end);
    for (auto& r : b.records) r.batch_id = b.id;
    journal_.counters_for_update().last_batch_time = now;
    // One change moves the records into the batch: they were written once, as pending.
    journal_.record(change::cut_feedback_batch{b});
    batches_.emplace(b.id, std::move(b));
    ++tally_.batches;
  }
}

// ---- receivers --------------------------------------------------------------------------------

std::uint64_t feedback_queue::attach_receiver() {
  const auto id = next_receiver_++;
  receivers_.put(id, receiver{});
  return id;
}

std::uint64_t feedback_queue::set_receiver_limit(std::uint64_t id, std::uint64_t limit, bool drain,
                                                 time_point now) {
  receiver* r = receivers_.modify(id);
  if (r == nullptr) return 0;
  const auto before = r->sent;
  r->limit = limit;
  deliver(now);
  r = receivers_.modify(id);
  const auto delivered = r->sent - before;
  if (drain) r->limit = r->sent;
  return delivered;
}

void feedback_queue::detach_receiver(std::uint64_t id, time_point now) {
  if (receivers_.find(id) == nullptr) return;
  receivers_.erase(id);
  std::vector<std::uint64_t> held;
  for (const auto& [batch, holder] : holders_.entries())
    if (holder == id) held.push_back(batch);
  for (const auto batch : held) {
    holders_.erase(batch);
    if (const auto it = batches_.find(batch); it != batches_.end() && it->second.lock_id != 0) {
      unlock(it->second);
      put_state(it->second);
    }
  }
  deliver(now);
}

void feedback_queue::deliver(time_point now) {
  for (;;) {
    // The next receiver with credit, taking turns.
    std::optional<std::uint64_t> chosen;
    for (const auto& [id, r] : receivers_.entries()) {
      if (r.sent >= r.limit) continue;
      if (!chosen || (*chosen <= turn_ && id > turn_)) chosen = id;
      if (id > turn_) break;
    }
    if (!chosen) return;
    auto b = lock(now);
    if (!b) return;
    receiver* r = receivers_.modify(*chosen);
    ++r->sent;
    turn_ = *chosen;
    holders_.put(b->id, *chosen);
    journal_.emit(event::feedback_delivery{*chosen, std::move(*b)});
  }
}

// ---- batches ---------------------------------------------------------------------------------

std::optional<feedback_batch> feedback_queue::lock(time_point now) {
  for (auto& [id, b] : batches_) {
    if (b.lock_id != 0 || b.expiry <= now) continue;
    b.lock_id = journal_.next(&hub_counters::next_lock_id);
    b.lock_expiry = now + settings_.feedback_lock_duration;
    put_state(b);
    return b;
  }
  return std::nullopt;
}

std::optional<feedback_batch> feedback_queue::lock_next(time_point now) {
  return lock(now);
}

void feedback_queue::unlock(feedback_batch& b) {
  b.lock_id = 0;
  b.lock_expiry = {};
}

void feedback_queue::put_state(const feedback_batch& b) {
  journal_.record(
      change::put_feedback_batch_state{b.id, b.delivery_count, b.lock_id, b.lock_expiry});
}

status feedback_queue::settle(std::uint64_t batch_id, std::uint64_t lock_id, batch_outcome how,
                              time_point now) {
  const auto it = batches_.find(batch_id);
  if (it == batches_.end() || it->second.lock_id != lock_id || it->second.lock_expiry <= now)
    return error{hub_error::device_message_lock_lost, "The feedback batch lock was lost."};
  feedback_batch& b = it->second;
  holders_.erase(batch_id);
  // Spec §2.4 (emulator reading of "same semantics as C2D"): accepted deletes, rejected drops,
  // released re-queues with the delivery count +1 until the feedback max delivery count.
  if (how == batch_outcome::released &&
      ++b.delivery_count < settings_.feedback_max_delivery_count) {
    unlock(b);
    put_state(b);
  } else {
    if (how == batch_outcome::accepted) ++tally_.batches_completed;
    batches_.erase(it);
    journal_.record(change::remove_feedback_batch{batch_id});
  }
  deliver(now);
  return success();
}

void feedback_queue::release(std::uint64_t batch_id, std::uint64_t lock_id, time_point now) {
  const auto it = batches_.find(batch_id);
  if (it == batches_.end() || it->second.lock_id != lock_id) return;
  holders_.erase(batch_id);
  unlock(it->second);
  put_state(it->second);
  deliver(now);
}

void feedback_queue::release_all(time_point now) {
  for (auto& [id, b] : batches_) {
    if (b.lock_id == 0) continue;
    unlock(b);
    put_state(b);
  }
  holders_.clear();
  deliver(now);
}

void feedback_queue::advance(time_point now) {
  for (auto it = batches_.begin(); it != batches_.end();) {
    feedback_batch& b = it->second;
    if (b.expiry <= now) {  // feedback TTL passed: the outcome is lost (spec §2.3)
      holders_.erase(b.id);
      journal_.record(change::remove_feedback_batch{b.id});
      it = batches_.erase(it);
      continue;
    }
    if (b.lock_id != 0 && b.lock_expiry <= now) {
      holders_.erase(b.id);
      unlock(b);
      if (settings_.lock_timeout_counts_as_delivery &&
          ++b.delivery_count >= settings_.feedback_max_delivery_count) {
        journal_.record(change::remove_feedback_batch{b.id});
        it = batches_.erase(it);
        continue;
      }
      put_state(b);
    }
    ++it;
  }
  cut(now);
  deliver(now);
}

std::optional<time_point> feedback_queue::next_deadline() const {
  std::optional<time_point> next;
  const auto consider = [&](time_point t) {
    if (!next || t < *next) next = t;
  };
  if (!pending_.empty())
    consider(journal_.counters().last_batch_time + settings_.feedback_batch_interval);
  for (const auto& [id, b] : batches_) {
    consider(b.expiry);
    if (b.lock_id != 0) consider(b.lock_expiry);
  }
  return next;
}

std::vector<feedback_batch> feedback_queue::batches() const {
  std::vector<feedback_batch> out;
  out.reserve(batches_.size());
  for (const auto& [id, b] : batches_) out.push_back(b);
  return out;
}

void feedback_queue::commit_volatile() {
  receivers_.commit();
  holders_.commit();
}

void feedback_queue::rollback_volatile() {
  receivers_.rollback();
  holders_.rollback();
}

}  // namespace emu::core
