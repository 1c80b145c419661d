#pragma once
/// Which host names name this hub.
#include <string_view>

#include "emulator/core/ascii.hpp"

namespace emu::core {

/// True when `host` (from a SAS `sr`, an MQTT user name, …) is the configured host name,
/// case-insensitively, optionally followed by `:port`: with ephemeral ports the Node SDKs put
/// `HostName=localhost:PORT` in the connection string and sign that (sdk-wire §8).
constexpr bool names_this_hub(std::string_view host, std::string_view host_name) {
  if (iequals(host, host_name)) return true;
  if (host.size() <= host_name.size() + 1) return false;
  if (!iequals(host.substr(0, host_name.size()), host_name)) return false;
  if (host[host_name.size()] != ':') return false;
  for (const char c : host.substr(host_name.size() + 1))
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace emu::core
