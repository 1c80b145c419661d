#include "emulator/core/fault_request.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <utility>

#include "emulator/core/ascii.hpp"

namespace emu::core {

namespace {

struct named_fault {
  std::string_view name;
  fault_kind kind;
};

// next-capabilities §7.1: the names of Azure/azure-iot-sdk-csharp FaultInjectionConstants.
constexpr std::array<named_fault, 16> fault_names{{
    {"KillTcp", fault_kind::kill_tcp},
    {"KillAmqpConnection", fault_kind::kill_amqp_connection},
    {"KillAmqpSession", fault_kind::kill_amqp_session},
    {"KillAmqpCBSLinkReq", fault_kind::kill_amqp_cbs_link_req},
    {"KillAmqpCBSLinkResp", fault_kind::kill_amqp_cbs_link_resp},
    {"KillAmqpD2CLink", fault_kind::kill_amqp_d2c_link},
    {"KillAmqpC2DLink", fault_kind::kill_amqp_c2d_link},
    {"KillAmqpTwinLinkReq", fault_kind::kill_amqp_twin_link_req},
    {"KillAmqpTwinLinkResp", fault_kind::kill_amqp_twin_link_resp},
    {"KillAmqpMethodReqLink", fault_kind::kill_amqp_method_req_link},
    {"KillAmqpMethodRespLink", fault_kind::kill_amqp_method_resp_link},
    {"ShutDownAmqp", fault_kind::shut_down_amqp},
    {"ShutDownMqtt", fault_kind::shut_down_mqtt},
    {"InvokeThrottling", fault_kind::invoke_throttling},
    {"InvokeMaxMessageQuota", fault_kind::invoke_max_message_quota},
    {"InvokeAuthError", fault_kind::invoke_auth_error},
}};

const property* find(const std::vector<property>& properties, std::string_view name) {
  for (const auto& p : properties)
    if (iequals(p.name, name)) return &p;
  return nullptr;
}

bool not_given(std::string_view v) {
  return v.empty() || v == "undefined" || v == "null";
}

/// Seconds as text ("2", "2.5", " 5 ") → a duration, capped at max_fault_time; nullopt when it
/// is not a non-negative number.
std::optional<duration> parse_seconds(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  double seconds = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(seconds) ||
      seconds < 0)
    return std::nullopt;
  const double capped_ms = std::min(seconds * 1000.0, static_cast<double>(max_fault_time.count()));
  return duration{static_cast<std::int64_t>(std::llround(capped_ms))};
}

}  // namespace

std::string_view to_string(fault_kind k) {
  for (const auto& n : fault_names)
    if (n.kind == k) return n.name;
  return "Unknown";
}

std::optional<fault_kind> parse_fault_kind(std::string_view name) {
  for (const auto& n : fault_names)
    if (iequals(n.name, name)) return n.kind;
  return std::nullopt;
}

bool is_connection_fault(fault_kind k) {
  switch (k) {
    case fault_kind::invoke_throttling:
    case fault_kind::invoke_max_message_quota:
    case fault_kind::invoke_auth_error:
      return false;
    default:
      return true;
  }
}

bool is_amqp_only(fault_kind k) {
  switch (k) {
    case fault_kind::kill_tcp:
    case fault_kind::shut_down_mqtt:
    case fault_kind::invoke_throttling:
    case fault_kind::invoke_max_message_quota:
    case fault_kind::invoke_auth_error:
      return false;
    default:
      return true;
  }
}

fault_parse parse_fault_request(const std::vector<property>& properties) {
  fault_parse out;
  const property* type = find(properties, fault_type_property);
  if (type == nullptr || not_given(type->value)) return out;
  const auto kind = parse_fault_kind(type->value);
  if (!kind) {
    out.problem = "unknown fault type '" + type->value.substr(0, 64) + "'";
    return out;
  }
  fault_request r;
  r.kind = *kind;
  if (const property* p = find(properties, fault_delay_property); p && !not_given(p->value)) {
    const auto d = parse_seconds(p->value);
    if (!d) {
      out.problem = std::string(fault_delay_property) + " is not a number of seconds: '" +
                    p->value.substr(0, 64) + "'";
      return out;
    }
    r.delay = *d;
  }
  r.length = default_fault_duration;
  if (const property* p = find(properties, fault_duration_property); p && !not_given(p->value)) {
    const auto d = parse_seconds(p->value);
    if (!d) {
      out.problem = std::string(fault_duration_property) + " is not a number of seconds: '" +
                    p->value.substr(0, 64) + "'";
      return out;
    }
    r.length = *d;
  }
  if (const property* p = find(properties, fault_reason_property); p && !not_given(p->value))
    r.reason = p->value.substr(0, 256);
  out.request = std::move(r);
  return out;
}

}  // namespace emu::core
