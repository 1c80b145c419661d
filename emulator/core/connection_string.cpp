#include "emulator/core/connection_string.hpp"

#include <array>

#include "emulator/core/crypto.hpp"
#include "emulator/core/sas_token.hpp"

namespace emu::core {

namespace {

error invalid(std::string reason) {
  return error{hub_error::argument_invalid, std::move(reason)};
}

std::string_view trim(std::string_view s) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

result<connection_string> parse_connection_string(std::string_view text) {
  connection_string cs;
  // The known keys, spelled as the SDKs write them (spec §5.4), and where each one goes.
  struct slot {
    std::string_view name;
    std::string connection_string::*field;
    bool seen = false;
  };
  std::array<slot, 7> slots{{
      {"HostName", &connection_string::host_name},
      {"GatewayHostName", &connection_string::gateway_host_name},
      {"DeviceId", &connection_string::device_id},
      {"ModuleId", &connection_string::module_id},
      {"SharedAccessKeyName", &connection_string::shared_access_key_name},
      {"SharedAccessKey", &connection_string::shared_access_key},
      {"SharedAccessSignature", &connection_string::shared_access_signature},
  }};

  // Whitespace around names and values (a pasted newline, `; ` between pairs) is dropped, so
  // that no accepted value starts or ends with whitespace and to_string() re-parses to the
  // same fields.
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t semi = rest.find(';');
    const std::string_view segment = trim(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
    if (segment.empty()) continue;  // a trailing `;` is common

    // Split at the FIRST `=`: base64 keys and SAS tokens contain `=` themselves.
    const std::size_t eq = segment.find('=');
    if (eq == std::string_view::npos) {
      return invalid("connection string segment without '='");
    }
    const std::string_view name = trim(segment.substr(0, eq));
    const std::string_view value = trim(segment.substr(eq + 1));

    for (auto& s : slots) {
      if (s.name != name) continue;
      if (s.seen) return invalid("connection string has a duplicate " + std::string(s.name));
      if (value.empty()) return invalid("connection string has an empty " + std::string(s.name));
      s.seen = true;
      cs.*(s.field) = std::string(value);
      break;
    }
    // Anything else (x509, UseProvisioning, …) is ignored, as the SDKs do.
  }

  if (cs.host_name.empty()) return invalid("connection string is missing HostName");
  if (cs.device_id.empty() && cs.shared_access_key_name.empty()) {
    return invalid("connection string has neither DeviceId nor SharedAccessKeyName");
  }
  if (!cs.module_id.empty() && cs.device_id.empty()) {
    return invalid("connection string has ModuleId without DeviceId");
  }
  if (cs.shared_access_key.empty() && cs.shared_access_signature.empty()) {
    return invalid("connection string has neither SharedAccessKey nor SharedAccessSignature");
  }
  if (!cs.shared_access_key.empty()) {
    const auto key = base64_decode(cs.shared_access_key);
    if (!key || key->empty()) return invalid("connection string SharedAccessKey is not base64");
  }
  if (!cs.shared_access_signature.empty()) {
    // Checked here so that a bad token is reported against the connection string; the
    // reason from parse_sas_token never contains the signature.
    auto token = parse_sas_token(cs.shared_access_signature);
    if (!token) return invalid("connection string SharedAccessSignature: " + token.error().message);
  }
  return cs;
}

std::string to_string(const connection_string& cs) {
  std::string out;
  auto add = [&](std::string_view name, const std::string& value) {
    if (value.empty()) return;
    if (!out.empty()) out += ';';
    out += name;
    out += '=';
    out += value;
  };
  add("HostName", cs.host_name);
  add("GatewayHostName", cs.gateway_host_name);
  add("DeviceId", cs.device_id);
  add("ModuleId", cs.module_id);
  add("SharedAccessKeyName", cs.shared_access_key_name);
  add("SharedAccessKey", cs.shared_access_key);
  add("SharedAccessSignature", cs.shared_access_signature);
  return out;
}

}  // namespace emu::core
