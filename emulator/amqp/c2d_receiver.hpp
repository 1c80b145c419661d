#pragma once
/// Our receiver for the service's C2D sender link, target `/messages/devicebound`
/// (spec §4.3, sdk-wire §2.4).
///
/// Each complete delivery is decoded and validated (message_codec.hpp), then enqueued by the
/// hub executor. The delivery is settled `accepted` only in the completion with
/// committed == true (ARCHITECTURE "Nothing is acknowledged before its transaction commits");
/// a failed commit is `rejected{amqp:internal-error}`, hub refusals are mapped by errors.hpp.
/// Credit is topped up to `c2d_credit_window` as deliveries are settled, so a sender keeps
/// flowing while unsettled deliveries stay bounded by the window.
///
/// Not thread-safe: the connection's strand only.
#include <cstdint>
#include <map>
#include <string>

#include "emulator/amqp/link_handler.hpp"
#include "emulator/core/errors.hpp"

namespace emu::amqp {

class c2d_receiver final : public link_handler {
 public:
  using link_handler::link_handler;
  void on_open() override;
  void on_delivery(pn_delivery_t* d) override;
  void on_closed() override { pending_.clear(); }

  /// The enqueue of delivery `id` finished on the executor.
  void finish(std::uint64_t id, bool committed, const core::result<std::uint64_t>& r);

 private:
  void top_up();
  void settle(pn_delivery_t* d, const amqp_error* error);

  std::string buffer_;      // the current (possibly multi-frame) delivery
  bool too_large_ = false;  // the current delivery exceeded max_delivery_bytes
  std::map<std::uint64_t, pn_delivery_t*> pending_;  // at the executor, not yet settled
  std::uint64_t next_id_ = 1;
};

}  // namespace emu::amqp
