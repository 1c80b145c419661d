#include "emulator/amqp/telemetry_receiver.hpp"

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/device_telemetry.hpp"
#include "emulator/core/telemetry_stamps.hpp"

namespace emu::amqp {

std::optional<amqp_error> telemetry_receiver::submit(std::string bytes, std::uint64_t id) {
  auto telemetry = decode_device_telemetry(std::span<const char>(bytes.data(), bytes.size()));
  if (!telemetry) {
    conn_.log(log_level::info,
              "telemetry of '" + device_id_ + "' refused: " + telemetry.error().description);
    return telemetry.error();
  }
  conn_.submit(
      [device = device_id_, hub_scope = hub_scope_, t = std::move(*telemetry)](
          core::hub& h, core::time_point now) mutable -> core::status {
        const core::device* d = h.find_device(device);
        if (d == nullptr || d->status != core::device_status::enabled)
          return core::error{core::hub_error::unauthorized, "The device is gone or disabled."};
        core::stamp_telemetry(t.properties, device, d->generation_id, hub_scope);
        (void)h.record_telemetry(device, std::move(t.properties), std::move(t.body), now);
        return core::success();
      },
      [serial = serial(), id](amqp_connection* c, bool committed, core::status r) {
        if (c == nullptr) return;
        auto* self = c->find<telemetry_receiver>(serial);
        if (self == nullptr) return;
        if (!committed) {
          const amqp_error e = commit_failed();
          self->finish(id, &e);
        } else if (!r.ok()) {
          const amqp_error e = to_amqp_error(r.error());
          self->finish(id, &e);
        } else {
          self->finish(id, nullptr);
        }
      });
  return std::nullopt;
}

}  // namespace emu::amqp
