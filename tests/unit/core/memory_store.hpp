#pragma once
// A reference state_store that applies changes to an in-memory snapshot, exactly as the
// comments in state_store.hpp describe. Used to check that the hub's change journal is
// complete (restore(load()) reproduces the state) and as a stand-in store in executor tests.
#include <algorithm>
#include <map>
#include <stdexcept>

#include "emulator/core/identity_key.hpp"
#include "emulator/core/state_store.hpp"

namespace emu::core::testing {

class memory_store final : public state_store {
 public:
  bool fail_next_commit = false;
  int commits = 0;

  hub_snapshot load() override {
    hub_snapshot s;
    for (const auto& [id, d] : devices_) s.devices.push_back(d);
    for (const auto& [key, m] : modules_) s.modules.push_back(m);
    for (const auto& [seq, m] : messages_) s.messages.push_back(m);
    for (const auto& [id, r] : records_) {
      if (r.batch_id == 0) s.pending_feedback.push_back(r);
    }
    for (auto [id, b] : batches_) {
      b.records.clear();
      for (const auto& [rid, r] : records_)
        if (r.batch_id == id) b.records.push_back(r);
      s.batches.push_back(b);
    }
    for (const auto& [id, q] : subscriptions_) s.subscriptions.push_back({id, q});
    for (const auto& [id, t] : twins_) s.twins.push_back(t);
    for (const auto& [name, c] : cas_) s.ca_certificates.push_back(c);
    for (const auto& [id, t] : telemetry_) s.telemetry.push_back(t);
    for (const auto& [id, p] : partitions_) s.partitions.push_back(p);
    s.counters = counters_;
    return s;
  }

  void commit(std::span<const state_change> changes) override {
    if (fail_next_commit) {
      fail_next_commit = false;
      throw std::runtime_error("injected commit failure");
    }
    ++commits;
    for (const auto& c : changes) std::visit([this](const auto& x) { apply(x); }, c);
  }

 private:
  void apply(const change::put_device& c) { devices_[c.value.id] = c.value; }
  void apply(const change::remove_device& c) {
    devices_.erase(c.device_id);
    std::erase_if(messages_, [&](const auto& kv) { return kv.second.device_id == c.device_id; });
    std::erase_if(records_, [&](const auto& kv) {
      return kv.second.batch_id == 0 && kv.second.device_id == c.device_id;
    });
    subscriptions_.erase(c.device_id);
    twins_.erase(c.device_id);
    // Its modules and their twins (keyed `{deviceId}/{moduleId}`).
    const std::string prefix = c.device_id + "/";
    std::erase_if(modules_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
    std::erase_if(twins_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
  }
  void apply(const change::put_module& c) {
    modules_[module_key(c.value.device_id, c.value.id)] = c.value;
  }
  void apply(const change::remove_module& c) {
    modules_.erase(module_key(c.device_id, c.module_id));
    twins_.erase(module_key(c.device_id, c.module_id));
  }
  void apply(const change::put_message& c) { messages_[c.value.seq] = c.value; }
  void apply(const change::put_message_state& c) {
    auto& m = messages_.at(c.seq);
    m.state = c.state;
    m.delivery_count = c.delivery_count;
    m.lock_id = c.lock_id;
    m.lock_expiry = c.lock_expiry;
  }
  void apply(const change::remove_message& c) { messages_.erase(c.seq); }
  void apply(const change::put_feedback_record& c) { records_[c.value.id] = c.value; }
  void apply(const change::cut_feedback_batch& c) {
    auto b = c.value;
    b.records.clear();
    batches_[b.id] = b;
    if (c.value.records.empty()) return;
    const auto last = c.value.records.back().id;
    std::size_t moved = 0;
    for (auto& [id, r] : records_) {
      if (r.batch_id == 0 && id <= last) {
        r.batch_id = b.id;
        ++moved;
      }
    }
    // The same check as the SQLite store's: a cut applied out of order moves the wrong records.
    if (moved != c.value.records.size())
      throw std::logic_error("feedback batch " + std::to_string(b.id) + " has " +
                             std::to_string(c.value.records.size()) + " records, but " +
                             std::to_string(moved) + " unbatched records were stored for it");
  }
  void apply(const change::put_feedback_batch_state& c) {
    auto& b = batches_.at(c.batch_id);
    b.delivery_count = c.delivery_count;
    b.lock_id = c.lock_id;
    b.lock_expiry = c.lock_expiry;
  }
  void apply(const change::remove_feedback_batch& c) {
    batches_.erase(c.batch_id);
    std::erase_if(records_, [&](const auto& kv) { return kv.second.batch_id == c.batch_id; });
  }
  void apply(const change::put_subscription& c) { subscriptions_[c.value.device_id] = c.value.qos; }
  void apply(const change::remove_subscription& c) { subscriptions_.erase(c.device_id); }
  void apply(const change::put_twin& c) { twins_[c.value.device_id] = c.value; }
  void apply(const change::put_telemetry& c) {
    telemetry_[{c.value->partition, c.value->sequence_number}] = *c.value;
  }
  void apply(const change::remove_telemetry_up_to& c) {
    std::erase_if(telemetry_, [&](const auto& kv) {
      return kv.first.first == c.partition && kv.first.second <= c.up_to_sequence;
    });
  }
  void apply(const change::put_partition_counters& c) { partitions_[c.value.partition] = c.value; }
  void apply(const change::put_counters& c) { counters_ = c.value; }
  void apply(const change::put_ca_certificate& c) { cas_[c.value.name] = c.value; }
  void apply(const change::remove_ca_certificate& c) { cas_.erase(c.name); }
  void apply(const change::clear_all&) {
    cas_.clear();
    devices_.clear();
    modules_.clear();
    messages_.clear();
    records_.clear();
    batches_.clear();
    subscriptions_.clear();
    twins_.clear();
    telemetry_.clear();
    partitions_.clear();
    counters_ = {};
  }

  std::map<std::string, device> devices_;
  std::map<std::string, module_identity> modules_;
  std::map<std::string, ca_certificate> cas_;
  std::map<std::uint64_t, c2d_message> messages_;
  std::map<std::uint64_t, feedback_record> records_;
  std::map<std::uint64_t, feedback_batch> batches_;
  std::map<std::string, int> subscriptions_;
  std::map<std::string, device_twin> twins_;
  std::map<std::pair<int, std::int64_t>, telemetry_message> telemetry_;
  std::map<int, partition_counters> partitions_;
  hub_counters counters_;
};

}  // namespace emu::core::testing
