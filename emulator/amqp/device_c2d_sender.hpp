#pragma once
/// Our sender for a device's C2D receiver link, source `/devices/{id}/messages/devicebound`
/// (next-capabilities §4, sdk-wire §4): the device's session on the hub while the link is
/// open, as its MQTT connection would be.
///
/// On attach the hub opens a session for the device with the token the connection holds for
/// it (an older session of the device, on any transport, ends: one connection per device) and
/// subscribes it to C2D; the hub then locks up to `device_c2d_window` messages for the session
/// and pushes them (event::c2d_delivery, routed here by device and epoch). Each is sent
/// unsettled, tagged with its sequence number and lock; the device's disposition settles it on
/// the hub: `accepted` = complete, `rejected` = reject (dead-lettered, Rejected feedback),
/// `released` / `modified` = abandon (back in the queue, one delivery counted). A disposition
/// for a range of deliveries applies to each (rhea merges consecutive ones, sdk-wire §4).
/// Messages wait here while the link has no credit. When the link closes, the session ends and
/// the hub takes back what it still held (redelivered later); when the hub ends the session (a
/// newer connection of the device, the device changed), the link closes with
/// amqp:link:stolen or amqp:unauthorized-access.
///
/// Not thread-safe: the connection's strand only.
#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "emulator/amqp/link_handler.hpp"
#include "emulator/core/c2d_message.hpp"
#include "emulator/core/c2d_queue.hpp"
#include "emulator/core/hub_event.hpp"

namespace emu::amqp {

class device_c2d_sender final : public link_handler {
 public:
  device_c2d_sender(amqp_connection& conn, pn_link_t* link, std::uint64_t serial,
                    std::string device_id, std::string token)
      : link_handler(conn, link, serial),
        device_id_(std::move(device_id)),
        token_(std::move(token)) {}
  void on_open() override;
  void on_flow() override { send_waiting(); }
  void on_delivery(pn_delivery_t* d) override;
  void on_closed() override;

  const std::string& device_id() const { return device_id_; }
  /// The hub session's epoch (0 until the hub opened it).
  std::uint64_t epoch() const { return epoch_; }
  /// A message the hub locked for this session.
  void deliver(core::c2d_delivery d);
  /// The hub ended the session: close the link.
  void end(core::session_end why);
  /// Close the link with `why` (the device's token expired).
  void end(const amqp_error& why) { close_link(why); }

 private:
  void on_session(core::result<std::uint64_t> epoch);
  void send_waiting();
  void settle_on_hub(std::uint64_t seq, std::uint64_t lock_id, core::settlement how);
  void close_link(const amqp_error& e);

  std::string device_id_;
  std::string token_;
  std::uint64_t epoch_ = 0;
  bool closed_ = false;
  std::deque<core::c2d_delivery> waiting_;  // locked for us, no credit yet
  struct lock {
    std::uint64_t seq;
    std::uint64_t lock_id;
  };
  std::map<pn_delivery_t*, lock> in_flight_;  // sent, not yet settled by the device
};

}  // namespace emu::amqp
