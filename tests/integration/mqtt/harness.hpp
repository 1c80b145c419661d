#pragma once
// Integration-test harness for the MQTT gateway: the server process (the real iothub-emulator
// executable, started by ONE function, start_server, and driven through its HTTPS test control
// and registry REST API), child processes (mosquitto_sub / mosquitto_pub), a raw
// MQTT-over-TLS client built on the project's codec (for what libmosquitto hides: withholding a
// PUBACK, CONNACK flags, a bad protocol level), and a libmosquitto client with a thread-safe
// event queue.
//
// Nothing here sleeps to synchronise: every wait is for an output, an event or a socket, with
// a bounded timeout. Only 127.0.0.1 is used. Every process is killed in its destructor.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <httplib.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "emulator/core/connection_string.hpp"
#include "emulator/core/crypto.hpp"
#include "emulator/core/sas_token.hpp"
#include "emulator/mqtt/codec/decoder.hpp"
#include "emulator/mqtt/codec/encoder.hpp"

extern char** environ;

namespace emu::mqtt::itest {

using json = nlohmann::json;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

inline const std::string c2d_filter(const std::string& device) {
  return "devices/" + device + "/messages/devicebound/#";
}

// ---- temporary directory ------------------------------------------------------------------

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("mqtt-itest-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// ---- child processes ----------------------------------------------------------------------

/// A child process with a stdin pipe and its stdout (+ stderr unless redirected to a file)
/// on one pipe. Killed (SIGKILL) and reaped in the destructor if still running.
class child {
 public:
  child(const std::vector<std::string>& argv,
        const std::optional<std::filesystem::path>& stderr_file = {}) {
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    if (stderr_file) {
      posix_spawn_file_actions_addopen(&fa, 2, stderr_file->c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                       0644);
    } else {
      posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = ::posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    REQUIRE_MESSAGE(rc == 0, "cannot start " << argv[0]);
  }
  ~child() {
    kill9();
    if (in_ >= 0) ::close(in_);
    if (out_ >= 0) ::close(out_);
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  void write_line(const std::string& line) {
    const std::string s = line + "\n";
    REQUIRE(::write(in_, s.data(), s.size()) == static_cast<ssize_t>(s.size()));
  }
  void close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }

  /// The next output line, or nullopt on timeout / end of output.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
      if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
        auto line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      if (eof_) return std::nullopt;
      if (!fill(deadline)) return std::nullopt;
    }
  }

  /// Everything written until the process closes its output (normally: exits), or what came
  /// until the timeout.
  std::string read_all(std::chrono::milliseconds timeout, bool* finished = nullptr) {
    const auto deadline = clock::now() + timeout;
    while (!eof_ && fill(deadline)) {
    }
    if (finished) *finished = eof_;
    return std::exchange(buf_, {});
  }

  /// Waits for the exit (after the output closed); -1 if it did not exit within `timeout`.
  int wait_exit(std::chrono::milliseconds timeout) {
    bool finished = false;
    extra_ += read_all(timeout, &finished);
    if (!finished || pid_ <= 0) return -1;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  /// Output collected by wait_exit().
  const std::string& output() const { return extra_; }

  /// SIGTERM (a graceful stop); wait_exit() then collects the exit code.
  void terminate() {
    if (pid_ > 0) ::kill(pid_, SIGTERM);
  }

  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  bool fill(clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) return false;
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char tmp[4096];
    const auto n = ::read(out_, tmp, sizeof tmp);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string buf_;
  std::string extra_;
  bool eof_ = false;
};

// ---- the server under test: the real iothub-emulator -----------------------------------

/// Device keys of the configured devices: fixed, so a restart on the same data directory keeps
/// working credentials (the emulator aligns configured keys at start anyway).
inline const std::vector<std::pair<std::string, std::string>>& seeded_devices() {
  static const std::vector<std::pair<std::string, std::string>> d = {
      {"dev1", emu::core::base64_encode(std::string(32, '1'))},
      {"dev2", emu::core::base64_encode(std::string(32, '2'))},
      {"dev3", emu::core::base64_encode(std::string(32, '3'))},
  };
  return d;
}

struct server_options {
  server_options(std::filesystem::path dir, json cfg = json::object(),
                 std::vector<std::string> extra = {})
      : data_dir(std::move(dir)), config(std::move(cfg)), extra_args(std::move(extra)) {}
  /// The emulator's --data-dir: its SQLite file and its development CA (kept across restarts).
  std::filesystem::path data_dir;
  /// Merged over the generated config file (devices dev1..dev3), e.g.
  /// {"mqtt": {"inflightWindow": 3}}.
  json config;
  std::vector<std::string> extra_args;  // e.g. --mqtt-plain-port 0
};

/// The iothub-emulator executable under test, on 127.0.0.1 with ephemeral ports, a real SQLite
/// file in the data directory, and test control (docs/test-control.md) for what the tests
/// inspect and steer: C2D enqueue, queues, feedback, telemetry. Devices come from its config
/// file; the registry REST API (iothubowner SAS) changes them.
class test_server {
 public:
  std::uint16_t port = 0;        // MQTT over TLS
  std::uint16_t plain_port = 0;  // MQTT over TCP (0 unless --mqtt-plain-port)
  std::uint16_t https_port = 0;  // registry REST and /admin/
  std::string host_name;
  std::string ca;
  std::map<std::string, std::string> keys;  // device id → primary key
  std::string owner_key;                    // iothubowner (has DeviceConnect)
  std::filesystem::path log_file;

  explicit test_server(const server_options& o)
      : log_file(o.data_dir.parent_path() / "emulator.log") {
    // $MQTT_TEST_EMULATOR overrides the built-in path (e.g. a ThreadSanitizer build of it).
    const char* env = std::getenv("MQTT_TEST_EMULATOR");
    const std::string binary = env && *env ? env : IOTHUB_EMULATOR;
    json config{{"devices", json::array()}};
    for (const auto& [id, key] : seeded_devices()) {
      config["devices"].push_back({{"deviceId", id},
                                   {"primaryKey", key},
                                   {"secondaryKey", emu::core::base64_encode(std::string(32, 'x'))},
                                   {"status", "enabled"}});
    }
    // Debug: the gateway logs SUBSCRIBE/UNSUBSCRIBE there (a failing test prints the log).
    config["logLevel"] = "debug";
    if (!o.config.is_null()) config.merge_patch(o.config);
    const auto dir = o.data_dir.parent_path();
    const auto config_file = dir / "emulator-config.json";
    std::filesystem::create_directories(o.data_dir);
    std::ofstream(config_file) << config.dump(2);
    std::vector<std::string> argv = {binary, "--bind", "127.0.0.1", "--mqtt-port", "0"};
    argv.insert(argv.end(), {"--amqp-port", "0", "--https-port", "0", "--test-control"});
    argv.insert(argv.end(), {"--data-dir", o.data_dir.string(), "--config", config_file.string()});
    argv.insert(argv.end(), {"--ready-file", (dir / "ready.json").string()});
    argv.insert(argv.end(), o.extra_args.begin(), o.extra_args.end());
    proc_ = std::make_unique<child>(argv, log_file);
    // The banner comes first; readiness is the `iothub-emulator ready {json}` line.
    static const std::string prefix = "iothub-emulator ready ";
    const auto deadline = clock::now() + 30s;
    std::optional<std::string> line;
    while ((line = proc_->read_line(
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()))) &&
           line->rfind(prefix, 0) != 0) {
    }
    REQUIRE_MESSAGE(line.has_value(), "the emulator did not start; log:\n" << log());
    const auto ready = json::parse(line->substr(prefix.size()));
    port = ready["ports"]["mqtt"].get<std::uint16_t>();
    plain_port = ready["ports"].value("mqttPlain", std::uint16_t{0});
    https_port = ready["ports"]["https"].get<std::uint16_t>();
    host_name = ready["hostName"].get<std::string>();
    ca = ready["caCertificate"].get<std::string>();
    const auto key_of = [](const std::string& cs) {
      const auto parsed = emu::core::parse_connection_string(cs);
      REQUIRE_MESSAGE(parsed.ok(), cs);
      return parsed->shared_access_key;
    };
    for (const auto& [id, cs] : ready["connectionStrings"]["devices"].items())
      keys[id] = key_of(cs.get<std::string>());
    owner_key = key_of(ready["connectionStrings"]["iothubowner"].get<std::string>());
  }
  ~test_server() {
    if (!proc_) return;
    // SIGTERM is the graceful stop: a clean exit (0) also means no sanitizer report (leaks
    // are reported at exit).
    proc_->terminate();
    const int rc = proc_->wait_exit(20s);
    CHECK_MESSAGE(rc == 0, "emulator exit " << rc << "; log:\n" << log());
  }

  /// One HTTPS request to the emulator (trusting only its CA); the status must be `expected`.
  json request(const std::string& method, const std::string& path, const json& body, int expected,
               const httplib::Headers& headers = {}) {
    httplib::SSLClient cli("127.0.0.1", https_port);
    cli.set_ca_cert_path(ca.c_str());
    cli.enable_server_certificate_verification(true);
    cli.set_connection_timeout(10s);
    cli.set_read_timeout(10s);
    cli.set_write_timeout(10s);
    const std::string text = body.is_null() ? "" : body.dump();
    httplib::Result r = method == "GET"     ? cli.Get(path, headers)
                        : method == "POST"  ? cli.Post(path, headers, text, "application/json")
                        : method == "PATCH" ? cli.Patch(path, headers, text, "application/json")
                                            : cli.Put(path, headers, text, "application/json");
    REQUIRE_MESSAGE(r, method << " " << path << ": " << httplib::to_string(r.error()) << "; log:\n"
                              << log());
    REQUIRE_MESSAGE(r->status == expected,
                    method << " " << path << " answered " << r->status << ": " << r->body);
    return r->body.empty() ? json() : json::parse(r->body);
  }

  /// Enqueues a C2D message through test control (POST /admin/devices/{id}/messages).
  json send_c2d(const std::string& device, const std::string& message_id,
                const std::string& ack = "none", json extra = json::object()) {
    extra["messageId"] = message_id;
    extra["ack"] = ack;
    if (!extra.contains("body")) extra["body"] = "hello";
    return request("POST", "/admin/devices/" + device + "/messages", extra, 201);
  }
  /// The device's C2D queue: [{seq, messageId, state, deliveryCount, …}].
  json queue(const std::string& device) {
    return request("GET", "/admin/devices/" + device + "/messages", nullptr, 200);
  }
  /// Every feedback record, pending or already cut into a batch:
  /// [{originalMessageId, statusCode, deviceId, …}].
  json feedback() {
    const auto fb = request("GET", "/admin/feedback", nullptr, 200);
    json records = fb["pending"];
    for (const auto& b : fb["batches"])
      for (const auto& r : b["records"]) records.push_back(r);
    return records;
  }
  /// Received telemetry: [{id, deviceId, properties: {name: value}, body, …}].
  json telemetry() { return request("GET", "/admin/telemetry", nullptr, 200); }

  /// A service REST call signed with the iothubowner policy (twins, methods, registry).
  json service(const std::string& method, const std::string& path, const json& body, int expected,
               httplib::Headers headers = {}) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    headers.emplace("Authorization",
                    emu::core::make_sas_token(host_name, owner_key, "iothubowner", now + 600));
    return request(method, path + "?api-version=2021-04-12", body, expected, headers);
  }

  /// Disables a device through the registry REST API (PUT /devices/{id}, If-Match *).
  void disable(const std::string& device) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const json body{{"deviceId", device},
                    {"status", "disabled"},
                    {"authentication",
                     {{"type", "sas"},
                      {"symmetricKey",
                       {{"primaryKey", keys.at(device)},
                        {"secondaryKey", emu::core::base64_encode(std::string(32, 'x'))}}}}}};
    const auto d = request("PUT", "/devices/" + device + "?api-version=2021-04-12", body, 200,
                           {{"Authorization", emu::core::make_sas_token(host_name, owner_key,
                                                                        "iothubowner", now + 600)},
                            {"If-Match", "*"}});
    REQUIRE(d["status"] == "disabled");
  }

  /// SIGKILL: no graceful shutdown, nothing flushed beyond what was committed.
  void kill9() {
    proc_->kill9();
    proc_.reset();
  }

  std::string token(const std::string& device, const std::string& key_override = {},
                    std::int64_t ttl_s = 3600) const {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return core::make_sas_token(host_name + "/devices/" + device,
                                key_override.empty() ? keys.at(device) : key_override, "",
                                now + ttl_s);
  }
  std::string username(const std::string& device) const {
    return host_name + "/" + device + "/?api-version=2021-04-12";
  }
  std::string log() const {
    std::ifstream f(log_file);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

 private:
  std::unique_ptr<child> proc_;
};

/// THE way tests start a server: the real iothub-emulator binary with test control.
inline std::unique_ptr<test_server> start_server(server_options o) {
  return std::make_unique<test_server>(o);
}

/// Waits for `cond` to hold, re-checking observable state every 20 ms, for at most `timeout`.
/// (A bounded wait for an outcome, not a sleep standing in for synchronisation.)
inline bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// ---- a raw MQTT 3.1.1 client over TLS (the project's codec + OpenSSL) ----------------------

class raw_client {
 public:
  raw_client(std::uint16_t port, const std::string& ca, bool tls = true) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!tls) return;
    ctx_ = SSL_CTX_new(TLS_client_method());
    REQUIRE(SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr) == 1);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    SSL_set1_host(ssl_, "localhost");
    REQUIRE_MESSAGE(SSL_connect(ssl_) == 1, "TLS handshake failed");
  }
  ~raw_client() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  void send(const packet& p) { send_bytes(encode(p)); }
  void send_bytes(const std::vector<std::uint8_t>& b) {
    std::size_t off = 0;
    while (off < b.size()) {
      const int n =
          ssl_ ? SSL_write(ssl_, b.data() + off, static_cast<int>(b.size() - off))
               : static_cast<int>(::send(fd_, b.data() + off, b.size() - off, MSG_NOSIGNAL));
      if (n <= 0) return;  // the peer closed: the test sees it on receive
      off += static_cast<std::size_t>(n);
    }
  }

  /// The next packet; nullopt on timeout or when the server closed the connection (closed()).
  std::optional<packet> receive(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
      if (!buf_.empty()) {
        auto r = decoder_.decode(std::span<const std::uint8_t>(buf_.data(), buf_.size()));
        if (r.status == decode_status::complete) {
          buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(r.consumed));
          return std::move(r.value);
        }
        REQUIRE(r.status == decode_status::need_more);
      }
      if (closed_) return std::nullopt;
      if (!ssl_ || SSL_pending(ssl_) == 0) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0) return std::nullopt;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      }
      std::uint8_t tmp[16384];
      const int n = ssl_ ? SSL_read(ssl_, tmp, sizeof tmp)
                         : static_cast<int>(::recv(fd_, tmp, sizeof tmp, 0));
      if (n <= 0) {
        closed_ = true;
        ERR_clear_error();
        continue;
      }
      buf_.insert(buf_.end(), tmp, tmp + n);
    }
  }
  template <class T>
  T receive_as(std::chrono::milliseconds timeout = 10s) {
    auto p = receive(timeout);
    REQUIRE_MESSAGE(p.has_value(), "no packet (closed=" << closed_ << ")");
    REQUIRE_MESSAGE(std::holds_alternative<T>(*p), "got packet type " << p->index() + 1);
    return std::get<T>(*p);
  }
  /// True once the server closed the connection (within `timeout`); packets before are skipped.
  bool wait_closed(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = clock::now() + timeout;
    while (!closed_ && clock::now() < deadline) {
      (void)receive(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
    }
    return closed_;
  }
  bool closed() const { return closed_; }

  /// CONNECT + CONNACK.
  connack connect_as(const test_server& s, const std::string& device, bool clean,
                     std::uint16_t keep_alive = 60, const std::string& password = {}) {
    connect c;
    c.client_id = device;
    c.clean_session = clean;
    c.keep_alive = keep_alive;
    c.username = s.username(device);
    c.password = password.empty() ? s.token(device) : password;
    send(c);
    return receive_as<connack>();
  }
  suback subscribe_c2d(const std::string& device, std::uint16_t id = 1,
                       qos_level q = qos_level::at_least_once) {
    subscribe sub;
    sub.packet_id = id;
    sub.subscriptions = {{c2d_filter(device), q}};
    send(sub);
    return receive_as<suback>();
  }

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  decoder decoder_;
  std::vector<std::uint8_t> buf_;
  bool closed_ = false;
};

// ---- libmosquitto -------------------------------------------------------------------------

struct mosq_lib {
  mosq_lib() { mosquitto_lib_init(); }
  ~mosq_lib() { mosquitto_lib_cleanup(); }
};

/// A libmosquitto client (its own network thread) whose callbacks feed an event queue.
class mosq_client {
 public:
  struct event {
    enum kind { connected, disconnected, message, subscribed, published };
    explicit event(kind k, int r = 0) : what(k), rc(r) {}
    kind what;
    int rc = 0;
    std::string topic;
    std::string payload;
    int qos = 0;
    std::vector<int> granted;
  };

  mosq_client(const test_server& s, const std::string& client_id, const std::string& password,
              bool clean = false) {
    static mosq_lib lib;
    m_ = mosquitto_new(client_id.c_str(), clean, this);
    REQUIRE(m_ != nullptr);
    mosquitto_int_option(m_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    REQUIRE(mosquitto_username_pw_set(m_, s.username(client_id).c_str(), password.c_str()) ==
            MOSQ_ERR_SUCCESS);
    REQUIRE(mosquitto_tls_set(m_, s.ca.c_str(), nullptr, nullptr, nullptr, nullptr) ==
            MOSQ_ERR_SUCCESS);
    mosquitto_connect_callback_set(m_, [](mosquitto*, void* self, int rc) {
      static_cast<mosq_client*>(self)->push(event{event::connected, rc});
    });
    mosquitto_disconnect_callback_set(m_, [](mosquitto*, void* self, int rc) {
      static_cast<mosq_client*>(self)->push(event{event::disconnected, rc});
    });
    mosquitto_message_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg) {
      event e{event::message};
      e.topic = msg->topic;
      e.payload.assign(static_cast<const char*>(msg->payload),
                       static_cast<std::size_t>(msg->payloadlen));
      e.qos = msg->qos;
      static_cast<mosq_client*>(self)->push(std::move(e));
    });
    mosquitto_subscribe_callback_set(m_,
                                     [](mosquitto*, void* self, int, int n, const int* granted) {
                                       event e{event::subscribed};
                                       e.granted.assign(granted, granted + n);
                                       static_cast<mosq_client*>(self)->push(std::move(e));
                                     });
    mosquitto_publish_callback_set(m_, [](mosquitto*, void* self, int) {
      static_cast<mosq_client*>(self)->push(event{event::published});
    });
    REQUIRE(mosquitto_connect_async(m_, "127.0.0.1", s.port, 60) == MOSQ_ERR_SUCCESS);
    // The certificate names localhost; mosquitto checks the name it connected to.
    REQUIRE(mosquitto_loop_start(m_) == MOSQ_ERR_SUCCESS);
  }
  ~mosq_client() {
    mosquitto_disconnect(m_);
    mosquitto_loop_stop(m_, true);
    mosquitto_destroy(m_);
  }
  mosq_client(const mosq_client&) = delete;
  mosq_client& operator=(const mosq_client&) = delete;

  mosquitto* get() { return m_; }

  /// The next event of kind `k` (earlier events of other kinds are dropped), within `timeout`.
  std::optional<event> wait_for(event::kind k, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    const auto deadline = clock::now() + timeout;
    for (;;) {
      while (!events_.empty()) {
        auto e = std::move(events_.front());
        events_.pop_front();
        if (e.what == k) return e;
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && events_.empty())
        return std::nullopt;
    }
  }

 private:
  void push(event e) {
    {
      std::lock_guard lock(mutex_);
      events_.push_back(std::move(e));
    }
    cv_.notify_all();
  }

  mosquitto* m_ = nullptr;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<event> events_;
};

}  // namespace emu::mqtt::itest
