#include "emulator/metrics/hub_metrics.hpp"

#include <array>
#include <string_view>
#include <utility>

#include "emulator/metrics/exposition.hpp"

namespace emu::metrics {

namespace {

template <std::size_t N>
void write_histogram(exposition& out, std::string_view name, const executor::histogram<N>& h) {
  out.histogram(name, {}, std::vector<double>(h.bounds.begin(), h.bounds.end()),
                std::vector<std::uint64_t>(h.counts.begin(), h.counts.end()), h.count, h.sum);
}

void write_fronts(exposition& out, const std::vector<front_metrics>& fronts) {
  out.family("iothub_connections", "gauge", "Open connections, by front (listening port).");
  for (const auto& f : fronts)
    out.sample("iothub_connections", {{"front", f.front}},
               static_cast<std::uint64_t>(f.numbers.open));
  out.family("iothub_connections_accepted_total", "counter",
             "Connections accepted since start, by front.");
  for (const auto& f : fronts)
    out.sample("iothub_connections_accepted_total", {{"front", f.front}}, f.numbers.accepted);
  out.family("iothub_connections_refused_total", "counter",
             "Connections refused since start, by front and reason (over the limit, TLS "
             "handshake, MQTT CONNACK code, SASL, CBS token, client certificate).");
  for (const auto& f : fronts)
    for (const auto& [reason, n] : f.numbers.refused)
      out.sample("iothub_connections_refused_total", {{"front", f.front}, {"reason", reason}}, n);
}

void write_c2d(exposition& out, const core::hub_statistics& s) {
  out.family("iothub_c2d_messages", "gauge",
             "Cloud-to-device messages in the queues now, by state (spec 1.1).");
  out.sample("iothub_c2d_messages", {{"state", "enqueued"}},
             static_cast<std::uint64_t>(s.c2d_enqueued));
  out.sample("iothub_c2d_messages", {{"state", "invisible"}},
             static_cast<std::uint64_t>(s.c2d_invisible));
  out.family("iothub_c2d_sent_total", "counter",
             "Cloud-to-device messages admitted to a device queue since start.");
  out.sample("iothub_c2d_sent_total", s.c2d.sent);
  out.family("iothub_c2d_deliveries_total", "counter",
             "Deliveries of cloud-to-device messages to devices (locks) since start.");
  out.sample("iothub_c2d_deliveries_total", s.c2d.delivered);
  out.family("iothub_c2d_abandoned_total", "counter",
             "Cloud-to-device deliveries abandoned by devices since start.");
  out.sample("iothub_c2d_abandoned_total", s.c2d.abandoned);
  out.family("iothub_c2d_ended_total", "counter",
             "Cloud-to-device messages that left the queue since start, by outcome (the "
             "feedback status: completed, expired, delivery_count_exceeded, rejected, purged).");
  static constexpr std::array<std::pair<core::feedback_status, std::string_view>, 5> outcomes{{
      {core::feedback_status::success, "completed"},
      {core::feedback_status::expired, "expired"},
      {core::feedback_status::delivery_count_exceeded, "delivery_count_exceeded"},
      {core::feedback_status::rejected, "rejected"},
      {core::feedback_status::purged, "purged"},
  }};
  for (const auto& [status, name] : outcomes)
    out.sample("iothub_c2d_ended_total", {{"outcome", std::string(name)}}, s.c2d.ended_as(status));
}

void write_feedback(exposition& out, const core::hub_statistics& s) {
  out.family("iothub_feedback_records_total", "counter",
             "Feedback records written since start (messages that asked for feedback).");
  out.sample("iothub_feedback_records_total", s.feedback.records);
  out.family("iothub_feedback_batches_total", "counter",
             "Feedback batches cut since start (spec 2.3).");
  out.sample("iothub_feedback_batches_total", s.feedback.batches);
  out.family("iothub_feedback_batches_completed_total", "counter",
             "Feedback batches accepted by a back-end since start.");
  out.sample("iothub_feedback_batches_completed_total", s.feedback.batches_completed);
  out.family("iothub_feedback_pending_records", "gauge",
             "Feedback records not yet cut into a batch.");
  out.sample("iothub_feedback_pending_records",
             static_cast<std::uint64_t>(s.feedback_pending_records));
  out.family("iothub_feedback_waiting_batches", "gauge",
             "Feedback batches waiting for a back-end to accept them.");
  out.sample("iothub_feedback_waiting_batches",
             static_cast<std::uint64_t>(s.feedback_waiting_batches));
}

void write_telemetry(exposition& out, const core::hub_statistics& s) {
  out.family("iothub_telemetry_appended_total", "counter",
             "Device-to-cloud events ever appended, by partition (its next sequence number; "
             "kept across restarts).");
  for (const auto& p : s.partitions)
    out.sample("iothub_telemetry_appended_total", {{"partition", std::to_string(p.partition)}},
               p.appended);
  out.family("iothub_telemetry_read_total", "counter",
             "Device-to-cloud events handed to Event Hubs readers since start, by partition.");
  for (const auto& p : s.partitions)
    out.sample("iothub_telemetry_read_total", {{"partition", std::to_string(p.partition)}}, p.read);
  out.family("iothub_telemetry_retained", "gauge",
             "Device-to-cloud events the partition holds now (retention trims the oldest).");
  for (const auto& p : s.partitions)
    out.sample("iothub_telemetry_retained", {{"partition", std::to_string(p.partition)}},
               p.retained);
}

}  // namespace

std::string render_metrics(const metrics_input& in) {
  exposition out;
  write_fronts(out, in.fronts);
  const auto& s = in.hub;
  out.family("iothub_devices", "gauge", "Device identities in the registry.");
  out.sample("iothub_devices", static_cast<std::uint64_t>(s.devices));
  out.family("iothub_modules", "gauge", "Module identities in the registry.");
  out.sample("iothub_modules", static_cast<std::uint64_t>(s.modules));
  out.family("iothub_connected_identities", "gauge",
             "Devices and modules connected now (any transport).");
  out.sample("iothub_connected_identities", static_cast<std::uint64_t>(s.connected_identities));
  write_c2d(out, s);
  write_feedback(out, s);
  write_telemetry(out, s);
  out.family("iothub_commit_duration_seconds", "histogram",
             "Time of one group commit (the SQLite transaction of a hub round, fsync "
             "included).");
  write_histogram(out, "iothub_commit_duration_seconds", in.commits.latency);
  out.family("iothub_commit_group_size", "histogram", "Requests answered by one group commit.");
  write_histogram(out, "iothub_commit_group_size", in.commits.group_size);
  out.family("iothub_commit_failures_total", "counter",
             "Commits that failed since start (the round was rolled back).");
  out.sample("iothub_commit_failures_total", in.commits.failed);
  out.family("iothub_throttled_total", "counter",
             "Operations refused by a throttle of the tier since start (--throttling).");
  out.sample("iothub_throttled_total", s.throttled);
  out.family("iothub_quota_refused_total", "counter",
             "Messages refused by the daily quota since start (--throttling).");
  out.sample("iothub_quota_refused_total", s.quota_refused);
  out.family("iothub_device_connects_refused_total", "counter",
             "Connects refused because one identity connected too often (deviceConnectRate).");
  out.sample("iothub_device_connects_refused_total", s.connects_refused);
  return out.text();
}

}  // namespace emu::metrics
