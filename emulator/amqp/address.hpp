#pragma once
/// Link addresses and C2D `to` paths as the SDKs spell them.
///
/// Addresses arrive as bare paths (`/messages/devicebound`), in other letter cases
/// (`/messages/deviceBound`, `/messages/serviceBound/feedback`) and as absolute URIs
/// (`amqps://{host}/…`, C# `amqps://{host}:5671/…`): spec §4.1, sdk-wire §7 and §8
/// "Addresses". The fixed parts are compared case-insensitively after the scheme and
/// authority are stripped; device ids are case-sensitive and kept as sent.
///
/// Pure functions; thread-safe.
#include <optional>
#include <string>
#include <string_view>

namespace emu::amqp {

/// The nodes of the service endpoint.
enum class node_kind {
  cbs,       ///< `$cbs`: claims-based security (put-token), spec §4.2
  c2d,       ///< `/messages/devicebound`: the service's C2D sender attaches here, spec §4.3
  feedback,  ///< `/messages/servicebound/feedback`: delivery feedback, spec §2.2
  unknown,
};

/// Strips an `amqps://` or `amqp://` scheme with its `host[:port]`, any `?query`, and a
/// trailing `/`, then lower-cases the rest. `amqps://h:5671/Messages/DeviceBound/` →
/// `/messages/devicebound`.
std::string normalize_address(std::string_view address);

/// Which node an attach's address names (source for links the client receives on, target for
/// links it sends on).
node_kind classify_address(std::string_view address);

/// The device id of a C2D message's `to`, which must be `/devices/{id}/messages/devicebound`
/// (fixed segments in any case, optional `amqps://host[:port]` prefix). The id is
/// percent-decoded; `+` stays `+` (spec §4.3: `+` is a legal id character). nullopt when `to`
/// has another shape, the id is empty or an escape is malformed.
std::optional<std::string> c2d_target_device(std::string_view to);

}  // namespace emu::amqp
