#pragma once
/// The hub: Azure IoT Hub's rules for devices, cloud-to-device messages, feedback and
/// telemetry, behind one façade. Each concept is a part of its own (one file each):
///
///   registry         device and module identities (§7)      registry.hpp
///   auth             who may do what (spec §5)               auth.hpp
///   device_sessions  one connection per device, epochs,      device_sessions.hpp
///                    delivery credit (spec §3.3, §1.6)
///   c2d_queue        C2D states, TTL, locks (spec §1)        c2d_queue.hpp
///   feedback_queue   records, batches, receivers (spec §2)   feedback_queue.hpp
///   device_twins     tags, desired, reported (next-cap. §2)  device_twins.hpp
///   telemetry_log    device-to-cloud events in partitions    telemetry_log.hpp
///                    (spec §3.6, next-capabilities §1)
///   telemetry_readers Event Hubs readers: credit, epochs     telemetry_readers.hpp
///   device_faults    fault injection windows and log         device_faults.hpp
///                    (issue 17, next-capabilities §7)
///   journal          what a round changed (for the store),   journal.hpp
///                    what to tell the fronts (events)
///
/// Pure and synchronous: no I/O, no clock (every call that depends on time takes `now`), no
/// threads. State lives in memory; every mutation is also recorded in the journal, which the
/// owner (the hub executor) commits to a `state_store` before acknowledging anything, and the
/// events (deliveries, ended sessions) go to the fronts after that commit.
///
/// Connecting identities are devices and modules (issue 16): the calls below that take a
/// `device_id` of a connection (sessions, twins, methods, telemetry, presence) take an identity
/// key, `{deviceId}` or `{deviceId}/{moduleId}` (identity_key.hpp). C2D is for devices only.
///
/// Thread safety: none. One owner thread (the hub executor) calls everything.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/core/access_policy.hpp"
#include "emulator/core/auth.hpp"
#include "emulator/core/c2d_message.hpp"
#include "emulator/core/c2d_queue.hpp"
#include "emulator/core/ca_certificates.hpp"
#include "emulator/core/client_certificate.hpp"
#include "emulator/core/device.hpp"
#include "emulator/core/device_connect_limit.hpp"
#include "emulator/core/device_faults.hpp"
#include "emulator/core/device_presence.hpp"
#include "emulator/core/device_sessions.hpp"
#include "emulator/core/device_twins.hpp"
#include "emulator/core/direct_methods.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/feedback.hpp"
#include "emulator/core/feedback_queue.hpp"
#include "emulator/core/hub_event.hpp"
#include "emulator/core/hub_faults.hpp"
#include "emulator/core/hub_settings.hpp"
#include "emulator/core/hub_statistics.hpp"
#include "emulator/core/iothub_topic.hpp"
#include "emulator/core/journal.hpp"
#include "emulator/core/registry.hpp"
#include "emulator/core/state_store.hpp"
#include "emulator/core/telemetry_log.hpp"
#include "emulator/core/telemetry_readers.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

/// A telemetry message in the log, and the connection fault it asked for (fault injection on):
/// the front that received it carries that out after `fault->delay` (fault_request.hpp).
struct recorded_telemetry {
  std::int64_t sequence_number = 0;
  std::optional<fault_request> fault;
};

/// A device connection asking for a session (an MQTT CONNECT).
struct session_request {
  /// The identity key: a device id or `{deviceId}/{moduleId}`.
  std::string device_id;
  /// A SAS token; empty: authenticate with `certificate` (X.509).
  std::string token;
  bool clean_session = false;
  /// Messages the connection may have delivered and unsettled at once (spec §3.5).
  std::size_t inflight_window = 1;
  /// The chain the connection presented in its TLS handshake, if any.
  std::shared_ptr<const client_certificate> certificate;
  /// Refuse the connection while the identity's operations are refused (a fault-injection
  /// window, the daily quota used up). MQTT asks for it: there a refused publish can only end
  /// the connection, so an admitted device would reconnect and be cut again without end; a
  /// refused CONNECT puts it on its SDK's back-off instead.
  bool refuse_while_refusing = false;
  /// How the device connects, as the dashboard shows it: "MQTT", "MQTT/WebSocket", "AMQP", …
  std::string transport{};
};

/// An accepted session.
struct session_grant {
  std::uint64_t epoch = 0;
  /// The token's `se` plus the clock skew: the connection must close then (spec §3.3).
  time_point expiry{};
  /// The device's generation id, stamped on its telemetry (spec §3.6).
  std::string generation_id;
  /// Authenticated by a hub policy with DeviceConnect rather than the device's own key.
  bool hub_scope = false;
  /// The C2D subscription the session starts with (clean session 0, stored): delivery starts
  /// at once, without a new SUBSCRIBE (spec §1.6, sdk-wire §1.3).
  std::optional<int> subscription;
  /// The `$iothub/…` filters the session starts with (iothub_topic bits; clean session 0).
  std::uint8_t iothub_topics = 0;
};

class hub {
 public:
  explicit hub(hub_settings settings);
  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  const hub_settings& settings() const { return settings_; }

  // ---- state ---------------------------------------------------------------------------
  /// Replaces the stored state with a snapshot (no changes recorded). Sessions and feedback
  /// receivers (volatile) are kept.
  void restore(hub_snapshot snapshot);
  /// Every locked message and feedback batch back to its queue without counting a delivery.
  /// Called at start: after a restart no connection can still hold a lock (spec §1.6).
  void release_all_locks(time_point now);
  /// Removes everything except the settings (test control); records clear_all.
  void reset(time_point now);
  /// The round's changes are committed: its volatile changes (sessions, receivers) are final.
  void round_committed();
  /// The round's commit failed: back to `stored` and to the volatile state of the last
  /// committed round; deliveries of the lost round are tried again.
  void round_failed(const hub_snapshot& stored, time_point now);

  // ---- registry (spec §7) ----------------------------------------------------------------
  result<device> create_device(const device_spec& spec, time_point now);
  /// Updates status/keys; a change of either ends the device's session (its connection must
  /// authenticate again). `if_match`: the etag without quotes, "*" or empty (= "*").
  result<device> update_device(const device_spec& spec, std::string_view if_match, time_point now);
  /// Deletes the device, its session, its queue and its unbatched feedback (spec §1.7).
  status delete_device(std::string_view id, std::string_view if_match, time_point now);
  const device* find_device(std::string_view id) const { return registry_.find(id); }
  std::vector<device> list_devices() const { return registry_.list(); }
  /// Connected or not, and the last activity (connectionState, lastActivityTime).
  device_presence presence(std::string_view device_id) const;
  // ---- modules (issue 16) ------------------------------------------------------------------
  /// A module on an existing device; it starts with an empty twin.
  result<module_identity> create_module(const module_spec& spec, time_point now);
  /// Keys/thumbprints/type changed: the module's session ends (it authenticates again).
  result<module_identity> update_module(const module_spec& spec, std::string_view if_match,
                                        time_point now);
  /// Deletes the module, its session, its twin and its pending method calls.
  status delete_module(std::string_view device_id, std::string_view module_id,
                       std::string_view if_match, time_point now);
  const module_identity* find_module(std::string_view device_id, std::string_view module_id) const {
    return registry_.find_module(device_id, module_id);
  }
  /// The modules of a device; `device_not_found` for an unknown device.
  result<std::vector<module_identity>> modules_of(std::string_view device_id) const;
  /// `device_not_found` / `module_not_found` when the identity does not exist, else success.
  status identity_exists(std::string_view identity) const;
  /// What a connection checks per message: a version that changes whenever what admits the
  /// identity may have changed (its etag; a module's with its device's), and its generation
  /// id. nullopt when the identity is gone or its device is disabled.
  struct identity_version {
    std::string etag;
    std::string generation_id;
  };
  std::optional<identity_version> connectable(std::string_view identity) const;
  /// Messages currently queued for a device (cloudToDeviceMessageCount).
  int queued_count(std::string_view device_id) const { return queue_.queued_count(device_id); }

  // ---- authentication (spec §5) ----------------------------------------------------------
  /// How far hub time (`now`) is ahead of the wall clock (executor/hub_clock.hpp: a backward
  /// step of the machine's clock is not followed). Tokens and certificates are judged by the
  /// wall clock, which is what their issuers used: `now - lag`. A grant's expiry is then put
  /// back into hub time (`+ lag`), where the fronts compare it with `now`. Set by the owner
  /// before each round; zero unless the wall clock stepped back.
  void set_wall_lag(duration lag) { wall_lag_ = lag; }
  duration wall_lag() const { return wall_lag_; }

  result<auth_grant> authenticate_device(std::string_view token, std::string_view device_id,
                                         time_point now) const;
  result<auth_grant> authenticate_service(std::string_view token, permission needed,
                                          time_point now) const;
  /// A SAS token when `c` has one, else its certificate; `unauthorized` when it has neither.
  result<auth_grant> authenticate_device(const device_credential& c, std::string_view device_id,
                                         time_point now) const {
    if (!c.token.empty()) return authenticate_device(c.token, device_id, now);
    if (c.certificate) return authenticate_device_certificate(*c.certificate, device_id, now);
    return error{hub_error::unauthorized, "No SAS token and no client certificate."};
  }
  /// A device's X.509 certificate (auth.hpp authenticate_device_certificate).
  result<auth_grant> authenticate_device_certificate(const client_certificate& certificate,
                                                     std::string_view device_id,
                                                     time_point now) const {
    return in_hub_time(core::authenticate_device_certificate(registry_, cas_, certificate,
                                                             device_id, now - wall_lag_));
  }
  /// The hub's CA certificates (registered, verified). Adding trust (a verification code, a
  /// verification) goes through `certificates()`; what may take trust away goes through
  /// put/remove_ca_certificate below.
  ca_certificates& certificates() { return cas_; }
  const ca_certificates& certificates() const { return cas_; }
  /// ca_certificates::put/remove, then the sessions of every `certificateAuthority` device end
  /// (their chains are checked again when they reconnect), as a key change ends a SAS device's.
  result<ca_certificate> put_ca_certificate(std::string_view name, std::string_view certificate,
                                            bool verified, std::string_view if_match,
                                            time_point now);
  status remove_ca_certificate(std::string_view name, std::string_view if_match, time_point now);
  /// SASL PLAIN with a policy's name and key (auth.hpp).
  result<auth_grant> authenticate_policy_key(std::string_view policy, std::string_view key,
                                             permission needed, time_point now) const {
    return in_hub_time(
        core::authenticate_policy_key(settings_, policy, key, needed, now - wall_lag_));
  }

  // ---- device sessions (spec §3.3) -------------------------------------------------------
  /// Authenticates and opens the device's session (device_sessions::open): the older session
  /// ends, held locks return to the queue, delivery starts if the stored session is
  /// subscribed. `unauthorized` with the reason when refused (CONNACK 5).
  result<session_grant> connect_device(const session_request& request, time_point now);
  /// The connection of `epoch` went away (stale epochs are ignored).
  void disconnect_device(std::string_view device_id, std::uint64_t epoch, time_point now);
  /// The session's C2D subscription (nullopt: unsubscribed); delivery starts or stops.
  status subscribe_c2d(std::string_view device_id, std::uint64_t epoch, std::optional<int> qos,
                       time_point now);
  /// The session's C2D receiver went away, the session stays (device_sessions::stop_receiving):
  /// what it held goes back to the queue and to the device's next receiver.
  status stop_c2d(std::string_view device_id, std::uint64_t epoch, time_point now);
  /// A delivery of session `epoch` settled (MQTT PUBACK = complete); the next message goes out
  /// in the same round. `device_message_lock_lost` for a stale epoch or lock.
  status settle(std::string_view device_id, std::uint64_t epoch, std::uint64_t seq,
                std::uint64_t lock_id, settlement how, time_point now);

  // ---- C2D (spec §1) -----------------------------------------------------------------------
  /// Admission (c2d_queue::enqueue): unknown/disabled device → device_not_found, …
  result<std::uint64_t> enqueue(std::string_view device_id, c2d_content content, time_point now);
  /// Locks the device's oldest Enqueued message outside any session (tools and tests).
  std::optional<c2d_delivery> lock_next(std::string_view device_id, time_point now);
  /// Settles a lock taken by lock_next (tools and tests).
  status settle(std::string_view device_id, std::uint64_t seq, std::uint64_t lock_id,
                settlement how, time_point now);
  /// Returns a locked message to Enqueued without counting a delivery.
  void release(std::string_view device_id, std::uint64_t seq, std::uint64_t lock_id,
               time_point now);
  /// Removes every queued message of the device; returns how many (spec §1.7).
  result<int> purge(std::string_view device_id, time_point now);
  std::vector<c2d_message> queue_of(std::string_view device_id) const {
    return queue_.queue_of(device_id);
  }
  /// The durable C2D subscription of a device (clean session 0), directly (tools and tests).
  void set_subscription(std::string_view device_id, int qos);
  void clear_subscription(std::string_view device_id);
  std::optional<int> subscription(std::string_view device_id) const;

  // ---- feedback (spec §2) ------------------------------------------------------------------
  /// A consumer with credit (feedback_queue.hpp): batches are pushed to it as
  /// event::feedback_delivery.
  std::uint64_t attach_feedback_receiver();
  /// feedback_queue::set_receiver_limit: returns how many batches this call delivered.
  std::uint64_t set_feedback_credit(std::uint64_t receiver, std::uint64_t limit, bool drain,
                                    time_point now);
  void detach_feedback_receiver(std::uint64_t receiver, time_point now);
  /// Locks the oldest available batch for a consumer without a receiver (tools and tests).
  std::optional<feedback_batch> lock_next_batch(time_point now);
  status settle_batch(std::uint64_t batch_id, std::uint64_t lock_id, batch_outcome how,
                      time_point now);
  void release_batch(std::uint64_t batch_id, std::uint64_t lock_id, time_point now);
  std::vector<feedback_record> pending_feedback() const { return feedback_.pending(); }
  std::vector<feedback_batch> feedback_batches() const { return feedback_.batches(); }

  // ---- twins (next-capabilities §2) ---------------------------------------------------------
  /// The device's twin; `device_not_found` for an unknown device.
  result<device_twin> twin(std::string_view device_id) const;
  /// The twin as its device (or module) asks for it (MQTT `$iothub/twin/GET`, the AMQP twin
  /// link): refused while a fault-injection window is open for it (fault_refusal).
  result<device_twin> read_own_twin(std::string_view identity, time_point now) {
    if (auto refused = faults_.refusal(identity, now)) return std::move(*refused);
    if (auto throttled = throttles_.admit(throttled_operation::twin_read, now))
      return std::move(*throttled);
    return twin(identity);
  }
  /// The twin's recent writes (test control), oldest first.
  std::vector<twin_change> twin_history(std::string_view device_id) const {
    return twins_.history(device_id);
  }
  /// Service PATCH (device_twins::update). `if_match`: the etag without quotes, "*" or empty.
  result<device_twin> update_twin(std::string_view device_id, const twin_update& u,
                                  std::string_view if_match, time_point now);
  /// Service PUT (device_twins::replace).
  result<device_twin> replace_twin(std::string_view device_id, const twin_replacement& r,
                                   std::string_view if_match, time_point now);
  /// A device's reported patch from its session `epoch`: the new reported `$version`.
  /// `device_not_found` for a disabled device; `device_message_lock_lost` for a stale epoch.
  result<std::int64_t> patch_reported(std::string_view device_id, std::uint64_t epoch,
                                      const nlohmann::json& patch, time_point now);

  // ---- direct methods (next-capabilities §3) -------------------------------------------------
  /// Starts a call (direct_methods.hpp): its id, which the caller waits for as
  /// event::method_result. `device_not_found` for an unknown device; `device_not_online` at
  /// once when the device is not reachable and `connect_timeout` is 0.
  result<std::uint64_t> invoke_method(std::string_view device_id, method_call call, time_point now);
  /// The session `epoch` now subscribes to `topics` (iothub_topic bits): kept for the
  /// device's next connection with clean session 0; with `methods` the device is reachable
  /// for direct methods.
  status set_iothub_topics(std::string_view device_id, std::uint64_t epoch, std::uint8_t topics,
                           time_point now);
  /// The device answered call `rid` from session `epoch`; false when no such call is waiting.
  bool answer_method(std::string_view device_id, std::uint64_t epoch, std::string_view rid,
                     int device_status, std::string payload);
  /// Connected with a current session subscribed to methods.
  bool methods_reachable(std::string_view device_id) const;

  // ---- telemetry (issue 14) ---------------------------------------------------------------
  /// Appends a device's message to the telemetry log (its partition, sequence number, offset
  /// and enqueued time are assigned). Refused while a fault-injection window is open for the
  /// identity (fault_refusal). With fault injection on, a message carrying a fault request
  /// (fault_request.hpp) is stored too; an Invoke* request opens its window here, a connection
  /// fault is returned for the front that carries the connection to schedule.
  result<recorded_telemetry> record_telemetry(std::string_view device_id,
                                              std::vector<property> properties, std::string body,
                                              time_point now);
  std::vector<telemetry_message> telemetry() const { return telemetry_.messages(); }
  /// The newest `n` telemetry events, oldest first (the dashboard).
  std::vector<std::shared_ptr<const telemetry_message>> telemetry_tail(std::size_t n) const {
    return telemetry_.tail(n);
  }
  /// The partitions of the Event Hubs-compatible endpoint (fixed for a stored hub).
  int partition_count() const { return telemetry_.partition_count(); }
  /// `$Default` and the configured consumer groups.
  std::vector<std::string> consumer_groups() const;
  /// A partition's properties; entity_not_found for a partition out of range.
  result<partition_info> partition(std::string_view partition_id) const;
  /// A reader (telemetry_readers.hpp) of `partition_id` in consumer group `r.consumer_group`
  /// (r.partition is set here): entity_not_found for an unknown consumer group or partition,
  /// receiver_disconnected for an epoch conflict.
  result<std::uint64_t> attach_telemetry_reader(std::string_view partition_id, reader_request r);
  /// telemetry_readers::set_limit: returns how many events this call delivered.
  std::uint64_t set_telemetry_credit(std::uint64_t reader, std::uint64_t limit);
  void detach_telemetry_reader(std::uint64_t reader) { readers_.detach(reader); }

  // ---- throttling and quota (issue 17, throttling.hpp) --------------------------------------
  /// Takes one operation of `op` from the tier's throttle (fronts call it for what the hub does
  /// not see as one operation: registry REST routes, HTTPS C2D receives); the throttling error
  /// when it is exhausted. Never refuses without a tier.
  std::optional<error> throttle(throttled_operation op, time_point now) {
    return throttles_.admit(op, now);
  }
  const hub_throttles& throttles() const { return throttles_; }
  /// What the hub holds and has done (issue 18: /metrics, the dashboard).
  hub_statistics statistics() const;

  // ---- fault injection (issue 17) ---------------------------------------------------------
  /// The error an operation of `identity` (telemetry, its twin requests) gets now, while an
  /// Invoke* fault is in force (device_faults.hpp).
  std::optional<error> fault_refusal(std::string_view identity, time_point now) const {
    return faults_.refusal(identity, now);
  }
  /// A fault asked for through test control (`POST /admin/devices/{id}/faults`), as if the
  /// identity had sent it: an Invoke* window opens; a connection fault goes to the front of
  /// the identity's session (event::fault_requested) and needs one (404103 DeviceNotOnline).
  status inject_fault(std::string_view identity, const fault_request& r, time_point now);
  /// A front reports what became of a fault (applied, ignored) for the fault log.
  void note_fault(std::string_view identity, fault_kind kind, std::string event, std::string detail,
                  time_point now) {
    faults_.record(identity, to_string(kind), std::move(event), std::move(detail), now);
  }
  const std::deque<fault_record>& fault_log() const { return faults_.records(); }
  /// The hub-wide faults test control sets (hub_faults.hpp); the executor and the fronts read
  /// them.
  hub_faults& test_faults() { return test_faults_; }
  const hub_faults& test_faults() const { return test_faults_; }
  /// Test control changed which fronts are paused: tells the fronts (event::fronts_paused).
  void fronts_paused_changed() { journal_.emit(event::fronts_paused{test_faults_.paused_fronts}); }
  /// Every authenticated device connection ends now as if its token had expired
  /// (event::tokens_expired); the fault log says so (type "ExpireTokens", no device).
  void expire_all_tokens(time_point now) {
    faults_.record("", "ExpireTokens", "applied", "test control", now);
    journal_.emit(event::tokens_expired{});
  }

  // ---- time --------------------------------------------------------------------------------
  /// Applies everything that is due at `now`: TTL expiry, lock timeouts, delivery-count
  /// dead-lettering, feedback batch cuts, feedback lock/TTL; delivers what became available.
  void advance(time_point now);
  /// The earliest moment at which advance() would change something, if any.
  std::optional<time_point> next_deadline() const;

  // ---- outputs -----------------------------------------------------------------------------
  std::vector<state_change> take_changes() { return journal_.take_changes(); }
  std::vector<hub_event> take_events() { return journal_.take_events(); }
  bool has_changes() const { return journal_.has_changes(); }
  /// Grows with every change recorded (journal::writes): equal before and after a request
  /// when the request changed nothing.
  std::uint64_t writes() const { return journal_.writes(); }

 private:
  /// A grant judged by the wall clock, its expiry moved into hub time (set_wall_lag).
  result<auth_grant> in_hub_time(result<auth_grant> grant) const {
    if (grant) grant->expiry += wall_lag_;
    return grant;
  }
  void end_ca_device_sessions(time_point now);
  /// Ends what a deleted identity (device or module) had: session, twin, method calls,
  /// topics, presence.
  void forget_identity(std::string_view identity, time_point now);
  /// Delivers to the sessions of every device whose queue got a deliverable message.
  void deliver_available(time_point now);

  hub_settings settings_;
  journal journal_;
  registry registry_{journal_};
  ca_certificates cas_{journal_};
  feedback_queue feedback_{settings_, journal_};
  c2d_queue queue_{settings_, journal_, feedback_};
  device_sessions sessions_{journal_, registry_, queue_};
  device_twins twins_{journal_};
  direct_methods methods_{journal_};
  std::map<std::string, std::uint8_t, std::less<>> iothub_topics_;  // device → iothub_topic bits
  /// Presence times by device (`connected` is read from the sessions).
  std::map<std::string, device_presence, std::less<>> presence_;
  void touch(std::string_view device_id, time_point now);
  void presence_changed(std::string_view device_id, time_point now);
  telemetry_log telemetry_{settings_, journal_};
  telemetry_readers readers_{journal_};
  device_faults faults_;
  hub_faults test_faults_;
  duration wall_lag_{};  // set_wall_lag
  hub_throttles throttles_{settings_.throttling};
  device_connect_limit connect_limit_{settings_.device_connects};
};

}  // namespace emu::core
