#include "emulator/amqp/device_twin_links.hpp"

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/twin_message.hpp"
#include "emulator/core/device_twin.hpp"
#include "emulator/core/hub.hpp"

namespace emu::amqp {

namespace {

/// Twin requests are small: a reported patch is at most 32 KB of JSON (next-capabilities
/// §2.3); room for the envelope.
constexpr std::size_t max_twin_request_bytes = 64 * 1024;
constexpr int twin_request_credit = 16;
/// Answers and notifications a device does not take (no credit) before its link is closed.
constexpr std::size_t max_waiting = 256;

}  // namespace

// ---- twin_sender ----------------------------------------------------------------------------

void twin_sender::send(std::vector<char> bytes) {
  if (closed()) return;
  if (waiting_.size() >= max_waiting) {
    end(amqp_error{std::string(condition::resource_limit_exceeded),
                   "The device does not take its twin responses (no credit).", 0});
    return;
  }
  waiting_.push_back(std::move(bytes));
  send_waiting();
}

void twin_sender::send_waiting() {
  if (epoch() == 0) return;  // the answers of a session wait for it
  while (!closed() && !waiting_.empty() && pn_link_credit(link_) > 0) {
    const std::vector<char> bytes = std::move(waiting_.front());
    waiting_.pop_front();
    const std::string tag = std::to_string(next_tag_++);
    pn_delivery_t* d = pn_delivery(link_, pn_dtag(tag.data(), tag.size()));
    pn_link_send(link_, bytes.data(), bytes.size());
    pn_link_advance(link_);
    pn_delivery_settle(d);  // sent settled: nothing to wait for (next-capabilities §2.5)
  }
}

// ---- twin_request_receiver ------------------------------------------------------------------

void twin_request_receiver::top_up() {
  if (closed()) return;
  // Requests still at the hub count against the window: a device cannot queue work there
  // faster than the hub does it.
  const int outstanding = pn_link_credit(link_) + at_hub_;
  if (outstanding < twin_request_credit / 2) pn_link_flow(link_, twin_request_credit - outstanding);
}

void twin_request_receiver::on_delivery(pn_delivery_t* d) {
  if (d != pn_link_current(link_) || closed()) return;
  switch (reader_.read(link_, d, max_twin_request_bytes)) {
    case delivery_reader::outcome::partial:
      return;
    case delivery_reader::outcome::aborted:
      top_up();
      return;
    case delivery_reader::outcome::too_large:
      reject_delivery(d, amqp_error{std::string(condition::message_size_exceeded),
                                    "A twin request larger than 64 KB.", 0});
      top_up();
      return;
    case delivery_reader::outcome::whole:
      break;
  }
  const std::string bytes = reader_.take();
  auto request = decode_twin_request(bytes);
  if (!request) {
    reject_delivery(d, request.error());
    top_up();
    return;
  }
  accept_delivery(d);
  top_up();
  handle(std::move(*request));
}

twin_sender* twin_request_receiver::sender() {
  twin_sender* same_channel = nullptr;
  twin_sender* newest = nullptr;
  conn_.for_each_link<twin_sender>([&](twin_sender& s) {
    if (s.closed() || s.device_id() != device_id()) return;
    newest = &s;  // links are visited in attach order
    if (!channel_.empty() && s.channel() == channel_) same_channel = &s;
  });
  return same_channel != nullptr ? same_channel : newest;
}

void twin_request_receiver::answer(const proton::message_id& cid, int status,
                                   std::optional<std::int64_t> version, std::string_view body) {
  twin_sender* s = sender();
  if (s == nullptr) {
    conn_.log(log_level::info,
              "device '" + device_id() + "': a twin answer has no receiver link to go to; dropped");
    return;
  }
  s->send(encode_twin_response(cid, status, version, body));
}

void twin_request_receiver::answer_error(const proton::message_id& cid, int error_number,
                                         std::string_view message) {
  answer(cid, error_number / 1000, std::nullopt,
         core::twin_error_body(error_number, message, conn_.executor().now()));
}

void twin_request_receiver::handle(twin_request r) {
  switch (r.operation) {
    case twin_operation::invalid:
      answer_error(r.correlation_id, 400004, r.problem);
      return;
    case twin_operation::subscribe_desired:
    case twin_operation::unsubscribe_desired:
      if (twin_sender* s = sender()) {
        s->set_wants_desired(r.operation == twin_operation::subscribe_desired);
        answer(r.correlation_id, 204, std::nullopt, {});
      }
      return;
    case twin_operation::get:
    case twin_operation::patch_reported:
      break;
  }
  // The hub's answer as plain values; the JSON is rendered back on this strand.
  struct result {
    std::optional<core::error> failure;
    std::optional<core::device_twin> twin;  // GET
    std::int64_t version = 0;               // PATCH: the new reported $version
  };
  const bool get = r.operation == twin_operation::get;
  ++at_hub_;
  conn_.submit(
      [device = device_id(), epoch = epoch(), get, patch = std::move(r.patch)](
          core::hub& h, core::time_point now) {
        result a;
        if (get) {
          auto t = h.read_own_twin(device, now);
          if (t)
            a.twin = std::move(*t);
          else
            a.failure = t.error();
        } else {
          auto v = h.patch_reported(device, epoch, patch, now);
          if (v)
            a.version = *v;
          else
            a.failure = v.error();
        }
        return a;
      },
      [serial = serial(), cid = std::move(r.correlation_id), get](amqp_connection* c,
                                                                  bool committed, result a) {
        auto* self = c != nullptr ? c->find<twin_request_receiver>(serial) : nullptr;
        if (self == nullptr) return;
        --self->at_hub_;
        self->top_up();
        if (!committed) {
          // next-capabilities §2.2: a server error is a 5xx response, not a closed link.
          self->answer_error(cid, 500001, "The hub could not commit the request.");
        } else if (a.failure) {
          self->answer_error(cid, core::error_number(a.failure->code), a.failure->message);
        } else if (get) {
          self->answer(cid, 200, std::nullopt, core::twin_for_device(*a.twin).dump());
        } else {
          self->answer(cid, 204, a.version, {});
        }
        c->pump();
      });
}

}  // namespace emu::amqp
