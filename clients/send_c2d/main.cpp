// send-c2d: send cloud-to-device (C2D) messages through IoT Hub over AMQP and read the feedback.
//
// This is the C++ twin of SendCloudToDeviceMessage.py from the tutorial "Send cloud-to-device
// messages with IoT Hub (Python)", written against the public AMQP 1.0 protocol with Qpid Proton
// C++ instead of an Azure SDK. It shows what a back-end does, step by step:
//
//  1. Read a hub connection string with a policy that has ServiceConnect
//     (HostName=…;SharedAccessKeyName=service;SharedAccessKey=…).
//  2. Open an AMQP connection over TLS to port 5671, verifying the server certificate against a
//     CA file (--ca-file) or the system trust store. Like the official SDKs there is NO SASL
//     layer: the client authenticates afterwards with claims-based security (CBS).
//  3. CBS: attach a sender and a receiver to the `$cbs` node and send a put-token request
//     (application properties operation=put-token, type=servicebus.windows.net:sastoken,
//     name={HostName}; body = a SAS token for {HostName} with skn={policy}). The hub answers on
//     the receiver with status-code 200 and correlation-id = our message-id.
//  4. Attach a sender to `/messages/devicebound` and send N messages, each with
//       to             = /devices/{deviceId}/messages/devicebound
//       message-id, correlation-id, an application property "Property"
//       iothub-ack     = full (ask for positive and negative delivery feedback)
//       body           = one Data section (the JSON text as bytes)
//     and print each outcome: accepted (queued for the device) or rejected with the hub's
//     error condition (e.g. amqp:not-found for an unknown device).
//  5. Attach a receiver to `/messages/serviceBound/feedback`. The hub sends batches of feedback
//     records, a JSON array in a Data section; print each record and accept the batch. Once the
//     device has received and completed every message we sent (statusCode "Success"), stop.
//
// Usage:
//   send-c2d --device-id ID [--connection-string CS] [--ca-file PEM] [--port N] [--count N]
//            [--timeout S] [--no-feedback]
//   CS defaults to $IOTHUB_CONNECTION_STRING, ID to $IOTHUB_DEVICE_ID, PEM to $IOTHUB_CA_FILE.
//   --timeout (default 120 s) bounds the whole run, feedback included.
//
// Exit codes (clients/common/exit_codes.hpp): 2 bad arguments or connection string,
// 3 not authorized (CBS status != 200), 4 TLS failure (e.g. untrusted certificate),
// 5 connection failure, 6 a message was not accepted, 7 timeout.

#include <proton/condition.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/binary.hpp>
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
#include <proton/ssl.hpp>
#include <proton/target.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/uuid.hpp>
#include <proton/work_queue.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "clients/common/cli.hpp"
#include "clients/common/connection_string.hpp"
#include "clients/common/exit_codes.hpp"
#include "clients/common/sas.hpp"

namespace {

using namespace iothub_samples;

constexpr std::uint16_t default_amqp_port = 5671;
constexpr std::int64_t token_ttl_seconds = 3600;
constexpr std::int64_t default_timeout_seconds = 120;
constexpr double avg_wind_speed = 10.0;

struct settings {
  connection_string cs;
  host_port endpoint;
  std::string device_id;
  std::string ca_file;
  std::int64_t count = 1;
  std::int64_t timeout = default_timeout_seconds;
  bool feedback = true;
};

/// The hub's error condition on a rejected transfer. Proton C++ 0.37 reports the outcome
/// (on_tracker_reject) but not the condition that came with it, so read it from the C delivery:
/// `pn_object()` is protected in Proton's wrapper, and a member pointer formed through a derived
/// class is the standard way to reach it.
struct delivery_access : proton::tracker {
  using getter = pn_delivery_t* (proton::internal::object<pn_delivery_t>::*)() const;
  static pn_delivery_t* of(const proton::tracker& t) {
    constexpr getter get = &delivery_access::pn_object;
    const proton::internal::object<pn_delivery_t>& base = t;
    return (base.*get)();
  }
};

std::string rejected_condition(const proton::tracker& t) {
  pn_delivery_t* d = delivery_access::of(t);
  pn_condition_t* c = d != nullptr ? pn_disposition_condition(pn_delivery_remote(d)) : nullptr;
  if (c == nullptr || !pn_condition_is_set(c)) return "no error condition";
  std::string text = pn_condition_get_name(c) != nullptr ? pn_condition_get_name(c) : "";
  if (const char* description = pn_condition_get_description(c); description != nullptr)
    text += ": " + std::string(description);
  return text;
}

std::string string_of(const proton::message_id& id) {
  return id.empty() ? std::string() : proton::to_string(id);
}

std::string json_text(const nlohmann::json& record, const char* key) {
  const auto it = record.find(key);
  if (it == record.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

class c2d_sender : public proton::messaging_handler {
 public:
  explicit c2d_sender(settings s) : settings_(std::move(s)) {
    // message_{i}_{run}: like the tutorial's "message_%d", plus a per-run tag so that feedback
    // left over from an earlier run is not mistaken for ours.
    run_tag_ = proton::uuid::random().str().substr(0, 8);
  }

  int result() const { return result_.value_or(exit_failure); }

  void on_container_start(proton::container& c) override {
    proton::connection_options opts;
    opts.sasl_enabled(false);  // plain AMQP header after TLS, then CBS (like the Azure SDKs)
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
    deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(settings_.timeout);
    tick(c);
    connection_ = c.connect(url, opts);
  }

  void on_connection_open(proton::connection& conn) override {
    connected_once_ = true;
    std::cout << "Connected; authenticating with CBS put-token" << std::endl;
    cbs_sender_ = conn.open_sender("$cbs");
    cbs_receiver_ = conn.open_receiver("$cbs");
  }

  void on_sendable(proton::sender& s) override {
    if (s == cbs_sender_) {
      if (!cbs_request_id_.empty()) return;
      send_put_token(s);
    } else if (s == c2d_sender_) {
      while (s.credit() > 0 && next_ < settings_.count) send_message(s, next_++);
    }
  }

  void on_message(proton::delivery& d, proton::message& m) override {
    if (d.receiver() == cbs_receiver_) {
      on_cbs_reply(m);
    } else if (d.receiver() == feedback_receiver_) {
      on_feedback(d, m);
    }
  }

  void on_tracker_accept(proton::tracker& t) override { outcome(t, "accepted", true); }
  void on_tracker_reject(proton::tracker& t) override {
    outcome(t, "rejected (" + rejected_condition(t) + ")", false);
  }
  void on_tracker_release(proton::tracker& t) override {
    outcome(t, "released (not delivered; try again)", false);
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
  // ---- CBS ----------------------------------------------------------------------------------

  void send_put_token(proton::sender& s) {
    const auto& cs = settings_.cs;
    std::string token;
    try {
      token = make_sas_token(cs.host_name, cs.shared_access_key, cs.shared_access_key_name,
                             expiry_in(token_ttl_seconds));
    } catch (const std::exception& e) {
      fail(exit_bad_input, std::string("connection string: ") + e.what());
      return;
    }
    cbs_request_id_ = proton::uuid::random().str();
    proton::message request;
    request.id(cbs_request_id_);
    request.to("$cbs");
    request.reply_to("cbs");
    request.properties().put("operation", "put-token");
    request.properties().put("type", "servicebus.windows.net:sastoken");
    request.properties().put("name", cs.host_name);
    request.body(token);  // an AMQP string value, as the SDKs send it
    s.send(request);
  }

  void on_cbs_reply(const proton::message& reply) {
    if (string_of(reply.correlation_id()) != cbs_request_id_) return;  // not ours
    const auto& props = reply.properties();
    std::int64_t status = 0;
    try {
      if (props.exists("status-code"))
        status = proton::coerce<std::int64_t>(props.get("status-code"));
    } catch (const std::exception&) {
      status = 0;
    }
    std::string description;
    if (props.exists("status-description")) {
      try {
        description = proton::coerce<std::string>(props.get("status-description"));
      } catch (const std::exception&) {
      }
    }
    if (status != 200) {
      fail(exit_unauthorized, "not authorized: CBS put-token answered " + std::to_string(status) +
                                  (description.empty() ? "" : " (" + description + ")") +
                                  "; check the policy name and key");
      return;
    }
    std::cout << "Authenticated as policy '" << settings_.cs.shared_access_key_name
              << "' (CBS status 200)" << std::endl;
    c2d_sender_ = connection_.open_sender("/messages/devicebound");
  }

  // ---- C2D messages ---------------------------------------------------------------------------

  void send_message(proton::sender& s, std::int64_t i) {
    const std::string n = std::to_string(i);
    const std::string id = "message_" + n + "_" + run_tag_;
    std::uniform_real_distribution<double> extra(2.0, 6.0);
    char text[64];
    std::snprintf(text, sizeof text, "{\"service client sent a message\": %.2f}",
                  avg_wind_speed + extra(random_));

    proton::message m;
    m.to("/devices/" + url_encode(settings_.device_id) + "/messages/devicebound");
    m.id(id);
    m.correlation_id("correlation_" + n + "_" + run_tag_);
    m.properties().put("Property", "PropMsg_" + n);
    m.properties().put("iothub-ack", "full");
    m.body(proton::binary(std::string(text)));
    m.inferred(true);  // a binary body goes out as a Data section, not as an AMQP value

    std::cout << "Sending message: " << n << " (message id " << id << "): " << text << std::endl;
    sent_[s.send(m)] = id;
  }

  void outcome(proton::tracker& t, const std::string& what, bool accepted) {
    const auto it = sent_.find(t);
    if (it == sent_.end()) return;  // the CBS request
    std::cout << "Send outcome for " << it->second << ": " << what << std::endl;
    if (accepted) {
      pending_feedback_.insert(it->second);
    } else {
      ++failed_;
    }
    sent_.erase(it);
    if (++outcomes_ < settings_.count) return;
    if (failed_ > 0) {
      fail(exit_rejected, std::to_string(failed_) + " of " + std::to_string(settings_.count) +
                              " messages were not accepted");
    } else if (!settings_.feedback) {
      std::cout << "All " << settings_.count << " messages accepted (not waiting for feedback)"
                << std::endl;
      finish(exit_ok);
    } else {
      std::cout << "All " << settings_.count
                << " messages accepted; waiting for delivery feedback from the device..."
                << std::endl;
      // Settle feedback ourselves, after it has been read (no auto-accept).
      feedback_receiver_ = connection_.open_receiver("/messages/serviceBound/feedback",
                                                     proton::receiver_options().auto_accept(false));
    }
  }

  // ---- feedback -------------------------------------------------------------------------------

  void on_feedback(proton::delivery& d, const proton::message& m) {
    std::string body;
    if (m.body().type() == proton::BINARY) {
      body = std::string(proton::get<proton::binary>(m.body()));
    } else if (m.body().type() == proton::STRING) {
      body = proton::get<std::string>(m.body());
    }
    const auto records = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!records.is_array()) {
      std::cout << "Feedback message with an unexpected body (not a JSON array): " << body
                << std::endl;
      d.reject();
      return;
    }
    std::cout << "Feedback message received (" << records.size() << " record"
              << (records.size() == 1 ? "" : "s") << ")" << std::endl;
    for (const auto& record : records) {
      const std::string original = json_text(record, "originalMessageId");
      const std::string status = json_text(record, "statusCode");
      std::cout << "    originalMessageId: " << original << ", statusCode: " << status
                << ", description: " << json_text(record, "description")
                << ", deviceId: " << json_text(record, "deviceId")
                << ", enqueuedTimeUtc: " << json_text(record, "enqueuedTimeUtc") << std::endl;
      if (pending_feedback_.erase(original) > 0 && status != "Success") ++negative_feedback_;
    }
    d.accept();
    if (pending_feedback_.empty()) {
      if (negative_feedback_ > 0) {
        fail(exit_failure, std::to_string(negative_feedback_) +
                               " messages were not delivered (negative feedback)");
      } else {
        std::cout << "Feedback received for all " << settings_.count << " messages: Success"
                  << std::endl;
        finish(exit_ok);
      }
    }
  }

  // ---- endings --------------------------------------------------------------------------------

  /// The --timeout clock. Proton 0.37 cannot cancel a scheduled task, and a pending one keeps
  /// container::run() going even after stop(), so this is a short tick that stops re-arming
  /// once there is a result.
  void tick(proton::container& c) {
    if (result_) return;
    if (std::chrono::steady_clock::now() >= deadline_) {
      on_timeout();
      return;
    }
    c.schedule(proton::duration(250), [this, &c] { tick(c); });
  }

  void on_timeout() {
    if (result_) return;
    std::string stage;
    if (!connected_once_) {
      stage = "connecting";
    } else if (!c2d_sender_) {
      stage = "waiting for the CBS reply";
    } else if (outcomes_ < settings_.count) {
      stage = "waiting for send outcomes (" + std::to_string(outcomes_) + " of " +
              std::to_string(settings_.count) + ")";
    } else {
      stage = "waiting for feedback (" + std::to_string(pending_feedback_.size()) +
              " messages without feedback; is the device connected and receiving?)";
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
    std::cerr << "send-c2d: " << message << std::endl;
    finish(code);
  }

  /// The first result wins; close the connection and stop the container (which also drops the
  /// pending timeout, so run() returns at once).
  void finish(int code) {
    if (result_) return;
    result_ = code;
    if (connection_ && connection_.active()) connection_.close();
    if (connection_) connection_.container().stop();
  }

  settings settings_;
  std::string run_tag_;
  std::chrono::steady_clock::time_point deadline_;
  std::mt19937 random_{std::random_device{}()};
  proton::connection connection_;
  proton::sender cbs_sender_;
  proton::receiver cbs_receiver_;
  proton::sender c2d_sender_;
  proton::receiver feedback_receiver_;
  std::string cbs_request_id_;
  bool connected_once_ = false;
  std::int64_t next_ = 0;
  std::int64_t outcomes_ = 0;
  std::int64_t failed_ = 0;
  std::int64_t negative_feedback_ = 0;
  std::map<proton::tracker, std::string> sent_;
  std::set<std::string> pending_feedback_;
  std::optional<int> result_;
};

settings read_settings(const std::vector<std::string>& args) {
  const command_line cl(
      args, {"--connection-string", "--device-id", "--ca-file", "--port", "--count", "--timeout"},
      {"--no-feedback"});
  settings s;
  const std::string text = cl.value_or_env("--connection-string", "IOTHUB_CONNECTION_STRING");
  if (text.empty())
    throw usage_error(
        "no hub connection string: pass --connection-string or set IOTHUB_CONNECTION_STRING");
  s.device_id = cl.value_or_env("--device-id", "IOTHUB_DEVICE_ID");
  if (s.device_id.empty())
    throw usage_error("no device id: pass --device-id or set IOTHUB_DEVICE_ID");
  s.cs = parse_connection_string(text, connection_string_kind::service);
  s.endpoint = split_host_port(
      s.cs.gateway_host_name.empty() ? s.cs.host_name : s.cs.gateway_host_name, default_amqp_port);
  if (cl.has("--port"))
    s.endpoint.port = static_cast<std::uint16_t>(cl.number("--port", 0, 1, 65535));
  s.ca_file = cl.value_or_env("--ca-file", "IOTHUB_CA_FILE");
  if (!s.ca_file.empty()) require_readable_file(s.ca_file, "CA file (--ca-file or IOTHUB_CA_FILE)");
  s.count = cl.number("--count", 1, 1, 1000);
  s.timeout = cl.number("--timeout", default_timeout_seconds, 1, 86'400);
  s.feedback = !cl.has("--no-feedback");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::cout << "Starting the IoT Hub Service Client Messaging C++ sample..." << std::endl;
  settings s;
  try {
    s = read_settings(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const connection_string_error& e) {
    std::cerr << "send-c2d: bad hub connection string: " << e.what() << std::endl;
    return exit_bad_input;
  } catch (const usage_error& e) {
    std::cerr << "send-c2d: " << e.what() << "\n"
              << "usage: send-c2d --device-id ID [--connection-string CS] [--ca-file PEM] "
                 "[--port N] [--count N] [--timeout S] [--no-feedback]"
              << std::endl;
    return exit_bad_input;
  }
  // Never the key: only where we connect and as whom.
  std::cout << "    Hub               = " << s.cs.host_name << " (policy "
            << s.cs.shared_access_key_name << ")\n"
            << "    Device ID         = " << s.device_id << std::endl;
  c2d_sender handler(std::move(s));
  try {
    proton::container(handler).run();
  } catch (const std::exception& e) {
    std::cerr << "send-c2d: " << e.what() << std::endl;
    return exit_failure;
  }
  return handler.result();
}
