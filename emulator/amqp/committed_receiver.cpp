#include "emulator/amqp/committed_receiver.hpp"

#include "emulator/amqp/connection.hpp"
#include "emulator/core/errors.hpp"

namespace emu::amqp {

void committed_receiver::on_open() {
  pn_link_set_rcv_settle_mode(link_, PN_RCV_FIRST);
  top_up();
}

void committed_receiver::top_up() {
  const auto window = static_cast<int>(conn_.settings().c2d_credit_window);
  const int outstanding = pn_link_credit(link_) + static_cast<int>(pending_.size());
  if (outstanding <= window / 2) pn_link_flow(link_, window - outstanding);
}

void committed_receiver::settle(pn_delivery_t* d, const amqp_error* error) {
  if (error == nullptr) {
    accept_delivery(d);
  } else {
    reject_delivery(d, *error);
  }
  top_up();
}

void committed_receiver::on_delivery(pn_delivery_t* d) {
  // Events for older deliveries are settlement updates from the sender: nothing to do, we
  // settle those in finish().
  if (d != pn_link_current(link_)) return;
  if (!reading_) {  // the delivery's first frame carries its message-format
    reading_ = true;
    format_ = conn_.transfer_format();
  }
  const auto read = reader_.read(link_, d, conn_.settings().max_delivery_bytes);
  if (read == delivery_reader::outcome::partial) return;
  reading_ = false;
  if (read == delivery_reader::outcome::aborted) {
    top_up();
    return;
  }
  if (read == delivery_reader::outcome::too_large) {
    const amqp_error e = to_amqp_error(core::error{
        core::hub_error::message_too_large,
        "The message exceeds " + std::to_string(conn_.settings().max_delivery_bytes) + " bytes."});
    settle(d, &e);
    return;
  }
  const std::uint64_t id = next_id_++;
  pending_[id] = d;
  if (auto refused = submit(reader_.take(), format_, id)) {
    pending_.erase(id);
    settle(d, &*refused);
  }
}

void committed_receiver::finish(std::uint64_t id, const amqp_error* error) {
  const auto it = pending_.find(id);
  if (it == pending_.end()) return;
  pn_delivery_t* d = it->second;
  pending_.erase(it);
  settle(d, error);
}

}  // namespace emu::amqp
