#include "bench/common/util.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

namespace bench {

std::string device_name(int k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "bench-dev-%04d", k);
  return buf;
}

nlohmann::json device_list(int n) {
  nlohmann::json devices = nlohmann::json::array();
  for (int k = 0; k < n; ++k)
    devices.push_back({{"deviceId", device_name(k)},
                       {"primaryKey", device_key},
                       {"secondaryKey", device_key},
                       {"status", "enabled"}});
  return devices;
}

// ---- args ----------------------------------------------------------------------------------

args::args(int argc, char** argv, std::vector<std::string> known_values,
           std::vector<std::string> known_flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << "options:";
      for (const auto& k : known_values) std::cout << " " << k << " V";
      for (const auto& k : known_flags) std::cout << " " << k;
      std::cout << "\n(see the comment at the top of the source for what they mean)\n";
      std::exit(0);
    }
    if (std::find(known_flags.begin(), known_flags.end(), a) != known_flags.end()) {
      flags_.push_back(a);
    } else if (std::find(known_values.begin(), known_values.end(), a) != known_values.end()) {
      if (i + 1 >= argc) {
        std::cerr << "missing value for " << a << "\n";
        std::exit(2);
      }
      values_[a] = argv[++i];
    } else {
      std::cerr << "unknown option " << a << " (try --help)\n";
      std::exit(2);
    }
  }
}

std::string args::text(const std::string& name, const std::string& fallback) const {
  const auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

long long args::number(const std::string& name, long long fallback) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    std::cerr << name << ": not a number: " << it->second << "\n";
    std::exit(2);
  }
}

double args::real(const std::string& name, double fallback) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  try {
    return std::stod(it->second);
  } catch (const std::exception&) {
    std::cerr << name << ": not a number: " << it->second << "\n";
    std::exit(2);
  }
}

bool args::flag(const std::string& name) const {
  return std::find(flags_.begin(), flags_.end(), name) != flags_.end();
}

// ---- child_process ---------------------------------------------------------------------------

child_process::child_process(const std::vector<std::string>& argv,
                             const std::filesystem::path& log_file) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot open " + log_file.string());
  started_ = steady::now();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(log_fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid_ == 0) {
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::execvp(cargv[0], cargv.data());
    std::fprintf(stderr, "exec %s: %s\n", cargv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(log_fd);
}

child_process::~child_process() {
  if (pid_ > 0) stop();
}

child_process::child_process(child_process&& o) noexcept
    : pid_(o.pid_), status_(o.status_), started_(o.started_) {
  o.pid_ = -1;
}

child_process& child_process::operator=(child_process&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0) stop();
    pid_ = o.pid_;
    status_ = o.status_;
    started_ = o.started_;
    o.pid_ = -1;
  }
  return *this;
}

bool child_process::running() {
  if (pid_ <= 0) return false;
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    pid_ = -1;
    return false;
  }
  return true;
}

int child_process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return status_;
  ::kill(pid_, SIGTERM);
  const auto deadline = steady::now() + grace;
  while (steady::now() < deadline) {
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
      pid_ = -1;
      return status_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  status_ = -SIGKILL;
  pid_ = -1;
  return status_;
}

// ---- ready file ------------------------------------------------------------------------------

std::optional<steady::time_point> wait_for_file(const std::filesystem::path& file,
                                                child_process& child,
                                                std::chrono::milliseconds timeout) {
  const int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) throw std::runtime_error("inotify_init1 failed");
  const auto dir = file.parent_path();
  ::inotify_add_watch(fd, dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE);
  const auto deadline = steady::now() + timeout;
  std::optional<steady::time_point> result;
  for (;;) {
    if (std::filesystem::exists(file)) {
      result = steady::now();
      break;
    }
    if (!child.running() || steady::now() >= deadline) break;
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 50);  // the 50 ms only bounds how late a dead child is noticed
    char buf[4096];
    while (::read(fd, buf, sizeof buf) > 0) {
    }
  }
  ::close(fd);
  return result;
}

namespace {

std::string cs_field(const std::string& cs, const std::string& key) {
  const std::string k = key + "=";
  std::size_t pos = 0;
  while (pos < cs.size()) {
    const auto end = cs.find(';', pos);
    const auto part = cs.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (part.rfind(k, 0) == 0) return part.substr(k.size());
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return "";
}

std::string tail_of(const std::filesystem::path& file, std::size_t bytes = 2000) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace

ready_info read_ready_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  const auto j = nlohmann::json::parse(in);
  ready_info r;
  r.host_name = j.at("hostName").get<std::string>();
  const auto& ports = j.at("ports");
  r.mqtt_port = ports.at("mqtt").get<std::uint16_t>();
  r.amqp_port = ports.at("amqp").get<std::uint16_t>();
  if (ports.contains("https")) r.https_port = ports.at("https").get<std::uint16_t>();
  r.ca_file = j.at("caCertificate").get<std::string>();
  const auto& cs = j.at("connectionStrings");
  r.service_connection_string = cs.at("service").get<std::string>();
  r.service_key = cs_field(r.service_connection_string, "SharedAccessKey");
  for (const auto& [id, s] : cs.at("devices").items())
    r.device_keys[id] = cs_field(s.get<std::string>(), "SharedAccessKey");
  return r;
}

running_emulator start_emulator(const emulator_options& o) {
  std::filesystem::create_directories(o.work_dir);
  const auto ready = o.work_dir / "ready.json";
  std::filesystem::remove(ready);
  if (!o.seed_db.empty() && !o.in_memory) {
    std::filesystem::create_directories(o.work_dir / "data");
    std::filesystem::copy_file(o.seed_db, o.work_dir / "data" / "iothub.db",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::remove(o.work_dir / "data" / "iothub.db-wal");
    // On disk before the start: otherwise the emulator's first checkpoint pays for flushing
    // the whole copy (a 190 ms stall with a 1M-message backlog), which a real backlog, written
    // long before, never does.
    const int fd = ::open((o.work_dir / "data" / "iothub.db").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) throw std::runtime_error("cannot sync the seeded database");
    ::close(fd);
  }
  std::vector<std::string> argv = o.prefix;
  argv.insert(argv.end(), {o.binary, "--bind", "127.0.0.1", "--mqtt-port", "0", "--amqp-port", "0",
                           "--https-port", "0", "--data-dir", (o.work_dir / "data").string(),
                           "--ready-file", ready.string(), "--log-level", o.log_level});
  if (o.in_memory) argv.push_back("--in-memory");
  if (!o.config_json.empty()) {
    const auto cfg = o.work_dir / "config.json";
    std::ofstream(cfg) << o.config_json;
    argv.insert(argv.end(), {"--config", cfg.string()});
  }
  argv.insert(argv.end(), o.extra.begin(), o.extra.end());
  running_emulator r;
  const auto log = o.work_dir / "emulator.log";
  r.process = child_process(argv, log);
  const auto at = wait_for_file(ready, r.process, o.ready_timeout);
  if (!at) {
    r.process.stop();
    throw std::runtime_error("the emulator did not become ready; its log ends with:\n" +
                             tail_of(log));
  }
  r.ready_at = *at;
  r.info = read_ready_file(ready);
  return r;
}

// ---- /proc -----------------------------------------------------------------------------------

child_process start_mosquitto(const std::string& binary, const std::filesystem::path& dir,
                              std::uint16_t port, const std::filesystem::path& cert_dir,
                              int max_inflight, std::string_view generated_by) {
  {
    std::ofstream c(dir / "mosquitto.conf");
    c << "# generated by " << generated_by << ": raised limits so that the broker drops nothing\n"
      << "per_listener_settings false\nallow_anonymous true\npersistence false\n"
      << "max_queued_messages 1000000\nmax_queued_bytes 0\nmax_inflight_messages "
      << std::clamp(max_inflight, 1, 65535) << "\n"
      << "log_dest stderr\nlog_type error\nlog_type warning\n"
      // As root, Mosquitto would switch to the `mosquitto` user, which cannot read the
      // emulator's private key in our 0700 work directory.
      << (::geteuid() == 0 ? "user root\n" : "") << "listener " << port << " 127.0.0.1\n";
    if (!cert_dir.empty())
      c << "certfile " << (cert_dir / "server.crt").string() << "\nkeyfile "
        << (cert_dir / "server.key").string() << "\n";
  }
  child_process broker({binary, "-c", (dir / "mosquitto.conf").string()}, dir / "mosquitto.log");
  bool up = false;
  for (int i = 0; i < 200 && !up; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  if (!up)
    throw std::runtime_error("mosquitto did not start; see " + (dir / "mosquitto.log").string());
  return broker;
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

long long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  std::getline(in, s);
  const auto close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(s.substr(close + 2));
  std::string field;
  long long utime = 0;
  long long stime = 0;
  // Fields after the command: state(3) ... utime(14) stime(15).
  for (int i = 3; i <= 15 && (rest >> field); ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return utime + stime;
}

long clock_ticks_per_second() {
  return ::sysconf(_SC_CLK_TCK);
}

long raise_fd_limit() {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return static_cast<long>(rl.rlim_cur);
}

// ---- statistics and output -------------------------------------------------------------------

double quantile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

double median(std::vector<double> v) {
  return quantile(v, 0.5);
}

void table::print() const {
  std::vector<std::size_t> width;
  for (const auto& r : rows_) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  const auto line = [&](const std::vector<std::string>& r) {
    std::string s = "|";
    for (std::size_t i = 0; i < width.size(); ++i) {
      const std::string cell = i < r.size() ? r[i] : "";
      s += " " + cell + std::string(width[i] - cell.size(), ' ') + " |";
    }
    std::cout << s << "\n";
  };
  line(rows_.front());
  std::string sep = "|";
  for (auto w : width) sep += std::string(w + 2, '-') + "|";
  std::cout << sep << "\n";
  for (std::size_t i = 1; i < rows_.size(); ++i) line(rows_[i]);
  std::cout.flush();
}

std::string fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string ratio(double a, double b) {
  if (b <= 0 || a < 0) return "n/a";
  return fmt(a / b, 2) + "x";
}

std::string machine_line() {
  std::string model = "unknown CPU";
  std::ifstream cpu("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpu, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname u{};
  ::uname(&u);
  return std::to_string(std::thread::hardware_concurrency()) + " CPUs, " + model + ", Linux " +
         u.release;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

fsync_probe probe_fdatasync(const std::filesystem::path& dir, int n) {
  const auto file = dir / "fdatasync-probe";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return {};
  std::vector<double> us;
  const std::string block(4096, 'x');
  for (int i = 0; i < n; ++i) {
    if (::write(fd, block.data(), block.size()) < 0) break;
    const auto t = steady::now();
    ::fdatasync(fd);
    us.push_back(us_between(t, steady::now()));
  }
  ::close(fd);
  std::filesystem::remove(file);
  fsync_probe p;
  p.p50_us = quantile(us, 0.5);
  p.p99_us = quantile(us, 0.99);
  return p;
}

std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a loopback port");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::filesystem::path make_temp_dir(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp && *tmp ? tmp : "/tmp") + "/iothub-bench-" + name + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

}  // namespace bench
