#include "clients/common/connection_string.hpp"

#include <charconv>
#include <map>

#include "clients/common/sas.hpp"

namespace iothub_samples {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

connection_string parse_connection_string(std::string_view text, connection_string_kind kind) {
  std::map<std::string, std::string, std::less<>> fields;
  text = trim(text);
  if (text.empty()) throw connection_string_error("the connection string is empty");
  while (!text.empty()) {
    const auto semicolon = text.find(';');
    const std::string_view part = trim(text.substr(0, semicolon));
    text = semicolon == std::string_view::npos ? std::string_view{} : text.substr(semicolon + 1);
    if (part.empty()) continue;
    const auto equals = part.find('=');
    if (equals == std::string_view::npos || equals == 0) {
      throw connection_string_error("a part has no 'Name=value' form (expected e.g. HostName=...)");
    }
    const std::string name(trim(part.substr(0, equals)));
    const std::string value(trim(part.substr(equals + 1)));
    if (value.empty()) throw connection_string_error(name + " is empty");
    if (!fields.emplace(name, value).second) throw connection_string_error(name + " appears twice");
  }
  auto take = [&](std::string_view name) {
    const auto it = fields.find(name);
    return it == fields.end() ? std::string{} : it->second;
  };
  connection_string cs;
  cs.host_name = take("HostName");
  cs.gateway_host_name = take("GatewayHostName");
  cs.device_id = take("DeviceId");
  cs.module_id = take("ModuleId");
  cs.shared_access_key_name = take("SharedAccessKeyName");
  cs.shared_access_key = take("SharedAccessKey");
  const std::string x509 = take("x509");
  cs.x509 = x509 == "true" || x509 == "True";
  if (!x509.empty() && !cs.x509) throw connection_string_error("x509 must be 'true'");

  if (cs.host_name.empty()) throw connection_string_error("HostName is missing");
  if (kind == connection_string_kind::device) {
    if (cs.device_id.empty()) {
      throw connection_string_error(
          cs.shared_access_key_name.empty()
              ? "DeviceId is missing"
              : "DeviceId is missing (this looks like a hub/service connection string; a device "
                "connection string is needed)");
    }
  } else {
    if (cs.shared_access_key_name.empty()) {
      throw connection_string_error(
          cs.device_id.empty()
              ? "SharedAccessKeyName is missing"
              : "SharedAccessKeyName is missing (this looks like a device connection string; a "
                "hub connection string with a policy such as 'service' is needed)");
    }
  }
  if (cs.x509 && kind == connection_string_kind::device) {
    if (!cs.shared_access_key.empty())
      throw connection_string_error("x509=true and SharedAccessKey exclude each other");
    return cs;
  }
  if (cs.shared_access_key.empty()) {
    if (!take("SharedAccessSignature").empty())
      throw connection_string_error(
          "SharedAccessSignature connection strings are not supported by this sample; use a "
          "SharedAccessKey");
    throw connection_string_error("SharedAccessKey is missing");
  }
  if (!base64_decode(cs.shared_access_key))
    throw connection_string_error("SharedAccessKey is not base64");
  return cs;
}

host_port split_host_port(std::string_view text, std::uint16_t default_port) {
  host_port out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) throw connection_string_error("host has an unclosed '['");
    out.host = std::string(text.substr(1, close - 1));
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw connection_string_error("unexpected text after ']' in host");
      port_text = rest.substr(1);
      if (port_text.empty()) throw connection_string_error("the port after ':' is empty");
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') == colon) {
      out.host = std::string(text.substr(0, colon));
      port_text = text.substr(colon + 1);
      if (port_text.empty()) throw connection_string_error("the port after ':' is empty");
    } else {
      out.host = std::string(text);  // no port, or a bare IPv6 literal
    }
  }
  if (out.host.empty()) throw connection_string_error("the host name is empty");
  out.port = default_port;
  if (!port_text.empty()) {
    unsigned value = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      throw connection_string_error("bad port '" + std::string(port_text) + "'");
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  return out;
}

}  // namespace iothub_samples
