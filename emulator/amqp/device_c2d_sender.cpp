#include "emulator/amqp/device_c2d_sender.hpp"

#include <proton/delivery.h>
#include <proton/disposition.h>

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/message_codec.hpp"
#include "emulator/core/hub.hpp"

namespace emu::amqp {

void device_c2d_sender::on_session_open() {
  // The device's receiver settles first and waits for nothing from us (sdk-wire §4).
  conn_.executor().post(
      [device = device_id(), epoch = epoch()](core::hub& h, core::time_point now) {
        // A stale epoch: the session's end closes this link.
        (void)h.subscribe_c2d(device, epoch, 1, now);
        return executor::hub_executor::completion{};
      });
  conn_.log(log_level::info, "device '" + device_id() + "' receives C2D over AMQP (session " +
                                 std::to_string(epoch()) + ")");
  send_waiting();
}

void device_c2d_sender::deliver(core::c2d_delivery d) {
  if (closed()) return;  // the session's end gives it back
  waiting_.push_back(std::move(d));
  send_waiting();
}

void device_c2d_sender::send_waiting() {
  while (!closed() && !waiting_.empty() && pn_link_credit(link_) > 0) {
    core::c2d_delivery d = std::move(waiting_.front());
    waiting_.pop_front();
    const auto bytes = encode_c2d_for_device(d.message);
    const std::string tag = feedback_delivery_tag(d.message.seq, d.lock_id);
    pn_delivery_t* delivery = pn_delivery(link_, pn_dtag(tag.data(), tag.size()));
    pn_link_send(link_, bytes.data(), bytes.size());
    pn_link_advance(link_);
    in_flight_[delivery] = lock{d.message.seq, d.lock_id};
  }
}

void device_c2d_sender::on_delivery(pn_delivery_t* d) {
  const auto it = in_flight_.find(d);
  if (it == in_flight_.end()) return;
  core::settlement how = core::settlement::abandon;
  switch (pn_delivery_remote_state(d)) {
    case PN_ACCEPTED:
      how = core::settlement::complete;
      break;
    case PN_REJECTED:
      how = core::settlement::reject;
      break;
    case PN_RELEASED:
    case PN_MODIFIED:
      how = core::settlement::abandon;
      break;
    default:
      if (!pn_delivery_settled(d)) return;  // no outcome yet
      break;                                // settled without an outcome: given back
  }
  const lock l = it->second;
  in_flight_.erase(it);
  pn_delivery_settle(d);
  settle_on_hub(l.seq, l.lock_id, how);
}

void device_c2d_sender::settle_on_hub(std::uint64_t seq, std::uint64_t lock_id,
                                      core::settlement how) {
  conn_.executor().post([device = device_id(), epoch = epoch(), seq, lock_id, how](
                            core::hub& h, core::time_point now) {
    // A lost lock (timed out, or the session ended) is ignored: the message was or will be
    // delivered again (at least once, spec §1.5).
    (void)h.settle(device, epoch, seq, lock_id, how, now);
    return executor::hub_executor::completion{};
  });
}

void device_c2d_sender::on_link_closed() {
  waiting_.clear();
  in_flight_.clear();
  if (epoch() == 0) return;
  // A second C2D link of the same session (a client that attached two) keeps receiving; what
  // this one held comes back after its lock timeout.
  bool other = false;
  conn_.for_each_link<device_c2d_sender>([&](device_c2d_sender& s) {
    other = other ||
            (&s != this && !s.closed() && s.device_id() == device_id() && s.epoch() == epoch());
  });
  if (other) return;
  conn_.log(
      log_level::debug,
      "device '" + device_id() + "' C2D link detached; its session stays while its other links do");
  // The session may stay for the device's twin or method links: what this link held goes
  // back to the queue now (else its locks would wait for their timeout), and no more comes.
  conn_.executor().post(
      [device = device_id(), epoch = epoch()](core::hub& h, core::time_point now) {
        (void)h.stop_c2d(device, epoch, now);
        return executor::hub_executor::completion{};
      });
}

}  // namespace emu::amqp
