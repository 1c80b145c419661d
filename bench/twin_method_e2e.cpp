// twin_method_e2e: device twins and direct methods end to end through the emulator (issue 19,
// items 2 and 4: twin reads/patches per second, a direct method's round trip).
//
//   D devices (libmosquitto, MQTT 3.1.1 + TLS, SAS tokens) subscribe to `$iothub/twin/res/#`,
//   `$iothub/twin/PATCH/properties/desired/#` and `$iothub/methods/POST/#` in one SUBSCRIBE
//   (as the SDKs do) on one epoll thread, and answer every method call at once with
//   `$iothub/methods/res/200/?$rid=R`. C service threads each hold one HTTPS connection
//   (keep-alive, a `service` policy SAS token) to the REST API.
//
// Phases, per emulator mode (in memory, database file), each --seconds long:
//   twin-get        every device keeps --inflight `$iothub/twin/GET/?$rid=R` requests open;
//                   an answer `$iothub/twin/res/200` ends one (reads/s, request → answer)
//   reported-patch  the same with `$iothub/twin/PATCH/properties/reported/?$rid=R` and a small
//                   JSON patch, answered 204 after its commit (durable patches/s)
//   desired-patch   C threads PATCH /twins/{id} (desired properties) back to back, round robin
//                   over the devices; each device must receive each patch on its desired topic
//   method-max      C threads POST /twins/{id}/methods back to back: the service call → the
//                   device → its answer → the HTTP response (calls/s at saturation)
//   method-rate     the same at --method-rate calls/s in total (each thread paced): the round
//                   trip's latency percentiles at a fixed load
// Every phase counts answers that are not 200/204 as errors; the exit status is non-zero on
// any error, a desired patch a device did not receive, or a time-out.
//
// Options (defaults in brackets):
//   --emulator PATH  --devices D [100]  --inflight K [1]  --seconds S [5]  --threads C [4]
//   --method-rate R [500]  --modes memory,file [memory,file]  --work-dir DIR  --keep
//   --log-level L [info]
#include <mosquitto.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <functional>
#include <iostream>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "bench/common/device_client.hpp"
#include "bench/common/https_client.hpp"
#include "bench/common/mqtt_pool.hpp"
#include "bench/common/util.hpp"
#include "emulator/core/sas_token.hpp"

namespace {

using namespace bench;

constexpr const char* api = "?api-version=2021-04-12";

struct options {
  std::string emulator;
  int devices = 100, inflight = 1, seconds = 5, threads = 4;
  double method_rate = 500;
  std::vector<std::string> modes;
  std::string log_level = "info";
  std::filesystem::path work;
};

struct phase_result {
  std::string mode, phase;
  std::int64_t ops = 0, errors = 0;
  double seconds = 0, offered = 0;
  std::vector<double> latency_ms;
  bool timed_out = false;
};

std::uint64_t rid_of(std::string_view topic) {
  const auto at = topic.find("$rid=");
  return at == std::string_view::npos ? 0 : std::strtoull(topic.data() + at + 5, nullptr, 10);
}

/// The devices and their one thread: twin requests kept in flight during the twin phases,
/// method calls answered at once, desired patches counted.
class device_side {
 public:
  device_side(const ready_info& info, const options& o)
      : pool_("127.0.0.1", info.mqtt_port, info.ca_file), o_(o) {
    pool_.on_message = [this](int client, const mosquitto_message& m) { on_message(client, m); };
    for (int k = 0; k < o.devices; ++k) {
      auto co = device_client(info, k);
      co.subscribe_topic = "$iothub/twin/res/#";
      co.more_topics = {"$iothub/twin/PATCH/properties/desired/#", "$iothub/methods/POST/#"};
      co.qos = 0;
      pool_.add(co);
    }
    pool_.wait_ready(std::chrono::seconds(60));
    thread_ = std::thread([this] { loop(); });
  }
  ~device_side() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    pool_.disconnect_all();
  }
  device_side(const device_side&) = delete;
  device_side& operator=(const device_side&) = delete;

  /// Runs a twin phase (`get` or `patch`) for `seconds`; then waits for its open requests.
  phase_result run_twin_phase(const std::string& name, bool patch, int seconds) {
    {
      std::lock_guard<std::mutex> g(mu_);
      result_ = phase_result{};
      result_.phase = name;
      patch_ = patch;
    }
    const auto start = now_ns();
    active_ = true;
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    active_ = false;
    const auto deadline = steady::now() + std::chrono::seconds(30);
    while (open_.load() > 0 && steady::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::lock_guard<std::mutex> g(mu_);
    phase_result r = std::move(result_);
    r.timed_out = open_.load() > 0;
    r.seconds = static_cast<double>(last_answer_ns_ - start) / 1e9;
    return r;
  }
  std::int64_t desired_received() const { return desired_.load(); }
  std::int64_t methods_answered() const { return methods_.load(); }

 private:
  void loop() {
    while (!stop_) {
      pool_.poll(1);
      if (active_) top_up();
      pool_.flush();
    }
  }

  void top_up() {
    for (int c = 0; c < o_.devices; ++c) {
      auto& n = in_flight_[static_cast<std::size_t>(c)];
      while (n < o_.inflight) {
        const auto rid = next_rid_++;
        std::string topic;
        std::string body;
        if (patch_) {
          topic = "$iothub/twin/PATCH/properties/reported/?$rid=" + std::to_string(rid);
          body = R"({"counter":)" + std::to_string(rid) + R"(,"state":"running"})";
        } else {
          topic = "$iothub/twin/GET/?$rid=" + std::to_string(rid);
        }
        sent_[rid] = {c, now_ns()};
        ++n;
        open_.fetch_add(1);
        pool_.publish(c, topic, body.data(), static_cast<int>(body.size()), 0);
      }
    }
  }

  void on_message(int client, const mosquitto_message& m) {
    const std::string_view topic(m.topic);
    if (topic.starts_with("$iothub/methods/POST/")) {
      const auto at = topic.find("$rid=");
      const std::string rid(at == std::string_view::npos ? "" : topic.substr(at + 5));
      static const std::string answer = R"({"ok":true})";
      pool_.publish(client, "$iothub/methods/res/200/?$rid=" + rid, answer.data(),
                    static_cast<int>(answer.size()), 0);
      methods_.fetch_add(1);
      return;
    }
    if (topic.starts_with("$iothub/twin/PATCH/properties/desired/")) {
      desired_.fetch_add(1);
      return;
    }
    if (!topic.starts_with("$iothub/twin/res/")) return;
    const int status = std::atoi(m.topic + std::strlen("$iothub/twin/res/"));
    const auto it = sent_.find(rid_of(topic));
    if (it == sent_.end()) return;
    const auto t = now_ns();
    {
      std::lock_guard<std::mutex> g(mu_);
      ++result_.ops;
      if (status != 200 && status != 204) ++result_.errors;
      result_.latency_ms.push_back(static_cast<double>(t - it->second.second) / 1e6);
      last_answer_ns_ = t;
    }
    --in_flight_[static_cast<std::size_t>(it->second.first)];
    sent_.erase(it);
    open_.fetch_sub(1);
  }

  mqtt_pool pool_;
  const options& o_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, active_{false};
  std::atomic<std::int64_t> open_{0}, desired_{0}, methods_{0};
  // pool thread only
  std::vector<int> in_flight_ = std::vector<int>(static_cast<std::size_t>(o_.devices), 0);
  std::unordered_map<std::uint64_t, std::pair<int, std::int64_t>> sent_;
  std::uint64_t next_rid_ = 1;
  bool patch_ = false;
  // shared with the main thread
  std::mutex mu_;
  phase_result result_;
  std::int64_t last_answer_ns_ = 0;
};

/// C service threads, each with its own HTTPS connection, calling `call(client, i)` for
/// `seconds`, back to back or paced at `rate` calls/s in total.
phase_result run_service_phase(
    const ready_info& info, const options& o, const std::string& name, double rate,
    const std::function<http_response(https_client&, std::int64_t)>& call) {
  phase_result r;
  r.phase = name;
  r.offered = rate;
  std::mutex mu;
  std::atomic<std::int64_t> next{0};
  std::int64_t last = 0;
  std::string error;
  const auto start = now_ns();
  const auto end = start + static_cast<std::int64_t>(o.seconds) * 1'000'000'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      try {
        https_client http(info.https_port, info.ca_file, info.host_name);
        std::vector<double> lat;
        std::int64_t ops = 0, errors = 0, sent = 0;
        const double per_thread = rate / o.threads;
        while (true) {
          auto now = now_ns();
          if (rate > 0) {
            // Paced: this thread's k-th call is due at start + (k + t/C) / per_thread. Latency
            // counts from the due time, so a call sent late (the previous one was slow) carries
            // its wait: no coordinated omission.
            const auto due =
                start + static_cast<std::int64_t>(
                            (static_cast<double>(sent) + static_cast<double>(t) / o.threads) * 1e9 /
                            per_thread);
            if (due >= end) break;
            if (due > now) std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
            now = due;
          } else if (now >= end) {
            break;
          }
          const auto i = next.fetch_add(1);
          const auto a = call(http, i);
          const auto b = now_ns();
          ++sent;
          ++ops;
          if (a.status != 200 && a.status != 204) {
            ++errors;
            if (errors == 1) {
              std::lock_guard<std::mutex> g(mu);
              if (error.empty()) error = std::to_string(a.status) + " " + a.body.substr(0, 200);
            }
          }
          lat.push_back(static_cast<double>(b - now) / 1e6);
        }
        std::lock_guard<std::mutex> g(mu);
        r.ops += ops;
        r.errors += errors;
        r.latency_ms.insert(r.latency_ms.end(), lat.begin(), lat.end());
        last = std::max(last, now_ns());
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> g(mu);
        ++r.errors;
        if (error.empty()) error = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  r.seconds = static_cast<double>(last - start) / 1e9;
  if (!error.empty()) std::cout << "  " << name << ": first error: " << error << std::endl;
  return r;
}

std::string emulator_config(const options& o) {
  const nlohmann::json devices = device_list(o.devices);
  return nlohmann::json{{"devices", devices}}.dump(1);
}

std::vector<phase_result> run_mode(const options& o, const std::string& mode, bool& ok) {
  std::cout << "\n== emulator (" << mode << ") ==" << std::endl;
  emulator_options eo;
  eo.binary = o.emulator;
  eo.work_dir = o.work / ("emulator-" + mode);
  eo.in_memory = mode == "memory";
  eo.config_json = emulator_config(o);
  eo.log_level = o.log_level;
  auto emu = start_emulator(eo);
  const auto& info = emu.info;
  std::cout << "  started pid " << emu.process.pid() << ", mqtt " << info.mqtt_port << ", https "
            << info.https_port << (eo.in_memory ? ", in memory" : ", database file") << std::endl;
  const auto se = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count() +
                  3600;
  const std::string token =
      emu::core::make_sas_token(info.host_name, info.service_key, "service", se);

  std::vector<phase_result> out;
  {
    device_side devices(info, o);
    std::cout << "  " << o.devices << " devices connected and subscribed" << std::endl;
    out.push_back(devices.run_twin_phase("twin-get", false, o.seconds));
    out.push_back(devices.run_twin_phase("reported-patch", true, o.seconds));

    out.push_back(
        run_service_phase(info, o, "desired-patch", 0, [&](https_client& c, std::int64_t i) {
          const auto id = device_name(static_cast<int>(i % o.devices));
          return c.request("PATCH", "/twins/" + id + api, token,
                           R"({"properties":{"desired":{"setpoint":)" + std::to_string(i) + "}}}");
        }));
    const auto desired_sent = out.back().ops;
    const auto method = [&](https_client& c, std::int64_t i) {
      const auto id = device_name(static_cast<int>(i % o.devices));
      return c.request("POST", "/twins/" + id + "/methods" + api, token,
                       R"({"methodName":"ping","responseTimeoutInSeconds":30,"payload":{"i":)" +
                           std::to_string(i) + "}}");
    };
    out.push_back(run_service_phase(info, o, "method-max", 0, method));
    out.push_back(run_service_phase(info, o, "method-rate", o.method_rate, method));

    const auto deadline = steady::now() + std::chrono::seconds(10);
    while (devices.desired_received() < desired_sent && steady::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::cout << "  check: desired patches received by the devices " << devices.desired_received()
              << " of " << desired_sent << "; method calls answered " << devices.methods_answered()
              << std::endl;
    if (devices.desired_received() != desired_sent) ok = false;
  }
  for (auto& r : out) {
    r.mode = mode;
    if (r.errors > 0 || r.timed_out) ok = false;
  }
  std::cout << "  emulator RSS at the end: " << rss_kib(emu.process.pid()) / 1024 << " MiB"
            << std::endl;
  emu.process.stop();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const args a(argc, argv,
               {"--emulator", "--devices", "--inflight", "--seconds", "--threads", "--method-rate",
                "--modes", "--work-dir", "--log-level"},
               {"--keep"});
  options o;
  o.emulator = a.text("--emulator", EMU_BENCH_EMULATOR);
  o.devices = static_cast<int>(std::clamp<long long>(a.number("--devices", 100), 1, 5000));
  o.inflight = static_cast<int>(std::clamp<long long>(a.number("--inflight", 1), 1, 100));
  o.seconds = static_cast<int>(std::clamp<long long>(a.number("--seconds", 5), 1, 600));
  o.threads = static_cast<int>(std::clamp<long long>(a.number("--threads", 4), 1, 64));
  o.method_rate = a.real("--method-rate", 500);
  o.log_level = a.text("--log-level", "info");
  std::string modes = a.text("--modes", "memory,file");
  for (std::size_t at = 0; at <= modes.size();) {
    const auto comma = modes.find(',', at);
    o.modes.push_back(
        modes.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  const bool keep = a.flag("--keep");
  o.work = a.text("--work-dir", "").empty() ? make_temp_dir("twins")
                                            : std::filesystem::path(a.text("--work-dir", ""));
  mosquitto_library lib;
  std::cout << "twin_method_e2e on " << machine_line() << "\n  " << o.devices << " MQTT devices ("
            << o.inflight << " twin request(s) in flight each), " << o.threads
            << " HTTPS service connections, " << o.seconds << " s per phase, method rate "
            << fmt(o.method_rate) << "/s; load average " << load_average() << std::endl;
  const auto disk = probe_fdatasync(o.work);

  bool ok = true;
  std::vector<phase_result> results;
  for (const auto& m : o.modes) {
    auto r = run_mode(o, m, ok);
    results.insert(results.end(), r.begin(), r.end());
  }

  std::cout << "\nTwins and methods (ops/s over the phase; latency = request sent -> its answer, "
               "ms)\n";
  table t({"mode", "phase", "ops", "offered/s", "ops/s", "p50", "p99", "p99.9", "max", "errors"});
  for (auto& r : results) {
    const double ops_s = r.seconds > 0 ? static_cast<double>(r.ops) / r.seconds : 0;
    auto& v = r.latency_ms;
    const double mx = v.empty() ? 0 : *std::max_element(v.begin(), v.end());
    t.add({r.mode, r.phase + (r.timed_out ? " (TIMEOUT)" : ""), std::to_string(r.ops),
           r.offered > 0 ? fmt(r.offered) : "max", fmt(ops_s), fmt(quantile(v, 0.5), 2),
           fmt(quantile(v, 0.99), 2), fmt(quantile(v, 0.999), 2), fmt(mx, 2),
           std::to_string(r.errors)});
  }
  t.print();
  std::cout << "\nfdatasync on this disk (start of run): p50 " << fmt(disk.p50_us) << " us, p99 "
            << fmt(disk.p99_us) << " us; load average at the end " << load_average() << std::endl;
  if (!keep) std::filesystem::remove_all(o.work);
  std::cout << "SUMMARY twin_method_e2e: " << (ok ? "all answered" : "ERRORS (see above)")
            << std::endl;
  return ok ? 0 : 1;
}
