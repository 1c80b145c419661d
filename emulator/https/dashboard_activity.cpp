#include "emulator/https/dashboard_activity.hpp"

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace emu::https {

namespace {

std::string session_end_text(core::session_end why) {
  return why == core::session_end::taken_over ? "session taken over by a new connection"
                                              : "session ended: the device was changed or deleted";
}

}  // namespace

void dashboard_activity::record(const core::hub_event& e, core::time_point now) {
  std::visit(
      [&](const auto& ev) {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, core::event::c2d_delivery>) {
          add(now, "c2d", ev.device_id,
              "C2D message " + std::to_string(ev.delivery.message.seq) + " delivered (attempt " +
                  std::to_string(ev.delivery.message.delivery_count + 1) + ", QoS " +
                  std::to_string(ev.qos) + ")");
        } else if constexpr (std::is_same_v<T, core::event::session_ended>) {
          add(now, "session", ev.device_id, session_end_text(ev.why));
        } else if constexpr (std::is_same_v<T, core::event::feedback_delivery>) {
          add(now, "feedback", "",
              "feedback batch " + std::to_string(ev.batch.id) + " sent (" +
                  std::to_string(ev.batch.records.size()) + " records)");
        } else if constexpr (std::is_same_v<T, core::event::desired_patch>) {
          add(now, "twin", ev.device_id,
              "desired properties changed, version " + std::to_string(ev.version) + ": " +
                  ev.patch.dump());
        } else if constexpr (std::is_same_v<T, core::event::method_request>) {
          {
            const std::lock_guard lock(mutex_);
            calls_[ev.call_id] = {ev.device_id, ev.name};
            while (calls_.size() > capacity_) calls_.erase(calls_.begin());
          }
          add(now, "method", ev.device_id, "method '" + ev.name + "' called: " + ev.payload);
        } else if constexpr (std::is_same_v<T, core::event::method_result>) {
          std::pair<std::string, std::string> call{"", "#" + std::to_string(ev.call_id)};
          {
            const std::lock_guard lock(mutex_);
            if (const auto it = calls_.find(ev.call_id); it != calls_.end()) {
              call = std::move(it->second);
              calls_.erase(it);
            }
          }
          add(now, "method", call.first,
              ev.failure ? "method '" + call.second + "' failed: " + ev.failure->message
                         : "method '" + call.second + "' answered " + std::to_string(ev.status) +
                               ": " + ev.payload);
        } else if constexpr (std::is_same_v<T, core::event::fault_requested>) {
          add(now, "fault", ev.device_id, "fault requested");
        } else if constexpr (std::is_same_v<T, core::event::tokens_expired>) {
          add(now, "hub", "", "every token expired (test control)");
        } else if constexpr (std::is_same_v<T, core::event::hub_reset>) {
          add(now, "hub", "", "the hub was reset (test control)");
        }
      },
      e);
}

void dashboard_activity::add(core::time_point at, std::string kind, std::string device_id,
                             std::string text) {
  const std::lock_guard lock(mutex_);
  lines_.push_back({next_seq_++, at, std::move(kind), std::move(device_id), std::move(text)});
  while (lines_.size() > capacity_) lines_.pop_front();
}

std::vector<activity_line> dashboard_activity::newest() const {
  const std::lock_guard lock(mutex_);
  return {lines_.begin(), lines_.end()};
}

}  // namespace emu::https
