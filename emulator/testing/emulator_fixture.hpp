#pragma once
/// An in-process IoT Hub emulator for C++ integration tests (issue 6 item 4).
///
///   emu::testing::emulator_fixture hub;          // nothing runs yet
///   hub.start();                                 // milliseconds: temp dir, dev CA, ports
///   auto dev = hub.create_device("dev1");        // keys generated, like Azure
///   // point the SDK under test at hub.host_name() / hub.ports() / hub.ca_certificate()
///   hub.advance_clock(std::chrono::hours(2));    // TTLs expire now, not in two hours
///   CHECK(hub.feedback().pending.at(0).status_code == "Expired");
///
/// Each fixture is a whole hub: its own hub executor, its own SQLite database (in memory by
/// default), its own development CA and server certificate in a fresh temporary directory, and
/// its own listeners on 127.0.0.1 with ephemeral ports, so fixtures never clash, also in
/// parallel test processes. The hub has the standard policies with the README's well-known
/// development keys (iothubowner, service, device, registryRead, registryReadWrite) and the
/// device `myDevice`.
///
/// Fronts: every front the executable runs — MQTT (devices), AMQP (service: C2D, feedback,
/// CBS) and HTTPS (registry REST, /health, /admin/ test control) — built by the same wiring
/// (`app::emulator`), each on an ephemeral port read back from ports().
///
/// This header uses only the standard library: it is the installed interface of the
/// `iothub_emulator::testing` CMake package (find_package(iothub_emulator)).
///
/// Thread safety: start()/stop() from one thread; the inspection and control calls from any
/// thread while running (they go through the hub executor). Errors are thrown as
/// std::runtime_error ("DeviceNotFound: Device x not found.").
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace emu::testing {

struct fixture_options {
  /// The HostName in connection strings and the server certificate's SAN. The other loopback
  /// name (127.0.0.1 or localhost) is an alias: tokens signed for it are accepted too.
  std::string host_name = "localhost";
  /// Listen address. Loopback keeps tests hermetic.
  std::string bind = "127.0.0.1";
  /// 0 = an ephemeral port (the default; read it back from ports()).
  std::uint16_t https_port = 0;
  /// Certificates (`certs/`) and, with `database_file`, `iothub.db` go here. Empty: a fresh
  /// temporary directory that the fixture removes when destroyed.
  std::filesystem::path data_dir;
  /// Keep the hub in a SQLite file in `data_dir` (e.g. to restart on the same state) instead
  /// of in memory.
  bool database_file = false;
  /// Serve the /admin/ test-control routes on the HTTPS port (loopback peers only).
  bool test_control = true;
  /// C2D lock (visibility) timeout. Absent: the hub's default, Azure's 60 s (spec §1.1).
  /// Shorter speeds up tests of abandoned locks without clock travel.
  std::optional<std::chrono::milliseconds> c2d_lock_timeout;
  /// The default C2D time to live. Absent: the hub's default, Azure's 1 h (spec §1.2).
  std::optional<std::chrono::milliseconds> c2d_default_ttl;
  /// Carry out the faults that telemetry with `AzIoTHub_Fault*` properties asks for (issue 17,
  /// `--fault-injection`). inject_fault() works either way.
  bool fault_injection = false;
};

/// Hub-wide faults (issue 17, `PATCH /admin/chaos`): set_chaos() replaces all of them.
struct chaos_options {
  /// Every commit with changes waits this long (a slow disk).
  std::chrono::milliseconds commit_delay{};
  /// The next commits with changes fail as a full disk would (rolled back, storage errors).
  int fail_next_commits = 0;
  /// The next CBS put-tokens are refused (401).
  int reject_next_put_tokens = 0;
  /// "mqtt", "amqp": their connections accept TCP but are never answered.
  std::vector<std::string> paused_fronts;
};

/// A line of the fault log (issue 17): a fault asked for, carried out, ignored or ended.
struct fault_record_view {
  std::string device_id;
  std::string module_id;  ///< empty for a device
  std::string type;       ///< "KillTcp", "InvokeThrottling", …
  std::string event;      ///< "requested", "applied", "ignored", "ended"
  std::string detail;
  std::chrono::system_clock::time_point time;
};

/// Bound ports; 0 for a front that is not running.
struct fixture_ports {
  std::uint16_t https = 0;
  std::uint16_t mqtt = 0;
  std::uint16_t amqp = 0;
};

struct device_identity {
  std::string device_id;
  std::string primary_key;
  std::string secondary_key;
  /// `HostName=<host>;DeviceId=<id>;SharedAccessKey=<primary>`.
  std::string connection_string;
};

/// A property as a (name, value) pair, in the order received.
using property_list = std::vector<std::pair<std::string, std::string>>;

/// A C2D message still in a device's queue (spec §1.1).
struct c2d_message_view {
  std::uint64_t seq = 0;
  std::string message_id;
  std::string correlation_id;
  std::string state;  ///< "Enqueued" or "Invisible" (locked by a delivery)
  int delivery_count = 0;
  std::chrono::system_clock::time_point enqueued_time;
  std::chrono::system_clock::time_point expiry_time;
  /// Set while Invisible.
  std::optional<std::chrono::system_clock::time_point> lock_expiry;
  std::string ack;  ///< "none", "positive", "negative", "full"
  property_list properties;
  std::string body;  ///< bytes
};

/// What to enqueue with send_c2d (the same admission rules as the AMQP endpoint, spec §1.4).
struct c2d_send {
  std::string body;
  std::string message_id;
  std::string correlation_id;
  std::string ack = "none";
  property_list properties;
  /// Absent: the hub's default TTL.
  std::optional<std::chrono::milliseconds> ttl;
};

struct feedback_record_view {
  std::string original_message_id;
  std::string device_id;
  std::string status_code;  ///< "Success", "Expired", "DeliveryCountExceeded", "Rejected", "Purged"
  std::chrono::system_clock::time_point enqueued_time;
  std::uint64_t batch_id = 0;  ///< 0 while not yet in a batch
};

struct feedback_batch_view {
  std::uint64_t id = 0;
  int delivery_count = 0;
  bool locked = false;
  std::vector<feedback_record_view> records;
};

/// Feedback records not yet batched, and batches waiting for a consumer (spec §2.3).
struct feedback_view {
  std::vector<feedback_record_view> pending;
  std::vector<feedback_batch_view> batches;
};

/// An event of the telemetry log, as an Event Hubs reader would get it (issue 14).
struct telemetry_view {
  std::string device_id;
  std::chrono::system_clock::time_point enqueued_time;
  property_list properties;
  std::string body;
  int partition = 0;
  std::int64_t sequence_number = 0;
  std::int64_t offset = 0;
};

/// A direct method's answer from the device (next-capabilities §3).
struct method_response_view {
  int status = 0;
  std::string payload;  ///< the device's JSON text
};

class emulator_fixture {
 public:
  explicit emulator_fixture(fixture_options options = {});
  /// Stops the hub and removes the temporary directory (if the fixture made one).
  ~emulator_fixture();
  emulator_fixture(const emulator_fixture&) = delete;
  emulator_fixture& operator=(const emulator_fixture&) = delete;

  /// Starts everything; returns when every listener is bound. Throws std::runtime_error or
  /// std::system_error (a port in use) naming the problem.
  void start();
  /// Stops the listeners and the hub executor (work in flight is committed). Idempotent.
  void stop();
  bool running() const;

  fixture_ports ports() const;
  std::string host_name() const;
  /// The development CA certificate (PEM file) that clients must trust.
  std::filesystem::path ca_certificate() const;
  std::string ca_certificate_pem() const;
  /// `https://<host>:<port>`.
  std::string https_url() const;

  /// `HostName=<host>;SharedAccessKeyName=<policy>;SharedAccessKey=<key>` for one of the hub's
  /// policies (iothubowner, service, device, registryRead, registryReadWrite).
  std::string hub_connection_string(const std::string& policy = "iothubowner") const;
  /// The built-in Event Hubs-compatible endpoint (issue 14), for @azure/event-hubs and other
  /// Event Hubs clients: `Endpoint=sb://<host>:<amqp port>/;SharedAccessKeyName=service;
  /// SharedAccessKey=<key>;EntityPath=<hub name>`.
  std::string event_hubs_connection_string() const;
  /// The connection string of an existing device (its primary key). Throws if unknown.
  std::string device_connection_string(const std::string& device_id);

  /// Creates a device with generated keys. Throws if it exists.
  device_identity create_device(const std::string& device_id);
  void delete_device(const std::string& device_id);
  /// Enqueues a C2D message for a device; returns its sequence number.
  std::uint64_t send_c2d(const std::string& device_id, const c2d_send& message);

  /// The emulator's clock (system clock + clock travel).
  std::chrono::system_clock::time_point now() const;
  /// Moves the emulator's clock forward; when this returns the hub has applied everything that
  /// became due (expiry, lock timeouts, feedback batches).
  void advance_clock(std::chrono::milliseconds by);

  std::vector<c2d_message_view> queue(const std::string& device_id);
  feedback_view feedback();
  std::vector<telemetry_view> telemetry();

  // ---- fault injection (issue 17) -----------------------------------------------------------
  /// Cuts or disturbs the connection of `identity` (`deviceId` or `deviceId/moduleId`) after
  /// `delay` as the SDKs' fault messages do: "KillTcp", "ShutDownMqtt", "ShutDownAmqp",
  /// "KillAmqpConnection", "KillAmqpSession", "KillAmqpC2DLink", …; or, for `duration`, refuses
  /// its operations: "InvokeThrottling", "InvokeMaxMessageQuota", "InvokeAuthError". Throws
  /// "DeviceNotOnline: …" for a connection fault when it is not connected.
  void inject_fault(const std::string& identity, const std::string& type,
                    std::chrono::milliseconds delay = {},
                    std::chrono::milliseconds duration = std::chrono::seconds(10));
  /// The fault log, oldest first.
  std::vector<fault_record_view> fault_log();
  /// Whether `identity` has a connection now (its registry `connectionState`).
  bool connected(const std::string& identity);
  /// Sets every hub-wide fault (chaos_options; all zero: none). Throws std::invalid_argument
  /// for a front other than "mqtt" or "amqp".
  void set_chaos(const chaos_options& chaos);
  /// Ends every authenticated device connection as at its token's expiry.
  void expire_tokens();
  // ---- twins and direct methods (issue 13) -------------------------------------------------
  /// The device's twin as JSON text: `{"deviceId", "etag", "version", "tags", "properties":
  /// {"desired": {…, "$metadata", "$version"}, "reported": {…}}}`. Throws if unknown.
  std::string twin(const std::string& device_id);
  /// Merges `patch_json` (a JSON object, e.g. `{"interval":5}`; null members delete) into the
  /// device's desired properties as the service would; a connected device subscribed to
  /// desired updates receives it. Returns the new desired `$version`. Throws
  /// "ArgumentInvalid: …" for a patch Azure refuses.
  std::int64_t update_desired(const std::string& device_id, const std::string& patch_json);
  /// Calls a direct method and waits for the device's answer (at most `response_timeout`
  /// once sent, and `connect_timeout` for an offline device to subscribe). Throws
  /// std::runtime_error "DeviceNotOnline: …", "GatewayTimeout: …" or "DeviceNotFound: …".
  method_response_view invoke_method(
      const std::string& device_id, const std::string& method_name,
      const std::string& payload_json = "null",
      std::chrono::seconds response_timeout = std::chrono::seconds(30),
      std::chrono::seconds connect_timeout = std::chrono::seconds(0));

  /// Removes all devices, messages, feedback and telemetry (the policies stay).
  void reset();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace emu::testing
