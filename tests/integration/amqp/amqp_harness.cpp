// In-process test harness for the AMQP service endpoint (issue 4): the hub executor with an
// in-memory SQLite store, development TLS certificates and the amqp_server on 127.0.0.1 with
// ephemeral ports. It stands in for the MQTT device until the device gateway exists: stdin
// commands complete, reject or abandon queued C2D messages through the executor, so the
// service sees real feedback.
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
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

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

#include "emulator/amqp/amqp_server.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/runtime/dev_certificates.hpp"
#include "emulator/runtime/hub_executor.hpp"
#include "emulator/runtime/tls_context.hpp"
#include "storage/sqlite_store.hpp"

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

template <class R, class Fn>
R on_executor(runtime::hub_executor& ex, Fn fn) {
  std::promise<R> p;
  auto f = p.get_future();
  ex.post([&p, fn](core::hub& h, core::time_point now) -> runtime::hub_executor::completion {
    auto r = fn(h, now);
    return [&p, r](bool) mutable { p.set_value(std::move(r)); };
  });
  return f.get();
}

std::string settle(runtime::hub_executor& ex, const std::string& verb, const std::string& device,
                   core::settlement how) {
  auto r = on_executor<std::string>(ex, [device, how, verb](core::hub& h, core::time_point now) {
    auto d = h.lock_next(device, now);
    if (!d) return "none " + device;
    const auto st = h.settle(device, d->message.seq, d->lock_id, how, now);
    if (!st.ok()) return "error " + st.err().message;
    return "ok " + verb + " " + device + " " + d->message.content.message_id;
  });
  return r;
}

std::string describe_first(runtime::hub_executor& ex, const std::string& device) {
  return on_executor<std::string>(ex, [device](core::hub& h, core::time_point) {
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
  const auto certs = runtime::ensure_dev_certificates(opt.cert_dir, {opt.host_name});
  if (opt.make_certs_only) {
    std::printf("%s\n", certs.ca_cert.c_str());
    return 0;
  }
  runtime::log_threshold() =
      static_cast<int>(std::getenv("AMQP_HARNESS_DEBUG") != nullptr ? runtime::log_level::debug
                                                                    : runtime::log_level::info);

  core::hub_settings hs;
  hs.hub_name = opt.hub_name;
  hs.host_name = opt.host_name;
  hs.token_clock_skew = core::duration{opt.token_skew_ms};
  hs.feedback_batch_interval = core::duration{opt.feedback_interval_ms};
  hs.policies = {
      {"iothubowner", owner_key, owner_key,
       core::permission::registry_read | core::permission::registry_write |
           core::permission::service_connect | core::permission::device_connect},
      {"service", service_key, service_key,
       static_cast<core::permission_set>(core::permission::service_connect)},
      {"registryRead", registry_key, registry_key,
       static_cast<core::permission_set>(core::permission::registry_read)},
  };

  runtime::hub_executor executor(
      hs, std::make_unique<storage::sqlite_store>(std::string(storage::in_memory_path)));
  asio::io_context io;
  runtime::tls_server_context tls(certs);

  amqp::amqp_settings as;
  as.hub_name = opt.hub_name;
  as.host_name = opt.host_name;
  as.idle_timeout = std::chrono::milliseconds(opt.idle_timeout_ms);
  as.max_connections = static_cast<std::size_t>(opt.max_connections);
  as.handshake_timeout = std::chrono::milliseconds(opt.handshake_timeout_ms);
  // Both servers before executor.start(): they register the hub-event listener.
  amqp::amqp_server server(io, &tls.asio_context(), executor, as);
  amqp::amqp_server plain(io, nullptr, executor, as);

  executor.start([](core::hub& h, core::time_point now) {
    for (const char* id : {"dev1", "dev2", "dev#3", "a+b", "full1", "fb1", "fb2", "exp1"}) {
      core::device_spec d;
      d.id = id;
      d.primary_key = device_key;
      d.secondary_key = device_key;
      (void)h.create_device(d, now);
    }
    core::device_spec off;
    off.id = "off1";
    off.status = core::device_status::disabled;
    off.primary_key = device_key;
    off.secondary_key = device_key;
    (void)h.create_device(off, now);
  });

  const auto port = server.listen("127.0.0.1", 0);
  const auto plain_port = plain.listen("127.0.0.1", 0);
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> io_threads;
  for (long i = 0; i < std::max(opt.io_threads, 1L); ++i)
    io_threads.emplace_back([&io] { io.run(); });

  nlohmann::json ready;
  ready["amqpPort"] = port;
  ready["plainPort"] = plain_port;
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
      answer = settle(executor, cmd, arg, core::settlement::complete);
    } else if (cmd == "reject") {
      answer = settle(executor, cmd, arg, core::settlement::reject);
    } else if (cmd == "abandon") {
      answer = settle(executor, cmd, arg, core::settlement::abandon);
    } else if (cmd == "message") {
      answer = describe_first(executor, arg);
    } else if (cmd == "count") {
      answer = "count " + arg + " " +
               std::to_string(on_executor<int>(executor, [arg](core::hub& h, core::time_point) {
                 return h.queued_count(arg);
               }));
    } else if (cmd == "create") {
      answer = on_executor<std::string>(executor, [arg](core::hub& h, core::time_point now) {
        core::device_spec d;
        d.id = arg;
        d.primary_key = device_key;
        d.secondary_key = device_key;
        auto r = h.create_device(d, now);
        return r.ok() ? "ok create " + arg : "error " + r.err().message;
      });
    } else if (cmd == "feedback") {
      answer = on_executor<std::string>(executor, [](core::hub& h, core::time_point) {
        const auto batches = h.feedback_batches();
        std::size_t locked = 0;
        for (const auto& b : batches) locked += b.lock_id != 0 ? 1 : 0;
        return "feedback pending=" + std::to_string(h.pending_feedback().size()) +
               " batches=" + std::to_string(batches.size()) + " locked=" + std::to_string(locked);
      });
    } else if (cmd == "advance") {
      executor.advance_clock(core::duration{std::stol(arg)});
      // A round trip through the executor so the clock move has been applied.
      (void)on_executor<int>(executor, [](core::hub&, core::time_point) { return 0; });
      server.recheck_deadlines();
      plain.recheck_deadlines();
      answer = "ok advance";
    } else if (cmd == "connections") {
      answer =
          "connections " + std::to_string(server.connection_count() + plain.connection_count());
    } else if (cmd == "quit") {
      break;
    } else {
      answer = "error unknown command";
    }
    std::cout << answer << std::endl;
  }

  server.stop();
  plain.stop();
  guard.reset();
  for (auto& t : io_threads) t.join();  // they return when every connection has finished
  executor.stop();
  return 0;
}
