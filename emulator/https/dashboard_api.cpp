#include "emulator/https/dashboard_api.hpp"

#include <algorithm>
#include <utility>

#include "emulator/core/hub.hpp"
#include "emulator/https/error_response.hpp"
#include "emulator/https/test_control_api.hpp"
#include "emulator/https/twin_json.hpp"

namespace emu::https {

namespace {

using json = nlohmann::json;

json time_or_null(core::time_point t) {
  return t == core::time_point{} ? json(nullptr) : json(core::to_iso8601(t));
}

/// The newest `n` of `v`, oldest first.
template <typename T>
std::vector<T> newest(std::vector<T> v, std::size_t n) {
  if (v.size() > n) v.erase(v.begin(), v.end() - static_cast<std::ptrdiff_t>(n));
  return v;
}

json statistics_json(const core::hub_statistics& s) {
  json partitions = json::array();
  std::uint64_t appended = 0;
  for (const auto& p : s.partitions) {
    appended += p.appended;
    partitions.push_back(
        {{"partition", p.partition}, {"appended", p.appended}, {"retained", p.retained}});
  }
  return json{{"devices", s.devices},
              {"modules", s.modules},
              {"connected", s.connected_identities},
              {"c2dEnqueued", s.c2d_enqueued},
              {"c2dInvisible", s.c2d_invisible},
              {"c2dSent", s.c2d.sent},
              {"c2dDelivered", s.c2d.delivered},
              {"c2dCompleted", s.c2d.ended_as(core::feedback_status::success)},
              {"c2dRejected", s.c2d.ended_as(core::feedback_status::rejected)},
              {"c2dExpired", s.c2d.ended_as(core::feedback_status::expired)},
              {"feedbackRecords", s.feedback.records},
              {"feedbackBatches", s.feedback.batches},
              {"telemetryAppended", appended},
              {"partitions", partitions}};
}

}  // namespace

hub_call dashboard_call(std::string device, std::string token, bool trusted) {
  return [device = std::move(device), token = std::move(token), trusted](
             core::hub& hub, core::time_point now) -> hub_answer {
    if (!trusted) {
      auto grant = hub.authenticate_service(token, core::permission::registry_read, now);
      if (!grant) return grant.error();
    }
    auto v = std::make_shared<dashboard_view>();
    v->now = now;
    v->statistics = hub.statistics();
    auto devices = hub.list_devices();
    v->device_count = devices.size();
    if (devices.size() > dashboard_limits::devices) devices.resize(dashboard_limits::devices);
    v->devices.reserve(devices.size());
    for (auto& d : devices) {
      const int queued = hub.queued_count(d.id);
      auto presence = hub.presence(d.id);
      v->devices.push_back({std::move(d), queued, std::move(presence)});
    }
    if (!device.empty()) {
      if (const auto* d = hub.find_device(device)) {
        if (auto twin = hub.twin(device)) {
          v->selected = twin_history_view{
              twin_view{std::move(*twin), *d, hub.queued_count(device), hub.presence(device)},
              newest(hub.twin_history(device), dashboard_limits::twin_history)};
        }
        v->queue = hub.queue_of(device);
      }
    }
    v->feedback_pending = newest(hub.pending_feedback(), dashboard_limits::feedback_records);
    v->feedback_batches = newest(hub.feedback_batches(), dashboard_limits::feedback_batches);
    v->telemetry = hub.telemetry_tail(dashboard_limits::telemetry);
    return std::shared_ptr<const dashboard_view>(std::move(v));
  };
}

std::variant<http_response, hub_call> prepare_dashboard_send(const std::string& device,
                                                             const http_request& request,
                                                             bool trusted) {
  if (!trusted && request.authorization.empty())
    return error_response(401, "IotHubUnauthorizedAccess",
                          "The request has no Authorization header (SharedAccessSignature).");
  auto parsed = parse_admin_message(request.body, device);
  if (!parsed) return error_response(parsed.error());
  return hub_call{[id = device, m = std::move(*parsed), token = request.authorization, trusted](
                      core::hub& hub, core::time_point now) mutable -> hub_answer {
    if (!trusted) {
      // Sending C2D is a service-endpoint operation (spec §5.3: ServiceConnect).
      auto grant = hub.authenticate_service(token, core::permission::service_connect, now);
      if (!grant) return grant.error();
    }
    if (m.ttl) m.content.absolute_expiry = now + *m.ttl;
    const auto seq = hub.enqueue(id, std::move(m.content), now);
    if (!seq) return seq.error();
    return enqueued{*seq};
  }};
}

json dashboard_json(const dashboard_view& v, const dashboard_site* site,
                    const std::vector<activity_line>& activity, bool trusted) {
  json hub = json::object();
  hub["nowUtc"] = core::to_iso8601(v.now);
  if (site != nullptr) {
    hub["hubName"] = site->hub_name;
    hub["hostName"] = site->host_name;
    hub["ports"] = site->ports;
    hub["caDownload"] = site->ca_pem.empty() ? json(nullptr) : json("/dashboard/ca.pem");
  }
  json out;
  out["hub"] = std::move(hub);
  if (trusted) {
    json cs = json::object();
    if (site != nullptr) cs = site->policy_connection_strings;
    json devices = json::object();
    const std::string host = site != nullptr ? site->host_name : "localhost";
    for (const auto& d : v.devices)
      if (d.device.authentication == core::auth_type::sas && !d.device.primary_key.empty())
        devices[d.device.id] = "HostName=" + host + ";DeviceId=" + d.device.id +
                               ";SharedAccessKey=" + d.device.primary_key;
    cs["devices"] = std::move(devices);
    out["connectionStrings"] = std::move(cs);
  }
  out["statistics"] = statistics_json(v.statistics);
  json devices = json::array();
  for (const auto& d : v.devices)
    devices.push_back(
        {{"deviceId", d.device.id},
         {"status", std::string(core::to_string(d.device.status))},
         {"authentication", std::string(core::to_string(d.device.authentication))},
         {"connected", d.presence.connected},
         {"transport", d.presence.transport.empty() ? json(nullptr) : json(d.presence.transport)},
         {"lastActivityTime", time_or_null(d.presence.last_activity)},
         {"connectionStateUpdatedTime", time_or_null(d.presence.state_updated)},
         {"queued", d.queued}});
  out["devices"] = std::move(devices);
  out["deviceCount"] = v.device_count;
  if (v.selected) {
    const auto& t = v.selected->view;
    json queue = json::array();
    for (const auto& m : v.queue) queue.push_back(message_json(m));
    json history = json::array();
    for (const auto& c : v.selected->history)
      history.push_back({{"version", c.version},
                         {"part", c.part},
                         {"by", c.by},
                         {"patch", c.patch},
                         {"at", core::to_iso8601(c.at)}});
    out["selected"] = {{"deviceId", t.device.id},
                       {"queue", std::move(queue)},
                       {"twin", twin_json(t.twin, t.device, t.queued, t.presence)},
                       {"twinHistory", std::move(history)}};
  } else {
    out["selected"] = nullptr;
  }
  json pending = json::array();
  for (const auto& r : v.feedback_pending) pending.push_back(feedback_record_json(r));
  json batches = json::array();
  for (const auto& b : v.feedback_batches) batches.push_back(feedback_batch_json(b));
  out["feedback"] = {{"pending", std::move(pending)}, {"batches", std::move(batches)}};
  json telemetry = json::array();
  for (const auto& e : v.telemetry) telemetry.push_back(telemetry_json(*e));
  out["telemetry"] = std::move(telemetry);
  json lines = json::array();
  for (const auto& a : activity)
    lines.push_back({{"seq", a.seq},
                     {"at", core::to_iso8601(a.at)},
                     {"kind", a.kind},
                     {"deviceId", a.device_id.empty() ? json(nullptr) : json(a.device_id)},
                     {"text", a.text}});
  out["activity"] = std::move(lines);
  return out;
}

}  // namespace emu::https
