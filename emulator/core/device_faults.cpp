#include "emulator/core/device_faults.hpp"

#include <algorithm>
#include <utility>

namespace emu::core {

void device_faults::open_window(std::string_view identity, const fault_request& r, time_point now) {
  // A newer request replaces the identity's window: the last word wins, as a test expects
  // when it sends a second fault to change the first.
  // It starts after the round that asked for it (at least 1 ms later): the rest of a batch
  // that carried the request is stored with it.
  const time_point from = now + std::max<duration>(r.delay, duration{1});
  windows_.insert_or_assign(std::string(identity), window{r.kind, from, from + r.length});
}

std::optional<error> device_faults::refusal(std::string_view identity, time_point now) const {
  const auto it = windows_.find(identity);
  if (it == windows_.end() || now < it->second.from || now >= it->second.until) return std::nullopt;
  // next-capabilities §7.2: what Azure answers during the fault, by protocol in each front
  // (429001 → com.microsoft:device-container-throttled, 403002 → com.microsoft:quota-exceeded,
  // 401002 → amqp:unauthorized-access).
  switch (it->second.kind) {
    case fault_kind::invoke_throttling:
      return error{hub_error::throttled,
                   "The device is throttled (fault injection: InvokeThrottling)."};
    case fault_kind::invoke_max_message_quota:
      return error{hub_error::quota_exceeded,
                   "The hub's daily message quota is exceeded (fault injection: "
                   "InvokeMaxMessageQuota)."};
    case fault_kind::invoke_auth_error:
      return error{hub_error::unauthorized,
                   "The device is not authorized (fault injection: InvokeAuthError)."};
    default:
      return std::nullopt;
  }
}

void device_faults::expire(time_point now) {
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (it->second.until > now) {
      ++it;
      continue;
    }
    record(it->first, to_string(it->second.kind), "ended", "", now);
    it = windows_.erase(it);
  }
}

std::optional<time_point> device_faults::next_deadline() const {
  std::optional<time_point> next;
  for (const auto& [identity, w] : windows_)
    if (!next || w.until < *next) next = w.until;
  return next;
}

void device_faults::record(std::string_view identity, std::string_view type, std::string event,
                           std::string detail, time_point now) {
  if (records_.size() >= max_records) records_.pop_front();
  records_.push_back(fault_record{next_id_++, now, std::string(identity), std::string(type),
                                  std::move(event), std::move(detail)});
}

void device_faults::clear() {
  windows_.clear();
  records_.clear();
}

}  // namespace emu::core
