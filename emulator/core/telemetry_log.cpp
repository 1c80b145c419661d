#include "emulator/core/telemetry_log.hpp"

namespace emu::core {

void telemetry_log::restore(const std::vector<telemetry_message>& messages) {
  messages_.clear();
  for (const auto& t : messages) messages_.emplace(t.id, t);
}

std::uint64_t telemetry_log::append(std::string_view device_id, std::vector<property> properties,
                                    std::string body, time_point now) {
  telemetry_message t;
  t.id = journal_.next(&hub_counters::next_telemetry_id);
  t.device_id = std::string(device_id);
  t.enqueued_time = now;
  t.properties = std::move(properties);
  t.body = std::move(body);
  const auto id = t.id;
  journal_.record(change::put_telemetry{t});
  messages_.emplace(id, std::move(t));
  if (messages_.size() > capacity_) {
    std::uint64_t up_to = 0;
    while (messages_.size() > capacity_) {
      up_to = messages_.begin()->first;
      messages_.erase(messages_.begin());
    }
    journal_.record(change::remove_telemetry_up_to{up_to});
  }
  return id;
}

std::vector<telemetry_message> telemetry_log::messages() const {
  std::vector<telemetry_message> out;
  out.reserve(messages_.size());
  for (const auto& [id, t] : messages_) out.push_back(t);
  return out;
}

}  // namespace emu::core
