#pragma once
/// Our sender for a device's C2D receiver link, source `/devices/{id}/messages/devicebound`
/// (next-capabilities §4, sdk-wire §4): the device's session on the hub while the link is
/// open, as its MQTT connection would be.
///
/// On attach the link joins the device's hub session (device_link.hpp: an older session of the
/// device, on any transport, ends: one connection per device) and subscribes it to C2D; the
/// hub then locks up to `device_c2d_window` messages for the session
/// and pushes them (event::c2d_delivery, routed here by device and epoch). Each is sent
/// unsettled, tagged with its sequence number and lock; the device's disposition settles it on
/// the hub: `accepted` = complete, `rejected` = reject (dead-lettered, Rejected feedback),
/// `released` / `modified` = abandon (back in the queue, one delivery counted). A disposition
/// for a range of deliveries applies to each (rhea merges consecutive ones, sdk-wire §4).
/// Messages wait here while the link has no credit. When the link closes, the hub takes back
/// what the session still held (hub::stop_c2d; redelivered later, counted); when the hub ends
/// the session (a newer connection of the device, the device changed), the link closes with
/// amqp:link:stolen or amqp:unauthorized-access.
///
/// Not thread-safe: the connection's strand only.
#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "emulator/amqp/device_link.hpp"
#include "emulator/core/c2d_message.hpp"
#include "emulator/core/c2d_queue.hpp"
#include "emulator/core/hub_event.hpp"

namespace emu::amqp {

class device_c2d_sender final : public device_link {
 public:
  using device_link::device_link;
  void on_flow() override { send_waiting(); }
  void on_delivery(pn_delivery_t* d) override;

  /// A message the hub locked for this session.
  void deliver(core::c2d_delivery d);

 private:
  void on_session_open() override;
  void on_link_closed() override;
  const char* what() const override { return "C2D"; }
  void send_waiting();
  void settle_on_hub(std::uint64_t seq, std::uint64_t lock_id, core::settlement how);

  std::deque<core::c2d_delivery> waiting_;  // locked for us, no credit yet
  struct lock {
    std::uint64_t seq;
    std::uint64_t lock_id;
  };
  std::map<pn_delivery_t*, lock> in_flight_;  // sent, not yet settled by the device
};

}  // namespace emu::amqp
