#pragma once
/// Things the hub tells the fronts after a commit, so delivery is event-driven (no polling).
#include <string>
#include <variant>

namespace emu::core {

namespace event {
/// The device's queue has a message that may be deliverable now (new, abandoned, lock expired).
struct c2d_available {
  std::string device_id;
};
/// A feedback batch is available to a consumer.
struct feedback_available {};
/// The device was deleted, disabled or had its keys changed: connections authenticated as it
/// must be re-checked (and normally closed).
struct device_changed {
  std::string device_id;
};
/// Everything was reset (test control): every connection should be closed.
struct hub_reset {};
}  // namespace event

using hub_event = std::variant<event::c2d_available, event::feedback_available,
                               event::device_changed, event::hub_reset>;

}  // namespace emu::core
