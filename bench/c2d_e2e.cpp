// c2d_e2e: cloud-to-device messages end to end through the emulator, side by side with
// reference systems measured in the same invocation.
//
//   S service senders (Qpid Proton C++, AMQP 1.0 + TLS, CBS put-token, unsettled sends with a
//   credit window) → emulator → D devices (libmosquitto, MQTT 3.1.1 + TLS, SAS tokens, QoS 1,
//   PUBACK), every message with iothub-ack=full; the senders drain the feedback link.
//
// Per emulator mode (in-memory, database file) it runs two phases on the same connections:
//   rate        a fixed offered rate (--rate msg/s for --rate-seconds): latency percentiles
//   saturation  --count messages as fast as the senders may (credit window, and at most
//               --max-in-system messages sent but not yet received, so no device queue passes
//               Azure's depth of 50): sustained msg/s and latency under load
// Latency is measured from `send()` on the sender to the device receiving the PUBLISH (both in
// this process, one steady clock); "accepted→recv" is from the sender seeing `accepted` to the
// device receiving (it can be negative: both go out after the same commit).
// At the end every message must have been received exactly once (duplicates are counted) and
// every accepted message must have its feedback record ("Success").
//
// References, same invocation, same machine:
//   mosquitto   the same libmosquitto clients through a Mosquitto broker (the Debian package),
//               started here on a free loopback port with raised queue limits so that it drops
//               nothing; S publishers (QoS 1, 100 in flight) → D subscribers; TLS with the
//               emulator's certificate unless --mosquitto-plain. Same phases, same checks.
//   sqlite      the C2D lifecycle (enqueue; lock; complete + feedback record) through the
//               emulator's own core::hub and storage::sqlite_store (WAL, synchronous=FULL, the
//               real schema), one commit per step, with 1, 10 and 100 messages per commit.
//
// Options (defaults in brackets):
//   --emulator PATH        iothub-emulator binary [the one built with this bench]
//   --senders S [2]  --devices D [100]  --count N [30000]  --payload BYTES [200]
//   --rate R [1000]  --rate-seconds T [10]  --credit W [1000]  --max-in-system M [20*D]
//   --inflight-window K [1] (the emulator's mqtt.inflightWindow; Azure delivers one at a time)
//   --modes memory,file [memory,file]   --skip-mosquitto  --skip-sqlite  --mosquitto-plain
//   --mosquitto PATH [/usr/sbin/mosquitto]  --sqlite-count N [30000, at most 2000 for 1/commit]
//   --sqlite-batches 1,10,100  --skip-sqlite-memory  --sqlite-exec "SQL;SQL" (run on the store's
//   connection after it opened: experiments such as "PRAGMA foreign_keys=OFF")
//   --phase-timeout S [120]  --feedback-timeout S [60]  --work-dir DIR [a new /tmp dir]
//   --emulator-prefix "CMD ARGS" (e.g. valgrind --tool=callgrind …; split on spaces)
//   --log-level L [info]   --keep (keep the work dir)
//   --device-processes K [1]  the devices in K forked processes (one process holds about 6,600
//                   libmosquitto clients under the 20,000 open-file limit), each reporting its
//                   receipts through a pipe
//   --seed-db FILE  a database made by bench/seed_db (a backlog of queued messages and
//                   telemetry), copied into the data directory before the start (file mode)
//   --max-events N  the emulator's eventHubs.maxEvents (and retentionBytes 64 GiB), to hold a
//                   seeded telemetry log larger than the default
// Environment: C2D_PHASE_HOOK="CMD" runs `CMD start|end PHASE EMULATOR_PID` at the emulator's
// phase boundaries (bench/profile.sh uses it to count instructions of one phase only).
#include <mosquitto.h>
#include <proton/binary.hpp>
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/error_condition.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/scalar.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/ssl.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/work_queue.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "bench/common/device_client.hpp"
#include "bench/common/mqtt_pool.hpp"
#include "bench/common/util.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/sas_token.hpp"
#include "storage/sqlite_store.hpp"

namespace {

using namespace bench;

struct phase {
  std::string name;
  std::int64_t count = 0;
  double rate = 0;  // 0: saturation
  // filled in by the run
  std::int64_t begin = 0;  // global index of the first message
  long long cpu_ticks_begin = 0, cpu_ticks_end = 0;
  bool timed_out = false;
};

/// Per-message records, written by the sender thread (send, outcome, feedback) and the device
/// thread (receipt); read after both have stopped.
struct ledger {
  explicit ledger(std::int64_t n)
      : t_send(static_cast<std::size_t>(n), 0),
        t_acc(static_cast<std::size_t>(n), 0),
        t_recv(static_cast<std::size_t>(n), 0),
        outcome(static_cast<std::size_t>(n), 0),
        recv_count(static_cast<std::size_t>(n), 0),
        feedback(static_cast<std::size_t>(n), 0) {}
  std::vector<std::int64_t> t_send, t_acc, t_recv;
  std::vector<std::uint8_t> outcome;     // 0 none, 1 accepted, 2 rejected/released
  std::vector<std::uint8_t> recv_count;  // saturating
  std::vector<std::uint8_t> feedback;    // Success records (saturating)
  std::atomic<std::int64_t> received{0};
  std::atomic<std::int64_t> duplicates{0};
  std::int64_t negative_feedback = 0;
  std::int64_t unknown_feedback = 0;

  void on_receive(const void* payload, int len) {
    if (len < 8) return;
    std::uint64_t i = 0;
    std::memcpy(&i, payload, 8);
    on_receive_at(i, now_ns());
  }
  /// A receipt at steady-clock time `t` (a device process's clock: CLOCK_MONOTONIC, one clock
  /// for every process on the machine).
  void on_receive_at(std::uint64_t i, std::int64_t t) {
    if (i >= t_recv.size()) return;
    if (recv_count[i] == 0) {
      t_recv[i] = t;
      recv_count[i] = 1;
      received.fetch_add(1, std::memory_order_release);
    } else {
      if (recv_count[i] < 255) ++recv_count[i];
      duplicates.fetch_add(1);
    }
  }
};

std::string payload_for(std::uint64_t i, int size) {
  std::string p(static_cast<std::size_t>(std::max(size, 8)), 'x');
  std::memcpy(p.data(), &i, 8);
  return p;
}

/// The phase machine shared by the AMQP senders and the MQTT publishers: how many messages
/// may be sent now, and when a phase is over.
class pacer {
 public:
  pacer(std::vector<phase>& phases, ledger& l, std::int64_t max_in_system,
        std::chrono::seconds phase_timeout, pid_t server_pid)
      : phases_(phases),
        ledger_(l),
        max_in_system_(max_in_system),
        phase_timeout_(phase_timeout),
        server_pid_(server_pid) {}

  bool finished() const { return current_ >= phases_.size(); }
  std::int64_t next_index() const { return next_; }

  /// May the next message be sent now? (rate, in-system bound, phase size)
  bool may_send(std::int64_t rejected) {
    if (finished() || !started_) return false;
    const auto& p = phases_[current_];
    if (next_ >= p.begin + p.count) return false;
    const std::int64_t in_system =
        next_ - ledger_.received.load(std::memory_order_acquire) - rejected;
    if (in_system >= max_in_system_) return false;
    if (p.rate > 0) {
      const double elapsed = std::chrono::duration<double>(steady::now() - t0_).count();
      const auto allowed = static_cast<std::int64_t>(elapsed * p.rate) + 1;
      if (next_ - p.begin >= allowed) return false;
    }
    return true;
  }
  std::int64_t take() { return next_++; }
  /// `CMD start|end PHASE PID` runs (blocking) at each phase boundary, e.g. callgrind_control.
  void set_hook(std::string cmd) { hook_ = std::move(cmd); }

  /// Starts the next phase when the gap after the previous one has passed; ends the current
  /// one when everything sent was received or refused. Returns true when something changed.
  bool step(std::int64_t rejected) {
    if (finished()) return false;
    auto& p = phases_[current_];
    const auto now = steady::now();
    if (!started_) {
      if (now < gap_until_) return false;
      started_ = true;
      p.begin = next_;
      p.cpu_ticks_begin = server_pid_ > 0 ? cpu_ticks(server_pid_) : 0;
      if (!hook_.empty()) run_hook("start", p.name);
      t0_ = steady::now();
      std::cout << "  phase " << p.name << ": " << p.count << " messages"
                << (p.rate > 0 ? " at " + fmt(p.rate) + " msg/s" : std::string(" (saturation)"))
                << std::endl;
      return true;
    }
    const bool all_sent = next_ >= p.begin + p.count;
    const bool all_done =
        all_sent && ledger_.received.load(std::memory_order_acquire) + rejected >= next_;
    const bool too_long = now - t0_ > phase_timeout_;
    if (!all_done && !too_long) return false;
    p.timed_out = !all_done;
    if (too_long && !all_done)
      std::cout << "  phase " << p.name << " TIMED OUT: sent " << (next_ - p.begin) << ", received "
                << ledger_.received.load() << " in total" << std::endl;
    p.cpu_ticks_end = server_pid_ > 0 ? cpu_ticks(server_pid_) : 0;
    if (!hook_.empty()) run_hook("end", p.name);
    if (!all_sent) next_ = p.begin + p.count;  // the unsent rest counts as missing
    ++current_;
    started_ = false;
    gap_until_ = now + std::chrono::milliseconds(300);
    return true;
  }

 private:
  std::vector<phase>& phases_;
  ledger& ledger_;
  std::int64_t max_in_system_;
  std::chrono::seconds phase_timeout_;
  pid_t server_pid_;
  void run_hook(const char* what, const std::string& name) {
    const auto cmd = hook_ + " " + what + " " + name + " " + std::to_string(server_pid_);
    if (std::system(cmd.c_str()) != 0) std::cout << "  hook failed: " << cmd << std::endl;
  }

  std::string hook_;
  std::size_t current_ = 0;
  bool started_ = false;
  std::int64_t next_ = 0;
  steady::time_point t0_{};
  steady::time_point gap_until_{};
};

// ---- AMQP senders ----------------------------------------------------------------------------

struct amqp_settings {
  std::string url;
  std::string host_name;
  std::string ca_file;
  std::string service_key;
  int senders = 2;
  int devices = 100;
  int payload = 200;
  int credit = 1000;
  std::chrono::seconds feedback_timeout{60};
};

class coordinator;

class sender_conn : public proton::messaging_handler {
 public:
  sender_conn(coordinator& co, int index) : co_(co), index_(index) {}
  void on_connection_open(proton::connection& c) override;
  void on_sendable(proton::sender& s) override;
  void on_message(proton::delivery& d, proton::message& m) override;
  void on_tracker_accept(proton::tracker& t) override;
  void on_tracker_reject(proton::tracker& t) override;
  void on_tracker_release(proton::tracker& t) override;
  void on_transport_error(proton::transport& t) override;
  void on_connection_error(proton::connection& c) override;
  void on_sender_error(proton::sender& s) override;
  void on_receiver_error(proton::receiver& r) override;

  coordinator& co_;
  int index_;
  proton::connection conn;
  proton::sender cbs_sender, c2d;
  proton::receiver cbs_receiver, feedback;
  bool token_sent = false;
  bool ready = false;
};

class coordinator : public proton::messaging_handler {
 public:
  coordinator(amqp_settings s, std::vector<phase>& phases, ledger& l, std::int64_t max_in_system,
              std::chrono::seconds phase_timeout, pid_t server_pid)
      : s_(std::move(s)), ledger_(l), pacer_(phases, l, max_in_system, phase_timeout, server_pid) {
    if (const char* h = std::getenv("C2D_PHASE_HOOK"); h != nullptr) pacer_.set_hook(h);
    for (int k = 0; k < s_.devices; ++k)
      to_.push_back("/devices/" + device_name(k) + "/messages/devicebound");
  }

  std::string error;
  std::int64_t accepted = 0;
  std::int64_t rejected = 0;
  std::int64_t feedback_records = 0;
  bool feedback_complete = false;

  void on_container_start(proton::container& c) override {
    container_ = &c;
    for (int i = 0; i < s_.senders; ++i) conns_.push_back(std::make_unique<sender_conn>(*this, i));
    for (auto& sc : conns_) {
      proton::connection_options o;
      o.sasl_enabled(false);  // TLS, then the AMQP header, then CBS (like the Azure SDKs)
      o.virtual_host(s_.host_name);
      o.ssl_client_options(proton::ssl_client_options(s_.ca_file, proton::ssl::VERIFY_PEER_NAME));
      o.handler(*sc);
      sc->conn = c.connect(s_.url, o);
    }
  }

  void on_ready(sender_conn& sc) {
    ++ready_;
    tick(sc);
  }

  const std::string& host_name() const { return s_.host_name; }
  std::string token() const {
    const auto se = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count() +
                    3600;
    return emu::core::make_sas_token(s_.host_name, s_.service_key, "service", se);
  }

  /// Sends what the pacer allows on `sc`'s own link. Proton flushes a connection's output
  /// only after an event or work item of THAT connection, so every connection sends from its
  /// own callbacks and its own timer (never on another connection's sender).
  void pump(sender_conn& sc) {
    if (ready_ < s_.senders || error_stop_ || !sc.c2d) return;
    for (int guard = 0; guard < 100000 && sc.c2d.credit() > 0 && pacer_.may_send(rejected); ++guard)
      send_one(sc, pacer_.take());
  }

  void send_one(sender_conn& sc, std::int64_t i) {
    proton::message m;
    m.to(to_[static_cast<std::size_t>(i % s_.devices)]);
    m.id("m" + std::to_string(i));
    m.properties().put("iothub-ack", "full");
    m.body(proton::binary(payload_for(static_cast<std::uint64_t>(i), s_.payload)));
    m.inferred(true);  // the binary body as a Data section
    std::string tag(8, '\0');
    std::memcpy(tag.data(), &i, 8);
    ledger_.t_send[static_cast<std::size_t>(i)] = now_ns();
    sc.c2d.send(m, proton::binary(tag));
  }

  void on_outcome(proton::tracker& t, bool ok) {
    const auto tag = t.tag();
    if (tag.size() != 8) return;  // the CBS request
    std::int64_t i = 0;
    std::memcpy(&i, tag.data(), 8);
    if (i < 0 || static_cast<std::size_t>(i) >= ledger_.outcome.size()) return;
    if (ledger_.outcome[static_cast<std::size_t>(i)] != 0) return;
    ledger_.outcome[static_cast<std::size_t>(i)] = ok ? 1 : 2;
    ledger_.t_acc[static_cast<std::size_t>(i)] = now_ns();
    if (ok) {
      ++accepted;
    } else {
      ++rejected;
      if (rejected <= 5) std::cout << "  message " << i << " was not accepted" << std::endl;
    }
  }

  void on_feedback(const proton::message& m) {
    std::string body;
    if (m.body().type() == proton::BINARY)
      body = std::string(proton::get<proton::binary>(m.body()));
    else if (m.body().type() == proton::STRING)
      body = proton::get<std::string>(m.body());
    const auto records = nlohmann::json::parse(body, nullptr, false);
    if (!records.is_array()) return;
    for (const auto& r : records) {
      const auto id = r.value("originalMessageId", std::string());
      const auto status = r.value("statusCode", std::string());
      if (id.size() < 2 || id[0] != 'm') {
        ++ledger_.unknown_feedback;
        continue;
      }
      const auto i = std::stoll(id.substr(1));
      if (i < 0 || static_cast<std::size_t>(i) >= ledger_.feedback.size()) {
        ++ledger_.unknown_feedback;
        continue;
      }
      if (status != "Success") {
        ++ledger_.negative_feedback;
        continue;
      }
      auto& f = ledger_.feedback[static_cast<std::size_t>(i)];
      if (f < 255) ++f;
      ++feedback_records;
    }
  }

  void fail(const std::string& what) {
    if (finished_) return;  // closing at the end aborts the transports: not an error
    if (error.empty()) error = what;
    error_stop_ = true;
  }

  std::vector<std::unique_ptr<sender_conn>>& conns() { return conns_; }

 public:
  /// Every millisecond on each connection's own work queue: phase changes, sending, the end.
  void tick(sender_conn& sc) {
    if (!finished_) {
      pacer_.step(rejected);
      pump(sc);
      if (error_stop_) finished_ = true;
      if (pacer_.finished() && !finished_) {
        if (!feedback_wait_started_) {
          feedback_wait_started_ = true;
          deadline_ = steady::now() + s_.feedback_timeout;
          std::cout << "  waiting for feedback (" << accepted << " records expected)" << std::endl;
        }
        if (feedback_records >= accepted) feedback_complete = true;
        if (feedback_complete || steady::now() >= deadline_) finished_ = true;
      }
    }
    if (finished_) {
      // Each connection closes itself; the container returns when the last one is gone.
      if (sc.conn.active()) sc.conn.close();
      return;
    }
    sc.conn.work_queue().schedule(proton::duration(1), [this, &sc] { tick(sc); });
  }

 private:
  amqp_settings s_;
  ledger& ledger_;
  pacer pacer_;
  proton::container* container_ = nullptr;
  std::vector<std::unique_ptr<sender_conn>> conns_;
  std::vector<std::string> to_;
  int ready_ = 0;
  int rr_ = 0;
  bool error_stop_ = false;
  bool finished_ = false;
  bool feedback_wait_started_ = false;
  steady::time_point deadline_ = steady::now() + std::chrono::hours(1);
};

void sender_conn::on_connection_open(proton::connection& c) {
  cbs_sender = c.open_sender("$cbs");
  cbs_receiver = c.open_receiver("$cbs");
}

void sender_conn::on_sendable(proton::sender& s) {
  if (s == cbs_sender && !token_sent) {
    token_sent = true;
    proton::message req;
    req.id("cbs-" + std::to_string(index_));
    req.to("$cbs");
    req.reply_to("cbs");
    req.properties().put("operation", "put-token");
    req.properties().put("type", "servicebus.windows.net:sastoken");
    req.properties().put("name", co_.host_name());
    req.body(co_.token());
    s.send(req);
  } else if (s == c2d) {
    co_.pump(*this);
  }
}

void sender_conn::on_message(proton::delivery& d, proton::message& m) {
  if (d.receiver() == cbs_receiver) {
    std::int64_t status = 0;
    if (m.properties().exists("status-code"))
      status = proton::coerce<std::int64_t>(m.properties().get("status-code"));
    if (status != 200) {
      co_.fail("CBS put-token answered " + std::to_string(status));
      return;
    }
    c2d = conn.open_sender("/messages/devicebound");
    feedback = conn.open_receiver("/messages/serviceBound/feedback");
    ready = true;
    co_.on_ready(*this);
  } else if (d.receiver() == feedback) {
    co_.on_feedback(m);
  }
}

// Outcomes of the CBS request (on $cbs) are not C2D messages.
void sender_conn::on_tracker_accept(proton::tracker& t) {
  if (t.sender() != c2d) return;
  co_.on_outcome(t, true);
  co_.pump(*this);
}
void sender_conn::on_tracker_reject(proton::tracker& t) {
  if (t.sender() == c2d) co_.on_outcome(t, false);
}
void sender_conn::on_tracker_release(proton::tracker& t) {
  if (t.sender() == c2d) co_.on_outcome(t, false);
}
void sender_conn::on_transport_error(proton::transport& t) {
  co_.fail("AMQP transport error: " + t.error().what());
}
void sender_conn::on_connection_error(proton::connection& c) {
  co_.fail("AMQP connection error: " + c.error().what());
}
void sender_conn::on_sender_error(proton::sender& s) {
  co_.fail("AMQP sender error: " + s.error().what());
}
void sender_conn::on_receiver_error(proton::receiver& r) {
  co_.fail("AMQP receiver error: " + r.error().what());
}

// ---- results -----------------------------------------------------------------------------------

struct phase_result {
  std::string system, mode, phase;
  std::int64_t count = 0;
  double offered = 0;
  double msgs_per_s = 0;
  double p50 = 0, p99 = 0, p999 = 0, max = 0;  // send→recv, ms
  double acc_p50 = 0, acc_p99 = 0;             // accepted→recv, ms
  double cpu_percent = 0;                      // server CPU over the phase (100 = one core)
  std::int64_t received = 0, missing = 0, duplicates = 0, not_accepted = 0;
  bool timed_out = false;
};

std::vector<phase_result> evaluate(const std::string& system, const std::string& mode,
                                   const std::vector<phase>& phases, const ledger& l) {
  std::vector<phase_result> out;
  for (const auto& p : phases) {
    phase_result r;
    r.system = system;
    r.mode = mode;
    r.phase = p.name;
    r.count = p.count;
    r.offered = p.rate;
    r.timed_out = p.timed_out;
    std::vector<double> lat, acc;
    std::int64_t first_send = INT64_MAX, last_recv = 0;
    for (std::int64_t i = p.begin; i < p.begin + p.count; ++i) {
      const auto k = static_cast<std::size_t>(i);
      if (l.outcome[k] == 2) ++r.not_accepted;
      if (l.t_send[k] != 0) first_send = std::min(first_send, l.t_send[k]);
      if (l.recv_count[k] == 0) {
        if (l.outcome[k] != 2) ++r.missing;
        continue;
      }
      ++r.received;
      r.duplicates += l.recv_count[k] - 1;
      last_recv = std::max(last_recv, l.t_recv[k]);
      lat.push_back(static_cast<double>(l.t_recv[k] - l.t_send[k]) / 1e6);
      if (l.t_acc[k] != 0) acc.push_back(static_cast<double>(l.t_recv[k] - l.t_acc[k]) / 1e6);
    }
    if (r.received > 0 && last_recv > first_send)
      r.msgs_per_s =
          static_cast<double>(r.received) / (static_cast<double>(last_recv - first_send) / 1e9);
    r.p50 = quantile(lat, 0.50);
    r.p99 = quantile(lat, 0.99);
    r.p999 = quantile(lat, 0.999);
    r.max = lat.empty() ? 0 : lat.back();
    r.acc_p50 = quantile(acc, 0.50);
    r.acc_p99 = quantile(acc, 0.99);
    if (p.cpu_ticks_end > p.cpu_ticks_begin && last_recv > first_send) {
      const double cpu_s = static_cast<double>(p.cpu_ticks_end - p.cpu_ticks_begin) /
                           static_cast<double>(clock_ticks_per_second());
      r.cpu_percent = 100.0 * cpu_s / (static_cast<double>(last_recv - first_send) / 1e9);
    }
    out.push_back(r);
  }
  return out;
}

struct options {
  std::string emulator;
  std::vector<std::string> prefix;
  int senders = 2, devices = 100, payload = 200, credit = 1000, inflight = 1;
  std::int64_t count = 30000;
  double rate = 1000;
  int rate_seconds = 10;
  std::int64_t max_in_system = 0;
  std::vector<std::string> modes;
  bool mosquitto = true, sqlite = true, mosquitto_tls = true;
  std::string mosquitto_bin = "/usr/sbin/mosquitto";
  std::int64_t sqlite_count = 30000;
  std::vector<std::string> sqlite_batches{"1", "10", "100"};
  std::vector<std::string> sqlite_exec;
  bool sqlite_memory = true;
  std::chrono::seconds phase_timeout{120}, feedback_timeout{60};
  std::string log_level = "info";
  std::filesystem::path work;
  std::filesystem::path seed_db;  // copied into the data directory (file mode), bench/seed_db
  std::int64_t max_events = 0;    // eventHubs.maxEvents (0: the default)
  int device_processes = 1;       // >1: the devices in that many forked processes
};

std::vector<phase> make_phases(const options& o) {
  std::vector<phase> ph;
  if (o.rate > 0 && o.rate_seconds > 0)
    ph.push_back({"rate", static_cast<std::int64_t>(o.rate * o.rate_seconds), o.rate});
  if (o.count > 0) ph.push_back({"saturation", o.count, 0});
  return ph;
}

std::string emulator_config(const options& o) {
  const nlohmann::json devices = device_list(o.devices);
  nlohmann::json c = {{"devices", devices},
                      {"mqtt", {{"inflightWindow", o.inflight}}},
                      // Records are batched by 64 (the default); a 1 s cut keeps the tail short.
                      {"feedback", {{"batchIntervalSeconds", 1}}}};
  if (o.max_events > 0)
    c["eventHubs"] = {{"maxEvents", o.max_events}, {"retentionBytes", 64LL * 1024 * 1024 * 1024}};
  return c.dump(1);
}

/// Connects D devices to `port` and runs their loop on a thread until `stop`.
struct device_side {
  mqtt_pool pool;
  std::thread thread;
  std::atomic<bool> stop{false};
  device_side(std::uint16_t port, const std::string& ca) : pool("127.0.0.1", port, ca) {}
  void start() {
    thread = std::thread([this] {
      while (!stop.load()) pool.poll(5);
    });
  }
  void finish() {
    stop = true;
    if (thread.joinable()) thread.join();
    pool.disconnect_all();
  }
};

/// Device k subscribed to its C2D topic.
mqtt_client_options c2d_device(const ready_info& info, int k) {
  auto co = device_client(info, k);
  co.subscribe_topic = "devices/" + co.client_id + "/messages/devicebound/#";
  return co;
}

/// A receipt as a device process reports it; index `ready_mark` says "all connected".
struct receipt {
  std::uint64_t index;
  std::int64_t t_ns;
};
constexpr std::uint64_t ready_mark = ~std::uint64_t{0};

bool write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const auto w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

/// A forked device process: devices [first, last) on one epoll thread; every receipt goes to
/// `out` as a `receipt`; it stops when `stop`'s write end is closed. Never returns.
[[noreturn]] void device_process(const ready_info& info, int first, int last, int out, int stop,
                                 std::chrono::seconds ready_timeout) {
  std::vector<receipt> pending;
  try {
    mqtt_pool pool("127.0.0.1", info.mqtt_port, info.ca_file);
    pool.on_message = [&](int, const mosquitto_message& m) {
      if (m.payloadlen < 8) return;
      receipt r{0, now_ns()};
      std::memcpy(&r.index, m.payload, 8);
      pending.push_back(r);
    };
    for (int k = first; k < last; ++k) pool.add(c2d_device(info, k));
    pool.wait_ready(ready_timeout);
    const receipt ready{ready_mark, 0};
    if (!write_all(out, &ready, sizeof ready)) ::_exit(1);
    pollfd pf{stop, POLLIN, 0};
    while (::poll(&pf, 1, 0) == 0) {
      pool.poll(5);
      if (!pending.empty()) {
        if (!write_all(out, pending.data(), pending.size() * sizeof(receipt))) break;
        pending.clear();
      }
    }
    pool.disconnect_all();
  } catch (const std::exception& e) {
    std::cerr << "device process [" << first << ", " << last << "): " << e.what() << std::endl;
    ::_exit(1);
  }
  ::_exit(0);
}

/// The devices: in this process (one epoll thread) or, with --device-processes K > 1, in K
/// forked processes (the 20,000 open-file limit per process: libmosquitto takes three
/// descriptors per client, so one process holds at most about 6,600 devices). The processes
/// report each receipt through a pipe that a thread here reads into the ledger.
class device_fleet {
 public:
  device_fleet(const options& o, const ready_info& info, ledger& l) : ledger_(l) {
    const auto timeout = std::chrono::seconds(o.prefix.empty() ? 120 : 600);
    if (o.device_processes <= 1) {
      local_ = std::make_unique<device_side>(info.mqtt_port, info.ca_file);
      local_->pool.on_message = [&l](int, const mosquitto_message& m) {
        l.on_receive(m.payload, m.payloadlen);
      };
      for (int k = 0; k < o.devices; ++k) local_->pool.add(c2d_device(info, k));
      local_->pool.wait_ready(timeout);
      local_->start();
      return;
    }
    // Forked before this process starts any thread (the Proton container comes later).
    int stop_pipe[2];
    if (::pipe2(stop_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    stop_fd_ = stop_pipe[1];
    const int k_count = o.device_processes;
    for (int j = 0; j < k_count; ++j) {
      const int first = o.devices * j / k_count, last = o.devices * (j + 1) / k_count;
      int out[2];
      if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
      const pid_t pid = ::fork();
      if (pid < 0) throw std::runtime_error("fork failed");
      if (pid == 0) {
        ::close(out[0]);
        ::close(stop_pipe[1]);
        device_process(info, first, last, out[1], stop_pipe[0], timeout);
      }
      ::close(out[1]);
      children_.push_back(pid);
      fds_.push_back(out[0]);
    }
    ::close(stop_pipe[0]);
    reader_ = std::thread([this] { read_receipts(); });
    bool ok = false;
    {
      std::unique_lock<std::mutex> g(mu_);
      ok = cv_.wait_for(g, timeout, [&] { return ready_ == k_count || failed_; }) && !failed_;
    }
    if (!ok) {
      finish();  // a constructor that throws runs no destructor: stop the processes here
      throw std::runtime_error("a device process did not get its devices connected");
    }
  }
  ~device_fleet() { finish(); }
  device_fleet(const device_fleet&) = delete;
  device_fleet& operator=(const device_fleet&) = delete;

  void finish() {
    if (local_) {
      local_->finish();
      local_.reset();
    }
    if (stop_fd_ >= 0) {
      ::close(stop_fd_);  // the processes see EOF and disconnect their devices
      stop_fd_ = -1;
      for (const pid_t p : children_) ::waitpid(p, nullptr, 0);
      if (reader_.joinable()) reader_.join();
      for (const int fd : fds_) ::close(fd);
      children_.clear();
      fds_.clear();
    }
  }

 private:
  void read_receipts() {
    std::vector<pollfd> pfs;
    for (const int fd : fds_) pfs.push_back({fd, POLLIN, 0});
    std::vector<std::string> partial(fds_.size());
    std::size_t open = fds_.size();
    char buf[64 * 1024];
    while (open > 0) {
      if (::poll(pfs.data(), pfs.size(), 100) < 0 && errno != EINTR) break;
      for (std::size_t j = 0; j < pfs.size(); ++j) {
        if (pfs[j].fd < 0 || pfs[j].revents == 0) continue;
        const auto n = ::read(pfs[j].fd, buf, sizeof buf);
        if (n <= 0) {
          pfs[j].fd = -1;  // EOF: the process ended (stopped, or failed before ready)
          --open;
          std::lock_guard<std::mutex> g(mu_);
          if (ready_ < static_cast<int>(fds_.size())) failed_ = true;
          cv_.notify_all();
          continue;
        }
        auto& part = partial[j];
        part.append(buf, static_cast<std::size_t>(n));
        std::size_t at = 0;
        for (; at + sizeof(receipt) <= part.size(); at += sizeof(receipt)) {
          receipt r;
          std::memcpy(&r, part.data() + at, sizeof r);
          if (r.index == ready_mark) {
            std::lock_guard<std::mutex> g(mu_);
            ++ready_;
            cv_.notify_all();
          } else {
            ledger_.on_receive_at(r.index, r.t_ns);
          }
        }
        part.erase(0, at);
      }
    }
  }

  ledger& ledger_;
  std::unique_ptr<device_side> local_;
  std::vector<pid_t> children_;
  std::vector<int> fds_;
  int stop_fd_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  int ready_ = 0;
  bool failed_ = false;
};

std::vector<phase_result> run_emulator(const options& o, const std::string& mode,
                                       std::filesystem::path& cert_dir) {
  std::cout << "\n== emulator (" << mode << ") ==" << std::endl;
  emulator_options eo;
  eo.binary = o.emulator;
  eo.work_dir = o.work / ("emulator-" + mode);
  eo.in_memory = mode == "memory";
  eo.config_json = emulator_config(o);
  eo.log_level = o.log_level;
  eo.seed_db = o.seed_db;
  eo.prefix = o.prefix;
  if (!o.prefix.empty()) eo.ready_timeout = std::chrono::milliseconds(300'000);
  auto emu = start_emulator(eo);
  // Start to ready with the seeded backlog (issue 19 item 4): exec → ready file, and memory.
  std::cout << "  ready " << fmt(us_between(emu.process.started_at(), emu.ready_at) / 1000.0, 1)
            << " ms after exec, RSS " << rss_kib(emu.process.pid()) / 1024 << " MiB"
            << (eo.seed_db.empty() || eo.in_memory ? "" : " (seeded database)") << std::endl;
  cert_dir = eo.work_dir / "data" / "certs";
  const auto& info = emu.info;
  std::cout << "  started pid " << emu.process.pid() << ", mqtt " << info.mqtt_port << ", amqp "
            << info.amqp_port << (eo.in_memory ? ", in memory" : ", database file") << std::endl;

  auto phases = make_phases(o);
  std::int64_t total = 0;
  for (const auto& p : phases) total += p.count;
  ledger l(total);

  device_fleet devices(o, info, l);
  std::cout << "  " << o.devices << " devices connected and subscribed"
            << (o.device_processes > 1
                    ? " (in " + std::to_string(o.device_processes) + " processes)"
                    : std::string())
            << std::endl;

  amqp_settings as;
  as.url = "amqps://127.0.0.1:" + std::to_string(info.amqp_port);
  as.host_name = info.host_name;
  as.ca_file = info.ca_file;
  as.service_key = info.service_key;
  as.senders = o.senders;
  as.devices = o.devices;
  as.payload = o.payload;
  as.credit = o.credit;
  as.feedback_timeout = o.feedback_timeout;
  coordinator co(as, phases, l, o.max_in_system, o.phase_timeout, emu.process.pid());
  proton::container container(co);
  container.run();
  devices.finish();

  if (!co.error.empty()) std::cout << "  ERROR: " << co.error << std::endl;
  auto results = evaluate("emulator", mode, phases, l);
  // Delivery and feedback check over all phases.
  std::int64_t accepted = 0, with_feedback = 0, feedback_dups = 0;
  for (std::size_t i = 0; i < l.outcome.size(); ++i) {
    if (l.outcome[i] != 1) continue;
    ++accepted;
    if (l.feedback[i] > 0) ++with_feedback;
    if (l.feedback[i] > 1) feedback_dups += l.feedback[i] - 1;
  }
  std::cout << "  check: " << l.received.load() << " of " << total << " received once, "
            << l.duplicates.load() << " duplicates; feedback Success for " << with_feedback
            << " of " << accepted << " accepted (" << feedback_dups << " duplicate records, "
            << l.negative_feedback << " negative, " << l.unknown_feedback << " unknown)"
            << std::endl;
  for (auto& r : results) r.mode += with_feedback == accepted ? "" : " (feedback missing!)";
  const auto rss = rss_kib(emu.process.pid());
  std::cout << "  emulator RSS at the end: " << rss / 1024 << " MiB" << std::endl;
  const int rc = emu.process.stop(std::chrono::milliseconds(o.prefix.empty() ? 10'000 : 300'000));
  std::cout << "  emulator stopped (exit " << rc << ")" << std::endl;
  return results;
}

std::vector<phase_result> run_mosquitto(const options& o, const std::filesystem::path& cert_dir) {
  const bool tls = o.mosquitto_tls && std::filesystem::exists(cert_dir / "server.crt");
  std::cout << "\n== mosquitto broker (" << (tls ? "TLS" : "plain TCP") << ") ==" << std::endl;
  const auto dir = o.work / "mosquitto";
  std::filesystem::create_directories(dir);
  const auto port = free_loopback_port();
  child_process broker = start_mosquitto(
      o.mosquitto_bin, dir, port, tls ? cert_dir : std::filesystem::path(), 20, "bench/c2d_e2e");
  std::cout << "  started pid " << broker.pid() << " on port " << port << std::endl;
  const std::string ca = tls ? (cert_dir / "ca.crt").string() : std::string();

  auto phases = make_phases(o);
  std::int64_t total = 0;
  for (const auto& p : phases) total += p.count;
  ledger l(total);

  device_side subs(port, ca);
  subs.pool.on_message = [&](int, const mosquitto_message& m) {
    l.on_receive(m.payload, m.payloadlen);
  };
  for (int k = 0; k < o.devices; ++k) {
    mqtt_client_options co;
    co.client_id = "sub-" + device_name(k);
    co.subscribe_topic = "bench/" + device_name(k);
    subs.pool.add(co);
  }
  subs.pool.wait_ready(std::chrono::seconds(60));
  subs.start();

  mqtt_pool pubs("127.0.0.1", port, ca);
  for (int s = 0; s < o.senders; ++s) {
    mqtt_client_options co;
    co.client_id = "pub-" + std::to_string(s);
    co.max_inflight = 100;
    pubs.add(co);
  }
  pubs.wait_ready(std::chrono::seconds(60));
  std::cout << "  " << o.devices << " subscribers, " << o.senders << " publishers connected"
            << std::endl;
  // mid → message index, per publisher
  std::vector<std::unordered_map<int, std::int64_t>> mids(static_cast<std::size_t>(o.senders));
  std::int64_t accepted = 0;
  pubs.on_published = [&](int c, int mid) {
    auto& m = mids[static_cast<std::size_t>(c)];
    const auto it = m.find(mid);
    if (it == m.end()) return;
    l.outcome[static_cast<std::size_t>(it->second)] = 1;
    l.t_acc[static_cast<std::size_t>(it->second)] = now_ns();
    ++accepted;
    m.erase(it);
  };
  std::vector<std::string> topics;
  for (int k = 0; k < o.devices; ++k) topics.push_back("bench/" + device_name(k));
  pacer pc(phases, l, o.max_in_system, o.phase_timeout, broker.pid());
  std::int64_t rejected = 0;
  int rr = 0;
  while (!pc.finished()) {
    pc.step(rejected);
    int burst = 0;
    while (burst < 1000 && pc.may_send(rejected)) {
      const auto i = pc.take();
      const auto payload = payload_for(static_cast<std::uint64_t>(i), o.payload);
      l.t_send[static_cast<std::size_t>(i)] = now_ns();
      const int mid = pubs.publish(rr, topics[static_cast<std::size_t>(i % o.devices)],
                                   payload.data(), static_cast<int>(payload.size()), 1);
      if (mid < 0) {
        l.outcome[static_cast<std::size_t>(i)] = 2;
        ++rejected;
      } else {
        mids[static_cast<std::size_t>(rr)][mid] = i;
      }
      rr = (rr + 1) % o.senders;
      ++burst;
    }
    pubs.flush();
    pubs.poll(burst > 0 ? 0 : 1);
    if (!pubs.first_error().empty()) throw std::runtime_error(pubs.first_error());
  }
  // The last PUBACKs from the broker may still be on their way: collect them (bounded).
  const auto drain_until = steady::now() + std::chrono::seconds(5);
  while (accepted + rejected < total && steady::now() < drain_until) pubs.poll(10);
  subs.finish();
  pubs.disconnect_all();
  auto results = evaluate("mosquitto", tls ? "TLS" : "plain", phases, l);
  std::cout << "  check: " << l.received.load() << " of " << total << " received, "
            << l.duplicates.load() << " duplicates, " << accepted << " PUBACKed by the broker"
            << std::endl;
  broker.stop();
  return results;
}

struct sqlite_result {
  std::string where;
  int batch;
  std::int64_t count;
  double msgs_per_s;
  double commits_per_s;
};

sqlite_result sqlite_lifecycle(const std::string& path, int batch, std::int64_t count, int payload,
                               const std::vector<std::string>& exec) {
  namespace core = emu::core;
  emu::storage::sqlite_store store(path);
  for (const auto& sql : exec) store.db().exec(sql);  // experiments: pragmas, index changes
  core::hub_settings settings;
  core::hub hub(settings);
  hub.restore(store.load());
  const auto now = [] {
    return core::time_point{std::chrono::duration_cast<core::duration>(
        std::chrono::system_clock::now().time_since_epoch())};
  };
  constexpr int devices = 100;
  std::vector<std::string> ids;
  for (int k = 0; k < devices; ++k) {
    ids.push_back(device_name(k));
    core::device_spec d;
    d.id = ids.back();
    d.primary_key = device_key;
    d.secondary_key = device_key;
    (void)hub.create_device(d, now());
  }
  store.commit(hub.take_changes());
  (void)hub.take_events();
  std::vector<std::pair<std::uint64_t, std::uint64_t>> locks;
  std::int64_t commits = 0;
  const auto t0 = steady::now();
  for (std::int64_t done = 0; done < count;) {
    const auto b = std::min<std::int64_t>(batch, count - done);
    // 1. enqueue (the AMQP send, accepted after this commit)
    for (std::int64_t j = 0; j < b; ++j) {
      core::c2d_content c;
      c.message_id = "m";
      c.message_id +=
          std::to_string(done + j);  // (not "m" + …: a GCC 12 -Wrestrict false positive)
      c.ack = core::ack_mode::full;
      c.body = payload_for(static_cast<std::uint64_t>(done + j), payload);
      const auto r =
          hub.enqueue(ids[static_cast<std::size_t>((done + j) % devices)], std::move(c), now());
      if (!r) throw std::runtime_error("enqueue: " + r.error().message);
    }
    store.commit(hub.take_changes());
    ++commits;
    // 2. lock (the MQTT delivery)
    locks.clear();
    for (std::int64_t j = 0; j < b; ++j) {
      auto d = hub.lock_next(ids[static_cast<std::size_t>((done + j) % devices)], now());
      if (!d) throw std::runtime_error("lock_next found nothing");
      locks.emplace_back(d->message.seq, d->lock_id);
    }
    store.commit(hub.take_changes());
    ++commits;
    // 3. complete + feedback record (the PUBACK)
    for (std::int64_t j = 0; j < b; ++j) {
      const auto st =
          hub.settle(ids[static_cast<std::size_t>((done + j) % devices)],
                     locks[static_cast<std::size_t>(j)].first,
                     locks[static_cast<std::size_t>(j)].second, core::settlement::complete, now());
      if (!st.ok()) throw std::runtime_error("settle: " + st.error().message);
    }
    hub.advance(now());  // cuts feedback batches of 64 records
    store.commit(hub.take_changes());
    ++commits;
    (void)hub.take_events();
    done += b;
  }
  const double s = std::chrono::duration<double>(steady::now() - t0).count();
  return {path == ":memory:" ? "in memory" : "file", batch, count, static_cast<double>(count) / s,
          static_cast<double>(commits) / s};
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep))
    if (!part.empty()) out.push_back(part);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const bench::args a(
      argc, argv, {"--emulator",        "--senders",         "--devices",
                   "--count",           "--payload",         "--rate",
                   "--rate-seconds",    "--credit",          "--max-in-system",
                   "--inflight-window", "--modes",           "--mosquitto",
                   "--sqlite-count",    "--phase-timeout",   "--feedback-timeout",
                   "--work-dir",        "--emulator-prefix", "--log-level",
                   "--sqlite-batches",  "--sqlite-exec",     "--seed-db",
                   "--max-events",      "--device-processes"},
      {"--skip-mosquitto", "--skip-sqlite", "--mosquitto-plain", "--keep", "--skip-sqlite-memory"});
  options o;
  o.emulator = a.text("--emulator", EMU_BENCH_EMULATOR);
  o.prefix = split(a.text("--emulator-prefix", ""), ' ');
  o.senders = static_cast<int>(a.number("--senders", 2));
  o.devices = static_cast<int>(a.number("--devices", 100));
  o.count = a.number("--count", 30000);
  o.payload = static_cast<int>(a.number("--payload", 200));
  o.rate = a.real("--rate", 1000);
  o.rate_seconds = static_cast<int>(a.number("--rate-seconds", 10));
  o.credit = static_cast<int>(a.number("--credit", 1000));
  o.inflight = static_cast<int>(a.number("--inflight-window", 1));
  o.max_in_system = a.number("--max-in-system", 20LL * o.devices);
  o.modes = split(a.text("--modes", "memory,file"), ',');
  o.mosquitto = !a.flag("--skip-mosquitto");
  o.mosquitto_tls = !a.flag("--mosquitto-plain");
  o.mosquitto_bin = a.text("--mosquitto", "/usr/sbin/mosquitto");
  o.sqlite = !a.flag("--skip-sqlite");
  o.sqlite_count = a.number("--sqlite-count", 30000);
  o.sqlite_batches = split(a.text("--sqlite-batches", "1,10,100"), ',');
  o.sqlite_exec = split(a.text("--sqlite-exec", ""), ';');
  o.sqlite_memory = !a.flag("--skip-sqlite-memory");
  o.phase_timeout =
      std::chrono::seconds(a.number("--phase-timeout", o.prefix.empty() ? 120 : 1800));
  o.feedback_timeout = std::chrono::seconds(a.number("--feedback-timeout", 60));
  o.log_level = a.text("--log-level", "info");
  o.seed_db = a.text("--seed-db", "");
  o.max_events = std::max<long long>(a.number("--max-events", 0), 0);
  o.device_processes =
      static_cast<int>(std::clamp<long long>(a.number("--device-processes", 1), 1, 64));
  const bool keep = a.flag("--keep");
  o.work = a.text("--work-dir", "").empty() ? make_temp_dir("c2d")
                                            : std::filesystem::path(a.text("--work-dir", ""));
  std::filesystem::create_directories(o.work);

  std::cout << "c2d_e2e on " << machine_line() << "\n"
            << "  " << o.senders << " AMQP senders -> " << o.devices << " MQTT devices, "
            << o.payload << "-byte bodies, iothub-ack=full, credit " << o.credit << ", at most "
            << o.max_in_system << " messages in the system, mqtt inflight window " << o.inflight
            << "\n  work dir " << o.work.string() << std::endl;

  const auto disk = probe_fdatasync(o.work);
  std::cout << "  load average " << load_average() << "; fdatasync (4 KiB append) on the work "
            << "dir's disk: p50 " << fmt(disk.p50_us) << " us, p99 " << fmt(disk.p99_us) << " us"
            << std::endl;
  bench::mosquitto_library mosq;
  std::vector<phase_result> results;
  std::filesystem::path cert_dir;
  int failures = 0;
  try {
    for (const auto& mode : o.modes) {
      auto r = run_emulator(o, mode, cert_dir);
      results.insert(results.end(), r.begin(), r.end());
    }
    if (o.mosquitto) {
      if (cert_dir.empty()) {
        // No emulator run made certificates: TLS off for the reference.
        o.mosquitto_tls = false;
      }
      auto r = run_mosquitto(o, cert_dir);
      results.insert(results.end(), r.begin(), r.end());
    }
  } catch (const std::exception& e) {
    std::cerr << "c2d_e2e: " << e.what() << std::endl;
    ++failures;
  }

  std::vector<sqlite_result> sq;
  if (o.sqlite) {
    std::cout << "\n== SQLite lifecycle (core::hub + storage::sqlite_store, WAL, synchronous=FULL)"
              << " ==" << std::endl;
    for (const auto& bs : o.sqlite_batches) {
      const int b = std::stoi(bs);
      const auto db = o.work / ("lifecycle-" + std::to_string(b) + ".db");
      std::filesystem::remove(db);
      const auto n = b == 1 ? std::min<std::int64_t>(o.sqlite_count, 2000) : o.sqlite_count;
      sq.push_back(sqlite_lifecycle(db.string(), b, n, o.payload, o.sqlite_exec));
      std::cout << "  " << b << " msg/commit: " << fmt(sq.back().msgs_per_s) << " msg/s"
                << std::endl;
    }
    if (o.sqlite_memory)
      sq.push_back(sqlite_lifecycle(":memory:", 100, o.sqlite_count, o.payload, o.sqlite_exec));
  }

  // ---- tables ----------------------------------------------------------------------------------
  std::cout << "\nEnd to end (latency send->device received, ms; CPU = server process, 100% = one "
               "core)\n";
  table t({"system", "mode", "phase", "msgs", "offered/s", "msg/s", "p50", "p99", "p99.9", "max",
           "acc->recv p50", "acc->recv p99", "server CPU", "missing", "dups", "refused"});
  for (const auto& r : results)
    t.add({r.system, r.mode, r.phase + (r.timed_out ? " (TIMEOUT)" : ""), std::to_string(r.count),
           r.offered > 0 ? fmt(r.offered) : "max", fmt(r.msgs_per_s), fmt(r.p50, 2), fmt(r.p99, 2),
           fmt(r.p999, 2), fmt(r.max, 2), r.system == "emulator" ? fmt(r.acc_p50, 2) : "-",
           r.system == "emulator" ? fmt(r.acc_p99, 2) : "-", fmt(r.cpu_percent) + "%",
           std::to_string(r.missing), std::to_string(r.duplicates),
           std::to_string(r.not_accepted)});
  t.print();
  std::cout << "\nfdatasync on this disk (start of run): p50 " << fmt(disk.p50_us) << " us ("
            << fmt(disk.p50_us > 0 ? 1e6 / disk.p50_us : 0) << " flushes/s), p99 "
            << fmt(disk.p99_us) << " us; load average at the end " << load_average() << "\n";
  if (!sq.empty()) {
    std::cout << "\nSQLite C2D lifecycle, 3 commits per group (enqueue; lock; complete+feedback)\n";
    table s({"database", "msgs/commit", "msgs", "msg/s", "commits/s"});
    for (const auto& r : sq)
      s.add({r.where, std::to_string(r.batch), std::to_string(r.count), fmt(r.msgs_per_s),
             fmt(r.commits_per_s)});
    s.print();
  }

  const auto find = [&](const std::string& sys, const std::string& mode_prefix,
                        const std::string& ph) -> const phase_result* {
    for (const auto& r : results)
      if (r.system == sys && r.phase == ph && r.mode.rfind(mode_prefix, 0) == 0) return &r;
    return nullptr;
  };
  const auto sq_rate = [&](const std::string& where, int b) {
    for (const auto& r : sq)
      if (r.where == where && r.batch == b) return r.msgs_per_s;
    return 0.0;
  };
  const auto* dur = find("emulator", "file", "saturation");
  const auto* mem = find("emulator", "memory", "saturation");
  const auto* mq = find("mosquitto", "", "saturation");
  const auto* dur_rate = find("emulator", "file", "rate");
  const auto* mq_rate = find("mosquitto", "", "rate");
  std::cout << "\nRatios (emulator / reference)\n";
  table rt({"emulator figure", "reference", "ratio", "target"});
  if (dur) {
    rt.add({"durable msg/s " + fmt(dur->msgs_per_s),
            "SQLite lifecycle 100/commit " + fmt(sq_rate("file", 100)),
            ratio(dur->msgs_per_s, sq_rate("file", 100)), ">= 0.80x"});
    rt.add({"durable msg/s " + fmt(dur->msgs_per_s),
            "SQLite lifecycle 10/commit " + fmt(sq_rate("file", 10)),
            ratio(dur->msgs_per_s, sq_rate("file", 10)), ""});
    if (mq)
      rt.add({"durable msg/s " + fmt(dur->msgs_per_s), "Mosquitto msg/s " + fmt(mq->msgs_per_s),
              ratio(dur->msgs_per_s, mq->msgs_per_s), ">= 0.35x"});
    rt.add({"durable msg/s " + fmt(dur->msgs_per_s), "target 15000", ratio(dur->msgs_per_s, 15000),
            ">= 1.00x"});
  }
  if (mem && mq)
    rt.add({"in-memory msg/s " + fmt(mem->msgs_per_s), "Mosquitto msg/s " + fmt(mq->msgs_per_s),
            ratio(mem->msgs_per_s, mq->msgs_per_s), ""});
  if (mem)
    rt.add({"in-memory msg/s " + fmt(mem->msgs_per_s),
            "SQLite lifecycle in memory 100/commit " + fmt(sq_rate("in memory", 100)),
            ratio(mem->msgs_per_s, sq_rate("in memory", 100)), ""});
  if (dur_rate && mq_rate)
    rt.add({"durable p99 @" + fmt(dur_rate->offered) + "/s " + fmt(dur_rate->p99, 2) + " ms",
            "Mosquitto p99 " + fmt(mq_rate->p99, 2) + " ms", ratio(dur_rate->p99, mq_rate->p99),
            "p99 <= 5 ms"});
  rt.print();

  bool delivered_ok = failures == 0;
  for (const auto& r : results)
    if (r.missing != 0 || r.duplicates != 0 || r.timed_out || r.not_accepted != 0 ||
        r.mode.find("missing") != std::string::npos)
      delivered_ok = false;
  std::cout << "\nSUMMARY c2d_e2e: durable " << (dur ? fmt(dur->msgs_per_s) : "n/a")
            << " msg/s (target 15000), in-memory " << (mem ? fmt(mem->msgs_per_s) : "n/a")
            << " msg/s, p99 @" << fmt(o.rate) << "/s " << (dur_rate ? fmt(dur_rate->p99, 2) : "n/a")
            << " ms durable (target 5), Mosquitto " << (mq ? fmt(mq->msgs_per_s) : "n/a")
            << " msg/s, SQLite 100/commit " << fmt(sq_rate("file", 100)) << " msg/s; delivery "
            << (delivered_ok ? "exactly once, all feedback" : "PROBLEMS (see above)") << std::endl;
  if (!keep) {
    std::error_code ec;
    std::filesystem::remove_all(o.work, ec);
  }
  return delivered_ok ? 0 : 1;
}
