#pragma once
// Helpers shared by the storage tests: temporary directories, sample values, snapshot
// comparison, and a reference model of the state_store contract (plain containers).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "emulator/core/identity_key.hpp"
#include "emulator/core/state_store.hpp"

namespace storage_test {

namespace core = emu::core;
namespace fs = std::filesystem;

/// A fresh directory under the system temp dir, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("emu-storage-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(counter++) + "-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline core::time_point at(std::int64_t ms) {
  return core::from_unix_ms(ms);
}

// ---- sample values -------------------------------------------------------------------------

inline core::device make_device(const std::string& id, int n = 0) {
  core::device d;
  d.id = id;
  d.status = n % 2 == 0 ? core::device_status::enabled : core::device_status::disabled;
  d.status_reason = n % 2 == 0 ? "" : "maintenance " + std::to_string(n);
  d.primary_key = "cHJpbWFyeS1rZXktMDEyMzQ1Njc4OQ==" + std::to_string(n);
  d.secondary_key = "c2Vjb25kYXJ5LWtleS0wMTIzNDU2Nzg5" + std::to_string(n);
  d.generation_id = "6380000000000000" + std::to_string(n);
  d.etag = "MTIz" + std::to_string(n);
  d.status_updated_time = at(1'767'225'600'000 + n);
  return d;
}

inline core::c2d_message make_message(std::uint64_t seq, const std::string& device_id) {
  core::c2d_message m;
  m.seq = seq;
  m.device_id = device_id;
  m.device_generation_id = "gen-" + device_id;
  m.content.message_id = "msg-" + std::to_string(seq);
  m.content.correlation_id = seq % 3 == 0 ? "" : "corr-" + std::to_string(seq);
  m.content.user_id = seq % 2 == 0 ? "" : "user";
  m.content.to = "/devices/" + device_id + "/messages/devicebound";
  m.content.content_type = "application/json";
  m.content.content_encoding = seq % 2 == 0 ? "utf-8" : "";
  m.content.properties = {{"k" + std::to_string(seq), "v"}, {"empty", ""}};
  m.content.ack = static_cast<core::ack_mode>(seq % 4);
  m.content.body = "{\"n\":" + std::to_string(seq) + "}";
  if (seq % 2 == 1) m.content.absolute_expiry = at(2'000'000'000'000 + static_cast<int>(seq));
  m.enqueued_time = at(1'767'225'600'000 + static_cast<int>(seq));
  m.expiry_time = at(1'767'229'200'000 + static_cast<int>(seq));
  return m;
}

inline core::feedback_record make_record(std::uint64_t id, const std::string& device_id,
                                         std::uint64_t batch_id = 0) {
  core::feedback_record r;
  r.id = id;
  r.original_message_id = "msg-" + std::to_string(id);
  r.device_id = device_id;
  r.device_generation_id = "gen-" + device_id;
  r.status = static_cast<core::feedback_status>(id % 5);
  r.enqueued_time = at(1'767'225'700'000 + static_cast<int>(id));
  r.batch_id = batch_id;
  return r;
}

inline core::feedback_batch make_batch(std::uint64_t id) {
  core::feedback_batch b;
  b.id = id;
  b.created = at(1'767'225'800'000 + static_cast<int>(id));
  b.expiry = at(1'767'229'400'000 + static_cast<int>(id));
  b.delivery_count = static_cast<int>(id % 3);
  b.lock_id = id % 2 == 0 ? 0 : 1000 + id;
  b.lock_expiry = b.lock_id == 0 ? core::time_point{} : at(1'767'225'860'000);
  return b;
}

/// Event `id` of the telemetry log: partition id % 3, sequence number id.
inline core::telemetry_message make_telemetry(std::uint64_t id, const std::string& device_id) {
  core::telemetry_message t;
  t.partition = static_cast<int>(id % 3);
  t.sequence_number = static_cast<std::int64_t>(id);
  t.offset = static_cast<std::int64_t>(id) * 1000;
  t.device_id = device_id;
  t.module_id = id % 2 == 0 ? "" : "module-" + std::to_string(id);
  t.enqueued_time = at(1'767'225'900'000 + static_cast<int>(id));
  t.properties = {{"$.ct", "application/json"},
                  {"temperature", std::to_string(20 + id % 10)},
                  {"iothub-connection-device-id", device_id}};
  t.body = std::string("\x00\x01\xff telemetry ", 15) + std::to_string(id);
  return t;
}

inline core::change::put_telemetry put_event(const core::telemetry_message& t) {
  return core::change::put_telemetry{std::make_shared<const core::telemetry_message>(t)};
}
inline core::change::put_telemetry put_event(std::uint64_t id, const std::string& device_id) {
  return put_event(make_telemetry(id, device_id));
}

// ---- comparison ------------------------------------------------------------------------------

inline auto device_fields(const core::device& d) {
  return std::tie(d.id, d.status, d.status_reason, d.primary_key, d.secondary_key, d.generation_id,
                  d.etag, d.status_updated_time, d.authentication, d.primary_thumbprint,
                  d.secondary_thumbprint, d.iot_edge, d.device_scope, d.parent_scopes);
}

/// "" when equal, otherwise the first part that differs (core::device has no operator==, so
/// hub_snapshot has none either).
inline std::string diff(const core::hub_snapshot& a, const core::hub_snapshot& b) {
  if (a.devices.size() != b.devices.size()) {
    return "devices: " + std::to_string(a.devices.size()) + " vs " +
           std::to_string(b.devices.size());
  }
  for (std::size_t i = 0; i < a.devices.size(); ++i) {
    if (device_fields(a.devices[i]) != device_fields(b.devices[i])) {
      return "device " + a.devices[i].id + " vs " + b.devices[i].id;
    }
  }
  auto sized = [](const char* what, const auto& x, const auto& y) -> std::string {
    if (x == y) return "";
    std::string s = std::string(what) + " differ (" + std::to_string(x.size()) + " vs " +
                    std::to_string(y.size()) + ")";
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!(x[i] == y[i])) return s + ", first at index " + std::to_string(i);
    }
    return s;
  };
  for (const std::string& s :
       {sized("messages", a.messages, b.messages),
        sized("pending_feedback", a.pending_feedback, b.pending_feedback),
        sized("batches", a.batches, b.batches),
        sized("subscriptions", a.subscriptions, b.subscriptions), sized("twins", a.twins, b.twins),
        sized("modules", a.modules, b.modules),
        sized("telemetry", a.telemetry, b.telemetry),
        sized("ca_certificates", a.ca_certificates, b.ca_certificates)}) {
    if (!s.empty()) return s;
  }
  if (!(a.counters == b.counters)) return "counters differ";
  return "";
}

// ---- reference model: the state_store contract on plain containers -------------------------

struct model {
  std::map<std::string, core::device> devices;
  std::map<std::string, core::module_identity> modules;  // by `{deviceId}/{moduleId}`
  std::map<std::uint64_t, core::c2d_message> messages;
  std::map<std::uint64_t, core::feedback_record> records;
  std::map<std::uint64_t, core::feedback_batch> batches;  // records kept empty here
  std::map<std::string, core::c2d_subscription> subscriptions;
  std::map<std::string, core::device_twin> twins;
  std::map<std::pair<int, std::int64_t>, core::telemetry_message> telemetry;
  std::map<int, core::partition_counters> partitions;
  std::map<std::string, core::ca_certificate> cas;
  core::hub_counters counters;

  void apply(const core::state_change& change) {
    std::visit([this](const auto& c) { on(c); }, change);
  }
  void apply(const std::vector<core::state_change>& changes) {
    for (const auto& c : changes) apply(c);
  }

  void on(const core::change::put_device& c) { devices[c.value.id] = c.value; }
  void on(const core::change::remove_device& c) {
    std::erase_if(messages, [&](const auto& kv) { return kv.second.device_id == c.device_id; });
    std::erase_if(records, [&](const auto& kv) {
      return kv.second.device_id == c.device_id && kv.second.batch_id == 0;
    });
    subscriptions.erase(c.device_id);
    twins.erase(c.device_id);
    const std::string prefix = c.device_id + "/";
    std::erase_if(modules, [&](const auto& kv) { return kv.first.starts_with(prefix); });
    std::erase_if(twins, [&](const auto& kv) { return kv.first.starts_with(prefix); });
    devices.erase(c.device_id);
  }
  void on(const core::change::put_module& c) {
    modules[core::module_key(c.value.device_id, c.value.id)] = c.value;
  }
  void on(const core::change::remove_module& c) {
    modules.erase(core::module_key(c.device_id, c.module_id));
    twins.erase(core::module_key(c.device_id, c.module_id));
  }
  void on(const core::change::put_message& c) { messages[c.value.seq] = c.value; }
  void on(const core::change::put_message_state& c) {
    auto& m = messages.at(c.seq);
    m.state = c.state;
    m.delivery_count = c.delivery_count;
    m.lock_id = c.lock_id;
    m.lock_expiry = c.lock_expiry;
  }
  void on(const core::change::remove_message& c) { messages.erase(c.seq); }
  void on(const core::change::put_feedback_record& c) { records[c.value.id] = c.value; }
  void on(const core::change::cut_feedback_batch& c) {
    auto b = c.value;
    b.records.clear();
    batches[b.id] = b;
    if (c.value.records.empty()) return;
    for (auto& [id, r] : records)
      if (r.batch_id == 0 && id <= c.value.records.back().id) r.batch_id = b.id;
  }
  void on(const core::change::put_feedback_batch_state& c) {
    auto& b = batches.at(c.batch_id);
    b.delivery_count = c.delivery_count;
    b.lock_id = c.lock_id;
    b.lock_expiry = c.lock_expiry;
  }
  void on(const core::change::remove_feedback_batch& c) {
    std::erase_if(records, [&](const auto& kv) { return kv.second.batch_id == c.batch_id; });
    batches.erase(c.batch_id);
  }
  void on(const core::change::put_subscription& c) { subscriptions[c.value.device_id] = c.value; }
  void on(const core::change::remove_subscription& c) { subscriptions.erase(c.device_id); }
  void on(const core::change::put_twin& c) { twins[c.value.device_id] = c.value; }
  void on(const core::change::put_telemetry& c) {
    telemetry[{c.value->partition, c.value->sequence_number}] = *c.value;
  }
  void on(const core::change::remove_telemetry_up_to& c) {
    std::erase_if(telemetry, [&](const auto& kv) {
      return kv.first.first == c.partition && kv.first.second <= c.up_to_sequence;
    });
  }
  void on(const core::change::put_partition_counters& c) {
    partitions[c.value.partition] = c.value;
  }
  void on(const core::change::put_counters& c) { counters = c.value; }
  void on(const core::change::put_ca_certificate& c) { cas[c.value.name] = c.value; }
  void on(const core::change::remove_ca_certificate& c) { cas.erase(c.name); }
  void on(const core::change::clear_all&) { *this = model{}; }

  core::hub_snapshot snapshot() const {
    core::hub_snapshot s;
    for (const auto& [id, d] : devices) s.devices.push_back(d);
    for (const auto& [key, m] : modules) s.modules.push_back(m);
    for (const auto& [seq, m] : messages) s.messages.push_back(m);
    for (const auto& [id, b] : batches) s.batches.push_back(b);
    for (const auto& [id, r] : records) {
      if (r.batch_id == 0) {
        s.pending_feedback.push_back(r);
      } else {
        for (auto& b : s.batches) {
          if (b.id == r.batch_id) b.records.push_back(r);
        }
      }
    }
    for (const auto& [id, sub] : subscriptions) s.subscriptions.push_back(sub);
    for (const auto& [id, t] : twins) s.twins.push_back(t);
    for (const auto& [id, t] : telemetry) s.telemetry.push_back(t);
    for (const auto& [id, p] : partitions) s.partitions.push_back(p);
    for (const auto& [name, c] : cas) s.ca_certificates.push_back(c);
    s.counters = counters;
    return s;
  }
};

}  // namespace storage_test
