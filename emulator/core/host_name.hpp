#pragma once
/// Which host names name this hub.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/core/ascii.hpp"

namespace emu::core {

/// True when `host` (from a SAS `sr`, an MQTT user name, …) is `host_name`, case-insensitively,
/// optionally followed by `:port`: with ephemeral ports the Node SDKs put
/// `HostName=localhost:PORT` in the connection string and sign that (sdk-wire §8).
constexpr bool names_host(std::string_view host, std::string_view host_name) {
  if (iequals(host, host_name)) return true;
  if (host.size() <= host_name.size() + 1) return false;
  if (!iequals(host.substr(0, host_name.size()), host_name)) return false;
  if (host[host_name.size()] != ':') return false;
  for (const char c : host.substr(host_name.size() + 1))
    if (c < '0' || c > '9') return false;
  return true;
}

/// The first label of a host name (up to the first `.` or `:`): the hub name the C SDK derives
/// from `HostName` and signs SASL PLAIN user names with (sdk-wire §7).
constexpr std::string_view first_label(std::string_view host_name) {
  return host_name.substr(0, host_name.find_first_of(".:"));
}

/// `host` is `primary` or one of `aliases` (names_host); the check of core::host_names, for
/// callers that keep the names apart (hub_settings), without copying them.
inline bool names_any(std::string_view host, std::string_view primary,
                      std::span<const std::string> aliases) {
  if (names_host(host, primary)) return true;
  for (const auto& a : aliases)
    if (names_host(host, a)) return true;
  return false;
}

/// The names one hub answers to: `primary`, which it prints in connection strings and puts in
/// redirects, and `aliases` that clients may use as well (e.g. `localhost` beside `127.0.0.1`,
/// or a compose service name beside its dotted alias). A token signed for any of them is a
/// token for this hub; a name outside the set is another hub's (spec §5.2).
struct host_names {
  std::string primary;
  std::vector<std::string> aliases;

  bool names(std::string_view host) const { return names_any(host, primary, aliases); }
  /// `label` is the first label of one of the names (a C SDK's hub name).
  bool has_label(std::string_view label) const {
    if (label.empty()) return false;
    if (iequals(label, first_label(primary))) return true;
    for (const auto& a : aliases)
      if (iequals(label, first_label(a))) return true;
    return false;
  }
};

}  // namespace emu::core
