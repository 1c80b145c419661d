#include "emulator/amqp/address.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include "emulator/core/ascii.hpp"
#include "emulator/core/crypto.hpp"

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

node_kind classify_address(std::string_view address) {
  const std::string path = normalize_address(address);
  if (path == "$cbs") return node_kind::cbs;
  if (path == "/messages/devicebound") return node_kind::c2d;
  if (path == "/messages/servicebound/feedback") return node_kind::feedback;
  return node_kind::unknown;
}

std::optional<std::string> c2d_target_device(std::string_view to) {
  std::string_view path = path_of(to);
  // Expected segments: "", "devices", {id}, "messages", "devicebound".
  std::vector<std::string_view> segments;
  while (true) {
    const auto slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
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
