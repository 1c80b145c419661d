#include "emulator/amqp/feedback_sender.hpp"

#include <proton/disposition.h>

#include <algorithm>

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/message_codec.hpp"

namespace emu::amqp {

namespace {

void detach_from_hub(executor::hub_executor& executor, std::uint64_t receiver) {
  executor.post([receiver](core::hub& h, core::time_point now) {
    h.detach_feedback_receiver(receiver, now);  // its locked batches go back to the queue
    return executor::hub_executor::completion{};
  });
}

}  // namespace

void feedback_sender::on_open() {
  // Echo the receiver's settle mode: with `second` the client waits for our settlement.
  pn_link_set_rcv_settle_mode(link_, pn_link_remote_rcv_settle_mode(link_));
  conn_.submit([](core::hub& h, core::time_point) { return h.attach_feedback_receiver(); },
               [serial = serial(), exec = &conn_.executor()](amqp_connection* c, bool committed,
                                                             std::uint64_t receiver) {
                 (void)committed;  // a receiver is volatile: nothing of it is stored
                 feedback_sender* self = c != nullptr ? c->find<feedback_sender>(serial) : nullptr;
                 if (self == nullptr) {
                   detach_from_hub(*exec, receiver);  // the link went away meanwhile
                   return;
                 }
                 self->on_attached(receiver);
               });
}

void feedback_sender::on_attached(std::uint64_t receiver) {
  receiver_ = receiver;
  conn_.routes().feedback.set(receiver, conn_.handle());
  report_credit();
}

void feedback_sender::report_credit() {
  if (closed_ || receiver_ == 0) return;
  const auto credit = static_cast<std::uint64_t>(std::max(pn_link_credit(link_), 0));
  const std::uint64_t limit = sent_count_ + credit;
  const bool drain = pn_link_get_drain(link_);
  if (!drain && reported_ == limit) return;
  reported_ = limit;
  conn_.submit(
      [receiver = receiver_, limit, drain](core::hub& h, core::time_point now) {
        return h.set_feedback_credit(receiver, limit, drain, now);
      },
      [serial = serial(), drain](amqp_connection* c, bool committed, std::uint64_t delivered) {
        feedback_sender* self = c != nullptr ? c->find<feedback_sender>(serial) : nullptr;
        if (self == nullptr) return;
        if (!committed) {
          // The round was undone, the hub's view of our credit with it: tell it again.
          self->conn_.log(log_level::warn, "feedback: the credit report was not stored");
          self->reported_.reset();
          self->report_credit();
          return;
        }
        if (drain) self->on_drain_answer(delivered);
      });
}

void feedback_sender::deliver(core::feedback_batch batch) {
  if (closed_) return;  // the receiver's detach gives it back
  const std::vector<char> bytes = encode_feedback(batch, conn_.settings().hub_name);
  const std::string tag = feedback_delivery_tag(batch.id, batch.lock_id);
  pn_delivery_t* d = pn_delivery(link_, pn_dtag(tag.data(), tag.size()));
  pn_link_send(link_, bytes.data(), bytes.size());
  pn_link_advance(link_);
  ++sent_count_;
  unsettled_[d] = sent{batch.id, batch.lock_id};
  conn_.log(log_level::debug, "feedback: sent batch " + std::to_string(batch.id) + " with " +
                                  std::to_string(batch.records.size()) + " records");
  if (drain_left_ && *drain_left_ > 0) --*drain_left_;
  check_drained();
}

void feedback_sender::on_drain_answer(std::uint64_t delivered) {
  // The batches of that hub round arrive after this answer, in order.
  drain_left_ = delivered;
  check_drained();
}

void feedback_sender::check_drained() {
  if (!drain_left_ || *drain_left_ > 0) return;
  drain_left_.reset();
  if (pn_link_get_drain(link_)) pn_link_drained(link_);
  reported_ = sent_count_;  // the drain used the credit up
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
  if (!s.ok()) conn_.log(log_level::info, "feedback: settlement refused: " + s.error().message);
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
  if (receiver_ != 0) {
    conn_.routes().feedback.remove(receiver_);
    detach_from_hub(conn_.executor(), receiver_);
  }
  unsettled_.clear();
  settling_.clear();
}

}  // namespace emu::amqp
