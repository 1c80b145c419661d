#pragma once
/// Shared helpers of the benchmark programs: starting and stopping processes (the emulator,
/// a Mosquitto broker), the ready file, /proc readings (RSS, CPU), percentiles, a tiny
/// command-line reader and table printing. Benchmark code only: never linked into the emulator.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace bench {

using steady = std::chrono::steady_clock;

/// The steady clock in nanoseconds (CLOCK_MONOTONIC: one clock for every process here).
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
      .count();
}

// ---- the benchmark's devices ----------------------------------------------------------------
/// Every benchmark device's key (public: a benchmark secret).
inline constexpr const char* device_key = "QmVuY2htYXJrRGV2aWNlS2V5MDEyMzQ1Njc4OWFiY2Q=";
/// "bench-dev-0042".
std::string device_name(int k);
/// The emulator config's "devices" array: `n` enabled devices named device_name(0..n-1).
nlohmann::json device_list(int n);

/// Microseconds between two steady-clock points.
inline double us_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

// ---- command line ------------------------------------------------------------------------

/// `--name value` and `--flag` options; unknown names are an error (exit 2).
class args {
 public:
  args(int argc, char** argv, std::vector<std::string> known_values,
       std::vector<std::string> known_flags);
  std::string text(const std::string& name, const std::string& fallback) const;
  long long number(const std::string& name, long long fallback) const;
  double real(const std::string& name, double fallback) const;
  bool flag(const std::string& name) const;

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> flags_;
};

// ---- processes -----------------------------------------------------------------------------

/// A child process started with fork/exec; stdout/stderr go to `log_file`. The destructor
/// stops it (SIGTERM, then SIGKILL after a grace period) if it is still running.
class child_process {
 public:
  child_process() = default;
  child_process(const std::vector<std::string>& argv, const std::filesystem::path& log_file);
  ~child_process();
  child_process(child_process&& o) noexcept;
  child_process& operator=(child_process&& o) noexcept;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  /// SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status (or -signal).
  int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(10'000));
  /// The moment exec was requested (just before fork).
  steady::time_point started_at() const { return started_; }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  steady::time_point started_;
};

/// What the emulator's ready file says.
struct ready_info {
  std::uint16_t mqtt_port = 0;
  std::uint16_t amqp_port = 0;
  std::uint16_t https_port = 0;
  std::string ca_file;
  std::string host_name;
  std::string service_connection_string;
  std::string service_key;  // SharedAccessKey of the `service` policy
  std::map<std::string, std::string> device_keys;
};

/// Waits (inotify, no polling) until `file` exists, or `timeout` passes or `child` exits.
/// Returns the moment the file appeared.
std::optional<steady::time_point> wait_for_file(const std::filesystem::path& file,
                                                child_process& child,
                                                std::chrono::milliseconds timeout);
ready_info read_ready_file(const std::filesystem::path& file);

/// Options for starting the emulator under test.
struct emulator_options {
  std::string binary;              // path to iothub-emulator
  std::filesystem::path work_dir;  // ready file, log, config, data dir go here
  bool in_memory = true;           // --in-memory, else a database file in work_dir/data
  std::string config_json;         // written to work_dir/config.json when not empty
  std::string log_level = "info";
  std::vector<std::string> prefix;  // e.g. {"valgrind", "--tool=callgrind", ...}
  std::vector<std::string> extra;   // more flags
  /// A database file (bench/seed_db) copied to the data directory before the start (file mode).
  std::filesystem::path seed_db;
  std::chrono::milliseconds ready_timeout{60'000};
};

struct running_emulator {
  child_process process;
  ready_info info;
  steady::time_point ready_at;
};

/// Starts the emulator on ephemeral loopback ports and waits for its ready file. Throws on
/// failure (with the tail of its log).
running_emulator start_emulator(const emulator_options& o);

/// The Mosquitto reference broker: writes `dir`/mosquitto.conf (persistence off, raised queue
/// limits so that it drops nothing, `max_inflight` in-flight messages, listening on
/// 127.0.0.1:`port`, TLS with `cert_dir`/server.crt and .key unless `cert_dir` is empty), starts
/// `binary` with it (log in `dir`/mosquitto.log) and waits until the port accepts connections
/// (it writes no ready file). Throws if it does not come up.
child_process start_mosquitto(const std::string& binary, const std::filesystem::path& dir,
                              std::uint16_t port, const std::filesystem::path& cert_dir,
                              int max_inflight, std::string_view generated_by);

// ---- /proc ---------------------------------------------------------------------------------

/// VmRSS of `pid` in KiB (0 if unknown).
long rss_kib(pid_t pid);
/// utime + stime of `pid` in clock ticks.
long long cpu_ticks(pid_t pid);
long clock_ticks_per_second();

/// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
long raise_fd_limit();

// ---- statistics and output ---------------------------------------------------------------

/// The q-quantile (0..1) of `v` (sorted in place), nearest-rank. 0 for an empty vector.
double quantile(std::vector<double>& v, double q);
double median(std::vector<double> v);

/// A plain-text table: add rows of cells, print aligned.
class table {
 public:
  explicit table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string fmt(double v, int decimals = 0);
/// "1.23x" or "n/a".
std::string ratio(double a, double b);

/// The machine: `nproc`, CPU model and kernel, one line.
std::string machine_line();

/// /proc/loadavg's first three fields ("1.02 0.80 0.55"): how busy the machine was.
std::string load_average();

/// fdatasync latency of a 4 KiB append in `dir` (the disk the databases live on), `n` times.
struct fsync_probe {
  double p50_us = 0, p99_us = 0;
};
fsync_probe probe_fdatasync(const std::filesystem::path& dir, int n = 300);

/// A free TCP port on 127.0.0.1 (bind to 0, read, close).
std::uint16_t free_loopback_port();

/// A fresh directory under $TMPDIR (or /tmp): iothub-bench-<name>-XXXXXX.
std::filesystem::path make_temp_dir(const std::string& name);

}  // namespace bench
