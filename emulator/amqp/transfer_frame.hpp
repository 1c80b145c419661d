#pragma once
/// What the connection needs from a transfer frame that Proton 0.37's C API does not report:
/// the delivery's `message-format` (AMQP 1.0 §2.7.5, field 3). The C SDK sends device
/// telemetry as batches with format 0x80013700 (next-capabilities §4), whose body is one data
/// section per encoded message; without the format a batch would be stored as one opaque
/// message.
///
/// Pure; thread-safe.
#include <cstdint>
#include <optional>
#include <span>

namespace emu::amqp {

/// The message format of Azure's batched messages (Microsoft's vendor prefix 0x800137).
inline constexpr std::uint32_t batch_message_format = 0x80013700;

/// The message-format of a transfer performative, `frame_body` being the frame's bytes after
/// its header (the performative first, then the payload). nullopt when the frame is not a
/// transfer or names no format (then the delivery's first frame's, or 0, applies).
std::optional<std::uint32_t> transfer_message_format(std::span<const char> frame_body);

}  // namespace emu::amqp
