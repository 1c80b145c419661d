#include "emulator/core/direct_methods.hpp"

#include <algorithm>

namespace emu::core {

namespace {
const char* const not_online_text = "Timed out waiting for device to connect.";
const char* const timeout_text = "Timed out waiting for the response from device.";
}  // namespace

result<std::uint64_t> direct_methods::invoke(std::string_view device_id, std::uint64_t epoch,
                                             bool reachable, method_call call, time_point now) {
  if (!reachable && call.connect_timeout <= duration::zero())
    return error{hub_error::device_not_online, not_online_text};
  const auto id = next_id_++;
  const auto deadline = now + call.connect_timeout;
  const auto latest =
      now + call.connect_timeout + call.response_timeout - method_limits::answer_margin;
  pending_call c{std::string(device_id), std::move(call), false, deadline, latest};
  auto& stored = calls_.emplace(id, std::move(c)).first->second;
  if (reachable) send(id, stored, epoch, now);
  return id;
}

void direct_methods::send(std::uint64_t id, pending_call& c, std::uint64_t epoch, time_point now) {
  c.sent = true;
  c.deadline = std::min(now + c.call.response_timeout, c.latest);
  journal_.emit(event::method_request{c.device_id, epoch, id, c.call.name, c.call.payload});
}

void direct_methods::subscribe(std::string_view device_id, std::uint64_t epoch, bool on,
                               time_point now) {
  if (!on) {
    const auto it = subscribers_.find(device_id);
    if (it != subscribers_.end() && it->second == epoch) subscribers_.erase(it);
    return;
  }
  subscribers_[std::string(device_id)] = epoch;
  device_reachable(device_id, epoch, now);
}

std::optional<std::uint64_t> direct_methods::subscribed_epoch(std::string_view device_id) const {
  const auto it = subscribers_.find(device_id);
  if (it == subscribers_.end()) return std::nullopt;
  return it->second;
}

void direct_methods::device_reachable(std::string_view device_id, std::uint64_t epoch,
                                      time_point now) {
  for (auto& [id, c] : calls_)
    if (!c.sent && c.device_id == device_id) send(id, c, epoch, now);
}

bool direct_methods::answer(std::string_view device_id, std::string_view rid, int device_status,
                            std::string payload) {
  std::uint64_t id = 0;
  for (const char ch : rid) {
    if (ch < '0' || ch > '9' || id > (UINT64_MAX - 9) / 10) return false;
    id = id * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  const auto it = calls_.find(id);
  if (rid.empty() || it == calls_.end() || !it->second.sent || it->second.device_id != device_id)
    return false;
  event::method_result r;
  r.call_id = id;
  r.status = device_status;
  r.payload = std::move(payload);
  journal_.emit(std::move(r));
  calls_.erase(it);
  return true;
}

void direct_methods::fail(std::uint64_t id, const pending_call& c, hub_error why,
                          std::string message) {
  event::method_result r;
  r.call_id = id;
  r.failure = error{why, std::move(message)};
  r.connect_timeout = c.call.connect_timeout;
  journal_.emit(std::move(r));
}

void direct_methods::advance(time_point now) {
  for (auto it = calls_.begin(); it != calls_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    if (it->second.sent)
      fail(it->first, it->second, hub_error::gateway_timeout, timeout_text);
    else
      fail(it->first, it->second, hub_error::device_not_online, not_online_text);
    it = calls_.erase(it);
  }
}

std::optional<time_point> direct_methods::next_deadline() const {
  std::optional<time_point> out;
  for (const auto& [id, c] : calls_)
    if (!out || c.deadline < *out) out = c.deadline;
  return out;
}

void direct_methods::end_all(hub_error why, std::string_view message) {
  for (const auto& [id, c] : calls_) fail(id, c, why, std::string(message));
  calls_.clear();
  subscribers_.clear();
}

void direct_methods::end_device(std::string_view device_id, hub_error why,
                                std::string_view message) {
  for (auto it = calls_.begin(); it != calls_.end();) {
    if (it->second.device_id != device_id) {
      ++it;
      continue;
    }
    fail(it->first, it->second, why, std::string(message));
    it = calls_.erase(it);
  }
  const auto sub = subscribers_.find(device_id);
  if (sub != subscribers_.end()) subscribers_.erase(sub);
}

}  // namespace emu::core
