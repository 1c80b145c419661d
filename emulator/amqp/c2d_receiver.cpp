#include "emulator/amqp/c2d_receiver.hpp"

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/message_codec.hpp"

namespace emu::amqp {

std::optional<amqp_error> c2d_receiver::submit(std::string bytes, std::uint32_t /*format*/,
                                               std::uint64_t id) {
  // The service SDKs send C2D messages one by one (format 0).
  auto request = decode_c2d(std::span<const char>(bytes.data(), bytes.size()));
  if (!request) {
    conn_.log(log_level::info, "C2D send refused: " + request.error().description);
    return request.error();
  }
  conn_.submit(
      [req = std::move(*request)](core::hub& h, core::time_point now) mutable {
        return h.enqueue(req.device_id, std::move(req.content), now);
      },
      [serial = serial(), id](amqp_connection* c, bool committed, core::result<std::uint64_t> r) {
        if (c == nullptr) return;  // the sender is gone; the message is enqueued regardless
        auto* self = c->find<c2d_receiver>(serial);
        if (self == nullptr) return;
        if (!committed) {
          const amqp_error e = commit_failed();
          c->log(log_level::warn, "C2D send not stored: " + e.description);
          self->finish(id, &e);
        } else if (!r.ok()) {
          const amqp_error e = to_amqp_error(r.error());
          c->log(log_level::info, "C2D send refused: " + e.description);
          self->finish(id, &e);
        } else {
          self->finish(id, nullptr);
        }
      });
  return std::nullopt;
}

}  // namespace emu::amqp
