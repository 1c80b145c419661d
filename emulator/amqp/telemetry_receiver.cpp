#include "emulator/amqp/telemetry_receiver.hpp"

#include <proton/connection.h>

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/device_telemetry.hpp"
#include "emulator/amqp/transfer_frame.hpp"
#include "emulator/core/telemetry_stamps.hpp"

namespace emu::amqp {

std::optional<amqp_error> telemetry_receiver::submit(std::string bytes, std::uint32_t format,
                                                     std::uint64_t id) {
  const std::span<const char> in(bytes.data(), bytes.size());
  // A batch (the C SDK's telemetry) is stored whole in one round, or refused whole.
  decoded<std::vector<device_telemetry>> telemetry = std::vector<device_telemetry>{};
  if (format == batch_message_format) {
    telemetry = decode_device_telemetry_batch(in);
  } else if (auto one = decode_device_telemetry(in)) {
    telemetry->push_back(std::move(*one));
  } else {
    telemetry = one.error();
  }
  if (!telemetry) {
    conn_.log(log_level::info,
              "telemetry of '" + device_id_ + "' refused: " + telemetry.error().description);
    return telemetry.error();
  }
  conn_.submit(
      [device = device_id_, hub_scope = hub_scope_, t = std::move(*telemetry),
       credential = conn_.device_credential(device_id_),
       etag = verified_etag_](core::hub& h, core::time_point now) mutable -> core::result<stored> {
        const auto d = h.connectable(device);
        if (!d)
          return core::error{core::hub_error::unauthorized,
                             "The device or module is gone or disabled."};
        if (d->etag != etag) {
          // Admitted before a registry change, or the link's first message: does the token
          // still hold (a re-keyed device's old token does not)?
          if (auto g = h.authenticate_device(credential, device, now); !g) return g.error();
        }
        // A batch is refused whole; a window its own message opens starts after it.
        stored out{d->etag, std::nullopt, h.fault_refusal(device, now)};
        if (out.refusal) return out;
        for (auto& m : t) {
          core::stamp_telemetry(m.properties, device, d->generation_id, hub_scope);
          auto recorded =
              h.record_telemetry(device, std::move(m.properties), std::move(m.body), now);
          if (!recorded) {
            // Throttled or over the daily quota (throttling.hpp): the delivery is rejected.
            // What the batch stored before stays (the sender's retry repeats it: at least once).
            out.refusal = recorded.error();
            return out;
          }
          if (recorded->fault && !out.fault) out.fault = std::move(recorded->fault);
        }
        return out;
      },
      [serial = serial(), id](amqp_connection* c, bool committed, core::result<stored> r) {
        if (c == nullptr) return;
        auto* self = c->find<telemetry_receiver>(serial);
        if (self == nullptr) return;
        if (!committed) {
          const amqp_error e = commit_failed();
          self->finish(id, &e);
        } else if (!r) {
          const amqp_error e = to_amqp_error(r.error());
          self->finish(id, &e);
          if (r.error().code == core::hub_error::unauthorized)
            self->refused_access(r.error().message);
        } else if (r->refusal) {
          // A fault-injection window (throttled, quota, InvokeAuthError): the message is
          // rejected and the link stays (next-capabilities §7.2: Invoke* faults do not
          // disconnect).
          const amqp_error e = to_amqp_error(*r->refusal);
          self->finish(id, &e);
        } else {
          self->verified_etag_ = std::move(r->etag);
          self->finish(id, nullptr);
          if (r->fault) c->schedule_fault(self->device_id_, std::move(*r->fault));
        }
      });
  return std::nullopt;
}

void telemetry_receiver::refused_access(const std::string& why) {
  if (pn_link_state(link_) & PN_LOCAL_CLOSED) return;
  conn_.log(log_level::info, "device '" + device_id_ + "' telemetry link closed: " + why);
  set_condition(pn_link_condition(link_), unauthorized(why));
  pn_link_close(link_);
  conn_.pump();
}

}  // namespace emu::amqp
