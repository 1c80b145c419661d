// The Prometheus text exposition (emulator/metrics): format rules and the emulator's families.
#include <doctest/doctest.h>

#include <string>

#include "emulator/metrics/exposition.hpp"
#include "emulator/metrics/hub_metrics.hpp"

using namespace emu::metrics;

TEST_CASE("values: integers without a fraction, +Inf, NaN, fractions in full") {
  CHECK(format_value(3) == "3");
  CHECK(format_value(0) == "0");
  CHECK(format_value(0.0005) == "0.0005");
  CHECK(format_value(2.5) == "2.5");
  CHECK(format_value(1.0 / 0.0) == "+Inf");
  CHECK(format_value(0.0 / 0.0) == "NaN");
}

TEST_CASE("label values escape backslash, double quote and line feed") {
  CHECK(escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  exposition out;
  out.family("x_total", "counter", "Help with \\ and\nnewline.");
  out.sample("x_total", {{"reason", "say \"no\""}}, std::uint64_t{2});
  CHECK(out.text() ==
        "# HELP x_total Help with \\\\ and\\nnewline.\n# TYPE x_total counter\n"
        "x_total{reason=\"say \\\"no\\\"\"} 2\n");
}

TEST_CASE("a histogram's buckets are cumulative and end with +Inf = count") {
  exposition out;
  out.histogram("h", {}, {1, 2, 4}, {1, 0, 2}, 5, 12.5);
  CHECK(out.text() ==
        "h_bucket{le=\"1\"} 1\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"4\"} 3\n"
        "h_bucket{le=\"+Inf\"} 5\nh_sum 12.5\nh_count 5\n");
}

TEST_CASE("render_metrics: fronts, C2D outcomes, partitions and commits") {
  metrics_input in;
  in.fronts.push_back({"mqtt", {3, 10, {{"not_authorized", 2}}}});
  in.hub.devices = 4;
  in.hub.c2d_enqueued = 5;
  in.hub.c2d.sent = 9;
  in.hub.c2d.ended[static_cast<std::size_t>(emu::core::feedback_status::rejected)] = 1;
  in.hub.partitions.push_back({0, 7, 6, 7});
  in.hub.partitions.push_back({1, 0, 0, 0});
  in.commits.latency.observe(0.003);
  in.commits.group_size.observe(3);
  const std::string text = render_metrics(in);
  CHECK(text.find("iothub_connections{front=\"mqtt\"} 3\n") != std::string::npos);
  CHECK(text.find("iothub_connections_accepted_total{front=\"mqtt\"} 10\n") != std::string::npos);
  CHECK(
      text.find("iothub_connections_refused_total{front=\"mqtt\",reason=\"not_authorized\"} 2\n") !=
      std::string::npos);
  CHECK(text.find("iothub_devices 4\n") != std::string::npos);
  CHECK(text.find("iothub_c2d_messages{state=\"enqueued\"} 5\n") != std::string::npos);
  CHECK(text.find("iothub_c2d_sent_total 9\n") != std::string::npos);
  CHECK(text.find("iothub_c2d_ended_total{outcome=\"rejected\"} 1\n") != std::string::npos);
  CHECK(text.find("iothub_c2d_ended_total{outcome=\"completed\"} 0\n") != std::string::npos);
  CHECK(text.find("iothub_telemetry_appended_total{partition=\"0\"} 7\n") != std::string::npos);
  CHECK(text.find("iothub_telemetry_read_total{partition=\"0\"} 6\n") != std::string::npos);
  CHECK(text.find("iothub_commit_duration_seconds_bucket{le=\"0.0025\"} 0\n") != std::string::npos);
  CHECK(text.find("iothub_commit_duration_seconds_bucket{le=\"0.005\"} 1\n") != std::string::npos);
  CHECK(text.find("iothub_commit_group_size_bucket{le=\"4\"} 1\n") != std::string::npos);
  // Each family is described once.
  CHECK(text.find("# TYPE iothub_c2d_ended_total counter") ==
        text.rfind("# TYPE iothub_c2d_ended_total counter"));
}
