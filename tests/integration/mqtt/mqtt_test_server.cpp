// A small MQTT gateway host for the integration tests: hub executor (SQLite store in the data
// directory, or in memory) + development TLS certificates + emu::mqtt::server on 127.0.0.1:0.
//
//   mqtt_test_server --data-dir DIR [--cert-dir DIR] [--in-memory] [--plain] [--window N]
//                    [--host-name NAME] [--connect-timeout-ms N] [--handshake-timeout-ms N]
//                    [--io-threads N] [--make-certs-only]
//
// --cert-dir (default DIR/certs) lets a test fixture create the CA first, for clients that read
// it at start-up (Node's NODE_EXTRA_CA_CERTS); --make-certs-only just does that and exits.
// --io-threads (or $MQTT_TEST_IO_THREADS) runs the server on several threads.
//
// Prints ONE JSON line when listening:
//   {"port":P,"plainPort":Q,"hostName":"localhost","ca":"DIR/certs/ca.crt",
//    "devices":{"dev1":{"key":"…","connectionString":"HostName=…;DeviceId=…;SharedAccessKey=…"}},
//    "ownerKey":"…"}
// then reads one command per line on stdin and answers each with one JSON line on stdout.
// Commands are JSON objects ({"cmd":"send",…}) or words:
//   send <device> <messageId> [ack]     enqueue a C2D message (JSON form: correlationId,
//                                       properties {k:v}, body, to, expiryMs)
//   queue <device>                      {"messages":[{seq,messageId,state,deliveryCount}]}
//   feedback                            {"records":[{originalMessageId,statusCode,deviceId}]}
//   telemetry                           {"messages":[{id,deviceId,properties:[[k,v]],body}]}
//   connections                         {"count":n}
//   disable <device>                    set the device's status to disabled
//   advance <ms>                        move the hub clock forward (test control)
//   quit                                stop and exit 0 (also on end of input)
//
// The integration tests start it through one helper (start_server), so they can switch to the
// real iothub-emulator binary and its test control later.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/core/crypto.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/mqtt/gateway/server.hpp"
#include "emulator/runtime/dev_certificates.hpp"
#include "emulator/runtime/hub_executor.hpp"
#include "emulator/runtime/tls_context.hpp"
#include "storage/sqlite_store.hpp"

namespace {

using namespace emu;
using json = nlohmann::json;

// Fixed development keys, so a restart on the same data directory keeps working credentials.
const std::string owner_key = core::base64_encode(std::string(32, 'O'));
const std::vector<std::pair<std::string, std::string>> seeded_devices = {
    {"dev1", core::base64_encode(std::string(32, '1'))},
    {"dev2", core::base64_encode(std::string(32, '2'))},
    {"dev3", core::base64_encode(std::string(32, '3'))},
};

template <class Fn>
auto on_hub(runtime::hub_executor& ex, Fn fn) {
  using R = decltype(fn(std::declval<core::hub&>(), core::time_point{}));
  auto p = std::make_shared<std::promise<R>>();
  auto f = p->get_future();
  ex.submit(std::move(fn), [p](bool, R r) { p->set_value(std::move(r)); });
  return f.get();
}

json cmd_send(runtime::hub_executor& ex, const json& c) {
  core::c2d_content m;
  const std::string device = c.value("device", "dev1");
  m.message_id = c.value("messageId", "");
  m.correlation_id = c.value("correlationId", "");
  m.to = c.value("to", "/devices/" + device + "/messages/devicebound");
  m.content_type = c.value("contentType", "");
  m.content_encoding = c.value("contentEncoding", "");
  m.body = c.value("body", "hello");
  if (const auto ack = core::parse_ack_mode(c.value("ack", "none"))) m.ack = *ack;
  if (c.contains("properties"))
    for (const auto& [k, v] : c["properties"].items())
      m.properties.push_back({k, v.get<std::string>()});
  if (c.contains("expiryMs"))
    m.absolute_expiry = core::from_unix_ms(c["expiryMs"].get<std::int64_t>());
  auto r = on_hub(
      ex, [device, m](core::hub& h, core::time_point now) { return h.enqueue(device, m, now); });
  if (!r) return {{"ok", false}, {"error", r.err().message}};
  return {{"ok", true}, {"seq", *r}};
}

json cmd_queue(runtime::hub_executor& ex, const std::string& device) {
  const auto q =
      on_hub(ex, [device](core::hub& h, core::time_point) { return h.queue_of(device); });
  json out = json::array();
  for (const auto& m : q) {
    out.push_back({{"seq", m.seq},
                   {"messageId", m.content.message_id},
                   {"state", std::string(core::to_string(m.state))},
                   {"deliveryCount", m.delivery_count}});
  }
  return {{"ok", true}, {"messages", out}};
}

json cmd_feedback(runtime::hub_executor& ex) {
  auto [pending, batches] = on_hub(ex, [](core::hub& h, core::time_point) {
    return std::make_pair(h.pending_feedback(), h.feedback_batches());
  });
  for (const auto& b : batches) pending.insert(pending.end(), b.records.begin(), b.records.end());
  json out = json::array();
  for (const auto& r : pending) {
    out.push_back({{"originalMessageId", r.original_message_id},
                   {"statusCode", std::string(core::to_string(r.status))},
                   {"deviceId", r.device_id}});
  }
  return {{"ok", true}, {"records", out}};
}

json cmd_telemetry(runtime::hub_executor& ex) {
  const auto t = on_hub(ex, [](core::hub& h, core::time_point) { return h.telemetry(); });
  json out = json::array();
  for (const auto& m : t) {
    json props = json::array();
    for (const auto& p : m.properties) props.push_back(json::array({p.name, p.value}));
    out.push_back(
        {{"id", m.id}, {"deviceId", m.device_id}, {"properties", props}, {"body", m.body}});
  }
  return {{"ok", true}, {"messages", out}};
}

json cmd_disable(runtime::hub_executor& ex, const std::string& device) {
  const auto r = on_hub(ex, [device](core::hub& h, core::time_point now) {
    core::device_spec s;
    s.id = device;
    s.status = core::device_status::disabled;
    if (const auto* d = h.find_device(device)) {
      s.primary_key = d->primary_key;
      s.secondary_key = d->secondary_key;
    }
    return h.update_device(s, "*", now).ok();
  });
  return {{"ok", r}};
}

/// Parses a command line (JSON object or words) into a JSON command.
json parse_command(const std::string& line) {
  if (!line.empty() && line.front() == '{') return json::parse(line, nullptr, false);
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string s; in >> s;) w.push_back(s);
  if (w.empty()) return json::object();
  json c{{"cmd", w[0]}};
  if (w[0] == "send") {
    if (w.size() > 1) c["device"] = w[1];
    if (w.size() > 2) c["messageId"] = w[2];
    if (w.size() > 3) c["ack"] = w[3];
  } else if ((w[0] == "queue" || w[0] == "disable") && w.size() > 1) {
    c["device"] = w[1];
  } else if (w[0] == "advance" && w.size() > 1) {
    c["ms"] = std::stoll(w[1]);
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path data_dir;
  bool in_memory = false;
  bool plain = false;
  std::size_t window = 1;
  std::string host_name = "localhost";
  std::filesystem::path cert_dir;
  bool make_certs_only = false;
  long connect_timeout_ms = 10'000;
  long handshake_timeout_ms = 10'000;
  std::size_t io_threads = 1;
  if (const char* env = std::getenv("MQTT_TEST_IO_THREADS")) io_threads = std::stoul(env);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data-dir")
      data_dir = next();
    else if (a == "--in-memory")
      in_memory = true;
    else if (a == "--plain")
      plain = true;
    else if (a == "--window")
      window = std::stoul(next());
    else if (a == "--host-name")
      host_name = next();
    else if (a == "--cert-dir")
      cert_dir = next();
    else if (a == "--make-certs-only")
      make_certs_only = true;
    else if (a == "--connect-timeout-ms")
      connect_timeout_ms = std::stol(next());
    else if (a == "--handshake-timeout-ms")
      handshake_timeout_ms = std::stol(next());
    else {
      std::fprintf(stderr, "mqtt_test_server: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (cert_dir.empty() && !data_dir.empty()) cert_dir = data_dir / "certs";
  if (cert_dir.empty() || (data_dir.empty() && !make_certs_only)) {
    std::fprintf(stderr, "mqtt_test_server: --data-dir (or --cert-dir) is required\n");
    return 2;
  }
  const auto certs = runtime::ensure_dev_certificates(cert_dir, {host_name});
  if (make_certs_only) return 0;
  std::filesystem::create_directories(data_dir);
  runtime::tls_server_context tls(certs);

  core::hub_settings hs;
  hs.host_name = host_name;
  hs.policies = {{"iothubowner", owner_key, core::base64_encode(std::string(32, 'o')),
                  core::permission::registry_read | core::permission::registry_write |
                      core::permission::service_connect | core::permission::device_connect}};
  auto store = std::make_unique<storage::sqlite_store>(
      in_memory ? std::string(storage::in_memory_path) : (data_dir / "hub.db").string());
  runtime::hub_executor executor(hs, std::move(store));

  mqtt::gateway_settings gs;
  gs.session.host_name = host_name;
  gs.session.inflight_window = window;
  gs.session.connect_timeout = std::chrono::milliseconds(connect_timeout_ms);
  gs.tls_handshake_timeout = std::chrono::milliseconds(handshake_timeout_ms);
  gs.io_threads = io_threads;
  std::mutex log_mutex;
  gs.log = [&log_mutex](mqtt::log_level, std::string_view text) {
    std::lock_guard lock(log_mutex);
    std::fprintf(stderr, "mqtt: %.*s\n", static_cast<int>(text.size()), text.data());
  };
  mqtt::server server(gs, executor);
  const auto port = server.listen_tls("127.0.0.1", 0, tls);
  const auto plain_port = plain ? server.listen_plain("127.0.0.1", 0) : 0;

  executor.start([](core::hub& h, core::time_point now) {
    for (const auto& [id, key] : seeded_devices) {
      if (h.find_device(id)) continue;
      core::device_spec s;
      s.id = id;
      s.primary_key = key;
      s.secondary_key = core::base64_encode(std::string(32, 'x'));
      (void)h.create_device(s, now);
    }
  });
  server.start();

  json devices = json::object();
  for (const auto& [id, key] : seeded_devices) {
    devices[id] = {{"key", key},
                   {"connectionString",
                    "HostName=" + host_name + ";DeviceId=" + id + ";SharedAccessKey=" + key}};
  }
  const json ready{
      {"port", port},          {"plainPort", plain_port},
      {"hostName", host_name}, {"ca", std::filesystem::absolute(certs.ca_cert).string()},
      {"devices", devices},    {"ownerKey", owner_key}};
  std::cout << ready.dump() << std::endl;

  for (std::string line; std::getline(std::cin, line);) {
    const json c = parse_command(line);
    json reply;
    const std::string cmd = c.is_object() ? c.value("cmd", "") : "";
    if (cmd == "quit") break;
    if (cmd == "send")
      reply = cmd_send(executor, c);
    else if (cmd == "queue")
      reply = cmd_queue(executor, c.value("device", "dev1"));
    else if (cmd == "feedback")
      reply = cmd_feedback(executor);
    else if (cmd == "telemetry")
      reply = cmd_telemetry(executor);
    else if (cmd == "connections")
      reply = {{"ok", true}, {"count", server.connection_count()}};
    else if (cmd == "disable")
      reply = cmd_disable(executor, c.value("device", "dev1"));
    else if (cmd == "advance") {
      executor.advance_clock(core::duration{c.value("ms", std::int64_t{0})});
      reply = {{"ok", true}};
    } else {
      reply = {{"ok", false}, {"error", "unknown command: " + line}};
    }
    std::cout << reply.dump() << std::endl;
  }
  server.stop();
  executor.stop();
  return 0;
}
