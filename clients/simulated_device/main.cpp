// simulated-device: receive cloud-to-device (C2D) messages from IoT Hub over MQTT.
//
// This is the C++ twin of SimulatedDevice.py from the tutorial "Send cloud-to-device messages
// with IoT Hub (Python)", written against the public MQTT protocol with libmosquitto instead of
// an Azure SDK. It shows everything a device needs to receive C2D messages:
//
//  1. Read a device connection string (HostName=…;DeviceId=…;SharedAccessKey=…, or
//     HostName=…;DeviceId=…;x509=true with --cert/--key for an X.509 device). The TCP/TLS
//     endpoint is GatewayHostName if present, else HostName; either may carry a `:port`.
//  2. Connect with MQTT 3.1.1 over TLS (port 8883), verifying the server certificate against a
//     CA file (--ca-file) or the system trust store. The MQTT fields are what IoT Hub expects:
//       client id  = the device id
//       user name  = {HostName}/{deviceId}/?api-version=2021-04-12
//       password   = a SAS token for the resource {HostName}/devices/{deviceId}
//                    (none for an X.509 device: its TLS client certificate authenticates it)
//       clean session = false (the hub keeps the subscription across connections)
//  3. Subscribe to devices/{deviceId}/messages/devicebound/# at QoS 1.
//  4. For each message: the payload is the data; the last topic segment is a URL-encoded
//     property bag (`$.mid=…&$.cid=…&Property=PropMsg_0`). `$.`-keys are system properties,
//     the rest are the sender's application properties. libmosquitto sends the PUBACK, which
//     completes the message at the hub (the sender then gets `Success` feedback).
//
// Usage:
//   simulated-device [--connection-string CS] [--ca-file PEM] [--port N] [--count N] [--timeout S]
//                    [--cert PEM --key PEM]
//   --cert/--key: the device's certificate and private key (X.509 devices, `x509=true`).
//   CS defaults to $IOTHUB_DEVICE_CONNECTION_STRING, PEM to $IOTHUB_CA_FILE.
//   --count N exits 0 after N messages; --timeout S gives up after S seconds (exit 7 when a
//   --count was not reached, else exit 0). Without either it runs until Ctrl-C.
//
// Exit codes (clients/common/exit_codes.hpp): 2 bad arguments or connection string,
// 3 not authorized, 4 TLS failure (e.g. untrusted certificate), 5 connection failure, 7 timeout.

#include <mosquitto.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clients/common/cli.hpp"
#include "clients/common/connection_string.hpp"
#include "clients/common/exit_codes.hpp"
#include "clients/common/sas.hpp"

namespace {

using namespace iothub_samples;
using steady = std::chrono::steady_clock;

constexpr std::uint16_t default_mqtt_port = 8883;
constexpr int keepalive_seconds = 60;
constexpr std::int64_t token_ttl_seconds = 3600;
constexpr const char* api_version = "2021-04-12";

std::atomic<bool> interrupted{false};

extern "C" void on_signal(int) {
  interrupted = true;
}

struct settings {
  connection_string cs;
  host_port endpoint;
  std::string ca_file;
  std::string cert_file;  // X.509 devices
  std::string key_file;
  std::int64_t count = 0;    // 0: no limit
  std::int64_t timeout = 0;  // seconds, 0: none
};

/// One C2D message as the tutorial prints it: data, application properties, system properties.
struct c2d_message {
  std::string data;
  std::vector<std::pair<std::string, std::string>> properties;
  std::vector<std::pair<std::string, std::string>> system_properties;
};

/// System property keys in the topic's property bag, and the names the SDKs give them.
/// iothub-ack is a system property too (Python's `message.ack`), not an application one.
std::optional<std::string> system_property_name(const std::string& key) {
  static const std::pair<const char*, const char*> names[] = {
      {"$.mid", "messageId"},      {"$.cid", "correlationId"}, {"$.to", "to"},
      {"$.exp", "expiryTimeUtc"},  {"$.uid", "userId"},        {"$.ct", "contentType"},
      {"$.ce", "contentEncoding"}, {"iothub-ack", "ack"},
  };
  for (const auto& [wire, name] : names)
    if (key == wire) return std::string(name);
  return std::nullopt;
}

/// devices/{id}/messages/devicebound/{property bag}: each `key=value` pair is URL-encoded.
c2d_message parse_message(const std::string& topic, std::string payload) {
  c2d_message m;
  m.data = std::move(payload);
  static const std::string marker = "/messages/devicebound/";
  const auto at = topic.find(marker);
  if (at == std::string::npos) return m;
  std::string_view bag(topic);
  bag.remove_prefix(at + marker.size());
  while (!bag.empty()) {
    const auto amp = bag.find('&');
    const auto pair = bag.substr(0, amp);
    bag = amp == std::string_view::npos ? std::string_view{} : bag.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string key = url_decode(pair.substr(0, eq));
    std::string value =
        eq == std::string_view::npos ? std::string() : url_decode(pair.substr(eq + 1));
    if (auto name = system_property_name(key)) {
      m.system_properties.emplace_back(std::move(*name), std::move(value));
    } else {
      m.properties.emplace_back(std::move(key), std::move(value));
    }
  }
  return m;
}

/// {'key': 'value', …}, the way Python prints the tutorial's `message.custom_properties`.
std::string format_properties(const std::vector<std::pair<std::string, std::string>>& props) {
  std::string out = "{";
  for (const auto& [key, value] : props) {
    if (out.size() > 1) out += ", ";
    out += "'" + key + "': '" + value + "'";
  }
  return out + "}";
}

/// The device: owns the libmosquitto client and turns its callbacks into a result.
class simulated_device {
 public:
  explicit simulated_device(settings s) : settings_(std::move(s)) {}

  int run() {
    const auto& cs = settings_.cs;
    client_.reset(mosquitto_new(cs.device_id.c_str(), /*clean_session=*/false, this));
    if (!client_) return fail(exit_failure, "cannot create the MQTT client");
    mosquitto_int_option(client_.get(), MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(client_.get(), &on_connect_cb);
    mosquitto_subscribe_callback_set(client_.get(), &on_subscribe_cb);
    mosquitto_message_callback_set(client_.get(), &on_message_cb);
    mosquitto_disconnect_callback_set(client_.get(), &on_disconnect_cb);
    mosquitto_log_callback_set(client_.get(), &on_log_cb);

    // The identity uses HostName, never GatewayHostName: it names the hub, not the socket.
    const std::string user_name =
        cs.host_name + "/" + cs.device_id + "/?api-version=" + api_version;
    std::string token;
    try {
      if (!cs.x509)
        token = make_sas_token(cs.host_name + "/devices/" + cs.device_id, cs.shared_access_key, "",
                               expiry_in(token_ttl_seconds));
    } catch (const std::exception& e) {
      return fail(exit_bad_input, std::string("connection string: ") + e.what());
    }
    if (mosquitto_username_pw_set(client_.get(), user_name.c_str(),
                                  cs.x509 ? nullptr : token.c_str()) != MOSQ_ERR_SUCCESS)
      return fail(exit_failure, "cannot set the MQTT credentials");

    // TLS with peer verification and host name check (libmosquitto checks the SAN and sends SNI).
    // An X.509 device also presents its certificate (README "Identities").
    const char* cert = settings_.cert_file.empty() ? nullptr : settings_.cert_file.c_str();
    const char* key = settings_.key_file.empty() ? nullptr : settings_.key_file.c_str();
    int rc = MOSQ_ERR_SUCCESS;
    if (!settings_.ca_file.empty()) {
      rc = mosquitto_tls_set(client_.get(), settings_.ca_file.c_str(), nullptr, cert, key, nullptr);
    } else if (cert != nullptr) {
      rc = mosquitto_int_option(client_.get(), MOSQ_OPT_TLS_USE_OS_CERTS, 1);
      if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_tls_set(client_.get(), nullptr, "/etc/ssl/certs", cert, key, nullptr);
    } else {
      rc = mosquitto_int_option(client_.get(), MOSQ_OPT_TLS_USE_OS_CERTS, 1);
    }
    if (rc != MOSQ_ERR_SUCCESS)
      return fail(exit_bad_input, "CA file '" + settings_.ca_file + "': " + mosquitto_strerror(rc));
    mosquitto_tls_opts_set(client_.get(), /*SSL_VERIFY_PEER*/ 1, nullptr, nullptr);

    const auto& ep = settings_.endpoint;
    std::cout << "Connecting to " << ep.host << ":" << ep.port << " as device '" << cs.device_id
              << "'" << std::endl;
    rc = mosquitto_connect(client_.get(), ep.host.c_str(), ep.port, keepalive_seconds);
    if (rc != MOSQ_ERR_SUCCESS) return connect_failure(rc);

    const auto deadline =
        settings_.timeout > 0
            ? std::optional(steady::now() + std::chrono::seconds(settings_.timeout))
            : std::nullopt;
    while (!result_) {
      if (interrupted) {
        std::cout << "IoTHubDeviceClient sample stopped" << std::endl;
        finish(exit_ok);
        break;
      }
      if (deadline && steady::now() >= *deadline) {
        if (settings_.count > 0) {
          finish(fail(exit_timeout, "timed out after " + std::to_string(settings_.timeout) +
                                        " s with " + std::to_string(received_) + " of " +
                                        std::to_string(settings_.count) + " messages"));
        } else {
          finish(exit_ok);
        }
        break;
      }
      rc = mosquitto_loop(client_.get(), 100, 1);
      if (rc != MOSQ_ERR_SUCCESS && !result_) {
        result_ = loop_failure(rc);
      }
    }
    // A clean DISCONNECT after the last PUBACK (libmosquitto writes packets in order).
    if (connected_) {
      mosquitto_disconnect(client_.get());
      const auto stop_by = steady::now() + std::chrono::seconds(5);
      while (connected_ && steady::now() < stop_by &&
             mosquitto_loop(client_.get(), 100, 1) == MOSQ_ERR_SUCCESS) {
      }
    }
    return *result_;
  }

 private:
  struct mosquitto_deleter {
    void operator()(mosquitto* m) const { mosquitto_destroy(m); }
  };

  static simulated_device& self(void* obj) { return *static_cast<simulated_device*>(obj); }
  static void on_connect_cb(mosquitto*, void* obj, int rc) { self(obj).on_connect(rc); }
  static void on_subscribe_cb(mosquitto*, void* obj, int, int n, const int* granted) {
    self(obj).on_subscribe(n > 0 ? granted[0] : -1);
  }
  static void on_message_cb(mosquitto*, void* obj, const mosquitto_message* m) {
    self(obj).on_message(*m);
  }
  static void on_disconnect_cb(mosquitto*, void* obj, int rc) { self(obj).on_disconnect(rc); }
  static void on_log_cb(mosquitto*, void* obj, int level, const char* text) {
    self(obj).on_log(level, text);
  }

  void on_connect(int rc) {
    if (rc != 0) {
      // CONNACK return codes of MQTT 3.1.1; IoT Hub answers 5 for a bad or expired SAS token,
      // an unknown or disabled device.
      const std::string why = rc == 5   ? "not authorized (check the device id and key)"
                              : rc == 4 ? "bad user name or password"
                                        : mosquitto_connack_string(rc);
      finish(fail(rc == 4 || rc == 5 ? exit_unauthorized : exit_connection_failure,
                  "the hub refused the connection (CONNACK " + std::to_string(rc) + "): " + why));
      return;
    }
    connected_ = true;
    std::cout << "Connected. IoTHubDeviceClient waiting for commands, press Ctrl-C to exit"
              << std::endl;
    const std::string topic = "devices/" + settings_.cs.device_id + "/messages/devicebound/#";
    const int src = mosquitto_subscribe(client_.get(), nullptr, topic.c_str(), 1);
    if (src != MOSQ_ERR_SUCCESS)
      finish(fail(exit_connection_failure,
                  std::string("cannot subscribe: ") + mosquitto_strerror(src)));
  }

  void on_subscribe(int granted_qos) {
    if (granted_qos == 0x80) {
      finish(fail(exit_failure, "the hub refused the subscription to C2D messages"));
      return;
    }
    std::cout << "Subscribed to cloud-to-device messages (QoS " << granted_qos << ")" << std::endl;
  }

  void on_message(const mosquitto_message& raw) {
    std::string payload(static_cast<const char*>(raw.payload),
                        static_cast<std::size_t>(raw.payloadlen));
    const auto m = parse_message(raw.topic, std::move(payload));
    ++received_;
    std::cout << "Message received\n"
              << "    Data: <<" << m.data << ">>\n"
              << "    Properties: " << format_properties(m.properties) << "\n"
              << "    System properties: " << format_properties(m.system_properties) << "\n"
              << "    Total calls received: " << received_ << std::endl;
    if (settings_.count > 0 && received_ >= settings_.count) finish(exit_ok);
  }

  void on_disconnect(int rc) {
    const bool was_connected = connected_;
    connected_ = false;
    if (result_) return;
    if (tls_error_) {
      finish(fail(exit_tls_failure, "TLS failure: " + *tls_error_ + tls_hint()));
    } else if (was_connected) {
      finish(
          fail(exit_connection_failure, std::string("connection lost: ") + mosquitto_strerror(rc)));
    } else {
      finish(fail(exit_connection_failure, "the connection closed before the hub answered"));
    }
  }

  void on_log(int level, const char* text) {
    // libmosquitto reports TLS problems (e.g. "certificate verify failed") only in its log.
    if (level == MOSQ_LOG_ERR && std::strstr(text, "OpenSSL Error") != nullptr && !tls_error_)
      tls_error_ = text;
  }

  std::string tls_hint() const {
    return settings_.ca_file.empty()
               ? " (is the server certificate trusted? pass --ca-file or set IOTHUB_CA_FILE)"
               : " (is the server certificate issued by " + settings_.ca_file + " for host '" +
                     settings_.endpoint.host + "'?)";
  }

  int connect_failure(int rc) {
    const auto& ep = settings_.endpoint;
    const std::string where = ep.host + ":" + std::to_string(ep.port);
    if (rc == MOSQ_ERR_TLS || rc == MOSQ_ERR_TLS_HANDSHAKE || tls_error_)
      return fail(exit_tls_failure, "TLS failure connecting to " + where + ": " +
                                        (tls_error_ ? *tls_error_ : mosquitto_strerror(rc)) +
                                        tls_hint());
    if (rc == MOSQ_ERR_ERRNO)
      return fail(exit_connection_failure,
                  "cannot connect to " + where + ": " + std::strerror(errno));
    return fail(exit_connection_failure,
                "cannot connect to " + where + ": " + mosquitto_strerror(rc));
  }

  int loop_failure(int rc) {
    if (rc == MOSQ_ERR_TLS || rc == MOSQ_ERR_TLS_HANDSHAKE || tls_error_)
      return fail(
          exit_tls_failure,
          "TLS failure: " + (tls_error_ ? *tls_error_ : std::string(mosquitto_strerror(rc))) +
              tls_hint());
    if (rc == MOSQ_ERR_ERRNO && !connected_)
      return fail(exit_connection_failure,
                  std::string("connection failed: ") + std::strerror(errno));
    return fail(exit_connection_failure,
                std::string("connection lost: ") +
                    (rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc)));
  }

  static int fail(int code, const std::string& message) {
    std::cerr << "simulated-device: " << message << std::endl;
    return code;
  }

  void finish(int code) {
    if (!result_) result_ = code;
  }

  settings settings_;
  std::unique_ptr<mosquitto, mosquitto_deleter> client_;
  bool connected_ = false;
  std::int64_t received_ = 0;
  std::optional<std::string> tls_error_;
  std::optional<int> result_;
};

/// libmosquitto's global state, for the life of main().
struct mosquitto_library {
  mosquitto_library() { mosquitto_lib_init(); }
  ~mosquitto_library() { mosquitto_lib_cleanup(); }
  mosquitto_library(const mosquitto_library&) = delete;
  mosquitto_library& operator=(const mosquitto_library&) = delete;
};

settings read_settings(const std::vector<std::string>& args) {
  const command_line cl(
      args,
      {"--connection-string", "--ca-file", "--port", "--count", "--timeout", "--cert", "--key"},
      {});
  settings s;
  const std::string text =
      cl.value_or_env("--connection-string", "IOTHUB_DEVICE_CONNECTION_STRING");
  if (text.empty())
    throw usage_error(
        "no device connection string: pass --connection-string or set "
        "IOTHUB_DEVICE_CONNECTION_STRING");
  s.cs = parse_connection_string(text, connection_string_kind::device);
  s.endpoint = split_host_port(
      s.cs.gateway_host_name.empty() ? s.cs.host_name : s.cs.gateway_host_name, default_mqtt_port);
  if (cl.has("--port"))
    s.endpoint.port = static_cast<std::uint16_t>(cl.number("--port", 0, 1, 65535));
  s.ca_file = cl.value_or_env("--ca-file", "IOTHUB_CA_FILE");
  if (!s.ca_file.empty()) require_readable_file(s.ca_file, "CA file (--ca-file or IOTHUB_CA_FILE)");
  s.cert_file = cl.value_or_env("--cert", "IOTHUB_DEVICE_CERT");
  s.key_file = cl.value_or_env("--key", "IOTHUB_DEVICE_KEY");
  if (s.cs.x509 && (s.cert_file.empty() || s.key_file.empty()))
    throw usage_error("an x509=true connection string needs --cert and --key");
  if (!s.cs.x509 && (!s.cert_file.empty() || !s.key_file.empty()))
    throw usage_error("--cert and --key are for x509=true connection strings");
  if (!s.cert_file.empty()) require_readable_file(s.cert_file, "certificate (--cert)");
  if (!s.key_file.empty()) require_readable_file(s.key_file, "private key (--key)");
  s.count = cl.number("--count", 0, 1, 1'000'000);
  s.timeout = cl.number("--timeout", 0, 1, 86'400);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::cout << "Starting the IoT Hub C++ simulated device sample..." << std::endl;
  settings s;
  try {
    s = read_settings(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const connection_string_error& e) {
    std::cerr << "simulated-device: bad device connection string: " << e.what() << std::endl;
    return exit_bad_input;
  } catch (const usage_error& e) {
    std::cerr << "simulated-device: " << e.what() << "\n"
              << "usage: simulated-device [--connection-string CS] [--ca-file PEM] [--port N] "
                 "[--count N] [--timeout S] [--cert PEM --key PEM]"
              << std::endl;
    return exit_bad_input;
  }
  mosquitto_library library;
  simulated_device device(std::move(s));
  return device.run();
}
