// The HTTPS connection's protocol (http_session.hpp) with a fake link and a clock the test
// moves: every phase's deadline, pipelining, the refusal linger and the stop, without sockets,
// threads or sleeps. (The socket side is net::stream_connection's, tests/unit/net/.)
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>

#include "emulator/executor/hub_executor.hpp"
#include "emulator/https/http_session.hpp"
#include "emulator/https/https_state.hpp"
#include "tests/unit/core/memory_store.hpp"
#include "tests/unit/net/fake_link.hpp"

using namespace emu;
using namespace emu::https;
using namespace std::chrono_literals;

namespace {

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct harness {
  explicit harness(https_settings s = {})
      // An executor that is never started: a hub that never answers.
      : executor(core::hub_settings{}, std::make_unique<core::testing::memory_store>()),
        state(std::make_shared<https_state>(
            std::move(s), executor, [](std::chrono::milliseconds, std::function<void()>) {},
            [this] { return now; })),
        session(state) {
    session.open(link);
  }

  /// Offers `text` as the connection would: whatever the session takes, the rest stays.
  std::size_t in(const std::string& text) {
    pending += text;
    std::size_t used = 0;
    while (!pending.empty() && session.wants_input()) {
      const auto n = session.on_input(bytes(pending));
      if (n == 0) break;
      pending.erase(0, n);
      used += n;
    }
    return used;
  }
  /// The transport wrote everything out.
  std::string flush() {
    auto out = link.take();
    session.on_output_flushed();
    return out;
  }
  /// Moves the clock to the session's deadline and lets it act.
  void expire() {
    REQUIRE(session.deadline());
    now = *session.deadline();
    session.on_deadline(now);
  }

  net::steady_time now{std::chrono::hours(1)};
  executor::hub_executor executor;
  std::shared_ptr<https_state> state;
  net::testing::fake_link link;
  http_session session;
  std::string pending;
};

/// A request the front answers without the hub (405: /health is GET only; GET /health asks the
/// hub, which never answers here).
constexpr const char* health = "DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n";

}  // namespace

TEST_CASE("a request completed at its deadline is answered; the deadline becomes the write's") {
  https_settings s;
  s.request_timeout = 50ms;
  s.write_timeout = 7s;
  harness h(s);
  h.in("DELETE /health HTTP/1.1\r\nHost: x\r\n");  // the first byte arms the request deadline
  REQUIRE(h.session.deadline() == h.now + 50ms);
  h.now += 50ms;  // the deadline and the last bytes in the same turn: the bytes come first
  h.in("\r\n");
  CHECK(h.session.deadline() == h.now + 7s);
  const auto answer = h.flush();
  CHECK(answer.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0) == 0);
  CHECK(answer.find("Connection: close") == std::string::npos);
  CHECK_FALSE(h.link.closed);
}

TEST_CASE("a request that does not complete within request_timeout gets 408, then a close") {
  https_settings s;
  s.request_timeout = 50ms;
  harness h(s);
  h.in("GET /health HTTP/1.1\r\nHo");
  h.expire();
  const auto answer = h.flush();
  CHECK(answer.rfind("HTTP/1.1 408 Request Timeout\r\n", 0) == 0);
  CHECK(answer.find("Connection: close") != std::string::npos);
  CHECK(answer.find("ErrorCode:RequestTimeout") != std::string::npos);
  CHECK(h.link.closed);
}

TEST_CASE("a connection that never starts a request is closed without an answer") {
  https_settings s;
  s.request_timeout = 50ms;
  harness h(s);
  CHECK(h.session.deadline() == h.now + 50ms);
  h.expire();
  CHECK(h.link.take().empty());
  CHECK(h.link.closed == "keep-alive idle timeout");
}

TEST_CASE("an idle keep-alive connection is closed after keep_alive_timeout, not before") {
  https_settings s;
  s.keep_alive_timeout = 200ms;
  s.request_timeout = 5s;
  harness h(s);
  h.in(health);
  CHECK(h.flush().rfind("HTTP/1.1 405", 0) == 0);
  CHECK(h.session.deadline() == h.now + 200ms);
  h.now += 199ms;
  CHECK_FALSE(h.link.closed);
  h.expire();
  CHECK(h.link.closed);
}

TEST_CASE("pipelined requests are answered in order, one at a time") {
  harness h;
  h.in(std::string(health) + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_FALSE(h.session.wants_input());  // the second waits, unread, while the first is out
  CHECK(h.pending.size() > 0);
  const auto first = h.flush();
  CHECK(first.rfind("HTTP/1.1 405", 0) == 0);
  h.in("");  // the connection offers the kept bytes again
  const auto second = h.flush();
  CHECK(second.rfind("HTTP/1.1 404", 0) == 0);
  CHECK(h.pending.empty());
}

TEST_CASE("a hub that does not answer within hub_timeout gets the request a 503") {
  https_settings s;
  s.hub_timeout = 300ms;
  harness h(s);
  h.in("GET /devices HTTP/1.1\r\nHost: x\r\nAuthorization: SharedAccessSignature x\r\n\r\n");
  CHECK(h.session.deadline() == h.now + 300ms);
  CHECK(h.link.take().empty());  // waiting for the hub
  h.expire();
  const auto answer = h.flush();
  CHECK(answer.rfind("HTTP/1.1 503", 0) == 0);
  CHECK(answer.find("ErrorCode:ServiceUnavailable") != std::string::npos);
  CHECK(h.link.closed);
}

TEST_CASE("a refused request lingers: the rest of it is drained, not reset") {
  https_settings s;
  s.limits.max_body_bytes = 128 * 1024;
  harness h(s);
  h.in("PUT /devices/d HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n");
  const auto answer = h.flush();
  CHECK(answer.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(h.link.closed);
  CHECK(h.link.drained);
}

TEST_CASE("a head that fills the buffer is refused with 431 (overflow)") {
  harness h;
  h.session.on_input_overflow();
  CHECK(h.flush().rfind("HTTP/1.1 431", 0) == 0);
  CHECK(h.link.drained);
}

TEST_CASE("stopping: an idle connection closes now, one being answered after its response") {
  {
    harness h;
    h.session.on_shutdown("the emulator is stopping");
    CHECK(h.link.closed);
  }
  {
    harness h;
    h.in("GET /devices HTTP/1.1\r\nHost: x\r\nAuthorization: SharedAccessSignature x\r\n\r\n");
    h.session.on_shutdown("the emulator is stopping");
    CHECK_FALSE(h.link.closed);  // the request in flight is answered first
    h.expire();                  // (here: the hub does not answer, so 503)
    const auto answer = h.flush();
    CHECK(answer.find("Connection: close") != std::string::npos);
    CHECK(h.link.closed);
  }
}

TEST_CASE("the dashboard: loopback peers naming this machine only, unless served remotely") {
  {
    harness h;
    h.in("GET / HTTP/1.1\r\nHost: localhost:443\r\n\r\n");
    const auto page = h.flush();
    CHECK(page.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(page.find("Content-Type: text/html") != std::string::npos);
    CHECK(page.find("Content-Security-Policy: default-src 'none'") != std::string::npos);
    CHECK(page.find("<title>IoT Hub emulator</title>") != std::string::npos);
  }
  {
    harness h;
    h.link.address = "10.1.2.3";
    h.in("GET /dashboard/state HTTP/1.1\r\nHost: localhost\r\n\r\n");
    CHECK(h.flush().rfind("HTTP/1.1 403", 0) == 0);
  }
  {
    harness h;  // a name resolved to 127.0.0.1 by someone else's DNS
    h.in("GET /dashboard/state HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    CHECK(h.flush().rfind("HTTP/1.1 403", 0) == 0);
  }
  {
    https_settings s;
    s.dashboard = dashboard_access::remote;
    harness h(s);
    h.link.address = "10.1.2.3";
    h.in("GET /dashboard/events HTTP/1.1\r\nHost: myhub\r\n\r\n");
    CHECK(h.flush().rfind("HTTP/1.1 401", 0) == 0);  // remote: a token is needed
    h.in("GET / HTTP/1.1\r\nHost: myhub\r\n\r\n");
    CHECK(h.flush().rfind("HTTP/1.1 200", 0) == 0);  // the page holds no secret
  }
  {
    https_settings s;
    s.dashboard = dashboard_access::off;
    harness h(s);
    h.in("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    CHECK(h.flush().rfind("HTTP/1.1 404", 0) == 0);
  }
  {
    harness h;  // a form of another site cannot send C2D (no CORS preflight without JSON)
    h.in(
        "POST /dashboard/devices/d/messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
        "text/plain\r\nContent-Length: 2\r\n\r\n{}");
    CHECK(h.flush().rfind("HTTP/1.1 415", 0) == 0);
  }
}

TEST_CASE("the dashboard's event stream: a head without length, then a look at the hub per tick") {
  https_settings s;
  s.hub_timeout = 300ms;
  harness h(s);
  h.in("GET /dashboard/events HTTP/1.1\r\nHost: localhost\r\n\r\n");
  const auto head = h.link.take();
  CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(head.find("Content-Type: text/event-stream") != std::string::npos);
  CHECK(head.find("Content-Length") == std::string::npos);
  h.session.on_output_flushed();
  CHECK(h.session.wants_input());
  CHECK(h.in("ignored") == 7);  // nothing more is read as a request
  // The hub (never started here) does not answer its look: the stream ends after hub_timeout
  // instead of waiting for ever.
  CHECK(h.session.deadline() == h.now + 300ms);
  CHECK_FALSE(h.link.closed);
  h.expire();
  CHECK(h.link.closed);
}

TEST_CASE("100-continue is sent once, when the head asks for it and the body is missing") {
  harness h;
  h.in("PUT /devices/d HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  CHECK(h.link.take() == "HTTP/1.1 100 Continue\r\n\r\n");
  h.in("{");
  CHECK(h.link.take().empty());
}

TEST_CASE("chunked framing trickled byte by byte is parsed once per line, not once per byte") {
  harness h;
  std::string request =
      "POST /devices/d/messages/events?api-version=2021-04-12 HTTP/1.1\r\n"
      "Host: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  constexpr int chunks = 50;
  for (int i = 0; i < chunks; ++i) request += "0000000a;ext=1\r\n0123456789\r\n";  // 16-byte lines
  request += "0;end=1\r\nTrailer: x\r\n\r\n";
  for (const char c : request) h.in(std::string(1, c));
  CHECK_FALSE(h.session.wants_input());  // the request is complete and being answered
  // Per chunk: its size line's LF, its data's end, the LF after it; not each of the 16 bytes
  // of its size line (that would be ~18 per chunk).
  CHECK(h.session.parses() <= 3 * chunks + 8);
}

TEST_CASE("a Content-Length body whose last byte comes alone is parsed when it arrives") {
  // Found in review: "one byte more" must not be read as "waiting for a line's end".
  harness h;
  h.in("PUT /devices/d?api-version=2021-04-12 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{");
  CHECK(h.session.wants_input());
  h.in("}");
  CHECK_FALSE(h.session.wants_input());  // complete: being answered, not waiting for a LF
}
