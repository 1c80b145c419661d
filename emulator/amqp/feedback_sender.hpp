#pragma once
/// Our sender for the service's feedback receiver, source `/messages/servicebound/feedback`
/// (spec §2.2–§2.4, sdk-wire §2.6).
///
/// The link is a feedback receiver of the hub (core/feedback_queue.hpp): on attach it asks the
/// hub for a receiver id, and whenever the client's credit changes it tells the hub how many
/// batches the link may have received in all (the batches sent so far plus the link credit).
/// The hub locks batches for it while it has credit and pushes them (event::feedback_delivery,
/// routed here by amqp_front): no polling, and a settlement frees the credit for the next
/// batch in the same hub round. Each batch goes out with a 16-byte delivery tag, content-type
/// `application/vnd.microsoft.iothub.feedback.json`, user-id = hub name, annotation
/// `iothub-enqueuedtime`, one data section with the JSON array (message_codec.hpp).
///
/// Outcomes: accepted → settle_batch(accepted); released or modified → released; rejected →
/// rejected; settled without an outcome → released. Proton's C engine turns a disposition over
/// `first..last` into one update per delivery, so rhea's merged ranges (sdk-wire §4) reach
/// on_delivery for every delivery in the range. For receivers with rcv-settle-mode=second the
/// client's unsettled disposition is answered, after the hub settled the batch, with a settled
/// `accepted` (or `rejected{amqp:not-found}` for a lost lock), spec §2.4 "Emulator".
/// When the link or the connection goes away, the hub's receiver is detached, which gives the
/// batches it still holds back to the queue.
///
/// Not thread-safe: the connection's strand only.
#include <cstdint>
#include <map>
#include <optional>

#include "emulator/amqp/link_handler.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/feedback.hpp"

namespace emu::amqp {

class feedback_sender final : public link_handler {
 public:
  using link_handler::link_handler;
  void on_open() override;
  void on_flow() override { report_credit(); }
  void on_delivery(pn_delivery_t* d) override;
  void on_closed() override;

  /// The hub's receiver id (0 until the hub answered the attach).
  std::uint64_t receiver() const { return receiver_; }
  /// The hub locked `batch` for this link: send it.
  void deliver(core::feedback_batch batch);
  /// The hub answered the attach.
  void on_attached(std::uint64_t receiver);
  /// The hub answered a credit report made with `drain`: `delivered` batches are on their way.
  void on_drain_answer(std::uint64_t delivered);
  /// settle_batch came back for the delivery registered under `id`.
  void on_settled(std::uint64_t id, bool committed, const core::status& s);

 private:
  struct sent {
    std::uint64_t batch_id;
    std::uint64_t lock_id;
  };

  void report_credit();
  void check_drained();

  std::uint64_t receiver_ = 0;
  bool closed_ = false;
  std::uint64_t sent_count_ = 0;           // batches sent on this link in all
  std::optional<std::uint64_t> reported_;  // the last limit told to the hub
  /// Drain requested: deliveries still to come from the hub before the link is drained.
  std::optional<std::uint64_t> drain_left_;
  std::map<pn_delivery_t*, sent> unsettled_;          // sent, no outcome yet
  std::map<std::uint64_t, pn_delivery_t*> settling_;  // outcome at the executor, answer due
  std::uint64_t next_settle_id_ = 1;
};

}  // namespace emu::amqp
