#include "emulator/amqp/partition_sender.hpp"

#include <proton/delivery.h>

#include <algorithm>

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/event_message.hpp"

namespace emu::amqp {

namespace {

void detach_from_hub(executor::hub_executor& executor, std::uint64_t reader) {
  executor.post([reader](core::hub& h, core::time_point) {
    h.detach_telemetry_reader(reader);
    return executor::hub_executor::completion{};
  });
}

}  // namespace

void partition_sender::on_open() {
  conn_.submit(
      [partition = partition_id_, request = request_, routes = &conn_.routes(),
       handle = conn_.handle()](core::hub& h, core::time_point) {
        auto reader = h.attach_telemetry_reader(partition, request);
        // The route is set here, on the executor thread, so it exists before any event of a
        // later round looks for it: a higher epoch may end this reader before on_attached()
        // runs on the connection's strand, and its telemetry_reader_ended must not be lost.
        if (reader) routes->readers.set(*reader, handle);
        return reader;
      },
      [serial = serial(), exec = &conn_.executor(), routes = &conn_.routes()](
          amqp_connection* c, bool, core::result<std::uint64_t> reader) {
        auto* self = c != nullptr ? c->find<partition_sender>(serial) : nullptr;
        if (self == nullptr) {
          if (reader) {  // the link went away meanwhile
            routes->readers.remove(*reader);
            detach_from_hub(*exec, *reader);
          }
          return;
        }
        self->on_attached(std::move(reader));
      });
}

void partition_sender::on_attached(core::result<std::uint64_t> reader) {
  if (!reader) {
    end(reader.error());
    return;
  }
  reader_ = *reader;  // its route was set with the attach (on_open)
  conn_.log(log_level::debug, "event hubs: reader " + std::to_string(reader_) + " on partition " +
                                  partition_id_ + " of '" + request_.consumer_group + "'");
  report_credit();
}

void partition_sender::end(const core::error& why) {
  if (closed_) return;
  const amqp_error e = to_amqp_error(why);
  conn_.log(log_level::info, "event hubs: closing link '" + std::string(pn_link_name(link_)) +
                                 "': " + e.condition + ": " + e.description);
  set_condition(pn_link_condition(link_), e);
  pn_link_close(link_);
  // The link handler stays until the client's detach arrives (drop_link): stop sending now.
  closed_ = true;
  if (reader_ != 0) {
    conn_.routes().readers.remove(reader_);
    detach_from_hub(conn_.executor(), reader_);
    reader_ = 0;
  }
}

void partition_sender::report_credit() {
  if (closed_ || reader_ == 0) return;
  const auto credit = static_cast<std::uint64_t>(std::max(pn_link_credit(link_), 0));
  const std::uint64_t limit = sent_count_ + credit;
  const bool drain = pn_link_get_drain(link_);
  if (!drain && reported_ == limit) return;
  reported_ = limit;
  conn_.submit(
      [reader = reader_, limit](core::hub& h, core::time_point) {
        return h.set_telemetry_credit(reader, limit);
      },
      [serial = serial(), drain](amqp_connection* c, bool committed, std::uint64_t delivered) {
        auto* self = c != nullptr ? c->find<partition_sender>(serial) : nullptr;
        if (self == nullptr) return;
        if (!committed) {
          self->reported_.reset();  // the round was undone: tell the hub again
          self->report_credit();
          return;
        }
        if (drain) self->on_drain_answer(delivered);
      });
}

void partition_sender::deliver(
    const std::vector<std::shared_ptr<const core::telemetry_message>>& events) {
  if (closed_) return;
  for (const auto& e : events) {
    const std::vector<char> bytes = encode_event(*e);
    const std::string tag = event_delivery_tag(*e);
    pn_delivery_t* d = pn_delivery(link_, pn_dtag(tag.data(), tag.size()));
    pn_link_send(link_, bytes.data(), bytes.size());
    pn_link_advance(link_);
    pn_delivery_settle(d);  // pre-settled: nothing to wait for
    ++sent_count_;
    if (drain_left_ && *drain_left_ > 0) --*drain_left_;
  }
  check_drained();
}

void partition_sender::on_drain_answer(std::uint64_t delivered) {
  drain_left_ = delivered;  // the events of that round arrive after this answer, in order
  check_drained();
}

void partition_sender::check_drained() {
  if (!drain_left_ || *drain_left_ > 0) return;
  drain_left_.reset();
  if (pn_link_get_drain(link_)) pn_link_drained(link_);
  reported_ = sent_count_;  // the drain used the credit up
}

void partition_sender::on_delivery(pn_delivery_t* d) {
  // Pre-settled: a disposition from the client (autoaccept) needs no answer.
  if (pn_delivery_remote_state(d) != 0 || pn_delivery_settled(d)) pn_delivery_settle(d);
}

void partition_sender::on_closed() {
  closed_ = true;
  if (reader_ != 0) {
    conn_.routes().readers.remove(reader_);
    detach_from_hub(conn_.executor(), reader_);
    reader_ = 0;
  }
}

}  // namespace emu::amqp
