#include "emulator/amqp/address.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include "emulator/core/ascii.hpp"
#include "emulator/core/crypto.hpp"
#include "emulator/core/identity_key.hpp"

namespace emu::amqp {

namespace {

using core::iequals;

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

/// The path part of an address: without `scheme://authority`, `?query` and a trailing `/`,
/// case preserved.
std::string_view path_of(std::string_view address) {
  for (std::string_view scheme : {std::string_view("amqps://"), std::string_view("amqp://")}) {
    if (istarts_with(address, scheme)) {
      address.remove_prefix(scheme.size());
      const auto slash = address.find('/');
      address = slash == std::string_view::npos ? std::string_view{} : address.substr(slash);
      break;
    }
  }
  if (const auto q = address.find('?'); q != std::string_view::npos) address = address.substr(0, q);
  if (address.size() > 1 && address.back() == '/') address.remove_suffix(1);
  return address;
}

}  // namespace

std::string normalize_address(std::string_view address) {
  std::string out(path_of(address));
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

namespace {

std::vector<std::string_view> split_segments(std::string_view path) {
  std::vector<std::string_view> segments;
  while (true) {
    const auto slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

}  // namespace

node_kind classify_address(std::string_view address, std::string_view event_hub_name) {
  const std::string path = normalize_address(address);
  if (path == "$cbs") return node_kind::cbs;
  if (path == "/messages/devicebound") return node_kind::c2d;
  if (path == "/messages/servicebound/feedback") return node_kind::feedback;
  std::string_view rest = path;
  if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  if (rest == "$management" ||
      (istarts_with(rest, event_hub_name) && rest.substr(event_hub_name.size()) == "/$management"))
    return node_kind::management;
  if (rest == "messages/events" || istarts_with(rest, "messages/events/"))
    return node_kind::events_redirect;
  if (parse_device_address(address)) return node_kind::device;
  if (parse_partition_address(address, event_hub_name)) return node_kind::event_hub_partition;
  return node_kind::unknown;
}

std::optional<device_address> parse_device_address(std::string_view address) {
  std::string_view path = path_of(address);
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  auto s = split_segments(path);
  if (s.size() < 3 || !iequals(s[0], "devices") || s[1].empty()) return std::nullopt;
  auto id = core::url_decode(s[1]);
  if (!id || id->empty() || id->find('/') != std::string::npos) return std::nullopt;
  device_address out;
  out.device_id = std::move(*id);
  // A module's links (issue 16): `/devices/{d}/modules/{m}/…`, keyed by `{d}/{m}`.
  std::size_t rest = 2;
  if (s.size() >= 5 && iequals(s[2], "modules") && !s[3].empty()) {
    auto module = core::url_decode(s[3]);
    if (!module || module->empty() || module->find('/') != std::string::npos) return std::nullopt;
    out.device_id = core::module_key(out.device_id, *module);
    rest = 4;
  }
  const std::size_t n = s.size() - rest;
  const auto at = [&](std::size_t i) { return s[rest + i]; };
  if (n == 2 && iequals(at(0), "messages") && iequals(at(1), "events")) {
    out.kind = device_link_kind::telemetry;
  } else if (n == 2 && iequals(at(0), "messages") && iequals(at(1), "devicebound")) {
    out.kind = device_link_kind::c2d;
  } else if (n == 1 && iequals(at(0), "twin")) {
    out.kind = device_link_kind::twin;
  } else if (n == 2 && iequals(at(0), "methods") && iequals(at(1), "devicebound")) {
    out.kind = device_link_kind::methods;
  } else {
    return std::nullopt;
  }
  return out;
}

std::optional<partition_address> parse_partition_address(std::string_view address,
                                                         std::string_view event_hub_name) {
  std::string_view path = path_of(address);
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  const auto s = split_segments(path);
  if (s.size() != 5 || !iequals(s[0], event_hub_name) || !iequals(s[1], "ConsumerGroups") ||
      s[2].empty() || !iequals(s[3], "Partitions") || s[4].empty())
    return std::nullopt;
  return partition_address{std::string(s[2]), std::string(s[4])};
}

std::optional<std::string> c2d_target_device(std::string_view to) {
  // Expected segments: "", "devices", {id}, "messages", "devicebound".
  const auto segments = split_segments(path_of(to));
  if (segments.size() != 5 || !segments[0].empty() || !iequals(segments[1], "devices") ||
      segments[2].empty() || !iequals(segments[3], "messages") ||
      !iequals(segments[4], "devicebound")) {
    return std::nullopt;
  }
  auto id = core::url_decode(segments[2]);
  if (!id || id->empty()) return std::nullopt;
  return id;
}

}  // namespace emu::amqp
