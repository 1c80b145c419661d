#pragma once
/// The fault a device asks for in its telemetry (next-capabilities §7.1): the official SDKs'
/// e2e suites send a normal D2C message with the application properties
///
///   AzIoTHub_FaultOperationType         KillTcp, KillAmqpConnection, …, InvokeAuthError
///   AzIoTHub_FaultOperationCloseReason  free text (the AMQP error description here)
///   AzIoTHub_FaultOperationDelayInSecs  seconds between receipt and the fault
///   AzIoTHub_FaultOperationDurationInSecs  how long an Invoke* fault lasts
///
/// and Azure carries the fault out on the device's connection. The emulator does the same when
/// fault injection is on (hub_settings::fault_injection, `--fault-injection`); with it off the
/// properties are ordinary telemetry properties.
///
/// Values arrive as text (MQTT property bags, AMQP simple values written as text by the
/// front). Names are matched without regard to case (the C SDK sends `KillAmqpc2dLink`).
///
/// Pure; thread-safe.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/core/c2d_message.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

enum class fault_kind : std::uint8_t {
  kill_tcp,                    // abort the TCP connection: no protocol close, no TLS close_notify
  kill_amqp_connection,        // AMQP close with an error
  kill_amqp_session,           // AMQP end of the session carrying the device's links, with an error
  kill_amqp_cbs_link_req,      // detach the CBS link client → $cbs
  kill_amqp_cbs_link_resp,     // detach the CBS link $cbs → client
  kill_amqp_d2c_link,          // detach the device's telemetry link
  kill_amqp_c2d_link,          // detach the device's C2D link
  kill_amqp_twin_link_req,     // detach the twin link that carries requests (device → hub)
  kill_amqp_twin_link_resp,    // detach the twin link that carries responses (hub → device)
  kill_amqp_method_req_link,   // detach the method link that carries requests (hub → device)
  kill_amqp_method_resp_link,  // detach the method link that carries responses (device → hub)
  shut_down_amqp,              // graceful AMQP close (close frame without error)
  shut_down_mqtt,              // graceful MQTT end (TLS close_notify, FIN)
  invoke_throttling,           // for the duration: the device's operations are throttled
  invoke_max_message_quota,    // for the duration: the daily quota is exhausted
  invoke_auth_error,           // for the duration: the device's operations are unauthorized
};

/// The name as the SDKs spell it ("KillAmqpC2DLink").
std::string_view to_string(fault_kind k);
/// Case-insensitive; nullopt for an unknown name.
std::optional<fault_kind> parse_fault_kind(std::string_view name);

/// Faults that end or cut the connection (everything but the Invoke* windows).
bool is_connection_fault(fault_kind k);
/// Faults that only an AMQP connection can carry out (Kill*Amqp*, ShutDownAmqp).
bool is_amqp_only(fault_kind k);

inline constexpr std::string_view fault_type_property = "AzIoTHub_FaultOperationType";
inline constexpr std::string_view fault_reason_property = "AzIoTHub_FaultOperationCloseReason";
inline constexpr std::string_view fault_delay_property = "AzIoTHub_FaultOperationDelayInSecs";
inline constexpr std::string_view fault_duration_property = "AzIoTHub_FaultOperationDurationInSecs";

/// How long an Invoke* fault lasts when the message does not say (UNCONFIRMED: the C SDK always
/// sends 20, C# 5 to 20, Node often nothing; C#'s tests keep operating for 10 s).
inline constexpr duration default_fault_duration = std::chrono::seconds(10);
/// Delays and durations above this are cut to it (a typo must not park a fault for a week).
inline constexpr duration max_fault_time = std::chrono::hours(1);

struct fault_request {
  fault_kind kind = fault_kind::kill_tcp;
  duration delay{};
  duration length{};  // Invoke* faults: how long they last
  std::string reason;
};

/// What a message's properties ask for.
struct fault_parse {
  std::optional<fault_request> request;  // nullopt: no fault (see `problem`)
  /// Non-empty when the message named a fault that cannot be carried out (an unknown type, a
  /// delay that is not a number): it is stored as ordinary telemetry and the problem is shown
  /// in the fault log.
  std::string problem;
};

/// Reads the `AzIoTHub_Fault*` properties. No `AzIoTHub_FaultOperationType`: no request and no
/// problem. Seconds are whole or decimal non-negative numbers; an empty value or `undefined` /
/// `null` (what a JS SDK writes for a property added without a value) means "not given".
fault_parse parse_fault_request(const std::vector<property>& properties);

}  // namespace emu::core
