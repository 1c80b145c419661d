#pragma once
/// Reads whole incoming deliveries of a receiver link: a delivery may come in many transfer
/// frames; its bytes are gathered up to a limit. A larger one is drained without being
/// kept, and reported once it is complete, so the link stays usable.
///
/// Not thread-safe: the connection's strand only.
#include <proton/delivery.h>
#include <proton/link.h>

#include <cstddef>
#include <string>
#include <utility>

namespace emu::amqp {

class delivery_reader {
 public:
  enum class outcome {
    partial,    ///< more frames to come
    whole,      ///< complete: take() has its bytes
    too_large,  ///< complete, but larger than max_bytes
    aborted,    ///< the sender aborted it (settled here)
  };
  /// Reads what has arrived of `d`, which must be the link's current delivery, keeping at
  /// most `max_bytes` of it. Unless the
  /// outcome is `partial`, the link is advanced past it; settling it is the caller's (except
  /// an aborted one).
  outcome read(pn_link_t* link, pn_delivery_t* d, std::size_t max_bytes);
  /// The bytes of the delivery just read whole.
  std::string take() { return std::exchange(buffer_, {}); }

 private:
  std::string buffer_;
  bool too_large_ = false;
};

}  // namespace emu::amqp
