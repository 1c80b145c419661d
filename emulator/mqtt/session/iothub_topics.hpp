#pragma once
/// IoT Hub's MQTT naming rules: the CONNECT user name, the C2D (devicebound) topic and its
/// property bag, the telemetry topic, and which topic filters / topic names a device may use
/// (spec §3.2, §3.4-§3.7; sdk-wire §1.2, §1.4, §1.6). Pure functions, no I/O.
///
/// Property bags are URL query strings (`k=v&k2=v2`). Keys and values are percent-encoded
/// strictly (every byte but A-Z a-z 0-9 `-_.~`), so `$` is `%24`, `/` is `%2F`, space is `%20`
/// and `+` is never a space (spec §3.5, sdk-wire §1.4: the SDKs split the topic on `/` and
/// decode with decodeURIComponent / urllib unquote).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/base/result.hpp"
#include "emulator/core/c2d_message.hpp"

namespace emu::mqtt {

// ---- property bags --------------------------------------------------------------------------

/// `k=v&k2=v2` with every key and value percent-encoded strictly; an empty value gives `k=`
/// (spec §3.5). No leading `?` or `/`.
std::string encode_property_bag(std::span<const emu::core::property> properties);

/// Splits on `&`, then each pair at its first `=`, and percent-decodes both sides (`+` stays
/// `+`). Empty pairs (`a=1&&b=2`, a trailing `&`) are skipped; a key without `=` gets an empty
/// value. Order and duplicates are kept. nullopt on a malformed `%` escape.
std::optional<std::vector<emu::core::property>> decode_property_bag(std::string_view bag);

// ---- CONNECT user name (spec §3.2) ------------------------------------------------------------

enum class username_error {
  none = 0,
  missing_device_id,   // no `/` after the host
  empty_host,          // `/dev/?…`
  empty_device_id,     // `host//?…`
  empty_module_id,     // `host/dev//?…`
  malformed,           // something after `{host}/{device}/` that is none of the known forms
  bad_percent_escape,  // a query key or value with a malformed `%` escape
};

std::string_view to_string(username_error e);

struct mqtt_username {
  std::string host;       // verbatim, never percent-decoded (may carry `:port`)
  std::string device_id;  // verbatim
  std::string module_id;  // verbatim; empty for a device connection
  /// The query pairs, percent-decoded, in order (api-version, DeviceClientType, model-id, …).
  std::vector<emu::core::property> query;
  /// True for the 2016/17 form without `?` (`{host}/{deviceId}/api-version=…`).
  bool legacy = false;

  /// The decoded value of the first query pair named `key`, if any.
  std::optional<std::string_view> query_value(std::string_view key) const;
  friend bool operator==(const mqtt_username&, const mqtt_username&) = default;
};

/// Accepts (spec §3.2 table):
///   {host}/{deviceId}/?{query}              C, C#, Node, Python, embedded C
///   {host}/{deviceId}/{moduleId}/?{query}   module identities
///   {host}/{deviceId}/api-version=…&…       legacy, no `?` (also after a module id)
///   {host}/{deviceId}/ and {host}/{deviceId}/{moduleId}/   with no query at all
/// Host and ids are taken verbatim (device ids may contain `?`, `%`, `=`; none contains `/`).
/// Whether api-version is present or supported is the caller's decision.
emu::result<mqtt_username, username_error> parse_username(std::string_view username);

// ---- C2D (spec §3.5) --------------------------------------------------------------------------

/// `devices/{deviceId}/messages/devicebound/#`: the only filter that subscribes to C2D.
std::string c2d_subscription_filter(std::string_view device_id);

/// `devices/{deviceId}/messages/devicebound/{bag}` for a queued message, the bag in the order
/// `$.exp,$.cid,$.mid,$.uid,$.to,$.ct,$.ce,iothub-ack,<application properties>`:
///   - `$.exp` only when the sender set an absolute expiry (ISO 8601, 7 fraction digits, Z);
///   - `$.cid $.mid $.uid $.ct $.ce` only when non-empty;
///   - `$.to` always: the sender's `to`, or `/devices/{id}/messages/devicebound` when empty
///     (C# needs a non-empty fifth topic segment);
///   - `iothub-ack` unless the ack mode is none;
///   - application properties in their order, `name=` when the value is empty.
/// The bag never contains a raw `/` (C# and Node take `split('/')[4]` as the whole bag).
std::string c2d_topic(const emu::core::c2d_message& message);

// ---- telemetry (spec §3.6) ---------------------------------------------------------------------

enum class topic_error {
  none = 0,
  not_telemetry,       // not `devices/{id}/messages/events…`
  other_device,        // `devices/{other}/…`: a device may only use its own topics
  bad_percent_escape,  // the property bag has a malformed `%` escape
};

std::string_view to_string(topic_error e);

/// `devices/{id}/messages/events/` + optional bag, tolerating `?` before the bag and a missing
/// trailing `/` (`…/events`, `…/events?k=v`, `…/events/?k=v`). Returns the decoded properties
/// (see decode_property_bag). The ids are compared exactly (ids are case-sensitive).
///
/// Here and below, `identity` is the connection's client id: a device id, or
/// `{deviceId}/{moduleId}` for a module, whose own topics are below
/// `devices/{deviceId}/modules/{moduleId}/` (spec §3.6). A device's topics are not its
/// modules' (`other_device`) and the other way round.
emu::result<std::vector<emu::core::property>, topic_error> parse_telemetry_topic(
    std::string_view topic, std::string_view expected_identity);

// ---- what a device may subscribe / publish to (spec §3.4, §3.7) --------------------------------

enum class subscription_kind {
  c2d,             // exactly devices/{id}/messages/devicebound/# (devices only)
  twin_responses,  // $iothub/twin/res/#
  twin_desired,    // $iothub/twin/PATCH/properties/desired/#
  methods,         // $iothub/methods/POST/#
  iothub_unknown,  // any other $iothub/… filter: SUBACK 0x80, the connection stays
  /// A module's `inputs/#`, `#` (the C SDK's input filter) or `messages/devicebound/#`: IoT
  /// Edge routing and C2D, which a
  /// module does not get from this hub: SUBACK 0x80, the connection stays (a closed
  /// connection would make the SDK reconnect and subscribe again, forever).
  module_inputs,
  other_device,  // devices/{other}/…, including wildcards in the id level
  unsupported,   // anything else (other devicebound shapes, modules, arbitrary topics)
};

std::string_view to_string(subscription_kind k);

subscription_kind classify_subscription(std::string_view filter, std::string_view identity);

enum class publish_kind {
  telemetry,       // devices/{id}/messages/events[/][?][bag]  (see parse_telemetry_topic)
  iothub_feature,  // $iothub/… (twin, methods): see parse_iothub_publish
  other_device,    // devices/{other}/…
  unsupported,     // anything else
};

std::string_view to_string(publish_kind k);

publish_kind classify_publish_topic(std::string_view topic, std::string_view identity);

// ---- twins and direct methods (spec §3.7, next-capabilities §2.1-§2.2, §3.2) -------------------

enum class iothub_operation {
  twin_get,             // $iothub/twin/GET/?$rid={rid}
  twin_patch_reported,  // $iothub/twin/PATCH/properties/reported/?$rid={rid}
  method_response,      // $iothub/methods/res/{status}/?$rid={rid}
  twin_unknown,         // another $iothub/twin/… operation: answered 400 when it has a $rid
  unknown,              // any other $iothub/… topic: acknowledged, ignored
};

struct iothub_publish {
  iothub_operation operation = iothub_operation::unknown;
  /// `$rid` from the query, percent-decoded; nullopt when absent (or the query is malformed).
  std::optional<std::string> rid;
  /// method_response: the device's status; nullopt when the level is not a decimal integer.
  std::optional<int> status;
};

/// Parses a `$iothub/…` topic name a device published to. The query follows `/?` (or `?`);
/// `$rid` is taken from it, other pairs (e.g. `$version`) are ignored.
iothub_publish parse_iothub_publish(std::string_view topic);

/// `$iothub/twin/res/{status}/?$rid={rid}[&$version={version}]`; the rid percent-encoded.
std::string twin_response_topic(int status, std::string_view rid,
                                std::optional<std::int64_t> version = std::nullopt);
/// `$iothub/twin/PATCH/properties/desired/?$version={version}`.
std::string desired_patch_topic(std::int64_t version);
/// `$iothub/methods/POST/{name}/?$rid={rid}`; name and rid percent-encoded.
std::string method_request_topic(std::string_view method_name, std::string_view rid);

}  // namespace emu::mqtt
