#include "emulator/https/device_message.hpp"

#include <optional>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "emulator/core/ascii.hpp"
#include "emulator/core/crypto.hpp"
#include "emulator/core/limits.hpp"

namespace emu::https {

namespace {

using core::iequals;
using json = nlohmann::json;

constexpr std::string_view app_prefix = "iothub-app-";
constexpr std::string_view batch_content_type = "application/vnd.microsoft.iothub.json";

/// The property a message header (or batch property) becomes; nullopt when it is not one.
std::optional<core::property> property_of(std::string_view name, std::string_view value) {
  if (name.size() > app_prefix.size() && iequals(name.substr(0, app_prefix.size()), app_prefix)) {
    const auto app_name = name.substr(app_prefix.size());
    // `$.` names are the system properties' (the MQTT property bag's): not an app property's.
    if (app_name.starts_with("$.")) return std::nullopt;
    return core::property{std::string(app_name), std::string(value)};
  }
  static constexpr std::pair<std::string_view, std::string_view> system[] = {
      {"dt-subject", "$.sub"},           {"iothub-messageid", "$.mid"},
      {"iothub-correlationid", "$.cid"}, {"iothub-userid", "$.uid"},
      {"iothub-contenttype", "$.ct"},    {"iothub-contentencoding", "$.ce"},
      {"iothub-expiry", "$.exp"},        {"iothub-interface-id", "$.ifid"},
  };
  for (const auto& [header, key] : system)
    if (iequals(name, header)) return core::property{std::string(key), std::string(value)};
  return std::nullopt;
}

std::size_t size_of(const device_message& m) {
  std::size_t n = m.body.size();
  for (const auto& p : m.properties) n += p.name.size() + p.value.size();
  return n;
}

core::error too_large(std::size_t size, const char* what) {
  return core::error{core::hub_error::message_too_large,
                     std::string(what) + " of " + std::to_string(size) +
                         " bytes is larger than the limit of " +
                         std::to_string(core::limits::d2c_max_message_size) + " bytes."};
}

core::error invalid(std::string text) {
  return core::error{core::hub_error::argument_invalid, std::move(text)};
}

bool is_batch(std::string_view content_type) {
  const auto semicolon = content_type.find(';');
  auto type = content_type.substr(0, semicolon);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return iequals(type, batch_content_type);
}

core::result<std::vector<device_message>> parse_batch(const std::string& body) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_array() || doc.empty())
    return invalid("A batch must be a non-empty JSON array of {\"body\": \"<base64>\"} objects.");
  std::vector<device_message> out;
  out.reserve(doc.size());
  std::size_t total = 0;
  for (const auto& item : doc) {
    if (!item.is_object() || !item.contains("body") || !item["body"].is_string())
      return invalid("Every batch item needs a \"body\" string (base64).");
    auto bytes = core::base64_decode(item["body"].get_ref<const std::string&>());
    if (!bytes) return invalid("A batch item's body is not valid base64.");
    device_message m;
    m.body = std::move(*bytes);
    if (item.contains("properties")) {
      const auto& props = item["properties"];
      if (!props.is_object()) return invalid("A batch item's \"properties\" must be an object.");
      for (const auto& [name, value] : props.items()) {
        if (!value.is_string()) return invalid("Batch property values must be strings.");
        if (auto p = property_of(name, value.get_ref<const std::string&>()))
          m.properties.push_back(std::move(*p));
      }
    }
    const std::size_t size = size_of(m);
    if (size > core::limits::d2c_max_message_size) return too_large(size, "A batch item");
    total += size;
    if (total > core::limits::d2c_max_message_size) return too_large(total, "The batch");
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

core::result<std::vector<device_message>> parse_device_messages(const http_request& request) {
  if (is_batch(request.content_type)) return parse_batch(request.body);
  device_message m;
  m.body = request.body;
  for (const auto& [name, value] : request.message_headers)
    if (auto p = property_of(name, value)) m.properties.push_back(std::move(*p));
  const std::size_t size = size_of(m);
  if (size > core::limits::d2c_max_message_size) return too_large(size, "The message");
  std::vector<device_message> out;
  out.push_back(std::move(m));
  return out;
}

}  // namespace emu::https
