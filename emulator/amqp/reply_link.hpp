#pragma once
/// Our sender for a client's reply receiver on a request/response node (`$cbs`,
/// `$management`): carries replies as credit allows. Replies are sent unsettled and settled
/// when the client settles them (Node and C# auto-accept; a pre-settled reply would confuse
/// clients that accept explicitly, e.g. Proton's BlockingReceiver). Which reply link of a node
/// gets a reply is the connection's choice (amqp_connection::send_reply).
///
/// Not thread-safe: the connection's strand only.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "emulator/amqp/address.hpp"
#include "emulator/amqp/link_handler.hpp"

namespace emu::amqp {

class reply_link final : public link_handler {
 public:
  reply_link(amqp_connection& conn, pn_link_t* link, std::uint64_t serial, node_kind node,
             std::size_t max_queued)
      : link_handler(conn, link, serial), node_(node), max_queued_(max_queued) {}
  void on_open() override { send_queued(); }
  void on_flow() override { send_queued(); }
  void on_delivery(pn_delivery_t* d) override;
  /// Queues a reply (dropped with a log line if the queue is full).
  void send(std::vector<char> bytes);
  /// The remote target address (C# and the Event Hubs clients set it to the reply-to).
  std::string remote_target() const;
  node_kind node() const { return node_; }

 private:
  void send_queued();

  node_kind node_;
  std::size_t max_queued_;
  std::deque<std::vector<char>> queue_;
  std::uint64_t next_tag_ = 1;
};

}  // namespace emu::amqp
