#pragma once
/// The device registry (spec §7): identities with their keys, status, generation id and etag.
/// Ids of generations and etags come from the hub's counters, so they are never reused.
///
/// Thread safety: none; part of the hub.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/core/device.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/journal.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

/// What a registry create/update carries (spec §7). Empty keys of a `sas` device are
/// generated. Thumbprints are hex SHA-1 or SHA-256 (any case; stored upper-case).
struct device_spec {
  std::string id;
  device_status status = device_status::enabled;
  std::string status_reason;
  std::string primary_key;
  std::string secondary_key;
  auth_type authentication = auth_type::sas;
  std::string primary_thumbprint{};
  std::string secondary_thumbprint{};
  bool iot_edge = false;
  /// Edge devices: empty or their current scope (it cannot be chosen or changed). Others:
  /// empty or an edge device's scope.
  std::string device_scope{};
  std::vector<std::string> parent_scopes{};
};

/// An update's result: the device as it is now, and whether what admits it changed (status or
/// a key), so that its open connections must be checked again.
struct device_update {
  device value;
  bool access_changed = false;
};

class registry {
 public:
  explicit registry(journal& j) : journal_(j) {}

  void restore(const std::vector<device>& devices);
  void clear() { devices_.clear(); }

  /// `device_already_exists` if the id is taken; `argument_invalid` for a bad id, a key that
  /// is not base64 of 16..64 bytes, credentials that do not fit the authentication type, or a
  /// scope that names no edge device (check_identity, check_scopes).
  result<device> create(const device_spec& spec, time_point now);
  /// `if_match` is the etag without quotes, "*" or empty (= "*"). `device_not_found`,
  /// `precondition_failed`, `argument_invalid`.
  result<device_update> update(const device_spec& spec, std::string_view if_match, time_point now);
  /// Checks that the device exists and `if_match` holds; the caller then removes what belongs
  /// to it and calls erase().
  status check_delete(std::string_view id, std::string_view if_match) const;
  void erase(std::string_view id);

  const device* find(std::string_view id) const;
  /// Exists and is enabled (may use device endpoints, may receive C2D).
  bool enabled(std::string_view id) const;
  std::vector<device> list() const;

 private:
  status check_identity(const device_spec& spec) const;
  status check_scopes(const device_spec& spec, const device* current) const;
  /// The edge device whose scope this is, or null.
  const device* edge_with_scope(std::string_view scope) const;
  std::string new_generation_id();
  std::string new_etag();

  journal& journal_;
  std::map<std::string, device, std::less<>> devices_;
};

}  // namespace emu::core
