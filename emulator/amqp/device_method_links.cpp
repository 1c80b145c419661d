#include "emulator/amqp/device_method_links.hpp"

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/method_message.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/iothub_topic.hpp"

namespace emu::amqp {

namespace {

/// A method answer's JSON is at most 128 KB (next-capabilities §3.1); room for the envelope.
constexpr std::size_t max_answer_bytes = 132 * 1024;
constexpr int answer_credit = 16;
/// Calls a device does not take (no credit) before its link is closed.
constexpr std::size_t max_waiting = 256;

void set_reachable(executor::hub_executor& executor, std::string device, std::uint64_t epoch,
                   bool on) {
  executor.post([device = std::move(device), epoch, on](core::hub& h, core::time_point now) {
    // A stale epoch: the session is gone, and with it the device's reachability.
    (void)h.set_iothub_topics(device, epoch, on ? core::iothub_topic::methods : 0, now);
    return executor::hub_executor::completion{};
  });
}

}  // namespace

// ---- method_request_sender ------------------------------------------------------------------

void method_request_sender::on_session_open() {
  set_reachable(conn_.executor(), device_id(), epoch(), true);
  conn_.log(log_level::info, "device '" + device_id() + "' takes direct methods over AMQP");
}

void method_request_sender::on_link_closed() {
  // Calls not sent yet time out for their callers (504101), as when a device vanishes.
  waiting_.clear();
  if (epoch() == 0) return;
  // Another method link of the same session keeps the device reachable.
  bool other = false;
  conn_.for_each_link<method_request_sender>([&](method_request_sender& s) {
    other = other ||
            (&s != this && !s.closed() && s.device_id() == device_id() && s.epoch() == epoch());
  });
  if (!other) set_reachable(conn_.executor(), device_id(), epoch(), false);
}

void method_request_sender::call(std::uint64_t call_id, const std::string& name,
                                 const std::string& payload) {
  if (closed()) return;
  if (waiting_.size() >= max_waiting) {
    end(amqp_error{std::string(condition::resource_limit_exceeded),
                   "The device does not take its method calls (no credit).", 0});
    return;
  }
  waiting_.push_back(encode_method_request(call_id, name, payload));
  send_waiting();
}

void method_request_sender::send_waiting() {
  while (!closed() && !waiting_.empty() && pn_link_credit(link_) > 0) {
    const std::vector<char> bytes = std::move(waiting_.front());
    waiting_.pop_front();
    const std::string tag = std::to_string(next_tag_++);
    pn_delivery_t* d = pn_delivery(link_, pn_dtag(tag.data(), tag.size()));
    pn_link_send(link_, bytes.data(), bytes.size());
    pn_link_advance(link_);
    // Sent settled: the call's outcome is the device's answer, not this delivery's.
    pn_delivery_settle(d);
  }
}

// ---- method_response_receiver ---------------------------------------------------------------

void method_response_receiver::top_up() {
  if (closed()) return;
  // Answers still at the hub count against the window: a device cannot queue work there
  // faster than the hub does it.
  const int outstanding = pn_link_credit(link_) + at_hub_;
  if (outstanding < answer_credit / 2) pn_link_flow(link_, answer_credit - outstanding);
}

void method_response_receiver::on_delivery(pn_delivery_t* d) {
  if (d != pn_link_current(link_) || closed()) return;
  switch (reader_.read(link_, d, max_answer_bytes)) {
    case delivery_reader::outcome::partial:
      return;
    case delivery_reader::outcome::aborted:
      top_up();
      return;
    case delivery_reader::outcome::too_large:
      reject_delivery(d, amqp_error{std::string(condition::message_size_exceeded),
                                    "A method response larger than 128 KB.", 0});
      top_up();
      return;
    case delivery_reader::outcome::whole:
      break;
  }
  const std::string bytes = reader_.take();
  auto answer = decode_method_response(bytes);
  if (!answer) {
    reject_delivery(d, answer.error());
    top_up();
    return;
  }
  accept_delivery(d);
  top_up();
  if (!answer->call_id) {
    conn_.log(log_level::info,
              "device '" + device_id() + "' answered a method call this hub did not make; dropped");
    return;
  }
  ++at_hub_;
  conn_.submit(
      [device = device_id(), epoch = epoch(), a = std::move(*answer)](core::hub& h,
                                                                      core::time_point) mutable {
        // A late answer (the call timed out) finds no call: dropped, as over MQTT.
        return h.answer_method(device, epoch, std::to_string(*a.call_id), a.status,
                               std::move(a.payload));
      },
      [serial = serial()](amqp_connection* c, bool, bool) {
        auto* self = c != nullptr ? c->find<method_response_receiver>(serial) : nullptr;
        if (self == nullptr) return;
        --self->at_hub_;
        self->top_up();
        c->pump();
      });
}

}  // namespace emu::amqp
