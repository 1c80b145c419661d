#include "emulator/amqp/device_c2d_sender.hpp"

#include <proton/delivery.h>
#include <proton/disposition.h>

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/message_codec.hpp"
#include "emulator/core/hub.hpp"

namespace emu::amqp {

namespace {

void end_session(executor::hub_executor& executor, std::string device, std::uint64_t epoch) {
  executor.post([device = std::move(device), epoch](core::hub& h, core::time_point now) {
    h.disconnect_device(device, epoch, now);  // what it still held goes back to the queue
    return executor::hub_executor::completion{};
  });
}

}  // namespace

void device_c2d_sender::on_open() {
  // The device's receiver settles first and waits for nothing from us (sdk-wire §4).
  conn_.submit(
      [device = device_id_, token = token_, window = conn_.settings().device_c2d_window,
       routes = &conn_.routes(),
       handle = conn_.handle()](core::hub& h, core::time_point now) -> core::result<std::uint64_t> {
        core::session_request r;
        r.device_id = device;
        r.token = token;
        r.clean_session = true;  // AMQP has no persistent session; the queue is kept
        r.inflight_window = window;
        auto grant = h.connect_device(r, now);
        if (!grant) return grant.error();
        // Routed before this round's deliveries go out (the events follow the commit).
        routes->device_sessions.set(device, grant->epoch, handle);
        if (auto s = h.subscribe_c2d(device, grant->epoch, 1, now); !s) return s.error();
        return grant->epoch;
      },
      [serial = serial(), device = device_id_, exec = &conn_.executor(), routes = &conn_.routes()](
          amqp_connection* c, bool committed, core::result<std::uint64_t> epoch) {
        auto* self = c != nullptr ? c->find<device_c2d_sender>(serial) : nullptr;
        if (self == nullptr || !committed) {
          if (epoch) {  // the link went away meanwhile, or the round was undone
            routes->device_sessions.remove(device, *epoch);
            if (committed) end_session(*exec, device, *epoch);
          }
          if (self != nullptr) self->close_link(commit_failed());
          return;
        }
        self->on_session(std::move(epoch));
      });
}

void device_c2d_sender::on_session(core::result<std::uint64_t> epoch) {
  if (!epoch) {
    close_link(to_amqp_error(epoch.error()));
    return;
  }
  epoch_ = *epoch;
  conn_.log(log_level::info, "device '" + device_id_ + "' receives C2D over AMQP (session " +
                                 std::to_string(epoch_) + ")");
  send_waiting();
}

void device_c2d_sender::deliver(core::c2d_delivery d) {
  if (closed_) return;  // the session's end gives it back
  waiting_.push_back(std::move(d));
  send_waiting();
}

void device_c2d_sender::send_waiting() {
  while (!closed_ && !waiting_.empty() && pn_link_credit(link_) > 0) {
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
  conn_.executor().post(
      [device = device_id_, epoch = epoch_, seq, lock_id, how](core::hub& h, core::time_point now) {
        // A lost lock (timed out, or the session ended) is ignored: the message was or will be
        // delivered again (at least once, spec §1.5).
        (void)h.settle(device, epoch, seq, lock_id, how, now);
        return executor::hub_executor::completion{};
      });
}

void device_c2d_sender::end(core::session_end why) {
  close_link(why == core::session_end::taken_over
                 ? amqp_error{std::string(condition::link_stolen),
                              "A newer connection of device '" + device_id_ + "' took over.", 0}
                 : unauthorized("Device '" + device_id_ + "' was changed in the registry."));
}

void device_c2d_sender::close_link(const amqp_error& e) {
  if (closed_) return;
  conn_.log(log_level::info,
            "device '" + device_id_ + "' C2D link closed: " + e.condition + ": " + e.description);
  set_condition(pn_link_condition(link_), e);
  pn_link_close(link_);
  on_closed();
}

void device_c2d_sender::on_closed() {
  if (closed_) return;
  closed_ = true;
  waiting_.clear();
  in_flight_.clear();
  if (epoch_ != 0) {
    conn_.routes().device_sessions.remove(device_id_, epoch_);
    end_session(conn_.executor(), device_id_, epoch_);
  }
}

}  // namespace emu::amqp
