#include "emulator/https/method_json.hpp"

#include <chrono>
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "emulator/https/error_response.hpp"

namespace emu::https {

using json = nlohmann::json;

namespace {

core::error invalid(const std::string& what) {
  return core::error{core::hub_error::argument_invalid, what};
}

/// A whole number of seconds in [lo, hi], or the default when absent or null.
core::result<core::duration> seconds_field(const json& doc, const char* name, int fallback, int lo,
                                           int hi) {
  const auto it = doc.find(name);
  if (it == doc.end() || it->is_null()) return core::duration{std::chrono::seconds{fallback}};
  if (!it->is_number() || !std::isfinite(it->get<double>()))
    return invalid(std::string(name) + " must be a number of seconds.");
  const double v = it->get<double>();
  if (v < lo || v > hi)
    return invalid(std::string(name) + " must be between " + std::to_string(lo) + " and " +
                   std::to_string(hi) + " seconds.");
  return core::duration{std::chrono::milliseconds{std::llround(v * 1000)}};
}

}  // namespace

core::result<core::method_call> parse_method_invocation(std::string_view body) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return invalid("The body must be a JSON object.");
  const auto name = doc.find("methodName");
  if (name == doc.end() || !name->is_string() || name->get_ref<const std::string&>().empty())
    return invalid("methodName must be a non-empty string.");
  core::method_call call;
  call.name = name->get<std::string>();
  if (call.name.size() > 1024) return invalid("methodName is longer than 1024 characters.");
  const auto response = seconds_field(doc, "responseTimeoutInSeconds", 30, 5, 300);
  if (!response) return response.error();
  const auto connect = seconds_field(doc, "connectTimeoutInSeconds", 0, 0, 300);
  if (!connect) return connect.error();
  call.response_timeout = *response;
  call.connect_timeout = *connect;
  const auto payload = doc.find("payload");
  call.payload = payload == doc.end() ? "null" : payload->dump();
  if (call.payload.size() > core::method_limits::max_payload_bytes)
    return core::error{core::hub_error::message_too_large,
                       "The method payload is larger than 128 KB."};
  return call;
}

http_response method_result_response(const core::event::method_result& r) {
  // The old error form (`ErrorCode:DeviceNotOnline;…` with the `iothub-errorcode` header):
  // the SDKs map by HTTP status alone (next-capabilities §3.1).
  if (r.failure) return error_response(*r.failure);
  json payload = json::parse(r.payload, nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded()) payload = r.payload;  // not JSON: passed on as text
  return json_response(json{{"status", r.status}, {"payload", std::move(payload)}});
}

}  // namespace emu::https
