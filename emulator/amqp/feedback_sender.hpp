#pragma once
/// Our sender for the service's feedback receiver, source `/messages/servicebound/feedback`
/// (spec §2.2–§2.4, sdk-wire §2.6).
///
/// While the link has credit it asks the hub executor for the next feedback batch
/// (lock_next_batch) and sends it: 16-byte delivery tag, content-type
/// `application/vnd.microsoft.iothub.feedback.json`, user-id = hub name, annotation
/// `iothub-enqueuedtime`, one data section with the JSON array (message_codec.hpp). It asks
/// again when the hub reports `feedback_available` (event-driven, no polling).
///
/// Outcomes: accepted → settle_batch(accepted); released or modified → released; rejected →
/// rejected; settled without an outcome → released. Proton's C engine turns a disposition over
/// `first..last` into one update per delivery, so rhea's merged ranges (sdk-wire §4) reach
/// on_delivery for every delivery in the range. For receivers with rcv-settle-mode=second the
/// client's unsettled disposition is answered, after the hub settled the batch, with a settled
/// `accepted` (or `rejected{amqp:not-found}` for a lost lock), spec §2.4 "Emulator".
/// When the link or the connection goes away, batches that are still locked by it are released
/// to the hub (release_batch), also those whose lock comes back after the link closed.
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
  void on_flow() override { pull(); }
  void on_delivery(pn_delivery_t* d) override;
  void on_closed() override;

  /// The hub may have a batch for us.
  void feedback_available() { pull(); }
  /// lock_next_batch came back.
  void on_locked(bool committed, std::optional<core::feedback_batch> batch);
  /// settle_batch came back for the delivery registered under `id`.
  void on_settled(std::uint64_t id, bool committed, const core::status& s);

 private:
  struct sent {
    std::uint64_t batch_id;
    std::uint64_t lock_id;
  };

  void pull();
  void send(const core::feedback_batch& batch);

  bool lock_in_flight_ = false;
  bool closed_ = false;
  std::map<pn_delivery_t*, sent> unsettled_;          // sent, no outcome yet
  std::map<std::uint64_t, pn_delivery_t*> settling_;  // outcome at the executor, answer due
  std::uint64_t next_settle_id_ = 1;
};

}  // namespace emu::amqp
