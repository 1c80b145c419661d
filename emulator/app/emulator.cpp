#include "emulator/app/emulator.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <system_error>
#include <utility>

#include <unistd.h>

#include "emulator/amqp/amqp_front.hpp"
#include "emulator/app/dev_certificates.hpp"
#include "emulator/https/https_front.hpp"
#include "emulator/log/log.hpp"
#include "emulator/mqtt/gateway/gateway.hpp"
#include "emulator/net/io_pool.hpp"
#include "emulator/net/tls_context.hpp"
#include "storage/sqlite_store.hpp"

namespace emu::app {

namespace {

/// How long stop() waits for each front's connections to finish (their close linger is 2 s; an
/// HTTP request in flight gets its answer first).
constexpr std::chrono::seconds drain_time{5};

/// Creates the configured devices that are missing; aligns keys and status of existing ones.
void seed_devices(core::hub& hub, const std::vector<core::device_spec>& devices,
                  core::time_point now) {
  for (const auto& spec : devices) {
    const core::device* existing = hub.find_device(spec.id);
    if (existing == nullptr) {
      (void)hub.create_device(spec, now);
      continue;
    }
    const auto stored = [](const std::string& t) {
      return core::normal_thumbprint(t).value_or("");
    };
    const bool differs =
        existing->status != spec.status || existing->authentication != spec.authentication ||
        (!spec.primary_key.empty() && spec.primary_key != existing->primary_key) ||
        (!spec.secondary_key.empty() && spec.secondary_key != existing->secondary_key) ||
        stored(spec.primary_thumbprint) != existing->primary_thumbprint ||
        stored(spec.secondary_thumbprint) != existing->secondary_thumbprint;
    if (differs) (void)hub.update_device(spec, "*", now);
  }
}

/// A configured CA certificate, read and checked before the hub starts.
struct ca_seed {
  std::string name;
  std::string pem;
};

/// Registers the configured CAs as verified (created, or replaced when the file changed).
void seed_ca_certificates(core::hub& hub, const std::vector<ca_seed>& cas, core::time_point now) {
  for (const auto& ca : cas) {
    const core::ca_certificate* existing = hub.certificates().find(ca.name);
    if (existing != nullptr && existing->verified && existing->pem == ca.pem) continue;
    (void)hub.certificates().put(ca.name, ca.pem, /*verified=*/true, "", now);
  }
}

}  // namespace

std::filesystem::path certificate_dir(const emulator_config& c) {
  if (!c.in_memory || c.data_dir_given) return c.data_dir / "certs";
  // A throw-away hub keeps its CA in the user's cache so it stays trusted across runs.
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::filesystem::path(xdg) / "iothub-emulator" / "certs";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".cache" / "iothub-emulator" / "certs";
  return std::filesystem::temp_directory_path() / "iothub-emulator-certs";
}

/// Declared in the order they are built; destroyed the other way round: the fronts (and the
/// connections they own) before the io pool, the io pool before the executor that abandoned
/// handlers may still post to, the executor (and the store it owns) before the TLS context.
struct emulator::parts {
  std::optional<net::tls_server_context> tls;
  std::filesystem::path ca_path;
  std::filesystem::path db_path;
  storage::sqlite_store* store = nullptr;  // owned by the executor
  std::unique_ptr<executor::hub_executor> executor;
  std::unique_ptr<net::io_pool> io;
  std::unique_ptr<mqtt::gateway> mqtt;
  std::unique_ptr<amqp::amqp_front> amqp;
  std::unique_ptr<https::https_front> https;
  bool started = false;
  // invoke_method(): the callers waiting for a call's outcome, by call id. Registered on the
  // executor thread in the call's completion, before any later round's event.
  std::mutex methods_mutex;
  std::map<std::uint64_t, std::promise<core::event::method_result>> methods;
};

emulator::emulator(emulator_config config) : config_(std::move(config)) {}

emulator::~emulator() {
  stop();
}

bool emulator::running() const {
  return parts_ != nullptr && parts_->started;
}

std::future<core::event::method_result> emulator::invoke_method(std::string device_id,
                                                                core::method_call call) {
  auto& p = *parts_;
  auto promise = std::make_shared<std::promise<core::event::method_result>>();
  auto future = promise->get_future();
  executor().submit(
      [device_id = std::move(device_id), call = std::move(call)](core::hub& hub,
                                                                 core::time_point now) mutable {
        return hub.invoke_method(device_id, std::move(call), now);
      },
      [&p, promise](bool committed, core::result<std::uint64_t> id) {
        core::event::method_result failed;
        if (!committed) {
          failed.failure = core::error{core::hub_error::server_error, "The hub could not commit."};
        } else if (!id) {
          failed.failure = id.error();
        } else {
          const std::lock_guard lock(p.methods_mutex);
          p.methods.emplace(*id, std::move(*promise));
          return;
        }
        promise->set_value(std::move(failed));
      });
  return future;
}

executor::hub_executor& emulator::executor() {
  if (!parts_ || !parts_->executor) throw std::logic_error("iothub-emulator: not started");
  return *parts_->executor;
}

emulator::connection_counts emulator::connections() const {
  if (!parts_ || !parts_->started) return {};
  return {parts_->mqtt->connection_count(), parts_->amqp->connection_count(),
          parts_->https->connection_count()};
}

ready_info emulator::start() {
  if (parts_) throw std::logic_error("iothub-emulator: start() called twice");
  log::set_level(config_.log_level);
  static auto& log_tls = log::get("tls");
  parts_ = std::make_unique<parts>();
  parts& p = *parts_;
  const auto fail = [this](exit_code code, const std::string& message, std::error_code cause = {}) {
    stop();
    return start_error(code, message, cause);
  };

  // Storage: a refused database (corrupt, newer, another program's, locked) is exit code 3.
  std::unique_ptr<storage::sqlite_store> store;
  try {
    if (config_.in_memory) {
      store = std::make_unique<storage::sqlite_store>(std::string(storage::in_memory_path));
    } else {
      // Said plainly, not as SQLite's "unable to open database file": the usual cause is a
      // container's bind mount owned by another user (README "With docker-compose").
      const auto not_writable = [&](const std::string& why) {
        return fail(exit_code::bad_database,
                    "database: the data directory '" + config_.data_dir.string() +
                        "' is not writable by this process (uid " + std::to_string(::getuid()) +
                        ", gid " + std::to_string(::getgid()) + "): " + why +
                        "; make that uid its owner (e.g. chown -R " + std::to_string(::getuid()) +
                        " DIR) or choose another --data-dir");
      };
      std::error_code created;
      std::filesystem::create_directories(config_.data_dir, created);
      if (created) throw not_writable(created.message());
      if (::access(config_.data_dir.c_str(), W_OK | X_OK) != 0)
        throw not_writable(std::strerror(errno));
      p.db_path = std::filesystem::absolute(config_.data_dir / "iothub.db");
      // Test control can make the disk fail under SQLite (PATCH /admin/chaos failNextWrites,
      // failNextSyncs): the file runs on the fault shim then, and only then.
      store = std::make_unique<storage::sqlite_store>(
          p.db_path.string(), storage::database_options{},
          config_.https.test_control ? storage::io_fault_injection::on
                                     : storage::io_fault_injection::off);
    }
  } catch (const start_error&) {
    throw;
  } catch (const std::exception& e) {
    throw fail(exit_code::bad_database, std::string("database: ") + e.what());
  }
  p.store = store.get();

  // TLS: the configured certificate, or a development CA and server certificate of our own.
  try {
    if (!config_.tls_cert.empty()) {
      p.tls.emplace(net::tls_server_options{config_.tls_cert, config_.tls_key});
    } else {
      const auto certs =
          ensure_dev_certificates(certificate_dir(config_), certificate_names(config_.hub));
      for (const auto& note : certs.notes) log_tls.info("{}", note);
      p.ca_path = std::filesystem::absolute(certs.ca_cert);
      p.tls.emplace(net::tls_server_options{certs.server_cert, certs.server_key});
    }
  } catch (const std::exception& e) {
    throw fail(exit_code::bad_tls, std::string("tls: ") + e.what());
  }

  // Loading the store can still fail here (damaged pages SQLite only meets when it reads them):
  // a refused database too, not an abort.
  try {
    p.executor = std::make_unique<executor::hub_executor>(config_.hub, std::move(store));
  } catch (const std::exception& e) {
    throw fail(exit_code::bad_database, std::string("database: ") + e.what());
  }

  // The fronts register their hub-event listeners before the executor starts.
  p.io = std::make_unique<net::io_pool>(config_.io_threads);
  p.mqtt = std::make_unique<mqtt::gateway>(config_.mqtt, config_.hub.hosts(), *p.executor,
                                           p.io->context());
  p.amqp = std::make_unique<amqp::amqp_front>(config_.amqp, config_.hub.hub_name,
                                              config_.hub.hosts(), *p.executor, p.io->context());
  p.https = std::make_unique<https::https_front>(
      config_.https, *p.executor, p.io->context(),
      [this](std::chrono::milliseconds by, std::function<void()> done) {
        advance_clock(by, std::move(done));
      });

  // MQTT and AMQP over WebSocket on the HTTPS port (next-capabilities §6): the C SDK writes
  // `MQTT`, Node `mqtt` (matched without regard to case, echoed as sent).
  p.https->serve_websockets(
      {{"mqtt", [g = p.mqtt.get()] { return g->make_websocket_connection(); }},
       {"AMQPWSB10", [a = p.amqp.get()] { return a->make_websocket_session(); }}});
  // GET /metrics shows every front's connections (issue 18).
  p.https->serve_metrics([m = p.mqtt.get(), a = p.amqp.get(), h = p.https.get()] {
    return std::vector<metrics::front_metrics>{
        {"mqtt", m->numbers()}, {"amqp", a->numbers()}, {"https", h->numbers()}};
  });

  // A forward step of the wall clock moves hub time as clock travel does: the fronts re-check
  // the deadlines they keep in hub time (issue 20 item 4, executor/hub_clock.hpp).
  p.executor->on_clock_jump([&p] {
    p.mqtt->clock_advanced();
    p.amqp->clock_advanced();
    p.https->clock_advanced();
  });
  p.executor->add_listener([&p](const core::hub_event& e) {
    const auto* r = std::get_if<core::event::method_result>(&e);
    if (r == nullptr) return;
    const std::lock_guard lock(p.methods_mutex);
    const auto it = p.methods.find(r->call_id);
    if (it == p.methods.end()) return;  // an HTTPS caller's call
    it->second.set_value(*r);
    p.methods.erase(it);
  });

  // Configured CA certificates: read and checked now, so a bad file is a config error (exit
  // 2) and not a silent gap; stored as the hub stores them (PEM), so a restart changes nothing.
  std::vector<ca_seed> cas;
  for (const auto& c : config_.ca_certificates) {
    std::ifstream in(c.file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof())
      throw fail(exit_code::bad_config, "caCertificates: cannot read '" + c.file.string() + "'");
    core::journal scratch;
    core::ca_certificates probe(scratch);
    auto parsed = probe.put(c.name, text.str(), true, "", core::time_point{});
    if (!parsed)
      throw fail(exit_code::bad_config,
                 "caCertificates: '" + c.file.string() + "': " + parsed.error().message);
    cas.push_back({c.name, parsed->pem});
  }
  try {
    p.executor->start(
        [devices = config_.devices, cas = std::move(cas)](core::hub& hub, core::time_point now) {
          seed_devices(hub, devices, now);
          seed_ca_certificates(hub, cas, now);
        });
  } catch (const std::exception& e) {
    throw fail(exit_code::bad_database, std::string("database: ") + e.what());
  }

  // Every listener is bound before anything is announced; a port in use is exit code 5.
  ready_info info;
  info.host_name = config_.hub.host_name;
  info.hub_name = config_.hub.hub_name;
  info.ca_certificate = p.ca_path;
  info.database = p.db_path;
  SSL_CTX* const tls = p.tls->native_handle();
  const auto& bind = config_.listen.bind;
  const auto listen = [&](const char* name, int wanted, const auto& open) {
    try {
      info.ports[name] = open(static_cast<std::uint16_t>(wanted));
    } catch (const std::system_error& e) {
      throw fail(exit_code::cannot_listen,
                 std::string(name) + ": cannot listen on " + bind + ":" + std::to_string(wanted) +
                     ": " + e.code().message(),
                 e.code());
    }
  };
  listen("mqtt", config_.listen.mqtt_port,
         [&](std::uint16_t port) { return p.mqtt->listen(bind, port, tls); });
  if (const auto plain = config_.listen.mqtt_plain_port)
    listen("mqttPlain", *plain,
           [&](std::uint16_t port) { return p.mqtt->listen(bind, port, nullptr); });
  listen("amqp", config_.listen.amqp_port,
         [&](std::uint16_t port) { return p.amqp->listen(bind, port, tls); });
  if (const auto plain = config_.listen.amqp_plain_port)
    listen("amqpPlain", *plain,
           [&](std::uint16_t port) { return p.amqp->listen(bind, port, nullptr); });
  listen("https", config_.listen.https_port, [&](std::uint16_t port) {
    try {
      return p.https->listen(bind, port, tls);
    } catch (const std::system_error& e) {
      // 443 needs root or CAP_NET_BIND_SERVICE. When nobody asked for it explicitly, the
      // one-command start must still work for a normal user: take a free port and say so.
      if (config_.listen.https_port_given || e.code() != std::errc::permission_denied) throw;
      const auto fallback = p.https->listen(bind, 0, tls);
      log::get("https").warn(
          "port {} needs root or CAP_NET_BIND_SERVICE; serving HTTPS on port {} instead (the Node "
          "Registry only uses 443; set --https-port to choose)",
          port, fallback);
      return fallback;
    }
  });
  p.io->start();
  p.started = true;

  // Connection strings for people and test harnesses, with the keys the hub really has.
  for (const auto& policy : config_.hub.policies) {
    if (policy.name != "iothubowner" && policy.name != "service") continue;
    info.policy_connection_strings[policy.name] = "HostName=" + config_.hub.host_name +
                                                  ";SharedAccessKeyName=" + policy.name +
                                                  ";SharedAccessKey=" + policy.primary_key;
  }
  // A hub keeps the partition count it stored its first telemetry with (as on Azure, where it
  // is fixed at creation): say so when the configuration asks for another.
  const int partitions =
      call([](core::hub& hub, core::time_point) { return hub.partition_count(); });
  if (partitions != config_.hub.partition_count)
    log::get("app").warn(
        "eventHubs.partitionCount {} ignored: this hub's telemetry log has {} partitions, fixed "
        "when it got its first event; use a new data directory to change it",
        config_.hub.partition_count, partitions);
  // The Event Hubs-compatible endpoint (issue 14) is the AMQP listener itself; its name is the
  // hub name. Event Hubs clients take the port from Endpoint (next-capabilities §1.2); the
  // plain listener, when there is one, serves clients with UseDevelopmentEmulator=true.
  for (const auto& policy : config_.hub.policies) {
    if (policy.name != "service") continue;
    const auto endpoint = [&](int port) {
      return "Endpoint=sb://" + config_.hub.host_name + ":" + std::to_string(port) +
             "/;SharedAccessKeyName=" + policy.name + ";SharedAccessKey=" + policy.primary_key +
             ";EntityPath=" + config_.hub.hub_name;
    };
    info.policy_connection_strings["eventHubsCompatible"] = endpoint(info.ports["amqp"]);
    if (info.ports.contains("amqpPlain"))
      info.policy_connection_strings["eventHubsCompatibleDevelopment"] =
          endpoint(info.ports["amqpPlain"]) + ";UseDevelopmentEmulator=true";
  }
  for (const auto& d : call([](core::hub&hub, core::time_point) { return hub.list_devices(); })) {
    const bool configured = std::any_of(config_.devices.begin(), config_.devices.end(),
                                        [&](const core::device_spec& s) { return s.id == d.id; });
    if (!configured) continue;
    // An X.509 device's string names no key: the SDKs take `x509=true` and a certificate.
    info.device_connection_strings[d.id] =
        "HostName=" + config_.hub.host_name + ";DeviceId=" + d.id +
        (d.authentication == core::auth_type::sas ? ";SharedAccessKey=" + d.primary_key
                                                  : std::string(";x509=true"));
  }
  // What the dashboard shows of this wiring (issue 18): the CA is public; the connection
  // strings are shown to loopback peers only (dashboard_api.hpp).
  https::dashboard_site site;
  site.hub_name = info.hub_name;
  site.host_name = info.host_name;
  site.ports = info.ports;
  site.policy_connection_strings = info.policy_connection_strings;
  if (!p.ca_path.empty()) {
    std::ifstream ca(p.ca_path);
    std::stringstream text;
    text << ca.rdbuf();
    site.ca_pem = text.str();
  }
  p.https->set_dashboard_site(std::move(site));
  if (config_.https.dashboard != https::dashboard_access::off)
    info.dashboard =
        "https://localhost" +
        (info.ports["https"] == 443 ? std::string() : ":" + std::to_string(info.ports["https"])) +
        "/";
  return info;
}

void emulator::stop() {
  if (!parts_) return;
  parts& p = *parts_;
  // 1. The fronts: no new connections; the open ones end (answers in flight still go out, and
  //    their ends reach the hub: device sessions give their messages back).
  if (p.mqtt) p.mqtt->stop();
  if (p.amqp) p.amqp->stop();
  if (p.https) p.https->stop();
  if (p.started) {
    const auto deadline = std::chrono::steady_clock::now() + drain_time;
    const auto left = [&] {
      return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now()),
                      std::chrono::milliseconds(0));
    };
    p.mqtt->wait_closed(left());
    p.amqp->wait_closed(left());
    p.https->wait_closed(left());
  }
  // 2. The executor finishes what is queued (those ends) and commits.
  if (p.executor) p.executor->stop();
  // 3. The io pool: nothing is left for it but what a stuck connection would hold.
  if (p.io) p.io->stop();
  // 4. The WAL goes into the database file (graceful shutdown).
  if (p.store != nullptr && !config_.in_memory && p.started) {
    try {
      p.store->checkpoint();
    } catch (const std::exception& e) {
      log::get("storage").warn("checkpoint failed: {}", e.what());
    }
  }
  p.started = false;
  p.mqtt.reset();
  p.amqp.reset();
  p.https.reset();
  p.io.reset();
  p.executor.reset();
  parts_.reset();
}

void emulator::advance_clock(std::chrono::milliseconds by) {
  std::promise<void> done;
  auto future = done.get_future();
  advance_clock(by, [&done] { done.set_value(); });
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
    throw std::runtime_error("iothub-emulator: the hub did not answer in time");
}

void emulator::advance_clock(std::chrono::milliseconds by, std::function<void()> done) {
  if (by.count() < 0) throw std::invalid_argument("iothub-emulator: the clock only moves forward");
  parts& p = *parts_;
  p.executor->advance_clock(by);
  // A round at the new time applies what became due (its first step is hub.advance(now)); once
  // it committed, the fronts re-check their own deadlines that follow hub time.
  p.executor->submit([](core::hub&, core::time_point) { return 0; },
                     [&p, done = std::move(done)](bool, int) {
                       p.mqtt->clock_advanced();
                       p.amqp->clock_advanced();
                       p.https->clock_advanced();
                       done();
                     });
}

}  // namespace emu::app
