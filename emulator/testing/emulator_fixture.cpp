#include "emulator/testing/emulator_fixture.hpp"

#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <future>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <asio.hpp>
#include "emulator/app/config.hpp"
#include "emulator/core/hub.hpp"

#include "emulator/amqp/amqp_server.hpp"
#include "emulator/https/https_server.hpp"
#include "emulator/mqtt/gateway/server.hpp"
#include "emulator/runtime/dev_certificates.hpp"
#include "emulator/runtime/hub_executor.hpp"
#include "emulator/runtime/tls_context.hpp"
#include "storage/sqlite_store.hpp"

namespace emu::testing {

namespace {

namespace fs = std::filesystem;

std::chrono::system_clock::time_point to_system(core::time_point t) {
  return std::chrono::system_clock::time_point{
      std::chrono::duration_cast<std::chrono::system_clock::duration>(t.time_since_epoch())};
}

property_list to_list(const std::vector<core::property>& properties) {
  property_list out;
  for (const auto& p : properties) out.emplace_back(p.name, p.value);
  return out;
}

std::vector<core::property> from_list(const property_list& properties) {
  std::vector<core::property> out;
  for (const auto& [name, value] : properties) out.push_back({name, value});
  return out;
}

feedback_record_view view_of(const core::feedback_record& r) {
  return {r.original_message_id, r.device_id, std::string(core::to_string(r.status)),
          to_system(r.enqueued_time), r.batch_id};
}

[[noreturn]] void throw_hub_error(const core::error& e) {
  throw std::runtime_error(std::string(core::error_name(e.code)) + ": " + e.message);
}

/// A fresh private directory under the system's temporary directory.
fs::path make_temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "iothub-emulator-fixture-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::system_error(errno, std::generic_category(),
                            "emulator_fixture: cannot create a temporary directory");
  return pattern;
}

}  // namespace

struct emulator_fixture::impl {
  explicit impl(fixture_options o) : options(std::move(o)) {}

  /// Runs `fn(hub, now)` on the hub executor and returns its result after the round's commit.
  template <class Fn>
  auto call(Fn fn) -> decltype(fn(std::declval<core::hub&>(), core::time_point{})) {
    using R = decltype(fn(std::declval<core::hub&>(), core::time_point{}));
    if (!executor) throw std::logic_error("emulator_fixture: not started");
    auto promise = std::make_shared<std::promise<std::pair<bool, R>>>();
    auto future = promise->get_future();
    executor->submit(std::move(fn), [promise](bool committed, R r) {
      promise->set_value({committed, std::move(r)});
    });
    if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
      throw std::runtime_error("emulator_fixture: the hub did not answer within 30 s");
    auto [committed, result] = future.get();
    if (!committed) throw std::runtime_error("emulator_fixture: the hub could not commit");
    return std::move(result);
  }

  fixture_options options;
  app::emulator_config config = app::default_config();
  fs::path dir;
  bool own_dir = false;
  fs::path ca_cert;
  std::unique_ptr<runtime::hub_executor> executor;
  std::unique_ptr<https::https_server> https;
  // MQTT and AMQP over TLS, on ephemeral ports. The AMQP front runs on `io`, served by
  // `io_thread`; the MQTT gateway has threads of its own.
  std::unique_ptr<runtime::tls_server_context> tls;
  std::unique_ptr<mqtt::server> mqtt_front;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> io_work;
  std::thread io_thread;
  std::unique_ptr<amqp::amqp_server> amqp_front;
  fixture_ports ports;
  /// Run after every clock travel (from advance_clock() or POST /admin/clock/advance), once
  /// the hub has applied the new time: fronts that keep deadlines of their own register here
  /// (e.g. the AMQP endpoint's recheck_deadlines for token expiry).
  std::vector<std::function<void()>> clock_hooks;
  void clock_advanced() {
    for (const auto& hook : clock_hooks) hook();
  }
};

emulator_fixture::emulator_fixture(fixture_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

emulator_fixture::~emulator_fixture() {
  stop();
  if (impl_->own_dir) {
    std::error_code ignored;
    fs::remove_all(impl_->dir, ignored);
  }
}

void emulator_fixture::start() {
  auto& m = *impl_;
  if (m.executor) throw std::logic_error("emulator_fixture: already started");
  if (m.dir.empty()) {
    if (m.options.data_dir.empty()) {
      m.dir = make_temp_dir();
      m.own_dir = true;
    } else {
      m.dir = fs::absolute(m.options.data_dir);
      fs::create_directories(m.dir);
    }
  }
  m.config.hub.host_name = m.options.host_name;
  m.config.hub.hub_name = m.options.host_name.substr(0, m.options.host_name.find('.'));
  m.config.hub.c2d_lock_timeout = m.options.c2d_lock_timeout;
  m.config.hub.c2d_default_ttl = m.options.c2d_default_ttl;

  const auto certs = runtime::ensure_dev_certificates(m.dir / "certs", {m.options.host_name});
  m.ca_cert = certs.ca_cert;
  auto store = std::make_unique<storage::sqlite_store>(m.options.database_file
                                                           ? (m.dir / "iothub.db").string()
                                                           : std::string(storage::in_memory_path));
  m.executor = std::make_unique<runtime::hub_executor>(m.config.hub, std::move(store));

  https::https_settings hs;
  hs.certificate_chain = certs.server_cert;
  hs.private_key = certs.server_key;
  hs.test_control = m.options.test_control;
  m.https = std::make_unique<https::https_server>(*m.executor, hs);
  m.https->on_clock_advanced([&m] { m.clock_advanced(); });
  m.tls = std::make_unique<runtime::tls_server_context>(certs);
  mqtt::gateway_settings ms;
  ms.session.host_name = m.options.host_name;
  m.mqtt_front = std::make_unique<mqtt::server>(ms, *m.executor);
  amqp::amqp_settings as;
  as.hub_name = m.config.hub.hub_name;
  as.host_name = m.options.host_name;
  m.amqp_front = std::make_unique<amqp::amqp_server>(m.io, &m.tls->asio_context(), *m.executor, as);
  m.clock_hooks.push_back([&m] { m.amqp_front->recheck_deadlines(); });
  // Fronts are constructed before the executor starts (they register hub-event listeners).

  const auto devices = m.config.devices;
  m.executor->start([devices](core::hub& hub, core::time_point now) {
    for (const auto& d : devices)
      if (hub.find_device(d.id) == nullptr) (void)hub.create_device(d, now);
  });
  try {
    m.ports.https = m.https->listen(m.options.bind, m.options.https_port);
    m.ports.mqtt = m.mqtt_front->listen_tls(m.options.bind, 0, *m.tls);
    m.mqtt_front->start();
    m.ports.amqp = m.amqp_front->listen(m.options.bind, 0);
    m.io.restart();
    m.io_work.emplace(m.io.get_executor());
    m.io_thread = std::thread([&m] { m.io.run(); });
  } catch (...) {
    stop();
    throw;
  }
}

void emulator_fixture::stop() {
  auto& m = *impl_;
  // Fronts first (requests in flight still get answers), then the executor commits the rest.
  if (m.mqtt_front) m.mqtt_front->stop();
  if (m.amqp_front) m.amqp_front->stop();
  m.io_work.reset();
  if (m.io_thread.joinable()) m.io_thread.join();
  if (m.https) m.https->stop();
  if (m.executor) m.executor->stop();
  m.mqtt_front.reset();
  m.amqp_front.reset();
  m.tls.reset();
  m.https.reset();
  m.executor.reset();
  m.ports = {};
}

bool emulator_fixture::running() const {
  return impl_->executor != nullptr;
}

fixture_ports emulator_fixture::ports() const {
  return impl_->ports;
}

std::string emulator_fixture::host_name() const {
  return impl_->options.host_name;
}

std::filesystem::path emulator_fixture::ca_certificate() const {
  return impl_->ca_cert;
}

std::string emulator_fixture::ca_certificate_pem() const {
  std::ifstream in(impl_->ca_cert, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string emulator_fixture::https_url() const {
  return "https://" + impl_->options.host_name + ":" + std::to_string(impl_->ports.https);
}

std::string emulator_fixture::hub_connection_string(const std::string& policy) const {
  const auto& policies = impl_->config.hub.policies;
  const auto it = std::find_if(policies.begin(), policies.end(),
                               [&](const core::access_policy& p) { return p.name == policy; });
  if (it == policies.end())
    throw std::invalid_argument("emulator_fixture: no shared access policy '" + policy + "'");
  return "HostName=" + impl_->options.host_name + ";SharedAccessKeyName=" + it->name +
         ";SharedAccessKey=" + it->primary_key;
}

std::string emulator_fixture::device_connection_string(const std::string& device_id) {
  const auto key = impl_->call([device_id](core::hub& hub, core::time_point) {
    const core::device* d = hub.find_device(device_id);
    return d == nullptr ? std::optional<std::string>() : std::optional(d->primary_key);
  });
  if (!key) throw std::runtime_error("DeviceNotFound: Device " + device_id + " not found.");
  return "HostName=" + impl_->options.host_name + ";DeviceId=" + device_id +
         ";SharedAccessKey=" + *key;
}

device_identity emulator_fixture::create_device(const std::string& device_id) {
  auto created = impl_->call([device_id](core::hub& hub, core::time_point now) {
    core::device_spec spec;
    spec.id = device_id;
    return hub.create_device(spec, now);
  });
  if (!created) throw_hub_error(created.err());
  return {created->id, created->primary_key, created->secondary_key,
          "HostName=" + impl_->options.host_name + ";DeviceId=" + created->id +
              ";SharedAccessKey=" + created->primary_key};
}

void emulator_fixture::delete_device(const std::string& device_id) {
  const auto deleted = impl_->call([device_id](core::hub& hub, core::time_point now) {
    return hub.delete_device(device_id, "*", now);
  });
  if (!deleted) throw_hub_error(deleted.err());
}

std::uint64_t emulator_fixture::send_c2d(const std::string& device_id, const c2d_send& message) {
  const auto ack = core::parse_ack_mode(message.ack);
  if (!ack)
    throw std::invalid_argument("emulator_fixture: ack must be none|positive|negative|full");
  core::c2d_content c;
  c.message_id = message.message_id;
  c.correlation_id = message.correlation_id;
  c.to = "/devices/" + device_id + "/messages/devicebound";
  c.ack = *ack;
  c.properties = from_list(message.properties);
  c.body = message.body;
  const auto ttl = message.ttl;
  const auto seq = impl_->call([device_id, c, ttl](core::hub& hub, core::time_point now) mutable {
    if (ttl) c.absolute_expiry = now + *ttl;
    return hub.enqueue(device_id, std::move(c), now);
  });
  if (!seq) throw_hub_error(seq.err());
  return *seq;
}

std::chrono::system_clock::time_point emulator_fixture::now() const {
  if (!impl_->executor) throw std::logic_error("emulator_fixture: not started");
  return to_system(impl_->executor->now());
}

void emulator_fixture::advance_clock(std::chrono::milliseconds by) {
  if (by.count() < 0) throw std::invalid_argument("emulator_fixture: the clock only moves forward");
  if (!impl_->executor) throw std::logic_error("emulator_fixture: not started");
  impl_->executor->advance_clock(by);
  // A round at the new time applies what became due before this returns.
  impl_->call([](core::hub&, core::time_point) { return 0; });
  impl_->clock_advanced();
}

std::vector<c2d_message_view> emulator_fixture::queue(const std::string& device_id) {
  const auto messages = impl_->call([device_id](core::hub& hub, core::time_point) {
    return hub.find_device(device_id) == nullptr ? std::optional<std::vector<core::c2d_message>>()
                                                 : std::optional(hub.queue_of(device_id));
  });
  if (!messages) throw std::runtime_error("DeviceNotFound: Device " + device_id + " not found.");
  std::vector<c2d_message_view> out;
  for (const auto& m : *messages) {
    c2d_message_view v;
    v.seq = m.seq;
    v.message_id = m.content.message_id;
    v.correlation_id = m.content.correlation_id;
    v.state = m.state == core::c2d_state::enqueued ? "Enqueued" : "Invisible";
    v.delivery_count = m.delivery_count;
    v.enqueued_time = to_system(m.enqueued_time);
    v.expiry_time = to_system(m.expiry_time);
    if (m.state == core::c2d_state::invisible) v.lock_expiry = to_system(m.lock_expiry);
    v.ack = std::string(core::to_string(m.content.ack));
    v.properties = to_list(m.content.properties);
    v.body = m.content.body;
    out.push_back(std::move(v));
  }
  return out;
}

feedback_view emulator_fixture::feedback() {
  const auto state = impl_->call([](core::hub& hub, core::time_point) {
    return std::make_pair(hub.pending_feedback(), hub.feedback_batches());
  });
  feedback_view out;
  for (const auto& r : state.first) out.pending.push_back(view_of(r));
  for (const auto& b : state.second) {
    feedback_batch_view v{b.id, b.delivery_count, b.lock_id != 0, {}};
    for (const auto& r : b.records) v.records.push_back(view_of(r));
    out.batches.push_back(std::move(v));
  }
  return out;
}

std::vector<telemetry_view> emulator_fixture::telemetry() {
  const auto messages =
      impl_->call([](core::hub& hub, core::time_point) { return hub.telemetry(); });
  std::vector<telemetry_view> out;
  for (const auto& t : messages)
    out.push_back({t.device_id, to_system(t.enqueued_time), to_list(t.properties), t.body});
  return out;
}

void emulator_fixture::reset() {
  impl_->call([](core::hub& hub, core::time_point now) {
    hub.reset(now);
    return 0;
  });
}

}  // namespace emu::testing
