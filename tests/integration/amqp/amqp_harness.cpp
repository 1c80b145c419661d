// In-process test harness for the AMQP service endpoint (issue 4): the whole emulator
// (app::emulator, the executable's own wiring) with an in-memory store, development TLS
// certificates and every front on 127.0.0.1 with ephemeral ports, AMQP also in plain TCP.
// Stdin commands complete, reject or abandon queued C2D messages on the hub directly (a device
// without MQTT), so the service sees real feedback.
//
//   amqp_harness --cert-dir DIR [--make-certs-only] [--hub-name N] [--host-name H]
//                [--token-skew-ms N] [--feedback-interval-ms N] [--idle-timeout-ms N]
//                [--max-connections N] [--handshake-timeout-ms N] [--io-threads N]
//
// Prints one JSON line when listening:
//   {"amqpPort":…, "plainPort":…, "caCertificate":…, "hubName":…, "hostName":…,
//    "keys":{"iothubowner":…, "service":…, "registryRead":…}}
// then answers one line per command:
//   complete|reject|abandon <device>  → "ok <verb> <device> <messageId>" or "none <device>"
//   message <device>                  → the oldest queued message as JSON, or "none <device>"
//   count <device>                    → "count <device> <n>"
//   create <device>                   → "ok create <device>" (an enabled device)
//   feedback                          → "feedback pending=<records> batches=<n> locked=<n>"
//   advance <ms>                      → "ok advance" (moves the executor clock, rechecks tokens)
//   connections                       → "connections <n>"
//   quit (or end of input)            → stops and exits 0
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "emulator/app/config.hpp"
#include "emulator/app/dev_certificates.hpp"
#include "emulator/app/emulator.hpp"
#include "emulator/core/hub.hpp"

namespace {

using namespace emu;

// Fixed test keys (base64 of 32 bytes): the tests compute SAS tokens from them.
constexpr const char* owner_key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
constexpr const char* service_key = "c2VydmljZS1rZXktc2VydmljZS1rZXktc2VydmljZSE=";
constexpr const char* registry_key = "cmVnaXN0cnktcmVhZC1rZXktcmVnaXN0cnktcmVhZCE=";
constexpr const char* device_key = "ZGV2aWNlLWtleS1kZXZpY2Uta2V5LWRldmljZS1rZXk=";

struct options {
  std::string cert_dir;
  bool make_certs_only = false;
  std::string hub_name = "emuhub";
  std::string host_name = "localhost";
  long token_skew_ms = 5 * 60 * 1000;
  long feedback_interval_ms = 200;
  long idle_timeout_ms = 240'000;
  long max_connections = 1000;
  long handshake_timeout_ms = 30'000;
  // More than one thread runs the io_context, so the per-connection strands are exercised.
  long io_threads = 2;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value for %s\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    const std::map<std::string, long*> numbers = {
        {"--token-skew-ms", &o.token_skew_ms},
        {"--feedback-interval-ms", &o.feedback_interval_ms},
        {"--idle-timeout-ms", &o.idle_timeout_ms},
        {"--max-connections", &o.max_connections},
        {"--handshake-timeout-ms", &o.handshake_timeout_ms},
        {"--io-threads", &o.io_threads},
    };
    if (const auto it = numbers.find(a); it != numbers.end()) {
      *it->second = std::stol(next());
    } else if (a == "--cert-dir") {
      o.cert_dir = next();
    } else if (a == "--make-certs-only") {
      o.make_certs_only = true;
    } else if (a == "--hub-name") {
      o.hub_name = next();
    } else if (a == "--host-name") {
      o.host_name = next();
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      std::exit(2);
    }
  }
  if (o.cert_dir.empty()) {
    std::fprintf(stderr, "--cert-dir is required\n");
    std::exit(2);
  }
  return o;
}

std::string settle(app::emulator& e, const std::string& verb, const std::string& device,
                   core::settlement how) {
  auto r = e.call([device, how, verb](core::hub& h, core::time_point now) -> std::string {
    auto d = h.lock_next(device, now);
    if (!d) return "none " + device;
    const auto st = h.settle(device, d->message.seq, d->lock_id, how, now);
    if (!st.ok()) return "error " + st.error().message;
    return "ok " + verb + " " + device + " " + d->message.content.message_id;
  });
  return r;
}

std::string describe_first(app::emulator& e, const std::string& device) {
  return e.call([device](core::hub& h, core::time_point) -> std::string {
    const auto q = h.queue_of(device);
    if (q.empty()) return "none " + device;
    const auto& c = q.front().content;
    nlohmann::json j;
    j["messageId"] = c.message_id;
    j["correlationId"] = c.correlation_id;
    j["userId"] = c.user_id;
    j["to"] = c.to;
    j["contentType"] = c.content_type;
    j["contentEncoding"] = c.content_encoding;
    j["ack"] = std::string(core::to_string(c.ack));
    j["body"] = c.body;
    j["absoluteExpiry"] = c.absolute_expiry ? core::to_unix_ms(*c.absolute_expiry) : 0;
    j["expiry"] = core::to_unix_ms(q.front().expiry_time);
    nlohmann::json props = nlohmann::json::object();
    for (const auto& p : c.properties) props[p.name] = p.value;
    j["properties"] = props;
    return j.dump();
  });
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse(argc, argv);
  const auto certs = app::ensure_dev_certificates(opt.cert_dir, {opt.host_name});
  if (opt.make_certs_only) {
    std::printf("%s\n", certs.ca_cert.c_str());
    return 0;
  }

  // The emulator exactly as the executable wires it (app::emulator), configured for the tests:
  // fixed keys, ephemeral ports, AMQP also without TLS, and these certificates.
  app::emulator_config c = app::default_config();
  c.log_level = std::getenv("AMQP_HARNESS_DEBUG") != nullptr ? log::level::debug : log::level::info;
  c.hub.hub_name = opt.hub_name;
  c.hub.host_name = opt.host_name;
  c.hub.host_aliases = app::default_host_aliases(opt.host_name);
  c.hub.token_clock_skew = core::duration{opt.token_skew_ms};
  c.hub.feedback_batch_interval = core::duration{opt.feedback_interval_ms};
  c.hub.policies = {
      {"iothubowner", owner_key, owner_key,
       core::permission::registry_read | core::permission::registry_write |
           core::permission::service_connect | core::permission::device_connect},
      {"service", service_key, service_key,
       static_cast<core::permission_set>(core::permission::service_connect)},
      {"registryRead", registry_key, registry_key,
       static_cast<core::permission_set>(core::permission::registry_read)},
  };
  c.devices.clear();
  for (const char* id : {"dev1", "dev2", "dev#3", "a+b", "full1", "fb1", "fb2", "exp1"}) {
    core::device_spec d;
    d.id = id;
    d.primary_key = device_key;
    d.secondary_key = device_key;
    c.devices.push_back(d);
  }
  core::device_spec off;
  off.id = "off1";
  off.status = core::device_status::disabled;
  off.primary_key = device_key;
  off.secondary_key = device_key;
  c.devices.push_back(off);
  c.in_memory = true;
  c.tls_cert = certs.server_cert;
  c.tls_key = certs.server_key;
  c.listen.mqtt_port = 0;
  c.listen.amqp_port = 0;
  c.listen.amqp_plain_port = 0;
  c.listen.https_port = 0;
  c.listen.https_port_given = true;
  // More than one thread runs the connections, so the per-connection strands are exercised.
  c.io_threads = static_cast<std::size_t>(std::max(opt.io_threads, 1L));
  c.amqp.idle_timeout = std::chrono::milliseconds(opt.idle_timeout_ms);
  c.amqp.max_connections = static_cast<std::size_t>(opt.max_connections);
  c.amqp.handshake_timeout = std::chrono::milliseconds(opt.handshake_timeout_ms);

  app::emulator emulator(c);
  app::ready_info info;
  try {
    info = emulator.start();
  } catch (const app::start_error& e) {
    std::fprintf(stderr, "amqp_harness: %s\n", e.what());
    return static_cast<int>(e.code());
  }

  nlohmann::json ready;
  ready["amqpPort"] = info.ports.at("amqp");
  ready["plainPort"] = info.ports.at("amqpPlain");
  ready["caCertificate"] = certs.ca_cert.string();
  ready["hubName"] = opt.hub_name;
  ready["hostName"] = opt.host_name;
  ready["keys"] = {{"iothubowner", owner_key},
                   {"service", service_key},
                   {"registryRead", registry_key},
                   {"device", device_key}};
  std::cout << ready.dump() << std::endl;

  std::string line;
  while (std::getline(std::cin, line)) {
    const auto space = line.find(' ');
    const std::string cmd = line.substr(0, space);
    const std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
    std::string answer;
    if (cmd == "complete") {
      answer = settle(emulator, cmd, arg, core::settlement::complete);
    } else if (cmd == "reject") {
      answer = settle(emulator, cmd, arg, core::settlement::reject);
    } else if (cmd == "abandon") {
      answer = settle(emulator, cmd, arg, core::settlement::abandon);
    } else if (cmd == "message") {
      answer = describe_first(emulator, arg);
    } else if (cmd == "count") {
      answer = "count " + arg + " " +
               std::to_string(emulator.call(
                   [arg](core::hub& h, core::time_point) { return h.queued_count(arg); }));
    } else if (cmd == "create") {
      answer = emulator.call([arg](core::hub& h, core::time_point now) {
        core::device_spec d;
        d.id = arg;
        d.primary_key = device_key;
        d.secondary_key = device_key;
        auto r = h.create_device(d, now);
        return r.ok() ? "ok create " + arg : "error " + r.error().message;
      });
    } else if (cmd == "feedback") {
      answer = emulator.call([](core::hub& h, core::time_point) {
        const auto batches = h.feedback_batches();
        std::size_t locked = 0;
        for (const auto& b : batches) locked += b.lock_id != 0 ? 1 : 0;
        return "feedback pending=" + std::to_string(h.pending_feedback().size()) +
               " batches=" + std::to_string(batches.size()) + " locked=" + std::to_string(locked);
      });
    } else if (cmd == "advance") {
      // The hub and every front at the new time when this returns (token expiry included).
      emulator.advance_clock(std::chrono::milliseconds{std::stol(arg)});
      answer = "ok advance";
    } else if (cmd == "connections") {
      answer = "connections " + std::to_string(emulator.connections().amqp);
    } else if (cmd == "quit") {
      break;
    } else {
      answer = "error unknown command";
    }
    std::cout << answer << std::endl;
  }
  emulator.stop();
  return 0;
}
