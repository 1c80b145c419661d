#include "emulator/mqtt/session/iothub_topics.hpp"

#include <utility>

#include "emulator/core/crypto.hpp"
#include "emulator/core/identity_key.hpp"
#include "emulator/core/time.hpp"

namespace emu::mqtt {

namespace {

using emu::core::property;

constexpr std::string_view devices_prefix = "devices/";
constexpr std::string_view iothub_prefix = "$iothub/";
constexpr std::string_view devicebound_suffix = "/messages/devicebound/";
constexpr std::string_view events_path = "messages/events";
// MQTT-2017 / C-373: the legacy user name has no `?` before its query.
constexpr std::string_view legacy_query_start = "api-version=";

void append_pair(std::string& bag, std::string_view key, std::string_view value) {
  if (!bag.empty()) bag.push_back('&');
  bag += emu::core::url_encode(key);
  bag.push_back('=');
  bag += emu::core::url_encode(value);
}

/// `devices/{id}[/{rest}]` → {id, rest}: the id is the level after `devices/` (up to the next
/// `/` or the end); `has_rest` says whether a `/` followed it.
struct device_topic {
  std::string_view device_id;
  std::string_view rest;
  bool has_rest = false;
};

std::optional<device_topic> split_device_topic(std::string_view topic) {
  if (!topic.starts_with(devices_prefix)) return std::nullopt;
  const std::string_view after = topic.substr(devices_prefix.size());
  const std::size_t slash = after.find('/');
  if (slash == std::string_view::npos) return device_topic{after, {}, false};
  return device_topic{after.substr(0, slash), after.substr(slash + 1), true};
}

/// The part of `topic` after the identity's own prefix, `devices/{d}/` or (a module identity
/// `{d}/{m}`) `devices/{d}/modules/{m}/`; nullopt when the topic is not below it. A device's
/// topics are not its modules' (`devices/{d}/modules/…` is not the device's own) and the other
/// way round.
std::optional<std::string_view> own_rest(std::string_view topic, std::string_view identity) {
  const auto ref = emu::core::split_identity(identity);
  if (!topic.starts_with(devices_prefix)) return std::nullopt;
  std::string_view rest = topic.substr(devices_prefix.size());
  if (!rest.starts_with(ref.device_id) || rest.size() == ref.device_id.size() ||
      rest[ref.device_id.size()] != '/')
    return std::nullopt;
  rest.remove_prefix(ref.device_id.size() + 1);
  constexpr std::string_view modules = "modules/";
  if (!ref.is_module()) {
    if (rest.starts_with(modules)) return std::nullopt;
    return rest;
  }
  if (!rest.starts_with(modules)) return std::nullopt;
  rest.remove_prefix(modules.size());
  if (!rest.starts_with(ref.module_id) || rest.size() == ref.module_id.size() ||
      rest[ref.module_id.size()] != '/')
    return std::nullopt;
  return rest.substr(ref.module_id.size() + 1);
}

/// After `devices/{id}/`: `messages/events` then end, `/`, `?` or `/?`; returns the bag.
std::optional<std::string_view> telemetry_bag(std::string_view rest) {
  if (!rest.starts_with(events_path)) return std::nullopt;
  std::string_view tail = rest.substr(events_path.size());
  if (tail.empty()) return tail;
  if (tail.front() == '/') {
    tail.remove_prefix(1);
    if (!tail.empty() && tail.front() == '?') tail.remove_prefix(1);
    return tail;
  }
  if (tail.front() == '?') return tail.substr(1);
  return std::nullopt;  // e.g. `messages/eventsX`
}

/// The part after `{host}/{device}/` or `{host}/{device}/{module}/`: empty, `?query` or the
/// legacy `api-version=…`. Returns false when it is none of these.
bool parse_query_part(std::string_view part, mqtt_username& out, username_error& err,
                      bool& matched) {
  matched = true;
  std::string_view query;
  if (part.empty()) {
    return true;
  } else if (part.front() == '?') {
    query = part.substr(1);
  } else if (part.starts_with(legacy_query_start)) {
    query = part;
    out.legacy = true;
  } else {
    matched = false;
    return true;
  }
  auto pairs = decode_property_bag(query);
  if (!pairs) {
    err = username_error::bad_percent_escape;
    return false;
  }
  out.query = std::move(*pairs);
  return true;
}

}  // namespace

std::string encode_property_bag(std::span<const property> properties) {
  std::string out;
  for (const auto& p : properties) append_pair(out, p.name, p.value);
  return out;
}

std::optional<std::vector<property>> decode_property_bag(std::string_view bag) {
  std::vector<property> out;
  while (!bag.empty()) {
    const std::size_t amp = bag.find('&');
    const std::string_view pair = bag.substr(0, amp);
    bag = amp == std::string_view::npos ? std::string_view{} : bag.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    auto key = emu::core::url_decode(pair.substr(0, eq));
    if (!key) return std::nullopt;
    std::optional<std::string> value;
    if (eq == std::string_view::npos) {
      value.emplace();
    } else {
      value = emu::core::url_decode(pair.substr(eq + 1));
      if (!value) return std::nullopt;
    }
    out.push_back(property{std::move(*key), std::move(*value)});
  }
  return out;
}

std::string_view to_string(username_error e) {
  switch (e) {
    case username_error::none:
      return "none";
    case username_error::missing_device_id:
      return "missing_device_id";
    case username_error::empty_host:
      return "empty_host";
    case username_error::empty_device_id:
      return "empty_device_id";
    case username_error::empty_module_id:
      return "empty_module_id";
    case username_error::malformed:
      return "malformed";
    case username_error::bad_percent_escape:
      return "bad_percent_escape";
  }
  return "unknown";
}

std::optional<std::string_view> mqtt_username::query_value(std::string_view key) const {
  for (const auto& p : query) {
    if (p.name == key) return std::string_view(p.value);
  }
  return std::nullopt;
}

emu::result<mqtt_username, username_error> parse_username(std::string_view username) {
  // PY-WIKI: `{hostname}/{clientid}/?{properties}`; host and ids are never percent-decoded,
  // query keys and values are.
  const std::size_t host_end = username.find('/');
  if (host_end == std::string_view::npos) return username_error::missing_device_id;
  if (host_end == 0) return username_error::empty_host;
  mqtt_username out;
  out.host.assign(username.substr(0, host_end));

  const std::string_view after_host = username.substr(host_end + 1);
  const std::size_t device_end = after_host.find('/');
  if (device_end == std::string_view::npos) return username_error::malformed;
  if (device_end == 0) return username_error::empty_device_id;
  out.device_id.assign(after_host.substr(0, device_end));

  username_error err = username_error::none;
  bool matched = false;
  const std::string_view tail = after_host.substr(device_end + 1);
  if (!parse_query_part(tail, out, err, matched)) return err;
  if (matched) return out;

  // `{moduleId}/` then the query part. The query itself may contain `/` (if a client did not
  // encode it), which is why `?` / `api-version=` are recognised before looking for a module.
  const std::size_t module_end = tail.find('/');
  if (module_end == std::string_view::npos) return username_error::malformed;
  if (module_end == 0) return username_error::empty_module_id;
  out.module_id.assign(tail.substr(0, module_end));
  if (!parse_query_part(tail.substr(module_end + 1), out, err, matched)) return err;
  if (!matched) return username_error::malformed;
  return out;
}

std::string c2d_subscription_filter(std::string_view device_id) {
  std::string out(devices_prefix);
  out += device_id;
  out += devicebound_suffix;
  out.push_back('#');
  return out;
}

std::string c2d_topic(const emu::core::c2d_message& message) {
  const auto& c = message.content;
  // Fixture order of PY-TOPIC (spec §3.5); parsers are order-independent.
  std::string bag;
  if (c.absolute_expiry) append_pair(bag, "$.exp", emu::core::to_iso8601(*c.absolute_expiry));
  if (!c.correlation_id.empty()) append_pair(bag, "$.cid", c.correlation_id);
  if (!c.message_id.empty()) append_pair(bag, "$.mid", c.message_id);
  if (!c.user_id.empty()) append_pair(bag, "$.uid", c.user_id);
  if (!c.to.empty()) {
    append_pair(bag, "$.to", c.to);
  } else {
    std::string to = "/devices/";
    to += message.device_id;
    to += "/messages/devicebound";
    append_pair(bag, "$.to", to);
  }
  if (!c.content_type.empty()) append_pair(bag, "$.ct", c.content_type);
  if (!c.content_encoding.empty()) append_pair(bag, "$.ce", c.content_encoding);
  if (c.ack != emu::core::ack_mode::none) {
    append_pair(bag, "iothub-ack", emu::core::to_string(c.ack));
  }
  for (const auto& p : c.properties) append_pair(bag, p.name, p.value);

  std::string topic;
  topic.reserve(devices_prefix.size() + message.device_id.size() + devicebound_suffix.size() +
                bag.size());
  topic += devices_prefix;
  topic += message.device_id;
  topic += devicebound_suffix;
  topic += bag;
  return topic;
}

std::string_view to_string(topic_error e) {
  switch (e) {
    case topic_error::none:
      return "none";
    case topic_error::not_telemetry:
      return "not_telemetry";
    case topic_error::other_device:
      return "other_device";
    case topic_error::bad_percent_escape:
      return "bad_percent_escape";
  }
  return "unknown";
}

emu::result<std::vector<property>, topic_error> parse_telemetry_topic(
    std::string_view topic, std::string_view expected_identity) {
  const auto parts = split_device_topic(topic);
  if (!parts) return topic_error::not_telemetry;
  if (parts->device_id != emu::core::split_identity(expected_identity).device_id)
    return topic_error::other_device;
  if (!parts->has_rest) return topic_error::not_telemetry;
  const auto rest = own_rest(topic, expected_identity);
  if (!rest) return topic_error::other_device;
  const auto bag = telemetry_bag(*rest);
  if (!bag) return topic_error::not_telemetry;
  auto props = decode_property_bag(*bag);
  if (!props) return topic_error::bad_percent_escape;
  return std::move(*props);
}

std::string_view to_string(subscription_kind k) {
  switch (k) {
    case subscription_kind::c2d:
      return "c2d";
    case subscription_kind::twin_responses:
      return "twin_responses";
    case subscription_kind::twin_desired:
      return "twin_desired";
    case subscription_kind::methods:
      return "methods";
    case subscription_kind::iothub_unknown:
      return "iothub_unknown";
    case subscription_kind::module_inputs:
      return "module_inputs";
    case subscription_kind::other_device:
      return "other_device";
    case subscription_kind::unsupported:
      return "unsupported";
  }
  return "unknown";
}

subscription_kind classify_subscription(std::string_view filter, std::string_view identity) {
  // The filters the SDKs use (next-capabilities §2.1, §3.2); anything else under $iothub/ is
  // refused with 0x80 without closing the connection.
  if (filter == "$iothub/twin/res/#") return subscription_kind::twin_responses;
  if (filter == "$iothub/twin/PATCH/properties/desired/#") return subscription_kind::twin_desired;
  if (filter == "$iothub/methods/POST/#") return subscription_kind::methods;
  if (filter.starts_with(iothub_prefix)) return subscription_kind::iothub_unknown;
  // `devices/#` and `devices/+/…` reach other devices too: their id level is not ours.
  const auto parts = split_device_topic(filter);
  if (!parts) return subscription_kind::unsupported;
  const auto ref = emu::core::split_identity(identity);
  if (parts->device_id != ref.device_id) return subscription_kind::other_device;
  if (!parts->has_rest) return subscription_kind::unsupported;
  const auto rest = own_rest(filter, identity);
  if (!rest) return subscription_kind::other_device;  // its modules', or a sibling module's
  if (!ref.is_module()) {
    if (*rest == "messages/devicebound/#") return subscription_kind::c2d;
    return subscription_kind::unsupported;
  }
  // C2D is for devices; a module's `inputs/#` is IoT Edge routing, which this hub does not do.
  // The C SDK subscribes to `devices/{d}/modules/{m}/#` for its inputs (spec §3.5).
  if (*rest == "inputs/#" || *rest == "messages/devicebound/#" || *rest == "#")
    return subscription_kind::module_inputs;
  return subscription_kind::unsupported;
}

std::string_view to_string(publish_kind k) {
  switch (k) {
    case publish_kind::telemetry:
      return "telemetry";
    case publish_kind::iothub_feature:
      return "iothub_feature";
    case publish_kind::other_device:
      return "other_device";
    case publish_kind::unsupported:
      return "unsupported";
  }
  return "unknown";
}

publish_kind classify_publish_topic(std::string_view topic, std::string_view identity) {
  if (topic.starts_with(iothub_prefix)) return publish_kind::iothub_feature;
  const auto parts = split_device_topic(topic);
  if (!parts) return publish_kind::unsupported;
  if (parts->device_id != emu::core::split_identity(identity).device_id)
    return publish_kind::other_device;
  if (!parts->has_rest) return publish_kind::unsupported;
  const auto rest = own_rest(topic, identity);
  if (!rest) return publish_kind::other_device;  // its modules', or a sibling module's
  if (!telemetry_bag(*rest)) return publish_kind::unsupported;
  return publish_kind::telemetry;
}

namespace {

/// Splits `path/?query` (or `path?query`) into the path without a trailing `/` and the query.
std::pair<std::string_view, std::string_view> split_query(std::string_view topic) {
  const auto q = topic.find('?');
  std::string_view path = topic.substr(0, q);
  const std::string_view query =
      q == std::string_view::npos ? std::string_view{} : topic.substr(q + 1);
  if (path.ends_with('/')) path.remove_suffix(1);
  return {path, query};
}

std::optional<int> decimal_status(std::string_view text) {
  if (text.empty() || text.size() > 3) return std::nullopt;
  int value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

iothub_publish parse_iothub_publish(std::string_view topic) {
  iothub_publish out;
  const auto [path, query] = split_query(topic);
  if (const auto bag = decode_property_bag(query)) {
    for (const auto& p : *bag) {
      if (p.name == "$rid") {
        out.rid = p.value;
        break;
      }
    }
  }
  constexpr std::string_view method_res = "$iothub/methods/res/";
  if (path == "$iothub/twin/GET") {
    out.operation = iothub_operation::twin_get;
  } else if (path == "$iothub/twin/PATCH/properties/reported") {
    out.operation = iothub_operation::twin_patch_reported;
  } else if (path.starts_with(method_res) &&
             path.substr(method_res.size()).find('/') == std::string_view::npos) {
    out.operation = iothub_operation::method_response;
    out.status = decimal_status(path.substr(method_res.size()));
  } else if (path.starts_with("$iothub/twin/")) {
    out.operation = iothub_operation::twin_unknown;
  }
  return out;
}

std::string twin_response_topic(int status, std::string_view rid,
                                std::optional<std::int64_t> version) {
  std::string topic = "$iothub/twin/res/" + std::to_string(status) + "/?$rid=";
  topic += emu::core::url_encode(rid);
  if (version) topic += "&$version=" + std::to_string(*version);
  return topic;
}

std::string desired_patch_topic(std::int64_t version) {
  return "$iothub/twin/PATCH/properties/desired/?$version=" + std::to_string(version);
}

std::string method_request_topic(std::string_view method_name, std::string_view rid) {
  return "$iothub/methods/POST/" + emu::core::url_encode(method_name) +
         "/?$rid=" + emu::core::url_encode(rid);
}

}  // namespace emu::mqtt
