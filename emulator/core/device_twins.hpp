#pragma once
/// Device twins (next-capabilities §2): one per device, created empty with the device and
/// deleted with it; durable like C2D (every change is a change::put_twin of the whole twin).
///
/// Who writes what (DOC "Understand and use device twins"):
///   - the service: tags and desired (update = merge patch, replace = new documents), guarded
///     by the twin's etag (If-Match; "*" or empty matches anything);
///   - the device: reported (merge patch).
/// Each section write bumps that section's `$version` by exactly one (the Node e2e waits for
/// desired `$version` +1 per service update) and the twin's `version`; tags and desired
/// writes also give the twin a new etag. A desired write emits event::desired_patch: the
/// device's connection pushes it if it subscribed to desired updates (nothing is queued for
/// an offline device: it GETs the twin when it reconnects).
///
/// Thread safety: none; part of the hub.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/core/device_twin.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/journal.hpp"
#include "emulator/core/time.hpp"
#include "emulator/core/twin_patch.hpp"

namespace emu::core {

/// A service update of a twin (REST PATCH /twins/{id}): each part is absent (unchanged), an
/// object (a merge patch), or — desired and tags only — JSON null (remove every member).
struct twin_update {
  std::optional<nlohmann::json> tags;
  std::optional<nlohmann::json> desired;
};

/// A service replacement (REST PUT /twins/{id}): tags and desired become these documents;
/// reported cannot be written by the service.
struct twin_replacement {
  nlohmann::json tags = nlohmann::json::object();
  nlohmann::json desired = nlohmann::json::object();
};

/// One write of a twin, for test control's version history (not durable: kept in memory, the
/// last `max_history` per device).
struct twin_change {
  std::int64_t version = 0;  // the twin's version after the write
  std::string part;          // "update" (service PATCH), "replace" (service PUT), "reported"
  std::string by;            // "service" or "device"
  nlohmann::json patch;      // what was written
  time_point at{};
};

class device_twins {
 public:
  explicit device_twins(journal& j) : journal_(j) {}

  /// The stored twins; devices without one (a database from before twins) get an empty twin,
  /// which is stored with its first change.
  void restore(const std::vector<device_twin>& stored, const std::vector<std::string>& devices);
  void clear() {
    twins_.clear();
    history_.clear();
  }

  /// A new device's empty twin (recorded).
  void create(std::string_view device_id, time_point now);
  /// The device is deleted: its twin goes (the store removes it with the device).
  void remove(std::string_view device_id) {
    twins_.erase(std::string(device_id));
    history_.erase(std::string(device_id));
  }

  const device_twin* find(std::string_view device_id) const;
  /// The device's recent writes, oldest first.
  std::vector<twin_change> history(std::string_view device_id) const;
  static constexpr std::size_t max_history = 100;

  /// `device_not_found`, `precondition_failed` (etag), `argument_invalid` (a part that breaks
  /// the rules of twin_patch.hpp, or a section that would exceed its size).
  result<device_twin> update(std::string_view device_id, const twin_update& u,
                             std::string_view if_match, time_point now);
  result<device_twin> replace(std::string_view device_id, const twin_replacement& r,
                              std::string_view if_match, time_point now);
  /// A device's reported-properties patch: the new reported `$version`.
  result<std::int64_t> patch_reported(std::string_view device_id, const nlohmann::json& patch,
                                      time_point now);

 private:
  device_twin* modify(std::string_view device_id);
  std::string new_etag();
  /// Records the twin and, when desired changed, emits the device's notification.
  void changed(const device_twin& t, const nlohmann::json* desired_patch);

  void remember(const device_twin& t, std::string part, std::string by, nlohmann::json patch,
                time_point now);

  journal& journal_;
  std::map<std::string, device_twin, std::less<>> twins_;
  std::map<std::string, std::deque<twin_change>, std::less<>> history_;
};

}  // namespace emu::core
