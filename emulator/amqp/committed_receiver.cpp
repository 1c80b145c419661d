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
  char chunk[16 * 1024];
  while (true) {
    const ssize_t n = pn_link_recv(link_, chunk, sizeof chunk);
    if (n <= 0) break;
    if (too_large_ ||
        buffer_.size() + static_cast<std::size_t>(n) > conn_.settings().max_delivery_bytes) {
      too_large_ = true;  // keep draining, but stop buffering
      buffer_.clear();
    } else {
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  if (pn_delivery_partial(d) && !pn_delivery_aborted(d)) return;
  pn_link_advance(link_);
  std::string bytes = std::move(buffer_);
  buffer_.clear();
  const bool too_large = too_large_;
  too_large_ = false;

  if (pn_delivery_aborted(d)) {
    pn_delivery_settle(d);
    top_up();
    return;
  }
  if (too_large) {
    const amqp_error e = to_amqp_error(core::error{
        core::hub_error::message_too_large,
        "The message exceeds " + std::to_string(conn_.settings().max_delivery_bytes) + " bytes."});
    settle(d, &e);
    return;
  }
  const std::uint64_t id = next_id_++;
  pending_[id] = d;
  if (auto refused = submit(std::move(bytes), id)) {
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
