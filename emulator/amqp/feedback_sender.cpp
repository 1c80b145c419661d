#include "emulator/amqp/feedback_sender.hpp"

#include <proton/disposition.h>

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/message_codec.hpp"

namespace emu::amqp {

namespace {

void release_to_hub(runtime::hub_executor& executor, std::uint64_t batch_id,
                    std::uint64_t lock_id) {
  executor.post([batch_id, lock_id](core::hub& h, core::time_point now) {
    h.release_batch(batch_id, lock_id, now);
    return runtime::hub_executor::completion{};
  });
}

}  // namespace

void feedback_sender::on_open() {
  // Echo the receiver's settle mode: with `second` the client waits for our settlement.
  pn_link_set_rcv_settle_mode(link_, pn_link_remote_rcv_settle_mode(link_));
  pull();
}

void feedback_sender::pull() {
  if (closed_ || lock_in_flight_) return;
  if (pn_link_credit(link_) <= 0) return;
  lock_in_flight_ = true;
  conn_.submit([](core::hub& h, core::time_point now) { return h.lock_next_batch(now); },
               [serial = serial(), exec = &conn_.executor()](
                   amqp_connection* c, bool committed, std::optional<core::feedback_batch> b) {
                 feedback_sender* self = c != nullptr ? c->find<feedback_sender>(serial) : nullptr;
                 if (self == nullptr) {
                   // The link went away while the lock was being taken: give it back.
                   if (committed && b) release_to_hub(*exec, b->id, b->lock_id);
                   return;
                 }
                 self->on_locked(committed, std::move(b));
               });
}

void feedback_sender::on_locked(bool committed, std::optional<core::feedback_batch> batch) {
  lock_in_flight_ = false;
  if (!committed) {
    // The round was undone, so nothing is locked. Try again on the next flow or event.
    conn_.log(log_level::warn, "feedback: locking a batch was not stored");
    return;
  }
  if (!batch) {
    if (pn_link_get_drain(link_)) pn_link_drained(link_);
    return;
  }
  send(*batch);
  pull();
}

void feedback_sender::send(const core::feedback_batch& batch) {
  const std::vector<char> bytes = encode_feedback(batch, conn_.settings().hub_name);
  const std::string tag = feedback_delivery_tag(batch.id, batch.lock_id);
  pn_delivery_t* d = pn_delivery(link_, pn_dtag(tag.data(), tag.size()));
  pn_link_send(link_, bytes.data(), bytes.size());
  pn_link_advance(link_);
  unsettled_[d] = sent{batch.id, batch.lock_id};
  conn_.log(log_level::debug, "feedback: sent batch " + std::to_string(batch.id) + " with " +
                                  std::to_string(batch.records.size()) + " records");
}

void feedback_sender::on_delivery(pn_delivery_t* d) {
  const auto it = unsettled_.find(d);
  if (it == unsettled_.end()) return;  // already being settled (a repeated disposition)
  const std::uint64_t state = pn_delivery_remote_state(d);
  const bool remote_settled = pn_delivery_settled(d);
  core::batch_outcome how;
  switch (state) {
    case PN_ACCEPTED:
      how = core::batch_outcome::accepted;
      break;
    case PN_REJECTED:
      how = core::batch_outcome::rejected;
      break;
    case PN_RELEASED:
    case PN_MODIFIED:
      how = core::batch_outcome::released;
      break;
    default:
      if (!remote_settled) return;          // e.g. `received`: not an outcome yet
      how = core::batch_outcome::released;  // settled without an outcome: keep the records
      break;
  }
  const sent s = it->second;
  unsettled_.erase(it);
  std::uint64_t settle_id = 0;
  if (remote_settled) {
    pn_delivery_settle(d);  // rcv-settle-mode first: nothing to answer
  } else {
    settle_id = next_settle_id_++;
    settling_[settle_id] = d;
  }
  conn_.submit(
      [s, how](core::hub& h, core::time_point now) {
        return h.settle_batch(s.batch_id, s.lock_id, how, now);
      },
      [serial = serial(), settle_id](amqp_connection* c, bool committed, core::status st) {
        if (c == nullptr) return;
        if (auto* self = c->find<feedback_sender>(serial))
          self->on_settled(settle_id, committed, st);
      });
}

void feedback_sender::on_settled(std::uint64_t id, bool committed, const core::status& s) {
  if (!committed) conn_.log(log_level::warn, "feedback: settling a batch was not stored");
  if (!s.ok()) conn_.log(log_level::info, "feedback: settlement refused: " + s.err().message);
  const auto it = settling_.find(id);
  if (it == settling_.end()) return;
  pn_delivery_t* d = it->second;
  settling_.erase(it);
  if (!pn_delivery_settled(d)) {
    // spec §2.4 "Emulator": answer an unsettled disposition with a settled one.
    if (committed && s.ok()) {
      pn_delivery_update(d, PN_ACCEPTED);
    } else {
      set_condition(pn_disposition_condition(pn_delivery_local(d)),
                    committed ? amqp_error{std::string(condition::not_found),
                                           "The feedback batch's lock was lost.", 0}
                              : commit_failed());
      pn_delivery_update(d, PN_REJECTED);
    }
  }
  pn_delivery_settle(d);
}

void feedback_sender::on_closed() {
  closed_ = true;
  for (const auto& [d, s] : unsettled_) release_to_hub(conn_.executor(), s.batch_id, s.lock_id);
  unsettled_.clear();
  settling_.clear();
}

}  // namespace emu::amqp
