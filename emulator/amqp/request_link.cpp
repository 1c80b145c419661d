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
  switch (reader_.read(link_, d, max_request_bytes)) {
    case delivery_reader::outcome::partial:
      return;
    case delivery_reader::outcome::aborted:
      top_up();
      return;
    case delivery_reader::outcome::too_large:
      reject_delivery(d, amqp_error{std::string(condition::message_size_exceeded),
                                    "A request larger than 64 KB.", 0});
      top_up();
      return;
    case delivery_reader::outcome::whole:
      break;
  }
  std::string bytes = reader_.take();
  accept_delivery(d);
  top_up();
  handle_request(bytes);
}

}  // namespace emu::amqp
