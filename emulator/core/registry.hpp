#pragma once
/// The device registry (spec §7): identities with their keys, status, generation id and etag.
/// Ids of generations and etags come from the hub's counters, so they are never reused.
///
/// Thread safety: none; part of the hub.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "emulator/core/device.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/identity_key.hpp"
#include "emulator/core/journal.hpp"
#include "emulator/core/module_identity.hpp"
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

/// A module update's result, as device_update.
struct module_update {
  module_identity value;
  bool access_changed = false;
};

/// Modules one device may have: Azure has a limit (error 413003 TooManyModulesOnDevice, spec
/// §errors) whose value is UNCONFIRMED; 50 here (README "Differences").
inline constexpr std::size_t max_modules_per_device = 50;

class registry {
 public:
  explicit registry(journal& j) : journal_(j) {}

  void restore(const std::vector<device>& devices, const std::vector<module_identity>& modules);
  void clear() {
    devices_.clear();
    modules_.clear();
  }

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
  /// Removes the device and its modules.
  void erase(std::string_view id);

  const device* find(std::string_view id) const;
  /// An identity (identity_key.hpp) that may use device endpoints: an enabled device, or a
  /// module of an enabled device.
  bool enabled(std::string_view identity) const;
  /// The generation id of a device or module identity; nullopt when it does not exist.
  std::optional<std::string> generation_of(std::string_view identity) const;
  std::vector<device> list() const;

  // ---- modules (issue 16) -----------------------------------------------------------------
  /// `device_not_found` for an unknown device, `module_already_exists`, `too_many_modules`,
  /// `argument_invalid` (bad id or credentials, as for devices).
  result<module_identity> create_module(const module_spec& spec);
  /// `device_not_found`, `module_not_found`, `precondition_failed`, `argument_invalid`.
  result<module_update> update_module(const module_spec& spec, std::string_view if_match);
  status check_delete_module(std::string_view device_id, std::string_view module_id,
                             std::string_view if_match) const;
  void erase_module(std::string_view device_id, std::string_view module_id);
  const module_identity* find_module(std::string_view device_id, std::string_view module_id) const;
  std::vector<module_identity> modules_of(std::string_view device_id) const;
  std::size_t module_count(std::string_view device_id) const;
  std::vector<module_identity> all_modules() const;

 private:
  status check_identity(const device_spec& spec) const;
  status check_scopes(const device_spec& spec, const device* current) const;
  /// The edge device whose scope this is, or null.
  const device* edge_with_scope(std::string_view scope) const;
  std::string new_generation_id();
  std::string new_etag();

  journal& journal_;
  std::map<std::string, device, std::less<>> devices_;
  /// By identity key `{deviceId}/{moduleId}`: a device's modules are one key range.
  std::map<std::string, module_identity, std::less<>> modules_;
  using module_range =
      std::pair<std::map<std::string, module_identity, std::less<>>::const_iterator,
                std::map<std::string, module_identity, std::less<>>::const_iterator>;
  module_range modules_of_range(std::string_view device_id) const;
};

}  // namespace emu::core
