// d2c_e2e: device-to-cloud telemetry end to end through the emulator (issue 14, item 6), side
// by side with a Mosquitto broker measured in the same invocation.
//
//   D devices (libmosquitto, MQTT 3.1.1 + TLS, SAS tokens, QoS 1) publish telemetry to
//   `devices/{id}/messages/events/` → emulator (the event is appended to the partitioned log,
//   durably in database-file mode, before the PUBACK) → an Event Hubs reader in this process
//   (Qpid Proton C++, AMQP 1.0 + TLS, no SASL, CBS put-token with a `service` SAS token for
//   `sb://<host>/<hubName>`, `$management` READ for the partition ids, one receiver per
//   partition on `<hub>/ConsumerGroups/$Default/Partitions/<n>` starting at `@latest`, a credit
//   window of --credit per receiver) that receives every event.
//
// Per emulator mode (in-memory, database file) it runs two phases on the same connections:
//   rate        a fixed offered rate (--rate events/s for --rate-seconds): latency percentiles
//   saturation  --count events as fast as the devices may, at most --inflight QoS 1 publishes
//               per device awaiting their PUBACK: ingest (PUBACKed) and end-to-end events/s
// Every payload carries its global index, the steady-clock time of its publish and the index
// of the device that sent it (then padding up to --payload bytes). Latencies (one steady clock,
// one process): publish → reader's receipt, device's PUBACK → reader's receipt (negative when
// the reader got the event before the device got its PUBACK: both leave the emulator after the
// same append), and publish → PUBACK. At the end every event must have been received exactly
// once: missing events and duplicates are counted and the first ones printed; the event's
// `iothub-connection-device-id` must name the device that sent it. Missing, duplicate or
// refused events, a time-out or a reader error make the exit status non-zero.
// The table also gives, per phase, the CPU of the server process and of this process (devices
// and reader): on a small machine they share the cores, and a saturation figure is only as
// good as what the clients left to the server.
//
// Reference, same invocation, same machine:
//   mosquitto   the same D libmosquitto devices publish QoS 1 (same topics, same in-flight
//               bound, TLS with the emulator's certificate unless --mosquitto-plain) through a
//               Mosquitto broker (the Debian package) started here on a free loopback port,
//               persistence off, queue limits raised so it drops nothing, at most --credit
//               QoS 1 messages in flight to the subscriber; ONE subscriber (its own thread, QoS
//               1, `devices/+/messages/events/#`) stands for the reader. Same phases, checks.
//
// Options (defaults in brackets):
//   --emulator PATH        iothub-emulator binary [the one built with this bench]
//   --devices D [100]  --count N [30000]  --payload BYTES [200]  --inflight K [10]
//   --rate R [1000]  --rate-seconds T [10]  --credit W [2000]  --partitions P [4]
//   --modes memory,file [memory,file]  --skip-mosquitto  --mosquitto-plain
//   --mosquitto PATH [/usr/sbin/mosquitto]  --phase-timeout S [120]  --show-missing N [20]
//   --work-dir DIR [a new /tmp dir]  --log-level L [info]  --keep (keep the work dir)
//   --seed-db FILE  a database made by bench/seed_db, copied into the data directory before the
//                   start (file mode): the curves against the telemetry log's size
//   --max-events N  the emulator's eventHubs.maxEvents (and retentionBytes 64 GiB), to hold it
// Environment: D2C_PHASE_HOOK="CMD" runs `CMD start|end PHASE SERVER_PID` at the phase
// boundaries (e.g. to attach `perf record -p PID` to one phase only).
#include <mosquitto.h>
#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/codec/encoder.hpp>
#include <proton/codec/map.hpp>
#include <proton/codec/vector.hpp>
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
#include <proton/source.hpp>
#include <proton/source_options.hpp>
#include <proton/ssl.hpp>
#include <proton/symbol.hpp>
#include <proton/target_options.hpp>
#include <proton/transport.hpp>
#include <proton/value.hpp>
#include <proton/work_queue.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "bench/common/device_client.hpp"
#include "bench/common/mqtt_pool.hpp"
#include "bench/common/util.hpp"
#include "emulator/core/sas_token.hpp"

namespace {

using namespace bench;

constexpr std::size_t header_bytes = 20;  // index (8), publish time (8), device (4)

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep))
    if (!part.empty()) out.push_back(part);
  return out;
}

struct phase {
  std::string name;
  std::int64_t count = 0;
  double rate = 0;  // 0: saturation
  // filled in by the run
  std::int64_t begin = 0;                              // global index of the first event
  long long cpu_ticks_begin = 0, cpu_ticks_end = 0;    // the server process
  long long self_ticks_begin = 0, self_ticks_end = 0;  // this process: the clients
  bool timed_out = false;
};

/// Per-event records. The publisher thread writes t_send, t_ack, outcome and device; the
/// receiving thread (Proton's, or the Mosquitto subscriber's) writes t_recv, t_embedded and
/// recv_count. Read after both have stopped; the counters are atomics for the phase machine.
struct ledger {
  explicit ledger(std::int64_t n, int devices)
      : t_send(static_cast<std::size_t>(n), 0),
        t_ack(static_cast<std::size_t>(n), 0),
        t_recv(static_cast<std::size_t>(n), 0),
        t_embedded(static_cast<std::size_t>(n), 0),
        outcome(static_cast<std::size_t>(n), 0),
        recv_count(static_cast<std::size_t>(n), 0),
        device(static_cast<std::size_t>(n), -1) {
    for (int k = 0; k < devices; ++k) names.push_back(device_name(k));
  }
  std::vector<std::int64_t> t_send, t_ack, t_recv, t_embedded;
  std::vector<std::uint8_t> outcome;     // 0 none, 1 PUBACKed, 2 refused by the client library
  std::vector<std::uint8_t> recv_count;  // saturating
  std::vector<std::int32_t> device;
  std::vector<std::string> names;             // read-only once the threads run
  std::atomic<std::int64_t> received{0};      // first receipts
  std::atomic<std::int64_t> duplicates{0};    // further receipts
  std::atomic<std::int64_t> foreign{0};       // payloads that are not one of ours
  std::atomic<std::int64_t> wrong_device{0};  // iothub-connection-device-id not the sender
  std::int64_t acked = 0, refused = 0;        // publisher thread

  /// One received event (receiving thread). `device_id` null: the reference has none.
  void on_event(const char* p, std::size_t len, const std::string* device_id) {
    const auto t = now_ns();
    if (len < header_bytes) {
      foreign.fetch_add(1);
      return;
    }
    std::uint64_t i = 0;
    std::int64_t sent = 0;
    std::int32_t dev = 0;
    std::memcpy(&i, p, 8);
    std::memcpy(&sent, p + 8, 8);
    std::memcpy(&dev, p + 16, 4);
    if (i >= t_recv.size() || dev < 0 || static_cast<std::size_t>(dev) >= names.size()) {
      foreign.fetch_add(1);
      return;
    }
    if (device_id != nullptr && *device_id != names[static_cast<std::size_t>(dev)])
      wrong_device.fetch_add(1);
    if (recv_count[i] == 0) {
      t_recv[i] = t;
      t_embedded[i] = sent;
      recv_count[i] = 1;
      received.fetch_add(1, std::memory_order_release);
    } else {
      if (recv_count[i] < 255) ++recv_count[i];
      duplicates.fetch_add(1);
    }
  }
};

void write_payload(std::string& buf, std::uint64_t i, std::int64_t t, std::int32_t dev) {
  std::memcpy(buf.data(), &i, 8);
  std::memcpy(buf.data() + 8, &t, 8);
  std::memcpy(buf.data() + 16, &dev, 4);
}

// ---- the Event Hubs reader ------------------------------------------------------------------

struct reader_settings {
  std::string url;
  std::string host_name;
  std::string hub_name;
  std::string ca_file;
  std::string service_key;
  int credit = 2000;
};

/// One AMQP connection: CBS put-token, `$management` READ (partition ids), a receiver per
/// partition at @latest, then a second READ as a barrier: the emulator handles a connection's
/// frames in order and both the reader attach and the READ go through the hub's executor, so
/// once that answer is here every receiver is registered with the hub and no event published
/// from now on can fall before its @latest.
class eventhub_reader : public proton::messaging_handler {
 public:
  eventhub_reader(reader_settings s, ledger& l) : s_(std::move(s)), ledger_(l) {}

  std::atomic<bool> ready{false};
  std::atomic<bool> failed{false};
  std::vector<std::int64_t> per_partition;  // container thread; read after it stopped

  std::string error() {
    std::lock_guard<std::mutex> g(mu_);
    return error_;
  }
  std::vector<std::string> partition_ids() {
    std::lock_guard<std::mutex> g(mu_);
    return ids_;
  }

  /// Any thread: closes the connection on its own work queue.
  void close() {
    proton::work_queue* wq = wq_.load();
    closing_ = true;
    if (wq != nullptr)
      wq->add([this] {
        if (conn_.active()) conn_.close();
      });
  }

  void on_container_start(proton::container& c) override {
    proton::connection_options o;
    o.sasl_enabled(false);  // TLS, then the AMQP header, then CBS (like the Azure SDKs)
    o.virtual_host(s_.host_name);
    o.ssl_client_options(proton::ssl_client_options(s_.ca_file, proton::ssl::VERIFY_PEER_NAME));
    o.handler(*this);
    c.connect(s_.url, o);
  }

  void on_connection_open(proton::connection& c) override {
    conn_ = c;
    wq_.store(&c.work_queue());
    cbs_sender_ = c.open_sender("$cbs");
    cbs_receiver_ = c.open_receiver("$cbs");
  }

  void on_sendable(proton::sender& s) override {
    if (s == cbs_sender_ && !token_sent_) {
      token_sent_ = true;
      const auto audience = "sb://" + s_.host_name + "/" + s_.hub_name;
      const auto se = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count() +
                      3600;
      proton::message req;
      req.id("cbs-1");
      req.to("$cbs");
      req.reply_to("cbs");
      req.properties().put("operation", "put-token");
      req.properties().put("type", "servicebus.windows.net:sastoken");
      req.properties().put("name", audience);
      req.body(emu::core::make_sas_token(audience, s_.service_key, "service", se));
      s.send(req);
    } else if (s == mgmt_sender_) {
      send_management();
    }
  }

  void on_message(proton::delivery& d, proton::message& m) override {
    const auto r = d.receiver();
    const auto it = index_.find(r.name());
    if (it != index_.end()) {
      on_event(it->second, m);
    } else if (r == cbs_receiver_) {
      const auto status = status_of(m);
      if (status != 200) return fail("CBS put-token answered " + std::to_string(status));
      mgmt_sender_ = conn_.open_sender("$management");
      proton::receiver_options ro;
      ro.name(mgmt_reply_);
      ro.target(proton::target_options().address(mgmt_reply_));
      mgmt_receiver_ = conn_.open_receiver("$management", ro);
      mgmt_pending_ = 1;
      send_management();
    } else if (r == mgmt_receiver_) {
      on_management(m);
    }
  }

  void on_receiver_open(proton::receiver& r) override {
    if (index_.count(r.name()) == 0) return;
    if (++opened_ == static_cast<int>(receivers_.size())) {
      mgmt_pending_ = 1;  // the barrier
      send_management();
    }
  }

  void on_transport_close(proton::transport&) override {
    wq_.store(nullptr);  // the connection (and its work queue) goes away
  }

  void on_receiver_close(proton::receiver& r) override {
    if (!closing_ && index_.count(r.name()) != 0)
      fail("the emulator closed receiver " + r.name() + ": " + r.error().what());
  }
  void on_transport_error(proton::transport& t) override {
    fail("AMQP transport error: " + t.error().what());
  }
  void on_connection_error(proton::connection& c) override {
    fail("AMQP connection error: " + c.error().what());
  }
  void on_sender_error(proton::sender& s) override {
    fail("AMQP sender error: " + s.error().what());
  }
  void on_receiver_error(proton::receiver& r) override {
    fail("AMQP receiver error: " + r.error().what());
  }

 private:
  static std::int64_t status_of(const proton::message& m) {
    if (!m.properties().exists("status-code")) return 0;
    return proton::coerce<std::int64_t>(m.properties().get("status-code"));
  }

  void fail(const std::string& what) {
    if (closing_) return;  // closing at the end is not an error
    {
      std::lock_guard<std::mutex> g(mu_);
      if (error_.empty()) error_ = what;
    }
    failed = true;
    if (conn_.active()) conn_.close();
  }

  void send_management() {
    if (mgmt_pending_ == 0 || !mgmt_sender_ || mgmt_sender_.credit() <= 0) return;
    mgmt_pending_ = 0;
    proton::message req;
    req.id("mgmt-" + std::to_string(++mgmt_sent_));
    req.reply_to(mgmt_reply_);
    req.properties().put("operation", "READ");
    req.properties().put("name", s_.hub_name);
    req.properties().put("type", "com.microsoft:eventhub");
    req.body(std::string("[]"));
    mgmt_sender_.send(req);
  }

  void on_management(const proton::message& m) {
    const auto status = status_of(m);
    if (status != 200) return fail("$management READ answered " + std::to_string(status));
    if (!receivers_.empty()) {  // the barrier's answer
      ready = true;
      return;
    }
    std::vector<std::string> ids;
    try {
      auto body = proton::get<std::map<std::string, proton::value>>(m.body());
      ids = proton::get<std::vector<std::string>>(body.at("partition_ids"));
    } catch (const std::exception& e) {
      return fail(std::string("$management READ: unreadable answer: ") + e.what());
    }
    if (ids.empty()) return fail("$management READ: no partition ids");
    {
      std::lock_guard<std::mutex> g(mu_);
      ids_ = ids;
    }
    per_partition.assign(ids.size(), 0);
    for (std::size_t k = 0; k < ids.size(); ++k) {
      const auto address = s_.hub_name + "/ConsumerGroups/$Default/Partitions/" + ids[k];
      // The selector filter as the Event Hubs clients send it (a described string).
      proton::value filter;
      proton::codec::encoder enc(filter);
      enc << proton::codec::start::described()
          << proton::symbol("apache.org:selector-filter:string")
          << std::string("amqp.annotation.x-opt-offset > '@latest'") << proton::codec::finish();
      proton::source::filter_map filters;
      filters.put(proton::symbol("apache.org:selector-filter:string"), filter);
      proton::receiver_options ro;
      const auto name = "d2c-partition-" + ids[k];
      ro.name(name);
      ro.credit_window(s_.credit);
      ro.source(proton::source_options().address(address).filters(filters));
      index_[name] = k;
      receivers_.push_back(conn_.open_receiver(address, ro));
    }
  }

  void on_event(std::size_t partition, proton::message& m) {
    ++per_partition[partition];
    const auto& body = m.body();
    if (body.type() != proton::BINARY) {
      ledger_.foreign.fetch_add(1);
      return;
    }
    const auto bin = proton::get<proton::binary>(body);
    std::string device;
    const auto v = m.message_annotations().get(device_id_key_);
    if (v.type() == proton::STRING) device = proton::get<std::string>(v);
    ledger_.on_event(reinterpret_cast<const char*>(bin.data()), bin.size(), &device);
  }

  reader_settings s_;
  ledger& ledger_;
  std::mutex mu_;
  std::string error_;
  std::vector<std::string> ids_;
  std::atomic<proton::work_queue*> wq_{nullptr};
  std::atomic<bool> closing_{false};
  proton::connection conn_;
  proton::sender cbs_sender_, mgmt_sender_;
  proton::receiver cbs_receiver_, mgmt_receiver_;
  std::vector<proton::receiver> receivers_;
  std::map<std::string, std::size_t> index_;  // receiver name → partition index
  const std::string mgmt_reply_ = "d2c-mgmt-reply";
  const proton::annotation_key device_id_key_{proton::symbol("iothub-connection-device-id")};
  bool token_sent_ = false;
  int mgmt_pending_ = 0;
  int mgmt_sent_ = 0;
  int opened_ = 0;
};

/// The reader's container on its own thread; the destructor always stops and joins it.
class reader_thread {
 public:
  reader_thread(reader_settings s, ledger& l) : reader(std::move(s), l), container_(reader) {
    thread_ = std::thread([this] {
      try {
        container_.run();
      } catch (const std::exception& e) {
        std::cout << "  reader container: " << e.what() << std::endl;
      }
      done_ = true;
    });
  }
  ~reader_thread() { stop(); }
  reader_thread(const reader_thread&) = delete;
  reader_thread& operator=(const reader_thread&) = delete;

  /// Waits (bounded) until the receivers are registered with the hub. Throws on failure.
  void wait_ready(std::chrono::seconds timeout) {
    const auto deadline = steady::now() + timeout;
    while (!reader.ready && !reader.failed && !done_ && steady::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!reader.ready)
      throw std::runtime_error("the Event Hubs reader did not become ready: " +
                               (reader.error().empty() ? "time-out" : reader.error()));
  }

  /// Closes the connection, waits up to 10 s for the container to return, else stops it.
  void stop() {
    if (!thread_.joinable()) return;
    if (!done_) reader.close();
    const auto deadline = steady::now() + std::chrono::seconds(10);
    while (!done_ && steady::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!done_) container_.stop();
    thread_.join();
  }

  eventhub_reader reader;

 private:
  proton::container container_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// ---- the devices and the phases ---------------------------------------------------------------

/// Runs `phases` on the publisher pool (this thread): picks devices round robin, at most
/// `inflight` unacknowledged publishes per device; a phase ends when every event was PUBACKed
/// and received, or after `timeout`. `receiver_error` is polled (the receiving side's failure).
void run_phases(mqtt_pool& pubs, std::vector<phase>& phases, ledger& l, int devices, int inflight,
                int payload, std::chrono::seconds timeout, pid_t server_pid,
                const std::function<std::string()>& receiver_error) {
  std::vector<std::string> topics;
  for (int k = 0; k < devices; ++k)
    topics.push_back("devices/" + device_name(k) + "/messages/events/");
  std::vector<int> in_flight(static_cast<std::size_t>(devices), 0);
  // mid → event index, per device
  std::vector<std::unordered_map<int, std::int64_t>> mids(static_cast<std::size_t>(devices));
  pubs.on_published = [&](int c, int mid) {
    auto& m = mids[static_cast<std::size_t>(c)];
    const auto it = m.find(mid);
    if (it == m.end()) return;
    const auto i = static_cast<std::size_t>(it->second);
    l.t_ack[i] = now_ns();
    l.outcome[i] = 1;
    ++l.acked;
    --in_flight[static_cast<std::size_t>(c)];
    m.erase(it);
  };
  const char* hook_env = std::getenv("D2C_PHASE_HOOK");
  const std::string hook = hook_env != nullptr ? hook_env : "";
  const auto run_hook = [&](const char* what, const std::string& name) {
    if (hook.empty()) return;
    const auto cmd = hook + " " + what + " " + name + " " + std::to_string(server_pid);
    if (std::system(cmd.c_str()) != 0) std::cout << "  hook failed: " << cmd << std::endl;
  };
  const auto check = [&] {
    if (!pubs.first_error().empty()) throw std::runtime_error(pubs.first_error());
    const auto e = receiver_error();
    if (!e.empty()) throw std::runtime_error(e);
  };
  std::string buf(static_cast<std::size_t>(std::max<int>(payload, header_bytes)), 'x');
  std::int64_t next = 0;
  int rr = 0;
  for (auto& p : phases) {
    // A gap between phases (and after the connects): the previous tail settles.
    const auto gap_until = steady::now() + std::chrono::milliseconds(500);
    while (steady::now() < gap_until) {
      pubs.poll(5);
      check();
    }
    p.begin = next;
    p.cpu_ticks_begin = server_pid > 0 ? cpu_ticks(server_pid) : 0;
    p.self_ticks_begin = cpu_ticks(::getpid());
    run_hook("start", p.name);
    std::cout << "  phase " << p.name << ": " << p.count << " events"
              << (p.rate > 0 ? " at " + fmt(p.rate) + " events/s" : std::string(" (saturation)"))
              << std::endl;
    const auto t0 = steady::now();
    const auto end = p.begin + p.count;
    for (;;) {
      const auto now = steady::now();
      std::int64_t allowed = end;
      if (p.rate > 0) {
        const double elapsed = std::chrono::duration<double>(now - t0).count();
        allowed = std::min(end, p.begin + static_cast<std::int64_t>(elapsed * p.rate) + 1);
      }
      int burst = 0;
      while (next < allowed && burst < 1000) {
        int k = -1;
        for (int scan = 0; scan < devices; ++scan) {
          const int c = (rr + scan) % devices;
          if (in_flight[static_cast<std::size_t>(c)] < inflight) {
            k = c;
            break;
          }
        }
        if (k < 0) break;  // every device is at its in-flight bound
        rr = (k + 1) % devices;
        const auto i = next++;
        const auto t = now_ns();
        write_payload(buf, static_cast<std::uint64_t>(i), t, k);
        l.t_send[static_cast<std::size_t>(i)] = t;
        l.device[static_cast<std::size_t>(i)] = k;
        const int mid = pubs.publish(k, topics[static_cast<std::size_t>(k)], buf.data(),
                                     static_cast<int>(buf.size()), 1);
        if (mid < 0) {
          l.outcome[static_cast<std::size_t>(i)] = 2;
          ++l.refused;
        } else {
          mids[static_cast<std::size_t>(k)][mid] = i;
          ++in_flight[static_cast<std::size_t>(k)];
        }
        ++burst;
      }
      pubs.flush();
      pubs.poll(burst > 0 ? 0 : 1);
      check();
      const bool all_sent = next >= end;
      const bool all_acked = l.acked + l.refused >= next;
      const bool all_received = l.received.load(std::memory_order_acquire) + l.refused >= next;
      if (all_sent && all_acked && all_received) break;
      if (steady::now() - t0 > timeout) {
        p.timed_out = true;
        std::cout << "  phase " << p.name << " TIMED OUT: sent " << (next - p.begin)
                  << ", PUBACKed " << l.acked << " and received " << l.received.load()
                  << " in total" << std::endl;
        break;
      }
    }
    p.cpu_ticks_end = server_pid > 0 ? cpu_ticks(server_pid) : 0;
    p.self_ticks_end = cpu_ticks(::getpid());
    run_hook("end", p.name);
    next = end;  // an unsent rest counts as missing
  }
  // Late duplicates would arrive now: a short grace.
  const auto grace = steady::now() + std::chrono::milliseconds(500);
  while (steady::now() < grace) pubs.poll(5);
  pubs.on_published = nullptr;
}

// ---- results ----------------------------------------------------------------------------------

struct phase_result {
  std::string system, mode, phase;
  std::int64_t count = 0;
  double offered = 0;
  double ingest_per_s = 0;  // PUBACKed events / (last PUBACK - first publish)
  double e2e_per_s = 0;     // received events / (last receipt - first publish)
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;        // publish → receipt, ms
  double ack_p50 = 0, ack_p90 = 0, ack_p99 = 0, ack_max = 0;  // PUBACK → receipt, ms
  double puback_p50 = 0, puback_p99 = 0;                      // publish → PUBACK, ms
  double cpu_percent = 0;         // the server process over the phase (100 = one core)
  double client_cpu_percent = 0;  // this process (devices, reader/subscriber)
  std::int64_t received = 0, missing = 0, duplicates = 0, refused = 0, not_acked = 0, corrupt = 0;
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
    std::vector<double> lat, ack_lat, puback;
    std::int64_t first_send = INT64_MAX, last_recv = 0, last_ack = 0, acked = 0;
    for (std::int64_t i = p.begin; i < p.begin + p.count; ++i) {
      const auto k = static_cast<std::size_t>(i);
      if (l.t_send[k] != 0) first_send = std::min(first_send, l.t_send[k]);
      if (l.outcome[k] == 2) ++r.refused;
      if (l.outcome[k] == 1) {
        ++acked;
        last_ack = std::max(last_ack, l.t_ack[k]);
        puback.push_back(static_cast<double>(l.t_ack[k] - l.t_send[k]) / 1e6);
      } else if (l.outcome[k] == 0) {
        ++r.not_acked;
      }
      if (l.recv_count[k] == 0) {
        ++r.missing;
        continue;
      }
      ++r.received;
      r.duplicates += l.recv_count[k] - 1;
      if (l.t_embedded[k] != l.t_send[k]) ++r.corrupt;
      last_recv = std::max(last_recv, l.t_recv[k]);
      lat.push_back(static_cast<double>(l.t_recv[k] - l.t_send[k]) / 1e6);
      if (l.outcome[k] == 1) ack_lat.push_back(static_cast<double>(l.t_recv[k] - l.t_ack[k]) / 1e6);
    }
    if (r.received > 0 && last_recv > first_send)
      r.e2e_per_s =
          static_cast<double>(r.received) / (static_cast<double>(last_recv - first_send) / 1e9);
    if (acked > 0 && last_ack > first_send)
      r.ingest_per_s =
          static_cast<double>(acked) / (static_cast<double>(last_ack - first_send) / 1e9);
    r.p50 = quantile(lat, 0.50);
    r.p90 = quantile(lat, 0.90);
    r.p99 = quantile(lat, 0.99);
    r.p999 = quantile(lat, 0.999);
    r.max = lat.empty() ? 0 : lat.back();
    r.ack_p50 = quantile(ack_lat, 0.50);
    r.ack_p90 = quantile(ack_lat, 0.90);
    r.ack_p99 = quantile(ack_lat, 0.99);
    r.ack_max = ack_lat.empty() ? 0 : ack_lat.back();
    r.puback_p50 = quantile(puback, 0.50);
    r.puback_p99 = quantile(puback, 0.99);
    const auto end = std::max(last_recv, last_ack);
    const auto percent = [&](long long ticks) {
      if (ticks <= 0 || end <= first_send) return 0.0;
      return 100.0 * static_cast<double>(ticks) / static_cast<double>(clock_ticks_per_second()) /
             (static_cast<double>(end - first_send) / 1e9);
    };
    r.cpu_percent = percent(p.cpu_ticks_end - p.cpu_ticks_begin);
    r.client_cpu_percent = percent(p.self_ticks_end - p.self_ticks_begin);
    out.push_back(r);
  }
  return out;
}

/// The exactly-once check over all phases: prints the counts and the first missing and
/// duplicated events. Returns true when every event was received exactly once.
bool check_delivery(const ledger& l, std::int64_t total, int show) {
  std::int64_t missing = 0, dups = 0, missing_acked = 0;
  std::vector<std::int64_t> first_missing, first_dups;
  for (std::int64_t i = 0; i < total; ++i) {
    const auto k = static_cast<std::size_t>(i);
    if (l.recv_count[k] == 0) {
      ++missing;
      if (l.outcome[k] == 1) ++missing_acked;
      if (static_cast<int>(first_missing.size()) < show) first_missing.push_back(i);
    } else if (l.recv_count[k] > 1) {
      dups += l.recv_count[k] - 1;
      if (static_cast<int>(first_dups.size()) < show) first_dups.push_back(i);
    }
  }
  std::cout << "  check: " << (total - missing) << " of " << total << " events received, "
            << missing << " missing (" << missing_acked << " of them PUBACKed), " << dups
            << " duplicates, " << l.foreign.load() << " foreign, " << l.wrong_device.load()
            << " with the wrong device id; " << l.acked << " PUBACKed, " << l.refused
            << " refused by the client library" << std::endl;
  const auto describe = [&](std::int64_t i) {
    const auto k = static_cast<std::size_t>(i);
    std::ostringstream s;
    s << "#" << i << " (" << (l.device[k] >= 0 ? device_name(l.device[k]) : std::string("unsent"))
      << (l.outcome[k] == 1   ? ", PUBACKed"
          : l.outcome[k] == 2 ? ", refused"
                              : ", no PUBACK")
      << (l.recv_count[k] > 1 ? ", received " + std::to_string(l.recv_count[k]) + "x" : "") << ")";
    return s.str();
  };
  if (!first_missing.empty()) {
    std::cout << "  MISSING (first " << first_missing.size() << "):";
    for (auto i : first_missing) std::cout << " " << describe(i);
    std::cout << std::endl;
  }
  if (!first_dups.empty()) {
    std::cout << "  DUPLICATED (first " << first_dups.size() << "):";
    for (auto i : first_dups) std::cout << " " << describe(i);
    std::cout << std::endl;
  }
  return missing == 0 && dups == 0 && l.foreign.load() == 0 && l.wrong_device.load() == 0 &&
         l.refused == 0;
}

struct options {
  std::string emulator;
  int devices = 100, payload = 200, inflight = 10, credit = 2000, partitions = 4;
  std::int64_t count = 30000;
  double rate = 1000;
  int rate_seconds = 10;
  std::vector<std::string> modes;
  bool mosquitto = true, mosquitto_tls = true;
  std::string mosquitto_bin = "/usr/sbin/mosquitto";
  std::chrono::seconds phase_timeout{120};
  int show_missing = 20;
  std::string log_level = "info";
  std::filesystem::path work;
  std::filesystem::path seed_db;  // copied into the data directory (file mode), bench/seed_db
  std::int64_t max_events = 0;    // eventHubs.maxEvents (0: the default)
};

std::vector<phase> make_phases(const options& o) {
  std::vector<phase> ph;
  if (o.rate > 0 && o.rate_seconds > 0)
    ph.push_back({"rate", static_cast<std::int64_t>(o.rate * o.rate_seconds), o.rate});
  if (o.count > 0) ph.push_back({"saturation", o.count, 0});
  return ph;
}

std::int64_t total_of(const std::vector<phase>& phases) {
  std::int64_t total = 0;
  for (const auto& p : phases) total += p.count;
  return total;
}

std::string emulator_config(const options& o) {
  const nlohmann::json devices = device_list(o.devices);
  nlohmann::json c = {{"devices", devices}, {"eventHubs", {{"partitionCount", o.partitions}}}};
  if (o.max_events > 0) {
    c["eventHubs"]["maxEvents"] = o.max_events;
    c["eventHubs"]["retentionBytes"] = 64LL * 1024 * 1024 * 1024;
  }
  return c.dump(1);
}

/// A pool polled on its own thread until `finish()` (the Mosquitto subscriber).
struct polled_pool {
  mqtt_pool pool;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::string error;  // the pool's first error, copied for the other thread
  polled_pool(std::uint16_t port, const std::string& ca) : pool("127.0.0.1", port, ca) {}
  ~polled_pool() { finish(); }
  void start() {
    thread = std::thread([this] {
      while (!stop.load()) {
        pool.poll(5);
        if (!pool.first_error().empty()) {
          std::lock_guard<std::mutex> g(mu);
          if (error.empty()) error = pool.first_error();
        }
      }
    });
  }
  std::string first_error() {
    std::lock_guard<std::mutex> g(mu);
    return error;
  }
  void finish() {
    stop = true;
    if (thread.joinable()) thread.join();
    pool.disconnect_all();
  }
};

std::vector<phase_result> run_emulator(const options& o, const std::string& mode,
                                       std::filesystem::path& cert_dir, bool& delivered_ok) {
  std::cout << "\n== emulator (" << mode << ") ==" << std::endl;
  emulator_options eo;
  eo.binary = o.emulator;
  eo.work_dir = o.work / ("emulator-" + mode);
  eo.in_memory = mode == "memory";
  eo.config_json = emulator_config(o);
  eo.log_level = o.log_level;
  eo.seed_db = o.seed_db;
  auto emu = start_emulator(eo);
  // Start to ready with the seeded backlog (issue 19 item 4): exec → ready file, and memory.
  std::cout << "  ready " << fmt(us_between(emu.process.started_at(), emu.ready_at) / 1000.0, 1)
            << " ms after exec, RSS " << rss_kib(emu.process.pid()) / 1024 << " MiB"
            << (eo.seed_db.empty() || eo.in_memory ? "" : " (seeded database)") << std::endl;
  cert_dir = eo.work_dir / "data" / "certs";
  const auto& info = emu.info;
  std::string hub_name;
  {
    std::ifstream in(eo.work_dir / "ready.json");
    hub_name = nlohmann::json::parse(in).at("hubName").get<std::string>();
  }
  std::cout << "  started pid " << emu.process.pid() << ", mqtt " << info.mqtt_port << ", amqp "
            << info.amqp_port << (eo.in_memory ? ", in memory" : ", database file") << ", hub '"
            << hub_name << "'" << std::endl;

  auto phases = make_phases(o);
  const auto total = total_of(phases);
  ledger l(total, o.devices);

  reader_settings rs;
  rs.url = "amqps://127.0.0.1:" + std::to_string(info.amqp_port);
  rs.host_name = info.host_name;
  rs.hub_name = hub_name;
  rs.ca_file = info.ca_file;
  rs.service_key = info.service_key;
  rs.credit = o.credit;
  std::vector<phase_result> results;
  {
    reader_thread rt(rs, l);
    rt.wait_ready(std::chrono::seconds(60));
    const auto ids = rt.reader.partition_ids();
    std::cout << "  reader: " << ids.size() << " partitions, a receiver on each at @latest, "
              << "credit window " << o.credit << std::endl;

    mqtt_pool devices("127.0.0.1", info.mqtt_port, info.ca_file);
    for (int k = 0; k < o.devices; ++k) {
      auto co = device_client(info, k);
      co.max_inflight = o.inflight;
      devices.add(co);
    }
    devices.wait_ready(std::chrono::seconds(60));
    std::cout << "  " << o.devices << " devices connected" << std::endl;

    std::string failure;
    try {
      run_phases(devices, phases, l, o.devices, o.inflight, o.payload, o.phase_timeout,
                 emu.process.pid(), [&] { return rt.reader.failed ? rt.reader.error() : ""; });
    } catch (const std::exception& e) {
      failure = e.what();
    }
    devices.disconnect_all();
    rt.stop();
    if (!failure.empty()) {
      std::cout << "  ERROR: " << failure << std::endl;
      delivered_ok = false;
    }
    std::cout << "  events per partition:";
    for (std::size_t k = 0; k < rt.reader.per_partition.size() && k < ids.size(); ++k)
      std::cout << " " << ids[k] << "=" << rt.reader.per_partition[k];
    std::cout << std::endl;
    results = evaluate("emulator", mode, phases, l);
    if (!check_delivery(l, total, o.show_missing)) delivered_ok = false;
  }
  const auto rss = rss_kib(emu.process.pid());
  std::cout << "  emulator RSS at the end: " << rss / 1024 << " MiB" << std::endl;
  const int rc = emu.process.stop(std::chrono::milliseconds(10'000));
  std::cout << "  emulator stopped (exit " << rc << ")" << std::endl;
  return results;
}

std::vector<phase_result> run_mosquitto(const options& o, const std::filesystem::path& cert_dir,
                                        bool& delivered_ok) {
  const bool tls = o.mosquitto_tls && std::filesystem::exists(cert_dir / "server.crt");
  std::cout << "\n== mosquitto broker (" << (tls ? "TLS" : "plain TCP") << ") ==" << std::endl;
  const auto dir = o.work / "mosquitto";
  std::filesystem::create_directories(dir);
  const auto port = free_loopback_port();
  child_process broker =
      start_mosquitto(o.mosquitto_bin, dir, port, tls ? cert_dir : std::filesystem::path(),
                      o.credit, "bench/d2c_e2e");
  std::cout << "  started pid " << broker.pid() << " on port " << port << std::endl;
  const std::string ca = tls ? (cert_dir / "ca.crt").string() : std::string();

  auto phases = make_phases(o);
  const auto total = total_of(phases);
  ledger l(total, o.devices);
  std::vector<phase_result> results;
  {
    polled_pool sub(port, ca);
    sub.pool.on_message = [&](int, const mosquitto_message& m) {
      l.on_event(static_cast<const char*>(m.payload), static_cast<std::size_t>(m.payloadlen),
                 nullptr);
    };
    mqtt_client_options so;
    so.client_id = "d2c-subscriber";
    so.subscribe_topic = "devices/+/messages/events/#";
    so.qos = 1;
    sub.pool.add(so);
    sub.pool.wait_ready(std::chrono::seconds(60));
    sub.start();

    mqtt_pool devices("127.0.0.1", port, ca);
    for (int k = 0; k < o.devices; ++k) {
      mqtt_client_options co;
      co.client_id = device_name(k);
      co.max_inflight = o.inflight;
      devices.add(co);
    }
    devices.wait_ready(std::chrono::seconds(60));
    std::cout << "  " << o.devices << " devices, 1 subscriber connected" << std::endl;
    std::string failure;
    try {
      run_phases(devices, phases, l, o.devices, o.inflight, o.payload, o.phase_timeout,
                 broker.pid(), [&] { return sub.first_error(); });
    } catch (const std::exception& e) {
      failure = e.what();
    }
    devices.disconnect_all();
    sub.finish();
    if (!failure.empty()) {
      std::cout << "  ERROR: " << failure << std::endl;
      delivered_ok = false;
    }
    results = evaluate("mosquitto", tls ? "TLS" : "plain", phases, l);
    if (!check_delivery(l, total, o.show_missing)) delivered_ok = false;
  }
  broker.stop();
  return results;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const bench::args a(
      argc, argv,
      {"--emulator", "--devices", "--count", "--payload", "--inflight", "--rate", "--rate-seconds",
       "--credit", "--partitions", "--modes", "--mosquitto", "--phase-timeout", "--show-missing",
       "--work-dir", "--log-level", "--seed-db", "--max-events"},
      {"--skip-mosquitto", "--mosquitto-plain", "--keep"});
  options o;
  o.emulator = a.text("--emulator", EMU_BENCH_EMULATOR);
  o.devices = static_cast<int>(std::clamp<long long>(a.number("--devices", 100), 1, 100000));
  o.count = std::max<long long>(a.number("--count", 30000), 0);
  o.payload = static_cast<int>(std::clamp<long long>(a.number("--payload", 200), 20, 262144));
  o.inflight = static_cast<int>(std::clamp<long long>(a.number("--inflight", 10), 1, 65535));
  o.rate = a.real("--rate", 1000);
  o.rate_seconds = static_cast<int>(a.number("--rate-seconds", 10));
  o.credit = static_cast<int>(std::clamp<long long>(a.number("--credit", 2000), 1, 1000000));
  o.partitions = static_cast<int>(a.number("--partitions", 4));
  o.modes = split(a.text("--modes", "memory,file"), ',');
  o.mosquitto = !a.flag("--skip-mosquitto");
  o.mosquitto_tls = !a.flag("--mosquitto-plain");
  o.mosquitto_bin = a.text("--mosquitto", "/usr/sbin/mosquitto");
  o.phase_timeout = std::chrono::seconds(a.number("--phase-timeout", 120));
  o.show_missing = static_cast<int>(a.number("--show-missing", 20));
  o.log_level = a.text("--log-level", "info");
  o.seed_db = a.text("--seed-db", "");
  o.max_events = std::max<long long>(a.number("--max-events", 0), 0);
  const bool keep = a.flag("--keep");
  o.work = a.text("--work-dir", "").empty() ? make_temp_dir("d2c")
                                            : std::filesystem::path(a.text("--work-dir", ""));
  std::filesystem::create_directories(o.work);

  std::cout << "d2c_e2e on " << machine_line() << "\n"
            << "  " << o.devices << " MQTT devices (QoS 1, at most " << o.inflight
            << " in flight each) -> " << o.partitions << " partitions -> 1 Event Hubs reader ("
            << "credit window " << o.credit << " per partition), " << o.payload
            << "-byte payloads\n  work dir " << o.work.string() << std::endl;
  const auto disk = probe_fdatasync(o.work);
  std::cout << "  load average " << load_average() << "; fdatasync (4 KiB append) on the work "
            << "dir's disk: p50 " << fmt(disk.p50_us) << " us, p99 " << fmt(disk.p99_us) << " us"
            << std::endl;

  bench::mosquitto_library mosq;
  std::vector<phase_result> results;
  std::filesystem::path cert_dir;
  bool delivered_ok = true;
  for (const auto& mode : o.modes) {
    try {
      auto r = run_emulator(o, mode, cert_dir, delivered_ok);
      results.insert(results.end(), r.begin(), r.end());
    } catch (const std::exception& e) {
      std::cout << "  ERROR (emulator " << mode << "): " << e.what() << std::endl;
      delivered_ok = false;
    }
  }
  if (o.mosquitto) {
    try {
      if (cert_dir.empty()) o.mosquitto_tls = false;  // no emulator run made certificates
      auto r = run_mosquitto(o, cert_dir, delivered_ok);
      results.insert(results.end(), r.begin(), r.end());
    } catch (const std::exception& e) {
      std::cout << "  ERROR (mosquitto): " << e.what() << std::endl;
      delivered_ok = false;
    }
  }

  // ---- tables ----------------------------------------------------------------------------------
  std::cout << "\nEnd to end (ms; pub = the device's publish, ack = the device's PUBACK, recv = "
               "the reader's receipt;\nCPU: 100% = one core; server = the emulator or broker "
               "process, client = this process: the devices and the reader)\n";
  table t({"system",        "mode",          "phase",   "events", "offered/s",    "PUBACKed/s",
           "e2e events/s",  "pub->recv p50", "p90",     "p99",    "p99.9",        "max",
           "ack->recv p50", "p90",           "p99",     "max",    "pub->ack p50", "p99",
           "server CPU",    "client CPU",    "missing", "dups"});
  for (const auto& r : results) {
    std::vector<std::string> row{r.system,
                                 r.mode,
                                 r.phase + (r.timed_out ? " (TIMEOUT)" : ""),
                                 std::to_string(r.count),
                                 r.offered > 0 ? fmt(r.offered) : "max",
                                 fmt(r.ingest_per_s),
                                 fmt(r.e2e_per_s)};
    for (double v : {r.p50, r.p90, r.p99, r.p999, r.max, r.ack_p50, r.ack_p90, r.ack_p99, r.ack_max,
                     r.puback_p50, r.puback_p99})
      row.push_back(fmt(v, 2));
    row.push_back(fmt(r.cpu_percent) + "%");
    row.push_back(fmt(r.client_cpu_percent) + "%");
    row.push_back(std::to_string(r.missing));
    row.push_back(std::to_string(r.duplicates));
    t.add(std::move(row));
  }
  t.print();
  std::cout << "\nfdatasync on this disk (start of run): p50 " << fmt(disk.p50_us) << " us, p99 "
            << fmt(disk.p99_us) << " us; load average at the end " << load_average() << "\n";

  const auto find = [&](const std::string& sys, const std::string& mode,
                        const std::string& ph) -> const phase_result* {
    for (const auto& r : results)
      if (r.system == sys && r.phase == ph && (mode.empty() || r.mode == mode)) return &r;
    return nullptr;
  };
  const auto* dur = find("emulator", "file", "saturation");
  const auto* mem = find("emulator", "memory", "saturation");
  const auto* mq = find("mosquitto", "", "saturation");
  const auto* dur_rate = find("emulator", "file", "rate");
  const auto* mem_rate = find("emulator", "memory", "rate");
  const auto* mq_rate = find("mosquitto", "", "rate");
  std::cout << "\nRatios (emulator / reference) and the issue's targets\n";
  table rt({"emulator figure", "reference", "ratio", "target"});
  if (dur) {
    rt.add({"durable e2e events/s " + fmt(dur->e2e_per_s), "target 30000",
            ratio(dur->e2e_per_s, 30000), ">= 1.00x"});
    if (mq)
      rt.add({"durable e2e events/s " + fmt(dur->e2e_per_s),
              "Mosquitto events/s " + fmt(mq->e2e_per_s), ratio(dur->e2e_per_s, mq->e2e_per_s),
              ""});
  }
  if (mem) {
    rt.add({"in-memory e2e events/s " + fmt(mem->e2e_per_s), "target 30000",
            ratio(mem->e2e_per_s, 30000), ""});
    if (mq)
      rt.add({"in-memory e2e events/s " + fmt(mem->e2e_per_s),
              "Mosquitto events/s " + fmt(mq->e2e_per_s), ratio(mem->e2e_per_s, mq->e2e_per_s),
              ""});
  }
  if (dur_rate) {
    rt.add({"durable PUBACK->recv p99 @" + fmt(dur_rate->offered) + "/s " +
                fmt(dur_rate->ack_p99, 2) + " ms",
            "target 5 ms", ratio(dur_rate->ack_p99, 5), "<= 1.00x"});
    if (mq_rate)
      rt.add({"durable pub->recv p99 @" + fmt(dur_rate->offered) + "/s " + fmt(dur_rate->p99, 2) +
                  " ms",
              "Mosquitto pub->recv p99 " + fmt(mq_rate->p99, 2) + " ms",
              ratio(dur_rate->p99, mq_rate->p99), ""});
  }
  if (mem_rate && mq_rate)
    rt.add({"in-memory pub->recv p99 @" + fmt(mem_rate->offered) + "/s " + fmt(mem_rate->p99, 2) +
                " ms",
            "Mosquitto pub->recv p99 " + fmt(mq_rate->p99, 2) + " ms",
            ratio(mem_rate->p99, mq_rate->p99), ""});
  rt.print();

  for (const auto& r : results)
    if (r.missing != 0 || r.duplicates != 0 || r.timed_out || r.refused != 0 || r.corrupt != 0)
      delivered_ok = false;
  std::cout << "\nSUMMARY d2c_e2e: durable " << (dur ? fmt(dur->e2e_per_s) : "n/a")
            << " events/s end to end (target 30000), in-memory "
            << (mem ? fmt(mem->e2e_per_s) : "n/a") << " events/s, PUBACK->reader p99 @"
            << fmt(o.rate) << "/s " << (dur_rate ? fmt(dur_rate->ack_p99, 2) : "n/a")
            << " ms durable (target 5), Mosquitto " << (mq ? fmt(mq->e2e_per_s) : "n/a")
            << " events/s, p99 pub->recv " << (mq_rate ? fmt(mq_rate->p99, 2) : "n/a")
            << " ms; delivery " << (delivered_ok ? "exactly once" : "PROBLEMS (see above)")
            << std::endl;
  if (!keep) {
    std::error_code ec;
    std::filesystem::remove_all(o.work, ec);
  }
  return delivered_ok ? 0 : 1;
}
