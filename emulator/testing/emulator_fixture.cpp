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

#include <nlohmann/json.hpp>

#include "emulator/app/config.hpp"
#include "emulator/app/emulator.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/identity_key.hpp"
#include "emulator/log/log.hpp"

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
    if (!hub || !hub->running()) throw std::logic_error("emulator_fixture: not started");
    return hub->call(std::move(fn));
  }

  fixture_options options;
  app::emulator_config config = app::default_config();
  fs::path dir;
  bool own_dir = false;
  fs::path ca_cert;
  std::unique_ptr<app::emulator> hub;
  fixture_ports ports;
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
  if (m.hub) throw std::logic_error("emulator_fixture: already started");
  if (m.dir.empty()) {
    if (m.options.data_dir.empty()) {
      m.dir = make_temp_dir();
      m.own_dir = true;
    } else {
      m.dir = fs::absolute(m.options.data_dir);
      fs::create_directories(m.dir);
    }
  }
  // The same configuration as the executable's, with the fixture's options over it: every
  // front on an ephemeral port, the certificates (and the database, if kept) in `dir`.
  app::emulator_config& c = m.config;
  c.hub.host_name = m.options.host_name;
  c.hub.hub_name = m.options.host_name.substr(0, m.options.host_name.find('.'));
  c.hub.host_aliases = app::default_host_aliases(c.hub.host_name);
  // Absent options keep the hub's defaults: one place says what Azure's values are.
  if (m.options.c2d_lock_timeout) c.hub.c2d_lock_timeout = *m.options.c2d_lock_timeout;
  if (m.options.c2d_default_ttl) c.hub.c2d_default_ttl = *m.options.c2d_default_ttl;
  c.listen.bind = m.options.bind;
  c.listen.mqtt_port = 0;
  c.listen.amqp_port = 0;
  c.listen.https_port = m.options.https_port;
  c.listen.https_port_given = true;
  c.data_dir = m.dir;
  c.data_dir_given = true;
  c.in_memory = !m.options.database_file;
  c.https.test_control = m.options.test_control;
  c.hub.fault_injection = m.options.fault_injection;
  c.log_level = log::current_level();  // the process's, not the executable's default
  m.hub = std::make_unique<app::emulator>(c);
  try {
    const auto ready = m.hub->start();
    m.ca_cert = ready.ca_certificate;
    m.ports.https = static_cast<std::uint16_t>(ready.ports.at("https"));
    m.ports.mqtt = static_cast<std::uint16_t>(ready.ports.at("mqtt"));
    m.ports.amqp = static_cast<std::uint16_t>(ready.ports.at("amqp"));
  } catch (const app::start_error& e) {
    m.hub.reset();
    // A port in use is a std::system_error, as documented; the rest a std::runtime_error.
    if (e.code() == app::exit_code::cannot_listen)
      throw std::system_error(e.cause(), std::string("emulator_fixture: ") + e.what());
    throw std::runtime_error(std::string("emulator_fixture: ") + e.what());
  }
}

void emulator_fixture::stop() {
  auto& m = *impl_;
  if (m.hub) m.hub->stop();
  m.hub.reset();
  m.ports = {};
}

bool emulator_fixture::running() const {
  return impl_->hub != nullptr;
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

std::string emulator_fixture::event_hubs_connection_string() const {
  const std::string service = hub_connection_string("service");
  const auto key = service.substr(service.find(";SharedAccessKey=") + 17);
  return "Endpoint=sb://" + impl_->options.host_name + ":" + std::to_string(ports().amqp) +
         "/;SharedAccessKeyName=service;SharedAccessKey=" + key +
         ";EntityPath=" + impl_->config.hub.hub_name;
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
  if (!created) throw_hub_error(created.error());
  return {created->id, created->primary_key, created->secondary_key,
          "HostName=" + impl_->options.host_name + ";DeviceId=" + created->id +
              ";SharedAccessKey=" + created->primary_key};
}

void emulator_fixture::delete_device(const std::string& device_id) {
  const auto deleted = impl_->call([device_id](core::hub& hub, core::time_point now) {
    return hub.delete_device(device_id, "*", now);
  });
  if (!deleted) throw_hub_error(deleted.error());
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
  if (!seq) throw_hub_error(seq.error());
  return *seq;
}

std::string emulator_fixture::twin(const std::string& device_id) {
  const auto t =
      impl_->call([device_id](core::hub& hub, core::time_point) { return hub.twin(device_id); });
  if (!t) throw_hub_error(t.error());
  return nlohmann::json{{"deviceId", t->device_id},
                        {"etag", t->etag},
                        {"version", t->version},
                        {"tags", t->tags},
                        {"properties",
                         {{"desired", core::section_for_service(t->desired)},
                          {"reported", core::section_for_service(t->reported)}}}}
      .dump();
}

std::int64_t emulator_fixture::update_desired(const std::string& device_id,
                                              const std::string& patch_json) {
  auto patch = nlohmann::json::parse(patch_json, nullptr, /*allow_exceptions=*/false);
  if (patch.is_discarded() || !patch.is_object())
    throw std::invalid_argument("emulator_fixture: the desired patch must be a JSON object");
  core::twin_update u;
  u.desired = std::move(patch);
  const auto t = impl_->call([device_id, u](core::hub& hub, core::time_point now) {
    return hub.update_twin(device_id, u, "*", now);
  });
  if (!t) throw_hub_error(t.error());
  return t->desired.version;
}

method_response_view emulator_fixture::invoke_method(const std::string& device_id,
                                                     const std::string& method_name,
                                                     const std::string& payload_json,
                                                     std::chrono::seconds response_timeout,
                                                     std::chrono::seconds connect_timeout) {
  if (!impl_->hub || !impl_->hub->running())
    throw std::logic_error("emulator_fixture: not started");
  if (!nlohmann::json::accept(payload_json))
    throw std::invalid_argument("emulator_fixture: the method payload must be JSON");
  core::method_call c;
  c.name = method_name;
  c.payload = payload_json;
  c.response_timeout = response_timeout;
  c.connect_timeout = connect_timeout;
  auto outcome = impl_->hub->invoke_method(device_id, std::move(c));
  // The hub ends every call by its own timeouts; this bound only guards against a stop.
  if (outcome.wait_for(response_timeout + connect_timeout + std::chrono::seconds(30)) !=
      std::future_status::ready)
    throw std::runtime_error("iothub-emulator: the method call did not end in time");
  core::event::method_result r;
  try {
    r = outcome.get();
  } catch (const std::future_error&) {
    throw std::runtime_error("iothub-emulator: stopped during the method call");
  }
  if (r.failure) throw_hub_error(*r.failure);
  return {r.status, r.payload};
}

std::chrono::system_clock::time_point emulator_fixture::now() const {
  if (!impl_->hub) throw std::logic_error("emulator_fixture: not started");
  return to_system(impl_->hub->executor().now());
}

void emulator_fixture::advance_clock(std::chrono::milliseconds by) {
  if (by.count() < 0) throw std::invalid_argument("emulator_fixture: the clock only moves forward");
  if (!impl_->hub) throw std::logic_error("emulator_fixture: not started");
  // What became due is applied, and every front has re-checked its deadlines, when this
  // returns.
  impl_->hub->advance_clock(by);
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
    out.push_back({t.device_id, to_system(t.enqueued_time), to_list(t.properties), t.body,
                   t.partition, t.sequence_number, t.offset});
  return out;
}

void emulator_fixture::inject_fault(const std::string& identity, const std::string& type,
                                    std::chrono::milliseconds delay,
                                    std::chrono::milliseconds duration) {
  const auto kind = core::parse_fault_kind(type);
  if (!kind) throw std::invalid_argument("emulator_fixture: no fault type '" + type + "'");
  core::fault_request r{*kind, delay, duration, "emulator_fixture::inject_fault"};
  const auto done = impl_->call([identity, r](core::hub& hub, core::time_point now) {
    return hub.inject_fault(identity, r, now);
  });
  if (!done) throw_hub_error(done.error());
}

std::vector<fault_record_view> emulator_fixture::fault_log() {
  const auto log = impl_->call([](core::hub& hub, core::time_point) {
    return std::vector<core::fault_record>(hub.fault_log().begin(), hub.fault_log().end());
  });
  std::vector<fault_record_view> out;
  for (const auto& f : log) {
    const auto ref = core::split_identity(f.identity);
    out.push_back({std::string(ref.device_id), std::string(ref.module_id), f.type, f.event,
                   f.detail, to_system(f.time)});
  }
  return out;
}

bool emulator_fixture::connected(const std::string& identity) {
  return impl_->call(
      [identity](core::hub& hub, core::time_point) { return hub.presence(identity).connected; });
}

void emulator_fixture::set_chaos(const chaos_options& chaos) {
  core::hub_faults f;
  f.commit_delay = chaos.commit_delay;
  f.failing_commits = chaos.fail_next_commits;
  f.rejected_put_tokens = chaos.reject_next_put_tokens;
  for (const auto& front : chaos.paused_fronts) {
    if (front != "mqtt" && front != "amqp")
      throw std::invalid_argument("emulator_fixture: cannot pause front '" + front + "'");
    f.paused_fronts.insert(front);
  }
  impl_->call([f](core::hub& hub, core::time_point) {
    const bool fronts_changed = hub.test_faults().paused_fronts != f.paused_fronts;
    hub.test_faults() = f;
    if (fronts_changed) hub.fronts_paused_changed();
    return 0;
  });
}

void emulator_fixture::expire_tokens() {
  impl_->call([](core::hub& hub, core::time_point now) {
    hub.expire_all_tokens(now);
    return 0;
  });
}

void emulator_fixture::reset() {
  impl_->call([](core::hub& hub, core::time_point now) {
    hub.reset(now);
    return 0;
  });
}

}  // namespace emu::testing
