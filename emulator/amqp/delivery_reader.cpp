#include "emulator/amqp/delivery_reader.hpp"

namespace emu::amqp {

delivery_reader::outcome delivery_reader::read(pn_link_t* link, pn_delivery_t* d,
                                               std::size_t max_bytes) {
  char chunk[16 * 1024];
  while (true) {
    const ssize_t n = pn_link_recv(link, chunk, sizeof chunk);
    if (n <= 0) break;
    if (too_large_ || buffer_.size() + static_cast<std::size_t>(n) > max_bytes) {
      too_large_ = true;  // keep draining, but stop buffering
      buffer_.clear();
    } else {
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  if (pn_delivery_partial(d) && !pn_delivery_aborted(d)) return outcome::partial;
  pn_link_advance(link);
  const bool too_large = std::exchange(too_large_, false);
  if (pn_delivery_aborted(d)) {
    buffer_.clear();
    pn_delivery_settle(d);
    return outcome::aborted;
  }
  if (too_large) return outcome::too_large;
  return outcome::whole;
}

}  // namespace emu::amqp
