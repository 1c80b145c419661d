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
  /// `$management` or `<hub>/$management`: Event Hubs READ of the hub and its partitions
  /// (next-capabilities §1.4)
  management,
  /// `<hub>/ConsumerGroups/<cg>/Partitions/<n>`: an Event Hubs receiver (next-capabilities §1.5)
  event_hub_partition,
  /// `/messages/events…`: the IoT Hub path of the built-in endpoint, answered with
  /// amqp:link:redirect to the Event Hubs-compatible one (next-capabilities §1.7)
  events_redirect,
  /// `/devices/<id>/…`: a device's own link (device_link_kind, next-capabilities §4)
  device,
  unknown,
};

/// The links of a device (next-capabilities §4, §2.5, §3.3).
enum class device_link_kind {
  telemetry,  ///< `/devices/<id>/messages/events`: the device sends
  c2d,        ///< `/devices/<id>/messages/devicebound`: the device receives
  twin,       ///< `/devices/<id>/twin`
  methods,    ///< `/devices/<id>/methods/devicebound`
};

struct device_address {
  /// The identity key: the device id, or `{deviceId}/{moduleId}` for a module's links
  /// (`/devices/<d>/modules/<m>/…`, next-capabilities §4; core/identity_key.hpp).
  std::string device_id;
  device_link_kind kind = device_link_kind::telemetry;
};

/// A device link address (optional `amqps://host[:port]` prefix, fixed segments in any case);
/// the id is percent-decoded and keeps its case (`+` stays `+`). nullopt for anything else.
std::optional<device_address> parse_device_address(std::string_view address);

/// Strips an `amqps://` or `amqp://` scheme with its `host[:port]`, any `?query`, and a
/// trailing `/`, then lower-cases the rest. `amqps://h:5671/Messages/DeviceBound/` →
/// `/messages/devicebound`.
std::string normalize_address(std::string_view address);

/// Which node an attach's address names (source for links the client receives on, target for
/// links it sends on). `event_hub_name` is the Event Hubs-compatible name (the hub name),
/// compared case-insensitively.
node_kind classify_address(std::string_view address, std::string_view event_hub_name);

/// The parts of an Event Hubs receiver address, `[/]<eventHub>/ConsumerGroups/<cg>/Partitions/<n>`
/// (optional `amqps://host[:port]` prefix; fixed segments in any case). The consumer group and
/// partition id are kept as sent (the hub checks them).
struct partition_address {
  std::string consumer_group;
  std::string partition_id;
};
std::optional<partition_address> parse_partition_address(std::string_view address,
                                                         std::string_view event_hub_name);

/// The device id of a C2D message's `to`, which must be `/devices/{id}/messages/devicebound`
/// (fixed segments in any case, optional `amqps://host[:port]` prefix). The id is
/// percent-decoded; `+` stays `+` (spec §4.3: `+` is a legal id character). nullopt when `to`
/// has another shape, the id is empty or an escape is malformed.
std::optional<std::string> c2d_target_device(std::string_view to);

}  // namespace emu::amqp
