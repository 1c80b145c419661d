#pragma once
/// Our receiver for the service's C2D sender link, target `/messages/devicebound`
/// (spec §4.3, sdk-wire §2.4): each delivery is decoded and validated (message_codec.hpp), then
/// enqueued by the hub executor, and accepted once that round committed (committed_receiver);
/// hub refusals are mapped by errors.hpp.
///
/// Not thread-safe: the connection's strand only.
#include "emulator/amqp/committed_receiver.hpp"

namespace emu::amqp {

class c2d_receiver final : public committed_receiver {
 public:
  using committed_receiver::committed_receiver;

 protected:
  std::optional<amqp_error> submit(std::string bytes, std::uint32_t format,
                                   std::uint64_t id) override;
};

}  // namespace emu::amqp
