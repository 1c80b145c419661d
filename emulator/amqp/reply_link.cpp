#include "emulator/amqp/reply_link.hpp"

#include <proton/terminus.h>

#include "emulator/amqp/connection.hpp"

namespace emu::amqp {

void reply_link::on_delivery(pn_delivery_t* d) {
  // spec §4.2: clients accept (settle) each CBS response; that ends the delivery.
  if (pn_delivery_settled(d) || pn_delivery_remote_state(d) != 0) pn_delivery_settle(d);
}

std::string reply_link::remote_target() const {
  const char* address = pn_terminus_get_address(pn_link_remote_target(link_));
  return address != nullptr ? address : "";
}

void reply_link::send(std::vector<char> bytes) {
  if (queue_.size() >= max_queued_) {
    conn_.log(log_level::warn, "reply dropped: the client's reply receiver gives no credit");
    return;
  }
  queue_.push_back(std::move(bytes));
  send_queued();
}

void reply_link::send_queued() {
  while (!queue_.empty() && pn_link_credit(link_) > 0) {
    const std::string tag = std::to_string(next_tag_++);
    pn_delivery(link_, pn_dtag(tag.data(), tag.size()));
    const auto& bytes = queue_.front();
    pn_link_send(link_, bytes.data(), bytes.size());
    pn_link_advance(link_);  // settled in on_delivery, when the client has settled it
    queue_.pop_front();
  }
}

}  // namespace emu::amqp
