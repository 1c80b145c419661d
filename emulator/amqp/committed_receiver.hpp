#pragma once
/// Our receiver side of a client's sender link whose messages the hub stores: the service's
/// C2D sends (c2d_receiver) and a device's telemetry (telemetry_receiver).
///
/// Each complete delivery (possibly many transfer frames, at most `max_delivery_bytes`) goes
/// to the subclass's `submit`, which decodes it and submits a hub call; the delivery is settled
/// `accepted` only when that call's round committed (ARCHITECTURE "Nothing is acknowledged
/// before its transaction commits"), `rejected` with the error otherwise (a failed commit:
/// amqp:internal-error). Credit is topped up to `c2d_credit_window` as deliveries are settled,
/// so a sender keeps flowing while unsettled deliveries stay bounded by the window.
///
/// Not thread-safe: the connection's strand only.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "emulator/amqp/delivery_reader.hpp"
#include "emulator/amqp/link_handler.hpp"

namespace emu::amqp {

class committed_receiver : public link_handler {
 public:
  using link_handler::link_handler;
  void on_open() override;
  void on_delivery(pn_delivery_t* d) override;
  void on_closed() override { pending_.clear(); }

  /// The hub call of delivery `id` finished: accepted when `error` is null.
  void finish(std::uint64_t id, const amqp_error* error);

 protected:
  /// Decodes `bytes` (a message of `format`, from the delivery's first transfer frame) and
  /// submits the hub call that stores it, which must end in finish(id, …) on this
  /// connection's strand; or returns the error to reject the delivery with now.
  virtual std::optional<amqp_error> submit(std::string bytes, std::uint32_t format,
                                           std::uint64_t id) = 0;

 private:
  void top_up();
  void settle(pn_delivery_t* d, const amqp_error* error);

  delivery_reader reader_;                           // the current (possibly multi-frame) delivery
  bool reading_ = false;                             // its first frame was read
  std::uint32_t format_ = 0;                         // its message-format (transfer_frame.hpp)
  std::map<std::uint64_t, pn_delivery_t*> pending_;  // at the executor, not yet settled
  std::uint64_t next_id_ = 1;
};

}  // namespace emu::amqp
