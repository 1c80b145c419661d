// The HTTPS connection's deadlines (http_connection.hpp), driven step by step: a real
// http_connection on a real loopback socket (plain TCP: the transport's TLS is exercised by the
// integration tests), an io_context run in slices by the test, and a handler in place of the hub.
#include <doctest/doctest.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "emulator/https/http_connection.hpp"
#include "emulator/https/http_front.hpp"

using namespace emu::https;
using namespace std::chrono_literals;

namespace {

struct harness {
  explicit harness(https_settings s)
      : front(std::make_shared<http_front>(
            std::move(s),
            [this](const http_request&, const std::string&, http_front::clock::time_point) {
              ++handled;
              http_response r;
              r.body = "ok";
              return r;
            })) {
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    client.connect(acceptor.local_endpoint());
    asio::ip::tcp::socket server_side(asio::make_strand(io));
    acceptor.accept(server_side);
    connection = std::make_shared<http_connection>(front, 1, std::move(server_side), nullptr);
    REQUIRE(front->add(connection, 1));
    connection->start();
    io.run_for(20ms);
  }
  ~harness() {
    front->shut_down();
    connection->shut_down();
    connection.reset();
    front->workers.join();
    io.restart();
    io.run_for(50ms);
  }

  void send(const std::string& bytes) { asio::write(client, asio::buffer(bytes)); }

  /// Runs the connection until the handler has run and its response was posted back.
  void serve(std::chrono::milliseconds slice) {
    io.run_for(slice);
    front->wait_for_requests();
    io.restart();
    io.run_for(slice);
  }

  /// What the client received so far ("" after an orderly close without data).
  std::string received() {
    client.non_blocking(true);
    std::string out;
    char buffer[4096];
    for (;;) {
      std::error_code ec;
      const auto n = client.read_some(asio::buffer(buffer), ec);
      if (ec) break;
      out.append(buffer, n);
    }
    return out;
  }

  bool closed_by_server() {
    client.non_blocking(true);
    char b;
    std::error_code ec;
    (void)client.read_some(asio::buffer(&b, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

  asio::io_context io;
  std::atomic<int> handled{0};
  std::shared_ptr<http_front> front;
  asio::ip::tcp::socket client{io};
  std::shared_ptr<http_connection> connection;
};

}  // namespace

TEST_CASE("a request whose last byte and deadline arrive in the same turn is still answered") {
  // The request deadline fires while the I/O thread is busy; the last bytes arrive meanwhile.
  // Both are handled in the same turn: the request first, then the stale timer completion,
  // which must not close the connection the request is being answered on.
  https_settings s;
  s.request_timeout = 50ms;
  s.worker_threads = 1;
  harness h(s);
  h.send("GET /health HTTP/1.1\r\nHost: x\r\n");
  h.io.run_for(20ms);  // the first byte arms the request deadline
  std::this_thread::sleep_for(100ms);
  h.send("\r\n");
  std::this_thread::sleep_for(5ms);
  h.serve(100ms);
  CHECK(h.handled == 1);
  const auto answer = h.received();
  CHECK(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(answer.find("Connection: close") == std::string::npos);
}

TEST_CASE("a request that does not complete within request_timeout gets 408, then a close") {
  https_settings s;
  s.request_timeout = 50ms;
  harness h(s);
  h.send("GET /health HTTP/1.1\r\nHo");
  h.io.run_for(150ms);
  CHECK(h.handled == 0);
  const auto answer = h.received();
  CHECK(answer.rfind("HTTP/1.1 408 Request Timeout\r\n", 0) == 0);
  CHECK(answer.find("Connection: close") != std::string::npos);
  CHECK(answer.find("ErrorCode:RequestTimeout") != std::string::npos);
  CHECK(h.closed_by_server());
}

TEST_CASE("a connection that never starts a request is closed without an answer") {
  https_settings s;
  s.request_timeout = 50ms;
  harness h(s);
  h.io.run_for(150ms);
  CHECK(h.received().empty());
  CHECK(h.closed_by_server());
}

TEST_CASE("an idle keep-alive connection is closed after keep_alive_timeout, not before") {
  https_settings s;
  s.keep_alive_timeout = 200ms;
  s.request_timeout = 5s;
  harness h(s);
  h.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  h.serve(30ms);
  CHECK(h.received().rfind("HTTP/1.1 200", 0) == 0);
  h.io.run_for(50ms);
  CHECK_FALSE(h.closed_by_server());
  h.io.run_for(300ms);
  CHECK(h.closed_by_server());
}

TEST_CASE("pipelined requests are answered in order, one at a time") {
  https_settings s;
  harness h(s);
  h.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  h.serve(30ms);
  h.serve(30ms);
  CHECK(h.handled == 2);
  const auto answer = h.received();
  const auto first = answer.find("HTTP/1.1 200");
  REQUIRE(first != std::string::npos);
  CHECK(answer.find("HTTP/1.1 200", first + 1) != std::string::npos);
}

TEST_CASE("a request parsed after the server began stopping gets 503 and a close") {
  https_settings s;
  harness h(s);
  h.front->shut_down();  // what https_server::stop() does first
  h.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  h.io.run_for(50ms);
  CHECK(h.handled == 0);
  const auto answer = h.received();
  CHECK(answer.rfind("HTTP/1.1 503", 0) == 0);
  CHECK(answer.find("Connection: close") != std::string::npos);
}
