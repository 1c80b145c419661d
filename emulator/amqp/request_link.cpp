#include "emulator/amqp/request_link.hpp"

#include <cstddef>
#include <cstdint>

#include "emulator/amqp/connection.hpp"

namespace emu::amqp {

namespace {

/// Requests are small (a token, or a READ with a few properties); anything bigger is not one.
constexpr std::size_t max_request_bytes = 64 * 1024;
constexpr std::uint32_t request_credit = 16;

}  // namespace

void request_link::on_open() {
  top_up();
}

void request_link::top_up() {
  const int credit = pn_link_credit(link_);
  if (credit < static_cast<int>(request_credit / 2))
    pn_link_flow(link_, static_cast<int>(request_credit) - credit);
}

void request_link::on_delivery(pn_delivery_t* d) {
  if (d != pn_link_current(link_) || !pn_delivery_readable(d)) return;
  char chunk[4096];
  bool too_large = false;
  while (true) {
    const ssize_t n = pn_link_recv(link_, chunk, sizeof chunk);
    if (n <= 0) break;
    if (buffer_.size() + static_cast<std::size_t>(n) > max_request_bytes) {
      too_large = true;
    } else {
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  if (too_large) {
    buffer_.clear();
    reject_delivery(d, amqp_error{std::string(condition::message_size_exceeded),
                                  "A request larger than 64 KB.", 0});
    pn_link_advance(link_);
    top_up();
    return;
  }
  if (pn_delivery_partial(d)) return;
  pn_link_advance(link_);
  if (pn_delivery_aborted(d)) {
    buffer_.clear();
    pn_delivery_settle(d);
    top_up();
    return;
  }
  std::string bytes = std::move(buffer_);
  buffer_.clear();
  accept_delivery(d);
  top_up();
  handle_request(bytes);
}

}  // namespace emu::amqp
