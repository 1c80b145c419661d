#include "emulator/app/config.hpp"

#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "emulator/app/dev_certificates.hpp"
#include "emulator/app/dev_credentials.hpp"
#include "emulator/core/ascii.hpp"
#include "emulator/core/ca_certificates.hpp"
#include "emulator/core/crypto.hpp"
#include "emulator/core/limits.hpp"
#include "emulator/core/throttling.hpp"

namespace emu::app {

namespace {

using json = nlohmann::json;
using core::permission;

std::string hub_name_of(std::string_view host) {
  // On Azure the hub name is the first label of the host name (the C SDKs split there).
  return std::string(host.substr(0, host.find('.')));
}

core::duration seconds(double s) {
  return std::chrono::duration_cast<core::duration>(std::chrono::duration<double>(s));
}

std::string show(const json& j) {
  return j.is_string() ? j.get<std::string>() : j.dump();
}

/// Reads one JSON object through a table of known keys, so unknown keys are reported.
class reader {
 public:
  reader(std::string prefix, std::vector<config_error>& errors)
      : prefix_(std::move(prefix)), errors_(errors) {}

  void read(const json& obj, const std::map<std::string, std::function<void(const json&)>>& table) {
    if (!obj.is_object()) {
      error("", "must be an object", obj);
      return;
    }
    for (const auto& [key, value] : obj.items()) {
      const auto it = table.find(key);
      if (it == table.end())
        error(key, "unknown setting", value);
      else
        it->second(value);
    }
  }

  void error(const std::string& key, const std::string& problem, const json& value) {
    errors_.push_back({key.empty() ? prefix_ : (prefix_.empty() ? key : prefix_ + "." + key),
                       problem, show(value)});
  }

  template <class T>
  std::function<void(const json&)> number(const std::string& key, T& out) {
    return [this, key, &out](const json& v) {
      if (!v.is_number()) return error(key, "must be a number", v);
      out = v.get<T>();
    };
  }
  std::function<void(const json&)> secs(const std::string& key, core::duration& out) {
    return [this, key, &out](const json& v) {
      if (!v.is_number()) return error(key, "must be a number of seconds", v);
      out = seconds(v.get<double>());
    };
  }
  std::function<void(const json&)> text(const std::string& key, std::string& out) {
    return [this, key, &out](const json& v) {
      if (!v.is_string()) return error(key, "must be a string", v);
      out = v.get<std::string>();
    };
  }
  std::function<void(const json&)> flag(const std::string& key, bool& out) {
    return [this, key, &out](const json& v) {
      if (!v.is_boolean()) return error(key, "must be true or false", v);
      out = v.get<bool>();
    };
  }
  const std::string& prefix() const { return prefix_; }
  std::vector<config_error>& errors() { return errors_; }

 private:
  std::string prefix_;
  std::vector<config_error>& errors_;
};

void read_policies(const json& list, emulator_config& c, std::vector<config_error>& errors) {
  if (!list.is_array()) {
    errors.push_back({"policies", "must be an array", show(list)});
    return;
  }
  c.hub.policies.clear();
  for (std::size_t i = 0; i < list.size(); ++i) {
    core::access_policy p;
    reader r("policies[" + std::to_string(i) + "]", errors);
    std::vector<std::string> perms;
    r.read(list[i],
           {
               {"name", r.text("name", p.name)},
               {"primaryKey", r.text("primaryKey", p.primary_key)},
               {"secondaryKey", r.text("secondaryKey", p.secondary_key)},
               {"permissions",
                [&](const json& v) {
                  if (!v.is_array()) return r.error("permissions", "must be an array of names", v);
                  for (const auto& name : v) {
                    permission perm{};
                    if (!name.is_string() || !core::parse_permission(name.get<std::string>(), perm))
                      r.error("permissions",
                              "unknown permission (RegistryRead, RegistryWrite, ServiceConnect, "
                              "DeviceConnect)",
                              name);
                    else
                      p.permissions = p.permissions | perm;
                  }
                }},
           });
    c.hub.policies.push_back(std::move(p));
  }
}

void read_devices(const json& list, emulator_config& c, std::vector<config_error>& errors) {
  if (!list.is_array()) {
    errors.push_back({"devices", "must be an array", show(list)});
    return;
  }
  c.devices.clear();
  for (std::size_t i = 0; i < list.size(); ++i) {
    core::device_spec d;
    reader r("devices[" + std::to_string(i) + "]", errors);
    r.read(list[i],
           {
               {"deviceId", r.text("deviceId", d.id)},
               {"primaryKey", r.text("primaryKey", d.primary_key)},
               {"secondaryKey", r.text("secondaryKey", d.secondary_key)},
               {"authentication",
                [&](const json& v) {
                  const auto t =
                      v.is_string() ? core::parse_auth_type(v.get<std::string>()) : std::nullopt;
                  if (!t)
                    return r.error("authentication",
                                   "must be \"sas\", \"selfSigned\", "
                                   "\"certificateAuthority\" or \"none\"",
                                   v);
                  d.authentication = *t;
                }},
               {"primaryThumbprint", r.text("primaryThumbprint", d.primary_thumbprint)},
               {"secondaryThumbprint", r.text("secondaryThumbprint", d.secondary_thumbprint)},
               {"status",
                [&](const json& v) {
                  if (v == "enabled")
                    d.status = core::device_status::enabled;
                  else if (v == "disabled")
                    d.status = core::device_status::disabled;
                  else
                    r.error("status", "must be \"enabled\" or \"disabled\"", v);
                }},
           });
    c.devices.push_back(std::move(d));
  }
}

void read_ca_certificates(const json& list, emulator_config& c, std::vector<config_error>& errors) {
  if (!list.is_array()) {
    errors.push_back({"caCertificates", "must be an array", show(list)});
    return;
  }
  c.ca_certificates.clear();
  for (std::size_t i = 0; i < list.size(); ++i) {
    emulator_config::ca_seed seed;
    std::string file;
    reader r("caCertificates[" + std::to_string(i) + "]", errors);
    r.read(list[i], {{"name", r.text("name", seed.name)}, {"file", r.text("file", file)}});
    seed.file = file;
    c.ca_certificates.push_back(std::move(seed));
  }
}

}  // namespace

std::vector<std::string> default_host_aliases(std::string_view host_name) {
  std::vector<std::string> out;
  for (const std::string_view loopback :
       {std::string_view("127.0.0.1"), std::string_view("localhost")})
    if (!core::iequals(loopback, host_name)) out.emplace_back(loopback);
  return out;
}

std::vector<std::string> certificate_names(const core::hub_settings& hub) {
  std::vector<std::string> names{hub.host_name};
  names.insert(names.end(), hub.host_aliases.begin(), hub.host_aliases.end());
  return names;
}

std::string config_error::to_string() const {
  const std::string head = key.empty() ? problem : key + ": " + problem;
  return value.empty() ? head : head + " (" + value + ")";
}

emulator_config default_config() {
  emulator_config c;
  c.hub.host_name = std::string(dev::host_name);
  c.hub.host_aliases = default_host_aliases(c.hub.host_name);
  c.hub.hub_name = std::string(dev::hub_name);
  const auto policy = [](std::string name, dev::key_pair keys, core::permission_set perms) {
    return core::access_policy{std::move(name), std::string(keys.primary),
                               std::string(keys.secondary), perms};
  };
  // The five policies every new Azure hub has (spec §5.3).
  c.hub.policies = {
      policy("iothubowner", dev::iothubowner,
             permission::registry_read | permission::registry_write | permission::service_connect |
                 permission::device_connect),
      policy("service", dev::service,
             static_cast<core::permission_set>(permission::service_connect)),
      policy("device", dev::device_policy,
             static_cast<core::permission_set>(permission::device_connect)),
      policy("registryRead", dev::registry_read,
             static_cast<core::permission_set>(permission::registry_read)),
      policy("registryReadWrite", dev::registry_read_write,
             permission::registry_read | permission::registry_write),
  };
  core::device_spec d;
  d.id = std::string(dev::device_id);
  d.primary_key = std::string(dev::device.primary);
  d.secondary_key = std::string(dev::device.secondary);
  c.devices = {d};
  return c;
}

std::vector<config_error> apply_config_file(const std::filesystem::path& file,
                                            emulator_config& config) {
  std::ifstream in(file);
  if (!in) return {{"--config", "cannot read the file", file.string()}};
  std::stringstream text;
  text << in.rdbuf();
  return apply_config_json(text.str(), config);
}

std::vector<config_error> apply_config_json(const std::string& text, emulator_config& c) {
  std::vector<config_error> errors;
  const json root = json::parse(text, nullptr, /*allow_exceptions=*/false, /*comments=*/true);
  if (root.is_discarded()) return {{"config", "is not valid JSON", ""}};
  bool hub_name_set = false;
  reader r("", errors);
  r.read(
      root,
      {
          {"hubName",
           [&](const json& v) {
             r.text("hubName", c.hub.hub_name)(v);
             hub_name_set = true;
           }},
          {"hostName", r.text("hostName", c.hub.host_name)},
          {"hostAliases",
           [&](const json& v) {
             if (!v.is_array()) return r.error("hostAliases", "must be a list of host names", v);
             c.hub.host_aliases.clear();
             for (const auto& n : v) {
               if (!n.is_string()) return r.error("hostAliases", "must be a list of host names", n);
               c.hub.host_aliases.push_back(n.get<std::string>());
             }
           }},
          {"policies", [&](const json& v) { read_policies(v, c, errors); }},
          {"devices", [&](const json& v) { read_devices(v, c, errors); }},
          {"caCertificates", [&](const json& v) { read_ca_certificates(v, c, errors); }},
          {"dataDir",
           [&](const json& v) {
             if (!v.is_string()) return r.error("dataDir", "must be a string", v);
             c.data_dir = v.get<std::string>();
             c.data_dir_given = true;
           }},
          {"inMemory", r.flag("inMemory", c.in_memory)},
          {"readyFile",
           [&](const json& v) {
             if (!v.is_string()) return r.error("readyFile", "must be a string", v);
             c.ready_file = v.get<std::string>();
           }},
          {"logLevel",
           [&](const json& v) {
             const auto l = v.is_string() ? log::parse_level(v.get<std::string>()) : std::nullopt;
             if (!l) return r.error("logLevel", "must be error, warn, info or debug", v);
             c.log_level = *l;
           }},
          {"testControl", r.flag("testControl", c.https.test_control)},
          {"metrics", r.flag("metrics", c.https.metrics)},
          {"dashboard",
           [&](const json& v) {
             const std::string t = v.is_string() ? v.get<std::string>() : "";
             if (t == "loopback")
               c.https.dashboard = https::dashboard_access::loopback;
             else if (t == "remote")
               c.https.dashboard = https::dashboard_access::remote;
             else if (t == "off")
               c.https.dashboard = https::dashboard_access::off;
             else
               return r.error("dashboard", "must be \"loopback\", \"remote\" or \"off\"", v);
           }},
          {"faultInjection", r.flag("faultInjection", c.hub.fault_injection)},
          {"throttling",
           [&](const json& v) {
             // {"tier": "S1", "units": 2}, or null (off: the default).
             if (v.is_null()) {
               c.hub.throttling.reset();
               return;
             }
             const auto tier = v.is_object() ? v.find("tier") : v.end();
             const auto units = v.is_object() ? v.find("units") : v.end();
             if (!v.is_object() || tier == v.end() || !tier->is_string() ||
                 (units != v.end() && !units->is_number_integer()) || v.size() > 2 ||
                 (v.size() == 2 && units == v.end()))
               return r.error("throttling", "must be {\"tier\": \"F1|S1|S2|S3\", \"units\": N}", v);
             const std::string tier_text =
                 tier->get<std::string>() +
                 (units != v.end() ? ":" + std::to_string(units->get<std::int64_t>()) : "");
             auto parsed = core::parse_throttling_tier(tier_text);
             if (!parsed)
               return r.error("throttling",
                              "tier must be F1, S1, S2, S3 (or B1-B3) and units 1-200 (F1: 1)", v);
             c.hub.throttling = std::move(*parsed);
           }},
          {"tokenClockSkewSeconds", r.secs("tokenClockSkewSeconds", c.hub.token_clock_skew)},
          // The older spelling of eventHubs.maxEvents.
          {"telemetryCapacity", r.number("telemetryCapacity", c.hub.telemetry_capacity)},
          {"ioThreads",
           [&](const json& v) {
             r.number("ioThreads", c.io_threads)(v);
             c.io_threads_key = "ioThreads";
           }},
          {"listen",
           [&](const json& v) {
             reader l("listen", errors);
             const auto optional_port = [&](const char* key, std::optional<int>& out) {
               return [&l, key, &out](const json& p) {
                 if (!p.is_number_integer()) return l.error(key, "must be a number", p);
                 out = p.get<int>();
               };
             };
             l.read(v,
                    {
                        {"bind", l.text("bind", c.listen.bind)},
                        {"mqttPort", l.number("mqttPort", c.listen.mqtt_port)},
                        {"amqpPort", l.number("amqpPort", c.listen.amqp_port)},
                        {"httpsPort",
                         [&](const json& p) {
                           l.number("httpsPort", c.listen.https_port)(p);
                           c.listen.https_port_given = true;
                         }},
                        {"mqttPlainPort", optional_port("mqttPlainPort", c.listen.mqtt_plain_port)},
                        {"amqpPlainPort", optional_port("amqpPlainPort", c.listen.amqp_plain_port)},
                    });
           }},
          {"tls",
           [&](const json& v) {
             reader t("tls", errors);
             std::string cert, key;
             t.read(v, {{"certificate", t.text("certificate", cert)}, {"key", t.text("key", key)}});
             if (!cert.empty()) c.tls_cert = cert;
             if (!key.empty()) c.tls_key = key;
           }},
          {"mqtt",
           [&](const json& v) {
             reader m("mqtt", errors);
             auto& g = c.mqtt;
             m.read(v, {{"inflightWindow", m.number("inflightWindow", g.session.inflight_window)},
                        {"maxPacketSize", m.number("maxPacketSize", g.max_packet_size)},
                        {"maxConnections", m.number("maxConnections", g.max_connections)},
                        {"connectTimeoutSeconds",
                         m.secs("connectTimeoutSeconds", g.session.connect_timeout)},
                        {"tlsHandshakeTimeoutSeconds",
                         m.secs("tlsHandshakeTimeoutSeconds", g.connection.tls_handshake_timeout)},
                        // The older spelling of the top-level ioThreads (one pool serves every
                        // front now).
                        {"ioThreads",
                         [&](const json& n) {
                           m.number("ioThreads", c.io_threads)(n);
                           c.io_threads_key = "mqtt.ioThreads";
                         }},
                        {"maxConnectPacketSize",
                         m.number("maxConnectPacketSize", g.max_connect_packet_size)},
                        {"maxOutputBacklogBytes",
                         m.number("maxOutputBacklogBytes", g.connection.max_output_backlog)}});
           }},
          {"amqp",
           [&](const json& v) {
             reader m("amqp", errors);
             auto& a = c.amqp;
             m.read(v, {{"maxConnections", m.number("maxConnections", a.max_connections)},
                        {"idleTimeoutSeconds", m.secs("idleTimeoutSeconds", a.idle_timeout)},
                        {"handshakeTimeoutSeconds",
                         m.secs("handshakeTimeoutSeconds", a.handshake_timeout)},
                        {"maxFrameSize", m.number("maxFrameSize", a.max_frame_size)},
                        {"maxSessions", m.number("maxSessions", a.max_sessions)},
                        {"maxLinks", m.number("maxLinks", a.max_links)},
                        {"maxDeliveryBytes", m.number("maxDeliveryBytes", a.max_delivery_bytes)},
                        {"maxBytesBeforeAuth",
                         m.number("maxBytesBeforeAuth", a.max_input_before_auth)}});
           }},
          {"https",
           [&](const json& v) {
             reader m("https", errors);
             auto& s = c.https;
             m.read(v,
                    {{"maxConnections", m.number("maxConnections", s.max_connections)},
                     {"tlsHandshakeTimeoutSeconds",
                      m.secs("tlsHandshakeTimeoutSeconds", s.connection.tls_handshake_timeout)},
                     {"requestTimeoutSeconds", m.secs("requestTimeoutSeconds", s.request_timeout)},
                     {"keepAliveTimeoutSeconds",
                      m.secs("keepAliveTimeoutSeconds", s.keep_alive_timeout)},
                     {"writeTimeoutSeconds", m.secs("writeTimeoutSeconds", s.write_timeout)},
                     {"maxHeaderBytes", m.number("maxHeaderBytes", s.limits.max_head_bytes)},
                     {"maxHeaderFields", m.number("maxHeaderFields", s.limits.max_header_fields)},
                     {"maxBodyBytes", m.number("maxBodyBytes", s.limits.max_body_bytes)},
                     // Requests no longer wait on worker threads (the front is asynchronous):
                     // accepted so that older config files still load, and ignored.
                     {"workerThreads", [&](const json& n) {
                        if (!n.is_number()) m.error("workerThreads", "must be a number", n);
                      }}});
           }},
          {"c2d",
           [&](const json& v) {
             reader m("c2d", errors);
             auto& h = c.hub;
             m.read(
                 v,
                 {
                     {"defaultTtlSeconds", m.secs("defaultTtlSeconds", h.c2d_default_ttl)},
                     {"maxDeliveryCount", m.number("maxDeliveryCount", h.c2d_max_delivery_count)},
                     {"lockTimeoutSeconds", m.secs("lockTimeoutSeconds", h.c2d_lock_timeout)},
                     {"lockTimeoutCountsAsDelivery",
                      m.flag("lockTimeoutCountsAsDelivery", h.lock_timeout_counts_as_delivery)},
                     {"maxQueueDepth", m.number("maxQueueDepth", h.c2d_max_queue_depth)},
                     {"maxMessageSize", m.number("maxMessageSize", h.c2d_max_message_size)},
                 });
           }},
          {"deviceConnectRate",
           [&](const json& v) {
             // The per-identity bound on connects (core/device_connect_limit.hpp).
             reader m("deviceConnectRate", errors);
             auto& d = c.hub.device_connects;
             m.read(v, {{"perSecond", m.number("perSecond", d.per_second)},
                        {"burst", m.number("burst", d.burst)}});
           }},
          {"eventHubs",
           [&](const json& v) {
             // The built-in Event Hubs-compatible endpoint (issue 14).
             reader m("eventHubs", errors);
             auto& h = c.hub;
             m.read(v,
                    {
                        {"partitionCount", m.number("partitionCount", h.partition_count)},
                        {"retentionSeconds", m.secs("retentionSeconds", h.telemetry_retention)},
                        {"retentionBytes", m.number("retentionBytes", h.telemetry_retention_bytes)},
                        {"maxEvents", m.number("maxEvents", h.telemetry_capacity)},
                        {"consumerGroups",
                         [&](const json& g) {
                           if (!g.is_array())
                             return m.error("consumerGroups", "must be a list of names", g);
                           h.consumer_groups.clear();
                           for (const auto& n : g) {
                             if (!n.is_string() || n.get<std::string>().empty() ||
                                 n.get<std::string>().find('/') != std::string::npos)
                               return m.error("consumerGroups",
                                              "must be non-empty names without '/'", n);
                             h.consumer_groups.push_back(n.get<std::string>());
                           }
                         }},
                    });
           }},
          {"feedback",
           [&](const json& v) {
             reader m("feedback", errors);
             auto& h = c.hub;
             m.read(v, {
                           {"batchMaxRecords",
                            m.number("batchMaxRecords", h.feedback_batch_max_records)},
                           {"batchIntervalSeconds",
                            m.secs("batchIntervalSeconds", h.feedback_batch_interval)},
                           {"ttlSeconds", m.secs("ttlSeconds", h.feedback_ttl)},
                           {"lockDurationSeconds",
                            m.secs("lockDurationSeconds", h.feedback_lock_duration)},
                           {"maxDeliveryCount",
                            m.number("maxDeliveryCount", h.feedback_max_delivery_count)},
                       });
           }},
      });
  if (!hub_name_set && root.is_object() && root.contains("hostName"))
    c.hub.hub_name = hub_name_of(c.hub.host_name);
  if (root.is_object() && root.contains("hostName") && !root.contains("hostAliases"))
    c.hub.host_aliases = default_host_aliases(c.hub.host_name);
  return errors;
}

std::vector<config_error> validate(const emulator_config& c) {
  std::vector<config_error> e;
  const auto& h = c.hub;
  const auto secs_text = [](core::duration d) {
    return std::to_string(std::chrono::duration<double>(d).count());
  };
  const auto range_s = [&](const char* key, core::duration v, core::duration lo,
                           core::duration hi) {
    if (v < lo || v > hi)
      e.push_back({key, "must be between " + secs_text(lo) + " and " + secs_text(hi) + " seconds",
                   secs_text(v)});
  };
  const auto range_i = [&](const char* key, long long v, long long lo, long long hi) {
    if (v < lo || v > hi)
      e.push_back({key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi),
                   std::to_string(v)});
  };
  const auto port = [&](const char* key, int v) { range_i(key, v, 0, 65535); };

  if (h.host_name.empty()) e.push_back({"hostName", "must not be empty", ""});
  for (const auto& alias : h.host_aliases)
    if (!is_host_name(alias))
      e.push_back({"hostAliases", "must be DNS names or IP addresses", alias});
  if (h.hub_name.empty()) e.push_back({"hubName", "must not be empty", ""});
  // Spec §1.2 ranges. The lock timeout is fixed at 60 s on Azure; the emulator lets tests
  // shorten it (1 s .. 300 s) and lists that under "Differences from Azure IoT Hub".
  range_s("c2d.defaultTtlSeconds", h.c2d_default_ttl, core::limits::c2d_ttl_min,
          core::limits::c2d_ttl_max);
  range_i("c2d.maxDeliveryCount", h.c2d_max_delivery_count, core::limits::delivery_count_min,
          core::limits::delivery_count_max);
  range_s("c2d.lockTimeoutSeconds", h.c2d_lock_timeout, std::chrono::seconds(1),
          std::chrono::seconds(300));
  range_i("c2d.maxQueueDepth", h.c2d_max_queue_depth, 1, 5000);
  range_i("c2d.maxMessageSize", static_cast<long long>(h.c2d_max_message_size), 1, 256 * 1024);
  range_i("feedback.batchMaxRecords", static_cast<long long>(h.feedback_batch_max_records), 1,
          1000);
  range_s("feedback.batchIntervalSeconds", h.feedback_batch_interval, core::duration{0},
          std::chrono::seconds(3600));
  range_s("feedback.ttlSeconds", h.feedback_ttl, core::limits::c2d_ttl_min,
          core::limits::c2d_ttl_max);
  range_s("feedback.lockDurationSeconds", h.feedback_lock_duration, core::limits::feedback_lock_min,
          core::limits::feedback_lock_max);
  range_i("feedback.maxDeliveryCount", h.feedback_max_delivery_count,
          core::limits::delivery_count_min, core::limits::delivery_count_max);
  range_s("tokenClockSkewSeconds", h.token_clock_skew, core::duration{0}, std::chrono::hours(1));
  if (!(h.device_connects.per_second >= 0.01 && h.device_connects.per_second <= 1e6))
    e.push_back({"deviceConnectRate.perSecond", "must be between 0.01 and 1000000",
                 std::to_string(h.device_connects.per_second)});
  range_i("deviceConnectRate.burst", h.device_connects.burst, 1, 1000000);
  range_i("eventHubs.maxEvents", static_cast<long long>(h.telemetry_capacity), 1, 100000000);
  range_i("eventHubs.partitionCount", h.partition_count, 1, core::limits::d2c_max_partition_count);
  range_s("eventHubs.retentionSeconds", h.telemetry_retention, std::chrono::seconds(1),
          std::chrono::hours(24 * 7));
  range_i("eventHubs.retentionBytes", static_cast<long long>(h.telemetry_retention_bytes), 1024,
          64LL * 1024 * 1024 * 1024);
  port("listen.mqttPort", c.listen.mqtt_port);
  port("listen.amqpPort", c.listen.amqp_port);
  port("listen.httpsPort", c.listen.https_port);
  {
    const auto& s = c.https;
    const auto limit = [&](const char* key, std::size_t v, long long lo, long long hi) {
      range_i(key, static_cast<long long>(v), lo, hi);
    };
    limit("https.maxConnections", s.max_connections, 1, 1000000);
    for (const auto& [key, v] :
         {std::pair{"https.tlsHandshakeTimeoutSeconds", s.connection.tls_handshake_timeout},
          std::pair{"https.requestTimeoutSeconds", s.request_timeout},
          std::pair{"https.writeTimeoutSeconds", s.write_timeout}})
      range_s(key, v, std::chrono::milliseconds(100), std::chrono::seconds(600));
    range_s("https.keepAliveTimeoutSeconds", s.keep_alive_timeout, std::chrono::milliseconds(100),
            std::chrono::hours(1));
    // The Node Registry sends about 8 fields and 1 KB of head; a test-control C2D message is
    // at most 64 KB (spec §1.4) plus its JSON.
    limit("https.maxHeaderBytes", s.limits.max_head_bytes, 1024, 1024 * 1024);
    limit("https.maxHeaderFields", s.limits.max_header_fields, 16, 1000);
    limit("https.maxBodyBytes", s.limits.max_body_bytes, 128 * 1024, 64 * 1024 * 1024);
  }
  if (c.listen.mqtt_plain_port) port("listen.mqttPlainPort", *c.listen.mqtt_plain_port);
  if (c.listen.amqp_plain_port) port("listen.amqpPlainPort", *c.listen.amqp_plain_port);
  range_i(c.io_threads_key.c_str(), static_cast<long long>(c.io_threads), 1, 64);
  const auto& g = c.mqtt;
  range_i("mqtt.inflightWindow", static_cast<long long>(g.session.inflight_window), 1, 100);
  range_i("mqtt.maxConnections", static_cast<long long>(g.max_connections), 1, 1000000);
  range_s("mqtt.connectTimeoutSeconds", g.session.connect_timeout, std::chrono::milliseconds(100),
          std::chrono::seconds(600));
  range_s("mqtt.tlsHandshakeTimeoutSeconds", g.connection.tls_handshake_timeout,
          std::chrono::milliseconds(100), std::chrono::seconds(600));
  range_i("mqtt.maxOutputBacklogBytes", static_cast<long long>(g.connection.max_output_backlog),
          64 * 1024, 64 * 1024 * 1024);
  range_i("mqtt.maxPacketSize", static_cast<long long>(g.max_packet_size), 1024, 16 * 1024 * 1024);
  // Before the CONNECT is accepted the smaller of this and mqtt.maxPacketSize applies.
  range_i("mqtt.maxConnectPacketSize", static_cast<long long>(g.max_connect_packet_size), 1024,
          16 * 1024 * 1024);
  const auto& a = c.amqp;
  // The SDKs use one or two sessions and up to four links (sdk-wire §2).
  range_i("amqp.maxSessions", static_cast<long long>(a.max_sessions), 2, 1024);
  range_i("amqp.maxLinks", static_cast<long long>(a.max_links), 4, 10000);
  // Room for the largest C2D message the hub takes (c2d.maxMessageSize) plus its properties,
  // so the hub, not this memory bound, decides what is too large.
  range_i("amqp.maxDeliveryBytes", static_cast<long long>(a.max_delivery_bytes),
          static_cast<long long>(h.c2d_max_message_size) + 16 * 1024, 64 * 1024 * 1024);
  // The SDKs send under 2 KB before they are authorised (sdk-wire §2.2, §2.3).
  range_i("amqp.maxBytesBeforeAuth", static_cast<long long>(a.max_input_before_auth), 8 * 1024,
          16 * 1024 * 1024);
  range_i("amqp.maxConnections", static_cast<long long>(a.max_connections), 1, 1000000);
  range_s("amqp.idleTimeoutSeconds", a.idle_timeout, std::chrono::seconds(1),
          std::chrono::hours(1));
  range_s("amqp.handshakeTimeoutSeconds", a.handshake_timeout, std::chrono::milliseconds(100),
          std::chrono::seconds(600));
  // AMQP 1.0 §2.7.1: max-frame-size is at least 512 (MIN-MAX-FRAME-SIZE).
  range_i("amqp.maxFrameSize", static_cast<long long>(a.max_frame_size), 512, 16 * 1024 * 1024);
  if (c.tls_cert.empty() != c.tls_key.empty())
    e.push_back({"tls", "certificate and key must be given together", ""});

  for (std::size_t i = 0; i < h.policies.size(); ++i) {
    const auto& p = h.policies[i];
    const std::string key = "policies[" + std::to_string(i) + "]";
    if (p.name.empty()) e.push_back({key + ".name", "must not be empty", ""});
    for (const auto* k : {&p.primary_key, &p.secondary_key}) {
      const auto raw = core::base64_decode(*k);
      if (!raw || raw->size() < 16 || raw->size() > 64)
        e.push_back({key + (k == &p.primary_key ? ".primaryKey" : ".secondaryKey"),
                     "must be base64 of 16 to 64 bytes", ""});  // never echo a key
    }
    for (std::size_t j = 0; j < i; ++j)
      if (h.policies[j].name == p.name) e.push_back({key + ".name", "is a duplicate", p.name});
  }
  for (std::size_t i = 0; i < c.devices.size(); ++i) {
    const auto& d = c.devices[i];
    const std::string key = "devices[" + std::to_string(i) + "]";
    if (!core::is_valid_device_id(d.id))
      e.push_back({key + ".deviceId", "is not a valid device id (spec §7)", d.id});
    for (const auto* k : {&d.primary_key, &d.secondary_key}) {
      if (k->empty()) continue;  // generated on first start
      const auto raw = core::base64_decode(*k);
      if (!raw || raw->size() < 16 || raw->size() > 64)
        e.push_back({key + (k == &d.primary_key ? ".primaryKey" : ".secondaryKey"),
                     "must be base64 of 16 to 64 bytes", ""});
    }
    for (std::size_t j = 0; j < i; ++j)
      if (c.devices[j].id == d.id) e.push_back({key + ".deviceId", "is a duplicate", d.id});
    const bool has_keys = !d.primary_key.empty() || !d.secondary_key.empty();
    const bool has_prints = !d.primary_thumbprint.empty() || !d.secondary_thumbprint.empty();
    if (d.authentication != core::auth_type::sas && has_keys)
      e.push_back({key + ".primaryKey", "an X.509 device has no keys", ""});
    if (d.authentication != core::auth_type::self_signed && has_prints)
      e.push_back({key + ".primaryThumbprint",
                   "only a selfSigned device has thumbprints (set \"authentication\")", ""});
    if (d.authentication == core::auth_type::self_signed && d.primary_thumbprint.empty())
      e.push_back({key + ".primaryThumbprint", "a selfSigned device needs one", ""});
    if (!d.secondary_thumbprint.empty() &&
        core::iequals(d.primary_thumbprint, d.secondary_thumbprint))
      e.push_back({key + ".secondaryThumbprint", "must differ from the primary one", ""});
    for (const auto* t : {&d.primary_thumbprint, &d.secondary_thumbprint}) {
      if (!t->empty() && !core::normal_thumbprint(*t))
        e.push_back(
            {key + (t == &d.primary_thumbprint ? ".primaryThumbprint" : ".secondaryThumbprint"),
             "must be a hex SHA-1 (40 digits) or SHA-256 (64 digits)", *t});
    }
  }
  for (std::size_t i = 0; i < c.ca_certificates.size(); ++i) {
    const auto& ca = c.ca_certificates[i];
    const std::string key = "caCertificates[" + std::to_string(i) + "]";
    if (!core::is_valid_certificate_name(ca.name))
      e.push_back({key + ".name", "must be 1 to 64 of A-Z a-z 0-9 - _ .", ca.name});
    if (ca.file.empty()) e.push_back({key + ".file", "must name a PEM file", ""});
    for (std::size_t j = 0; j < i; ++j)
      if (c.ca_certificates[j].name == ca.name)
        e.push_back({key + ".name", "is a duplicate", ca.name});
  }
  return e;
}

}  // namespace emu::app
