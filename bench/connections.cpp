// connections: K idle TLS MQTT devices connect to the emulator and stay.
//
// One thread, epoll, non-blocking OpenSSL client connections (no per-connection thread or
// library loop): each does TCP connect, the TLS handshake (verifying the emulator's CA),
// CONNECT (SAS token, clean session 0, keep-alive 1200 s) and SUBSCRIBE to its C2D topic at
// QoS 1, then stays idle. At most --parallel connections are in progress at a time.
//
// Reports: connect rate (TCP + TLS + CONNACK + SUBACK, K / wall time), the emulator's VmRSS
// before and after (per connection = difference / K; user memory only, kernel socket buffers
// are not in RSS), and the emulator's CPU while the K devices sit idle (from /proc/PID/stat
// over --idle-seconds). RLIMIT_NOFILE is raised to its hard limit (the emulator inherits it).
//
// Options: --devices K [10000]  --parallel P [64]  --idle-seconds S [10]  --settle-seconds S [2]
//          --client-processes N [1]  --emulator PATH  --log-level L [info]  --work-dir DIR  --keep
// With N client processes, each connects its share of the devices from its own source address
// (127.0.0.2, 127.0.0.3, …) and holds its own sockets (the fd limit is per process): the way to
// reach ~19,500 devices under a 20,000 open-file hard limit (issue 19).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench/common/util.hpp"
#include "emulator/core/sas_token.hpp"

namespace {

using namespace bench;

void put_u16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}
void put_str(std::string& out, const std::string& s) {
  put_u16(out, s.size());
  out += s;
}
void put_len(std::string& out, std::size_t n) {
  do {
    auto b = static_cast<std::uint8_t>(n % 128);
    n /= 128;
    if (n > 0) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (n > 0);
}

std::string connect_packet(const std::string& id, const std::string& user, const std::string& pw) {
  std::string body;
  put_str(body, "MQTT");
  body.push_back(4);                               // 3.1.1
  body.push_back(static_cast<char>(0x80 | 0x40));  // user name, password, clean session 0
  put_u16(body, 1200);                             // keep-alive seconds
  put_str(body, id);
  put_str(body, user);
  put_str(body, pw);
  std::string p(1, static_cast<char>(0x10));
  put_len(p, body.size());
  return p + body;
}

std::string subscribe_packet(const std::string& topic) {
  std::string body;
  put_u16(body, 1);
  put_str(body, topic);
  body.push_back(1);
  std::string p(1, static_cast<char>(0x82));
  put_len(p, body.size());
  return p + body;
}

enum class state { tcp, tls, connack, suback, idle, failed };

struct conn {
  int index = 0;
  int fd = -1;
  SSL* ssl = nullptr;
  state st = state::tcp;
  std::string out;
  std::size_t out_off = 0;
  unsigned char in[64];
  std::size_t in_len = 0;
  std::uint32_t events = 0;
};

}  // namespace

// One client process's share: devices [first, last) from source address `source` (network
// byte order), all connected and subscribed (or failed) within 300 s. The sockets stay open.
struct client_result {
  int done = 0;
  int failed = 0;
  double connect_s = 0;
  char first_error[200] = {};
};

struct client_slice {
  int first = 0, last = 0;
  in_addr_t source = 0;
  int parallel = 64;
};

client_result run_clients(const client_slice& slice, const std::vector<std::string>& hello,
                          const std::vector<std::string>& sub, const std::string& ca_file,
                          std::uint16_t mqtt_port, std::vector<conn>& conns, SSL_CTX*& ctx_out,
                          int& ep_out) {
  const int parallel = slice.parallel;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ctx_out = ctx;
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  client_result result;
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
    std::snprintf(result.first_error, sizeof result.first_error, "cannot load %s", ca_file.c_str());
    result.failed = slice.last - slice.first;
    return result;
  }
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  ep_out = ep;
  const int k_total = slice.last - slice.first;
  conns.assign(static_cast<std::size_t>(k_total), conn{});
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(mqtt_port);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = slice.source;  // port 0: an ephemeral port of that address

  int next = 0, in_progress = 0, done = 0, failed = 0;
  std::string first_error;
  const auto set_events = [&](conn& c, std::uint32_t ev) {
    if (c.events == ev) return;
    epoll_event e{};
    e.events = ev;
    e.data.ptr = &c;
    ::epoll_ctl(ep, c.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &e);
    c.events = ev;
  };
  const auto fail = [&](conn& c, const std::string& why) {
    if (first_error.empty()) first_error = device_name(c.index) + ": " + why;
    c.st = state::failed;
    if (c.fd >= 0) {
      ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
      c.fd = -1;
    }
    ++failed;
    --in_progress;
  };
  const auto start = [&](int k) {
    auto& c = conns[static_cast<std::size_t>(k)];
    c.index = slice.first + k;
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++in_progress;
    if (c.fd < 0) return fail(c, std::string("socket: ") + std::strerror(errno));
    if (::bind(c.fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0)
      return fail(c, std::string("bind: ") + std::strerror(errno));
    const int rc = ::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (rc != 0 && errno != EINPROGRESS)
      return fail(c, std::string("connect: ") + std::strerror(errno));
    c.st = state::tcp;
    set_events(c, EPOLLOUT);
  };
  // Writes what is pending; returns false on error.
  const auto flush = [&](conn& c) -> bool {
    while (c.out_off < c.out.size()) {
      const int n =
          SSL_write(c.ssl, c.out.data() + c.out_off, static_cast<int>(c.out.size() - c.out_off));
      if (n > 0) {
        c.out_off += static_cast<std::size_t>(n);
        continue;
      }
      const int err = SSL_get_error(c.ssl, n);
      if (err == SSL_ERROR_WANT_WRITE) {
        set_events(c, EPOLLIN | EPOLLOUT);
        return true;
      }
      if (err == SSL_ERROR_WANT_READ) return true;
      return false;
    }
    c.out.clear();
    c.out_off = 0;
    set_events(c, EPOLLIN);
    return true;
  };
  const auto handle = [&](conn& c) {
    if (c.st == state::tcp) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return fail(c, std::string("connect: ") + std::strerror(err));
      c.ssl = SSL_new(ctx);
      SSL_set_fd(c.ssl, c.fd);
      SSL_set_tlsext_host_name(c.ssl, "localhost");
      SSL_set1_host(c.ssl, "localhost");
      c.st = state::tls;
    }
    if (c.st == state::tls) {
      const int rc = SSL_connect(c.ssl);
      if (rc != 1) {
        const int err = SSL_get_error(c.ssl, rc);
        if (err == SSL_ERROR_WANT_READ) return set_events(c, EPOLLIN);
        if (err == SSL_ERROR_WANT_WRITE) return set_events(c, EPOLLOUT);
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
        return fail(c, std::string("TLS: ") + buf);
      }
      c.st = state::connack;
      c.out = hello[static_cast<std::size_t>(c.index)];
      if (!flush(c)) return fail(c, "write CONNECT");
    }
    if (c.out_off < c.out.size() && !flush(c)) return fail(c, "write");
    for (;;) {
      const int n = SSL_read(c.ssl, c.in + c.in_len, static_cast<int>(sizeof c.in - c.in_len));
      if (n <= 0) {
        const int err = SSL_get_error(c.ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
        return fail(c, "connection closed by the emulator");
      }
      c.in_len += static_cast<std::size_t>(n);
      // CONNACK: 20 02 00 rc;  SUBACK: 90 03 00 01 qos
      while (c.in_len >= 2 && c.in_len >= 2u + c.in[1]) {
        const std::size_t plen = 2u + c.in[1];
        if (c.st == state::connack && c.in[0] == 0x20 && plen == 4) {
          if (c.in[3] != 0) return fail(c, "CONNACK " + std::to_string(c.in[3]));
          c.st = state::suback;
          c.out = sub[static_cast<std::size_t>(c.index)];
          c.out_off = 0;
          if (!flush(c)) return fail(c, "write SUBSCRIBE");
        } else if (c.st == state::suback && c.in[0] == 0x90 && plen == 5) {
          if (c.in[4] == 0x80) return fail(c, "SUBSCRIBE refused");
          c.st = state::idle;
          --in_progress;
          ++done;
        }
        std::memmove(c.in, c.in + plen, c.in_len - plen);
        c.in_len -= plen;
      }
      if (c.st == state::idle) break;
    }
  };

  const auto t0 = steady::now();
  const auto deadline = t0 + std::chrono::seconds(300);
  epoll_event evs[512];
  while (done + failed < k_total && steady::now() < deadline) {
    while (next < k_total && in_progress < parallel) start(next++);
    const int n = ::epoll_wait(ep, evs, 512, 100);
    for (int i = 0; i < n; ++i) {
      auto& c = *static_cast<conn*>(evs[i].data.ptr);
      if (c.st == state::idle || c.st == state::failed) continue;
      handle(c);
    }
  }
  const double connect_s = std::chrono::duration<double>(steady::now() - t0).count();
  // Idle: nobody reads any more; the sockets stay open.
  for (auto& c : conns)
    if (c.fd >= 0) ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
  result.done = done;
  result.failed = failed;
  result.connect_s = connect_s;
  std::snprintf(result.first_error, sizeof result.first_error, "%s", first_error.c_str());
  return result;
}

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const args a(argc, argv,
               {"--devices", "--parallel", "--idle-seconds", "--settle-seconds", "--emulator",
                "--log-level", "--work-dir", "--client-processes"},
               {"--keep"});
  const int k_total = static_cast<int>(a.number("--devices", 10000));
  const int parallel = static_cast<int>(a.number("--parallel", 64));
  const int idle_seconds = static_cast<int>(a.number("--idle-seconds", 10));
  const int settle_seconds = static_cast<int>(a.number("--settle-seconds", 2));
  const auto work = a.text("--work-dir", "").empty()
                        ? make_temp_dir("conn")
                        : std::filesystem::path(a.text("--work-dir", ""));
  const long fd_limit = raise_fd_limit();
  std::cout << "connections on " << machine_line() << "\n  " << k_total << " idle TLS devices, "
            << parallel << " connecting at a time, fd limit " << fd_limit << std::endl;
  if (fd_limit < k_total + 100) {
    std::cerr << "connections: RLIMIT_NOFILE " << fd_limit << " is too low for " << k_total
              << " devices" << std::endl;
    return 2;
  }

  const nlohmann::json devices = device_list(k_total);
  emulator_options eo;
  eo.binary = a.text("--emulator", EMU_BENCH_EMULATOR);
  eo.work_dir = work;
  eo.in_memory = true;
  eo.log_level = a.text("--log-level", "info");
  // The MQTT front's default limit is 10,000 connections: raised to what is measured.
  eo.config_json =
      nlohmann::json{{"devices", devices}, {"mqtt", {{"maxConnections", k_total + 100}}}}.dump();
  auto emu = start_emulator(eo);
  const pid_t pid = emu.process.pid();
  const auto& info = emu.info;
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const long rss_before = rss_kib(pid);
  std::cout << "  emulator pid " << pid << " ready (" << k_total << " devices in its registry), "
            << "RSS " << rss_before << " KiB" << std::endl;

  // Tokens up front: the HMACs are not part of the measured connect rate.
  const auto se = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count() +
                  3600;
  std::vector<std::string> hello(static_cast<std::size_t>(k_total));
  std::vector<std::string> sub(static_cast<std::size_t>(k_total));
  for (int k = 0; k < k_total; ++k) {
    const auto id = device_name(k);
    hello[static_cast<std::size_t>(k)] = connect_packet(
        id, info.host_name + "/" + id + "/?api-version=2021-04-12",
        emu::core::make_sas_token(info.host_name + "/devices/" + id, device_key, "", se));
    sub[static_cast<std::size_t>(k)] =
        subscribe_packet("devices/" + id + "/messages/devicebound/#");
  }

  // The clients: in `processes` forked processes (each holds its own sockets: the fd limit is
  // per process), each from its own source address 127.0.0.(2 + i), so the emulator sees many
  // peers and no single address runs out of ephemeral ports. Each child reports on a pipe once
  // its share is connected, then holds its sockets until the parent closes `release`.
  const int processes = std::max(1, static_cast<int>(a.number("--client-processes", 1)));
  int release[2];
  if (::pipe(release) != 0) return 1;
  struct child {
    pid_t pid = -1;
    int report = -1;
  };
  std::vector<child> children;
  const auto t0 = steady::now();
  for (int i = 0; i < processes; ++i) {
    int report[2];
    if (::pipe(report) != 0) return 1;
    client_slice slice;
    slice.first = static_cast<int>(static_cast<long>(k_total) * i / processes);
    slice.last = static_cast<int>(static_cast<long>(k_total) * (i + 1) / processes);
    slice.source = htonl(INADDR_LOOPBACK + 1 + static_cast<in_addr_t>(i));
    slice.parallel = std::max(1, parallel / processes);
    const pid_t p = ::fork();
    if (p < 0) return 1;
    if (p == 0) {
      ::close(report[0]);
      ::close(release[1]);
      std::vector<conn> conns;
      SSL_CTX* ctx = nullptr;
      int ep = -1;
      const auto r = run_clients(slice, hello, sub, info.ca_file, info.mqtt_port, conns, ctx, ep);
      [[maybe_unused]] const auto w = ::write(report[1], &r, sizeof r);
      char byte;
      [[maybe_unused]] const auto n = ::read(release[0], &byte, 1);  // EOF: the parent is done
      ::_exit(0);  // the kernel closes the sockets
    }
    ::close(report[1]);
    children.push_back({p, report[0]});
  }
  ::close(release[0]);
  int done = 0, failed = 0;
  std::string first_error;
  for (auto& c : children) {
    client_result r;
    const auto n = ::read(c.report, &r, sizeof r);
    if (n != static_cast<ssize_t>(sizeof r)) {
      failed += 1;
      if (first_error.empty()) first_error = "a client process died";
      continue;
    }
    done += r.done;
    failed += r.failed;
    if (first_error.empty() && r.first_error[0] != 0) first_error = r.first_error;
  }
  const double connect_s = std::chrono::duration<double>(steady::now() - t0).count();
  std::cout << "  " << done << " connected and subscribed in " << fmt(connect_s, 2) << " s by "
            << processes << " client process(es) (" << failed << " failed"
            << (first_error.empty() ? "" : ", first: " + first_error) << ")" << std::endl;

  std::this_thread::sleep_for(std::chrono::seconds(settle_seconds));
  const long rss_after = rss_kib(pid);
  const long long cpu0 = cpu_ticks(pid);
  std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
  const long long cpu1 = cpu_ticks(pid);
  const long rss_idle_end = rss_kib(pid);
  const double idle_cpu = 100.0 * static_cast<double>(cpu1 - cpu0) /
                          static_cast<double>(clock_ticks_per_second()) / idle_seconds;
  const double per_conn_kib = done > 0 ? static_cast<double>(rss_after - rss_before) / done : 0.0;
  const double rate = done / connect_s;

  ::close(release[1]);  // the clients exit
  for (auto& c : children) {
    ::close(c.report);
    int status = 0;
    ::waitpid(c.pid, &status, 0);
  }
  const int rc = emu.process.stop();

  std::cout << "\n";
  table t({"devices", "connected", "failed", "connect s", "connects/s", "RSS before KiB",
           "RSS after KiB", "KiB/device", "RSS after idle KiB", "idle CPU %"});
  t.add({std::to_string(k_total), std::to_string(done), std::to_string(failed), fmt(connect_s, 2),
         fmt(rate), std::to_string(rss_before), std::to_string(rss_after), fmt(per_conn_kib, 1),
         std::to_string(rss_idle_end), fmt(idle_cpu, 2)});
  t.print();
  std::cout << "\nSUMMARY connections: " << done << "/" << k_total << " idle TLS devices, "
            << fmt(rate) << " connects/s (target 500), " << fmt(per_conn_kib, 1)
            << " KiB RSS per device (target 20), idle CPU " << fmt(idle_cpu, 2) << "% over "
            << idle_seconds << " s; emulator exit " << rc << std::endl;
  if (!a.flag("--keep")) {
    std::error_code ec;
    std::filesystem::remove_all(work, ec);
  }
  return done == k_total ? 0 : 1;
}
