#pragma once
/// Our receiver for a client's request sender on a request/response node (`$cbs`,
/// `$management`): reads each request message whole (at most 64 KB), accepts it, and hands
/// its bytes to the node. Replies go back through the connection on a reply_link of the same
/// node (reply_link.hpp).
///
/// Not thread-safe: the connection's strand only.
#include <string>
#include <string_view>

#include "emulator/amqp/delivery_reader.hpp"
#include "emulator/amqp/link_handler.hpp"

namespace emu::amqp {

class request_link : public link_handler {
 public:
  using link_handler::link_handler;
  void on_open() override;
  void on_delivery(pn_delivery_t* d) override;

 protected:
  /// One whole request, already accepted.
  virtual void handle_request(std::string_view bytes) = 0;

 private:
  void top_up();
  delivery_reader reader_;
};

}  // namespace emu::amqp
