// read-telemetry: read device-to-cloud telemetry from IoT Hub's built-in Event Hubs-compatible
// endpoint over AMQP.
//
// This is the C++ twin of clients/node/read_telemetry.js (and of the quickstart's
// ReadDeviceToCloudMessages), written against the public AMQP 1.0 protocol with Qpid Proton C++
// instead of an Event Hubs SDK. It shows what an Event Hubs reader does, step by step:
//
//  1. Read the hub's Event Hubs-compatible connection string (portal: Built-in endpoints;
//     `az iot hub connection-string show --default-eventhub`):
//       Endpoint=sb://{host}/;SharedAccessKeyName={policy};SharedAccessKey={key};EntityPath={name}
//     The endpoint is {host}, AMQP over TLS on port 5671 (a `:port` in Endpoint moves it).
//  2. Open the connection over TLS, verifying the server certificate against a CA file
//     (--ca-file) or the system trust store, with SASL ANONYMOUS, as the Event Hubs clients do.
//  3. CBS: attach a sender and a receiver to `$cbs` and send a put-token request (application
//     properties operation=put-token, type=servicebus.windows.net:sastoken, name={audience};
//     body = a SAS token for the audience sb://{host}/{name} with skn={policy}). Event Hubs signs
//     with the key's text (its UTF-8 bytes), not with the base64-decoded key as IoT Hub does. The
//     hub answers with status-code 200 and correlation-id = our message-id.
//  4. `$management`: a READ request (operation=READ, type=com.microsoft:eventhub, name={name})
//     answers with a map whose `partition_ids` lists the partitions.
//  5. Attach one receiver per partition to {name}/ConsumerGroups/{group}/Partitions/{id}, with
//     the start position in the source's filter `apache.org:selector-filter:string`:
//       now       amqp.annotation.x-opt-enqueued-time > '{unix ms when this program started}'
//       earliest  amqp.annotation.x-opt-offset > '-1'
//       latest    amqp.annotation.x-opt-offset > '@latest'
//       a time    amqp.annotation.x-opt-enqueued-time > '{unix ms}'
//     Events arrive pre-settled against the link credit. Each carries the hub's stamps in its
//     message annotations (iothub-connection-device-id, x-opt-sequence-number,
//     x-opt-enqueued-time, x-opt-offset), the device's message id and its own application
//     properties, and the body as the device sent it (one Data section). Print them.
//
// Usage:
//   read-telemetry [--connection-string CS] [--consumer-group G] [--start POSITION]
//                  [--device-id ID] [--ca-file PEM] [--port N] [--count N] [--timeout S]
//   CS defaults to $EVENTHUB_CONNECTION_STRING, G to $EVENTHUB_CONSUMER_GROUP or $Default,
//   POSITION (now, earliest, latest or an ISO 8601 time such as 2026-01-31T12:00:00Z) to
//   $EVENTHUB_START_POSITION or now, ID (print and count only this device's events) to
//   $IOTHUB_DEVICE_ID, PEM to $IOTHUB_CA_FILE.
//   --count N exits 0 after N events; --timeout S gives up after S seconds (exit 7 when a
//   --count was not reached, else exit 0). Without either it runs until Ctrl-C.
//
// Exit codes (clients/common/exit_codes.hpp): 2 bad arguments or connection string,
// 3 not authorized (CBS status != 200), 4 TLS failure (e.g. untrusted certificate),
// 5 connection failure, 7 timeout; 1 for other refusals (e.g. an unknown consumer group).

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/codec/encoder.hpp>
#include <proton/codec/map.hpp>
#include <proton/codec/vector.hpp>
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/error_condition.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/scalar.hpp>
#include <proton/sender.hpp>
#include <proton/source.hpp>
#include <proton/source_options.hpp>
#include <proton/ssl.hpp>
#include <proton/symbol.hpp>
#include <proton/target_options.hpp>
#include <proton/timestamp.hpp>
#include <proton/transport.hpp>
#include <proton/uuid.hpp>
#include <proton/work_queue.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "clients/common/cli.hpp"
#include "clients/common/connection_string.hpp"
#include "clients/common/exit_codes.hpp"
#include "clients/common/sas.hpp"

namespace {

using namespace iothub_samples;

constexpr std::uint16_t default_amqp_port = 5671;
constexpr std::int64_t token_ttl_seconds = 3600;
constexpr int credit_per_partition = 10;
constexpr const char* selector_filter = "apache.org:selector-filter:string";

std::atomic<bool> interrupted{false};

extern "C" void on_signal(int) {
  interrupted = true;
}

/// Endpoint=sb://host[:port]/;SharedAccessKeyName=…;SharedAccessKey=…;EntityPath=…
struct event_hubs_connection_string {
  std::string endpoint_host;  ///< as written, with its port if any
  std::string key_name;
  std::string key;
  std::string entity_path;
};

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  const auto last = s.find_last_not_of(" \t\r\n");
  return first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
}

/// Splits on `;` and each part at its first `=` (keys end in `=`), like the Event Hubs SDKs.
/// Throws connection_string_error naming the problem, never the key.
event_hubs_connection_string parse_event_hubs_connection_string(const std::string& text) {
  std::map<std::string, std::string> fields;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto semicolon = std::min(text.find(';', pos), text.size());
    const std::string part = trim(text.substr(pos, semicolon - pos));
    pos = semicolon + 1;
    if (part.empty()) continue;
    const auto equals = part.find('=');
    if (equals == std::string::npos || equals == 0)
      throw connection_string_error("a part has no 'Name=value' form (expected e.g. Endpoint=...)");
    const std::string name = trim(part.substr(0, equals));
    const std::string value = trim(part.substr(equals + 1));
    if (value.empty()) throw connection_string_error(name + " is empty");
    if (!fields.emplace(name, value).second) throw connection_string_error(name + " appears twice");
  }
  auto take = [&](const char* name) {
    const auto it = fields.find(name);
    return it == fields.end() ? std::string() : it->second;
  };
  event_hubs_connection_string cs;
  const std::string endpoint = take("Endpoint");
  if (endpoint.empty()) {
    throw connection_string_error(
        take("HostName").empty()
            ? "Endpoint is missing"
            : "Endpoint is missing (this looks like an IoT Hub connection string; the Event "
              "Hubs-compatible one starts with Endpoint=sb://... and ends with EntityPath=...)");
  }
  const auto scheme = endpoint.find("://");
  if (scheme == std::string::npos)
    throw connection_string_error("Endpoint must look like sb://host/ (got no scheme)");
  std::string host = endpoint.substr(scheme + 3);
  if (const auto slash = host.find('/'); slash != std::string::npos) host.resize(slash);
  if (host.empty()) throw connection_string_error("the host name in Endpoint is empty");
  cs.endpoint_host = host;
  cs.entity_path = take("EntityPath");
  if (cs.entity_path.empty())
    throw connection_string_error("EntityPath is missing (the Event Hubs-compatible name)");
  cs.key_name = take("SharedAccessKeyName");
  cs.key = take("SharedAccessKey");
  if (cs.key.empty()) {
    if (!take("SharedAccessSignature").empty())
      throw connection_string_error(
          "SharedAccessSignature connection strings are not supported by this sample; use a "
          "SharedAccessKey");
    throw connection_string_error("SharedAccessKey is missing");
  }
  if (cs.key_name.empty()) throw connection_string_error("SharedAccessKeyName is missing");
  if (!base64_decode(cs.key)) throw connection_string_error("SharedAccessKey is not base64");
  return cs;
}

/// A SAS token as the Event Hubs clients make it: like IoT Hub's (sas.hpp), but the HMAC key is
/// the shared access key's text, not its base64-decoded bytes.
std::string make_event_hubs_sas_token(const std::string& audience, const std::string& key,
                                      const std::string& key_name, std::int64_t expiry) {
  const std::string sr = url_encode(audience);
  const std::string se = std::to_string(expiry);
  const std::string sig = url_encode(base64_encode(hmac_sha256(key, sr + "\n" + se)));
  return "SharedAccessSignature sr=" + sr + "&sig=" + sig + "&se=" + se +
         "&skn=" + url_encode(key_name);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// 2026-01-31T12:00:00.000Z, like JavaScript's Date.toISOString().
std::string iso_time(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[48];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms - static_cast<std::int64_t>(seconds) * 1000));
  return text;
}

/// YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM) → milliseconds since the Unix epoch.
std::optional<std::int64_t> parse_iso_time(const std::string& text) {
  static const std::regex shape(
      R"(^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?(Z|([+-])(\d\d):(\d\d))$)");
  std::smatch m;
  if (!std::regex_match(text, m, shape)) return std::nullopt;
  auto number = [&](int i) { return m[i].matched ? std::stoi(m[i].str()) : 0; };
  std::tm tm{};
  tm.tm_year = number(1) - 1900;
  tm.tm_mon = number(2) - 1;
  tm.tm_mday = number(3);
  tm.tm_hour = number(4);
  tm.tm_min = number(5);
  tm.tm_sec = number(6);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 59)
    return std::nullopt;
  std::int64_t ms = static_cast<std::int64_t>(timegm(&tm)) * 1000;
  if (m[7].matched) ms += std::stoi((m[7].str() + "00").substr(0, 3));
  if (m[9].matched) {
    const std::int64_t offset = (number(10) * 60 + number(11)) * 60'000;
    ms += m[9].str() == "+" ? -offset : offset;
  }
  return ms;
}

struct start_position {
  std::string filter;       ///< the selector filter's expression
  std::string description;  ///< what the header prints
};

start_position parse_start(const std::string& text, std::int64_t started_ms) {
  std::string lower;
  for (const char c : text) lower.push_back(static_cast<char>(std::tolower(c)));
  auto after = [](std::int64_t ms) {
    return "amqp.annotation.x-opt-enqueued-time > '" + std::to_string(ms) + "'";
  };
  if (lower.empty() || lower == "now")
    return {after(started_ms), "now (" + iso_time(started_ms) + ")"};
  if (lower == "earliest") return {"amqp.annotation.x-opt-offset > '-1'", "earliest"};
  if (lower == "latest") return {"amqp.annotation.x-opt-offset > '@latest'", "latest"};
  const auto ms = parse_iso_time(text);
  if (!ms)
    throw usage_error(
        "--start (or EVENTHUB_START_POSITION) must be now, earliest, latest or an ISO 8601 time "
        "such as 2026-01-31T12:00:00Z (got '" +
        text + "')");
  return {after(*ms), "enqueued after " + iso_time(*ms)};
}

struct settings {
  event_hubs_connection_string cs;
  host_port endpoint;
  std::string consumer_group = "$Default";
  start_position start;
  std::string device_id;  // empty: every device
  std::string ca_file;
  std::int64_t count = 0;    // 0: no limit
  std::int64_t timeout = 0;  // seconds, 0: none
};

std::string string_of(const proton::message_id& id) {
  if (id.empty()) return std::string();
  if (id.type() == proton::STRING) return proton::get<std::string>(id);
  return proton::to_string(id);
}

/// A message annotation by name, or an empty value.
proton::value annotation(const proton::message& m, const char* name) {
  const auto& annotations = m.message_annotations();
  const proton::annotation_key key{proton::symbol(name)};
  return annotations.exists(key) ? annotations.get(key) : proton::value();
}

/// An application property or annotation value as JSON: strings, numbers and booleans as
/// themselves, anything else as Proton prints it.
nlohmann::ordered_json json_of(const proton::value& v) {
  switch (v.type()) {
    case proton::STRING:
      return proton::get<std::string>(v);
    case proton::SYMBOL:
      return std::string(proton::get<proton::symbol>(v));
    case proton::BOOLEAN:
      return proton::get<bool>(v);
    case proton::NULL_TYPE:
      return nullptr;
    case proton::FLOAT:
    case proton::DOUBLE:
      return proton::coerce<double>(v);
    case proton::UBYTE:
    case proton::USHORT:
    case proton::UINT:
    case proton::ULONG:
      return proton::coerce<std::uint64_t>(v);
    case proton::BYTE:
    case proton::SHORT:
    case proton::INT:
    case proton::LONG:
      return proton::coerce<std::int64_t>(v);
    case proton::TIMESTAMP:
      return iso_time(proton::get<proton::timestamp>(v).milliseconds());
    default:
      return proton::to_string(v);
  }
}

std::string body_text(const proton::message& m) {
  const proton::value& body = m.body();
  switch (body.type()) {
    case proton::BINARY:
      return std::string(proton::get<proton::binary>(body));
    case proton::STRING:
      return proton::get<std::string>(body);
    case proton::NULL_TYPE:
      return std::string();
    default:
      return proton::to_string(body);
  }
}

class telemetry_reader : public proton::messaging_handler {
 public:
  explicit telemetry_reader(settings s) : settings_(std::move(s)) {}

  int result() const { return result_.value_or(exit_failure); }

  void on_container_start(proton::container& c) override {
    proton::connection_options opts;
    // SASL ANONYMOUS, then CBS: what the Event Hubs clients do.
    opts.sasl_enabled(true);
    opts.sasl_allowed_mechs("ANONYMOUS");
    opts.virtual_host(settings_.endpoint.host);
    opts.ssl_client_options(
        settings_.ca_file.empty()
            ? proton::ssl_client_options(proton::ssl::VERIFY_PEER_NAME)
            : proton::ssl_client_options(settings_.ca_file, proton::ssl::VERIFY_PEER_NAME));
    opts.handler(*this);
    const auto& ep = settings_.endpoint;
    const std::string host = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
    const std::string url = "amqps://" + host + ":" + std::to_string(ep.port);
    std::cout << "Connecting to " << url << std::endl;
    if (settings_.timeout > 0)
      deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(settings_.timeout);
    tick(c);
    connection_ = c.connect(url, opts);
  }

  void on_connection_open(proton::connection& conn) override {
    connected_once_ = true;
    std::cout << "Connected; authenticating with CBS put-token" << std::endl;
    cbs_sender_ = conn.open_sender("$cbs");
    cbs_receiver_ = conn.open_receiver("$cbs", reply_receiver("cbs-" + run_tag_));
  }

  void on_sendable(proton::sender& s) override {
    if (s == cbs_sender_ && cbs_request_id_.empty()) {
      send_put_token(s);
    } else if (s == management_sender_ && management_request_id_.empty()) {
      send_partition_request(s);
    }
  }

  void on_receiver_open(proton::receiver& r) override {
    const auto it = partitions_.find(r);
    if (it == partitions_.end() || result_) return;
    if (++attached_ == partitions_.size()) {
      std::string list;
      for (const auto& id : partition_ids_) list += (list.empty() ? "" : ", ") + id;
      std::cout << "Reading partitions " << list << " of '" << settings_.cs.entity_path
                << "', press Ctrl-C to exit" << std::endl;
    }
  }

  void on_message(proton::delivery& d, proton::message& m) override {
    if (d.receiver() == cbs_receiver_) {
      on_cbs_reply(m);
    } else if (d.receiver() == management_receiver_) {
      on_partition_reply(m);
    } else if (const auto it = partitions_.find(d.receiver()); it != partitions_.end()) {
      on_event(it->second, m);
    }
  }

  void on_transport_error(proton::transport& t) override {
    const auto err = t.error();
    const std::string text = err.name() + ": " + err.description();
    const bool tls = text.find("SSL") != std::string::npos ||
                     text.find("certificate") != std::string::npos ||
                     text.find("TLS") != std::string::npos;
    if (tls) {
      fail(exit_tls_failure, "TLS failure: " + err.description() + tls_hint());
    } else if (!connected_once_) {
      fail(exit_connection_failure,
           "cannot connect to " + endpoint_text() + ": " + err.description());
    } else {
      fail(exit_connection_failure, "connection lost: " + text);
    }
  }

  void on_connection_error(proton::connection& conn) override {
    const auto err = conn.error();
    fail(err.name() == "amqp:unauthorized-access" ? exit_unauthorized : exit_connection_failure,
         "the hub closed the connection: " + err.what());
  }
  void on_session_error(proton::session& s) override {
    fail(exit_failure, "the hub closed the session: " + s.error().what());
  }
  void on_sender_error(proton::sender& s) override { link_error(s.error(), s.target().address()); }
  void on_receiver_error(proton::receiver& r) override {
    link_error(r.error(), r.source().address());
  }

 private:
  /// A receiver on `$cbs` or `$management` whose target address is the reply-to of our requests,
  /// so the hub routes each answer to it.
  static proton::receiver_options reply_receiver(const std::string& address) {
    return proton::receiver_options().name(address).target(
        proton::target_options().address(address));
  }

  // ---- CBS ----------------------------------------------------------------------------------

  std::string audience() const {
    // The token names the Event Hub, sb://{host}/{name}; it covers its partitions and
    // $management. The host is the namespace's, without a port.
    return "sb://" + settings_.endpoint.host + "/" + settings_.cs.entity_path;
  }

  void send_put_token(proton::sender& s) {
    const auto& cs = settings_.cs;
    const std::string token =
        make_event_hubs_sas_token(audience(), cs.key, cs.key_name, expiry_in(token_ttl_seconds));
    cbs_request_id_ = proton::uuid::random().str();
    proton::message request;
    request.id(cbs_request_id_);
    request.to("$cbs");
    request.reply_to("cbs-" + run_tag_);
    request.properties().put("operation", "put-token");
    request.properties().put("type", "servicebus.windows.net:sastoken");
    request.properties().put("name", audience());
    request.body(token);  // an AMQP string value, as the SDKs send it
    s.send(request);
  }

  static std::pair<std::int64_t, std::string> status_of(const proton::message& reply) {
    const auto& props = reply.properties();
    std::int64_t status = 0;
    std::string description;
    try {
      if (props.exists("status-code"))
        status = proton::coerce<std::int64_t>(props.get("status-code"));
      if (props.exists("status-description"))
        description = proton::coerce<std::string>(props.get("status-description"));
    } catch (const std::exception&) {
    }
    return {status, description};
  }

  void on_cbs_reply(const proton::message& reply) {
    if (string_of(reply.correlation_id()) != cbs_request_id_) return;  // not ours
    const auto [status, description] = status_of(reply);
    if (status != 200) {
      fail(exit_unauthorized, "not authorized: CBS put-token answered " + std::to_string(status) +
                                  (description.empty() ? "" : " (" + description + ")") +
                                  "; check the policy name and key");
      return;
    }
    std::cout << "Authenticated as policy '" << settings_.cs.key_name << "' (CBS status 200)"
              << std::endl;
    management_receiver_ =
        connection_.open_receiver("$management", reply_receiver("mgmt-" + run_tag_));
    management_sender_ = connection_.open_sender("$management");
  }

  // ---- $management: the partitions ---------------------------------------------------------

  void send_partition_request(proton::sender& s) {
    management_request_id_ = proton::uuid::random().str();
    proton::message request;
    request.id(management_request_id_);
    request.to("$management");
    request.reply_to("mgmt-" + run_tag_);
    request.properties().put("operation", "READ");
    request.properties().put("name", settings_.cs.entity_path);
    request.properties().put("type", "com.microsoft:eventhub");
    s.send(request);
  }

  void on_partition_reply(const proton::message& reply) {
    if (string_of(reply.correlation_id()) != management_request_id_) return;
    const auto [status, description] = status_of(reply);
    if (status != 200) {
      fail(status == 401 ? exit_unauthorized : exit_failure,
           "cannot read the Event Hub's partitions: $management answered " +
               std::to_string(status) + (description.empty() ? "" : " (" + description + ")"));
      return;
    }
    try {
      std::map<std::string, proton::value> info;
      proton::get(reply.body(), info);
      proton::get(info.at("partition_ids"), partition_ids_);
    } catch (const std::exception& e) {
      fail(exit_failure,
           std::string("unexpected $management answer (no partition_ids): ") + e.what());
      return;
    }
    if (partition_ids_.empty()) {
      fail(exit_failure, "the Event Hub has no partitions");
      return;
    }
    management_sender_.close();
    management_receiver_.close();
    for (const auto& id : partition_ids_) open_partition(id);
  }

  void open_partition(const std::string& id) {
    // The start position: a described value, descriptor = the filter's name, as the C SDK
    // sends it (the .NET/Node clients use the numeric descriptor 0x0000468C00000004).
    proton::value filter;
    proton::codec::encoder enc(filter);
    enc << proton::codec::start::described() << proton::symbol(selector_filter)
        << settings_.start.filter << proton::codec::finish();
    proton::source::filter_map filters;
    filters.put(proton::symbol(selector_filter), filter);
    const std::string address = settings_.cs.entity_path + "/ConsumerGroups/" +
                                settings_.consumer_group + "/Partitions/" + id;
    auto r =
        connection_.open_receiver(address, proton::receiver_options()
                                               .credit_window(credit_per_partition)
                                               .source(proton::source_options().filters(filters)));
    partitions_[r] = id;
  }

  // ---- events -------------------------------------------------------------------------------

  void on_event(const std::string& partition, const proton::message& m) {
    if (result_) return;
    const proton::value device_value = annotation(m, "iothub-connection-device-id");
    const std::string device =
        device_value.empty() ? std::string() : proton::coerce<std::string>(device_value);
    if (!settings_.device_id.empty() && device != settings_.device_id) return;
    ++received_;
    const proton::value sequence = annotation(m, "x-opt-sequence-number");
    const proton::value enqueued = annotation(m, "x-opt-enqueued-time");
    nlohmann::ordered_json properties = nlohmann::ordered_json::object();
    if (!m.properties().empty()) {
      std::vector<std::pair<std::string, proton::value>> pairs;
      proton::get(m.properties().value(), pairs);
      for (const auto& [key, value] : pairs) properties[key] = json_of(value);
    }
    const std::string message_id = string_of(m.id());
    std::cout << "Telemetry received from device '" << (device.empty() ? "(none)" : device) << "'\n"
              << "    Partition: " << partition
              << ", sequence number: " << (sequence.empty() ? "?" : proton::to_string(sequence))
              << ", enqueued: "
              << (enqueued.type() == proton::TIMESTAMP
                      ? iso_time(proton::get<proton::timestamp>(enqueued).milliseconds())
                      : std::string("?"))
              << "\n"
              << "    Message id: " << (message_id.empty() ? "(none)" : message_id) << "\n"
              << "    Application properties: " << properties.dump() << "\n"
              << "    Body: <<" << body_text(m) << ">>\n"
              << "    Total events received: " << received_ << std::endl;
    if (settings_.count > 0 && received_ >= settings_.count) finish(exit_ok);
  }

  // ---- endings ------------------------------------------------------------------------------

  /// Ctrl-C and the --timeout clock. Proton 0.37 cannot cancel a scheduled task, and a pending
  /// one keeps container::run() going even after stop(), so this is a short tick that stops
  /// re-arming once there is a result.
  void tick(proton::container& c) {
    if (result_) return;
    if (interrupted) {
      std::cout << "Telemetry reader stopped" << std::endl;
      finish(exit_ok);
      return;
    }
    if (deadline_ && std::chrono::steady_clock::now() >= *deadline_) {
      on_timeout();
      return;
    }
    c.schedule(proton::duration(250), [this, &c] { tick(c); });
  }

  void on_timeout() {
    if (result_) return;
    if (settings_.count == 0) {
      finish(exit_ok);
      return;
    }
    std::string stage;
    if (!connected_once_) {
      stage = "connecting";
    } else if (!management_receiver_) {
      stage = "waiting for the CBS reply";
    } else if (partitions_.empty()) {
      stage = "waiting for the partition ids";
    } else {
      stage = "with " + std::to_string(received_) + " of " + std::to_string(settings_.count) +
              " events";
    }
    fail(exit_timeout, "timed out after " + std::to_string(settings_.timeout) + " s " + stage);
  }

  void link_error(const proton::error_condition& err, const std::string& address) {
    fail(err.name() == "amqp:unauthorized-access" ? exit_unauthorized : exit_failure,
         "the hub refused the link '" + address + "': " + err.what());
  }

  std::string endpoint_text() const {
    return settings_.endpoint.host + ":" + std::to_string(settings_.endpoint.port);
  }

  std::string tls_hint() const {
    return settings_.ca_file.empty()
               ? " (is the server certificate trusted? pass --ca-file or set IOTHUB_CA_FILE)"
               : " (is the server certificate issued by " + settings_.ca_file + " for host '" +
                     settings_.endpoint.host + "'?)";
  }

  void fail(int code, const std::string& message) {
    if (result_) return;
    std::cerr << "read-telemetry: " << message << std::endl;
    finish(code);
  }

  /// The first result wins; close the connection and stop the container (which also drops the
  /// pending tick, so run() returns at once).
  void finish(int code) {
    if (result_) return;
    result_ = code;
    if (connection_ && connection_.active()) connection_.close();
    if (connection_) connection_.container().stop();
  }

  settings settings_;
  std::string run_tag_ = proton::uuid::random().str().substr(0, 8);
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  proton::connection connection_;
  proton::sender cbs_sender_;
  proton::receiver cbs_receiver_;
  proton::sender management_sender_;
  proton::receiver management_receiver_;
  std::string cbs_request_id_;
  std::string management_request_id_;
  std::vector<std::string> partition_ids_;
  std::map<proton::receiver, std::string> partitions_;
  std::size_t attached_ = 0;
  bool connected_once_ = false;
  std::int64_t received_ = 0;
  std::optional<int> result_;
};

settings read_settings(const std::vector<std::string>& args, std::int64_t started_ms) {
  const command_line cl(args,
                        {"--connection-string", "--consumer-group", "--start", "--device-id",
                         "--ca-file", "--port", "--count", "--timeout"},
                        {});
  settings s;
  const std::string text = cl.value_or_env("--connection-string", "EVENTHUB_CONNECTION_STRING");
  if (text.empty())
    throw usage_error(
        "no Event Hubs-compatible connection string: pass --connection-string or set "
        "EVENTHUB_CONNECTION_STRING");
  s.cs = parse_event_hubs_connection_string(text);
  s.endpoint = split_host_port(s.cs.endpoint_host, default_amqp_port);
  if (cl.has("--port"))
    s.endpoint.port = static_cast<std::uint16_t>(cl.number("--port", 0, 1, 65535));
  if (const auto group = cl.value_or_env("--consumer-group", "EVENTHUB_CONSUMER_GROUP");
      !group.empty())
    s.consumer_group = group;
  s.start = parse_start(cl.value_or_env("--start", "EVENTHUB_START_POSITION"), started_ms);
  s.device_id = cl.value_or_env("--device-id", "IOTHUB_DEVICE_ID");
  s.ca_file = cl.value_or_env("--ca-file", "IOTHUB_CA_FILE");
  if (!s.ca_file.empty()) require_readable_file(s.ca_file, "CA file (--ca-file or IOTHUB_CA_FILE)");
  s.count = cl.number("--count", 0, 1, 1'000'000);
  s.timeout = cl.number("--timeout", 0, 1, 86'400);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t started_ms = now_ms();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::cout << "Starting the IoT Hub telemetry reader C++ sample (Event Hubs-compatible "
               "endpoint)..."
            << std::endl;
  settings s;
  try {
    s = read_settings(std::vector<std::string>(argv + 1, argv + argc), started_ms);
  } catch (const connection_string_error& e) {
    std::cerr << "read-telemetry: bad Event Hubs-compatible connection string: " << e.what()
              << std::endl;
    return exit_bad_input;
  } catch (const usage_error& e) {
    std::cerr << "read-telemetry: " << e.what() << "\n"
              << "usage: read-telemetry [--connection-string CS] [--consumer-group G] "
                 "[--start now|earliest|latest|TIME] [--device-id ID] [--ca-file PEM] [--port N] "
                 "[--count N] [--timeout S]"
              << std::endl;
    return exit_bad_input;
  }
  // Never the key: only where we connect and what we read.
  std::cout << "    Endpoint          = " << s.endpoint.host << ":" << s.endpoint.port << "\n"
            << "    Event Hub         = " << s.cs.entity_path << "\n"
            << "    Consumer group    = " << s.consumer_group << "\n"
            << "    Start position    = " << s.start.description << "\n"
            << "    Device ID         = " << (s.device_id.empty() ? "(all devices)" : s.device_id)
            << std::endl;
  telemetry_reader handler(std::move(s));
  try {
    proton::container(handler).run();
  } catch (const std::exception& e) {
    std::cerr << "read-telemetry: " << e.what() << std::endl;
    return exit_failure;
  }
  return handler.result();
}
