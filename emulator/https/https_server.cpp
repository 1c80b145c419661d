#include "emulator/https/https_server.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "emulator/https/error_response.hpp"
#include "emulator/https/http_connection.hpp"
#include "emulator/https/http_front.hpp"
#include "emulator/https/registry_api.hpp"
#include "emulator/https/routes.hpp"
#include "emulator/https/test_control_api.hpp"
#include "emulator/https/text_checks.hpp"
#include "emulator/runtime/log.hpp"
#include "emulator/runtime/log_throttle.hpp"
#include "emulator/runtime/tls_context.hpp"

namespace emu::https {

namespace {

using json = nlohmann::json;
using runtime::log_level;

}  // namespace

struct https_server::impl {
  impl(runtime::hub_executor& e, https_settings s)
      : executor(e),
        settings(std::move(s)),
        // Names the file and the reason when the certificate or key is missing or wrong.
        tls(runtime::tls_server_options{settings.certificate_chain, settings.private_key}),
        acceptor(asio::make_strand(io)),
        retry(acceptor.get_executor()),
        front(std::make_shared<http_front>(
            settings, [this](const http_request& request, const std::string& peer,
                             http_front::clock::time_point deadline) {
              return handle(request, peer, deadline);
            })) {}

  /// Runs on a worker thread (http_front::handle).
  http_response handle(const http_request& request, const std::string& peer,
                       http_front::clock::time_point deadline) {
    // Queued behind slow requests for longer than the hub may take: answer without the hub,
    // so no request (and no stop()) waits more than hub_timeout in all.
    if (http_front::clock::now() >= deadline) return hub_unavailable();
    try {
      return dispatch(match_route(request.method, request.target), request, peer, deadline);
    } catch (const std::exception& e) {
      runtime::log(log_level::error, "https", std::string("request failed: ") + e.what());
      return error_response(500, "ServerError", "Internal error.");
    }
  }
  http_response dispatch(const route& r, const http_request& request,
                         const std::string& remote_addr, http_front::clock::time_point deadline);
  static http_response hub_unavailable() {
    return error_response(503, "ServiceUnavailable", "The hub did not answer in time.");
  }
  /// Runs `fn(hub, now) -> http_response` on the executor and waits (bounded) for the answer,
  /// which arrives after the round's commit.
  template <class Fn>
  http_response on_hub(Fn fn, http_front::clock::time_point deadline);
  http_response advance_clock(const http_request& request, http_front::clock::time_point deadline);
  json clock_now() const {
    const auto now = executor.now();
    const auto wall =
        std::chrono::time_point_cast<core::duration>(std::chrono::system_clock::now());
    return clock_json(now, now - core::time_point{wall.time_since_epoch()});
  }
  void accept();

  runtime::hub_executor& executor;
  const https_settings settings;
  std::function<void()> clock_hook;
  runtime::tls_server_context tls;
  asio::io_context io;  // before the objects that use it
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  asio::ip::tcp::acceptor acceptor;
  asio::steady_timer retry;  // after an accept error such as EMFILE
  std::shared_ptr<http_front> front;
  runtime::log_throttle refusals;  // "connection refused" at most once a second
  std::thread thread;
  bool listening = false;
  std::atomic<bool> stopped{false};
};

template <class Fn>
http_response https_server::impl::on_hub(Fn fn, http_front::clock::time_point deadline) {
  using answer = std::pair<bool, http_response>;
  auto promise = std::make_shared<std::promise<answer>>();
  auto future = promise->get_future();
  executor.submit(
      [fn = std::move(fn)](core::hub& hub, core::time_point now) mutable -> http_response {
        // An exception must not escape onto the executor thread (it would end the process).
        try {
          return fn(hub, now);
        } catch (const std::exception& e) {
          runtime::log(log_level::error, "https", std::string("request failed: ") + e.what());
          return error_response(500, "ServerError", "Internal error.");
        }
      },
      [promise](bool committed, http_response r) {
        promise->set_value(answer{committed, std::move(r)});
      });
  if (future.wait_until(deadline) != std::future_status::ready) return hub_unavailable();
  auto [committed, response] = future.get();
  if (!committed)
    return error_response(500, "ServerError", "The change could not be stored; nothing was done.");
  return std::move(response);
}

http_response https_server::impl::advance_clock(const http_request& request,
                                                http_front::clock::time_point deadline) {
  const json doc = json::parse(request.body, nullptr, false);
  const json* seconds = nullptr;
  if (!doc.is_discarded() && doc.is_object() && doc.contains("seconds")) seconds = &doc["seconds"];
  // Forward only, at most ten years: the executor's clock never runs backwards.
  if (seconds == nullptr || !seconds->is_number() || !std::isfinite(seconds->get<double>()) ||
      seconds->get<double>() < 0 || seconds->get<double>() > 10.0 * 366 * 24 * 3600)
    return error_response(400, "ArgumentInvalid",
                          "The body must be {\"seconds\": N} with 0 <= N <= 10 years.");
  executor.advance_clock(
      core::duration{static_cast<std::int64_t>(std::llround(seconds->get<double>() * 1000))});
  // Answer only after a round has run at the new time, so the caller already sees what became
  // due (TTL expiry, lock timeouts, feedback batches): the no-op's round starts with
  // hub.advance(now) and commits before this completes.
  auto done =
      on_hub([](core::hub&, core::time_point) { return json_response(json::object()); }, deadline);
  if (done.status != 200) return done;
  if (clock_hook) clock_hook();
  return json_response(clock_now());
}

http_response https_server::impl::dispatch(const route& r, const http_request& request,
                                           const std::string& remote_addr,
                                           http_front::clock::time_point deadline) {
  switch (r.kind) {
    case route_kind::bad_request:
      return error_response(400, "ArgumentInvalid", "The path has a malformed percent escape.");
    case route_kind::not_found:
      return error_response(404, "NotFound", "No such resource.");
    case route_kind::method_not_allowed:
      return error_response(405, "MethodNotAllowed", "The method is not allowed on this path.");
    case route_kind::health:
      // Like the Event Hubs emulator's health contract: no auth, no secrets.
      return json_response(json{{"status", "healthy"}});
    default:
      break;
  }
  if (is_admin(r.kind)) {
    // Test control does not exist unless enabled; when enabled it answers loopback peers only
    // (it needs no token: a local test harness drives it).
    if (!settings.test_control) return error_response(404, "NotFound", "No such resource.");
    if (!is_loopback_address(remote_addr))
      return error_response(403, "Forbidden", "Test control is served to loopback peers only.");
    if (r.kind == route_kind::admin_clock) return json_response(clock_now());
    if (r.kind == route_kind::admin_clock_advance) return advance_clock(request, deadline);
    return on_hub(
        [r, request](core::hub& hub, core::time_point now) {
          return handle_test_control(hub, now, r, request);
        },
        deadline);
  }
  return on_hub(
      [r, request](core::hub& hub, core::time_point now) {
        return handle_registry(hub, now, r, request);
      },
      deadline);
}

https_server::https_server(runtime::hub_executor& executor, https_settings settings)
    : impl_(std::make_unique<impl>(executor, std::move(settings))) {}

https_server::~https_server() {
  stop();
}

void https_server::on_clock_advanced(std::function<void()> hook) {
  impl_->clock_hook = std::move(hook);
}

void https_server::impl::accept() {
  // Each connection gets a strand of its own (one I/O thread runs them all today; the strand
  // keeps the connection correct if that changes).
  acceptor.async_accept(asio::make_strand(io), [this](std::error_code ec,
                                                      asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      runtime::log(log_level::warn, "https", "accept failed: " + ec.message());
      retry.expires_after(std::chrono::milliseconds(100));
      retry.async_wait([this](std::error_code e) {
        if (!e && acceptor.is_open()) accept();
      });
      return;
    }
    const auto id = front->next_id.fetch_add(1);
    auto c = std::make_shared<http_connection>(front, id, std::move(socket), tls.native_handle());
    if (front->add(c, id)) {
      c->start();
    } else {
      // Over the limit (or stopping): the socket closes when `c` goes away.
      if (const auto held = refusals.admit())
        runtime::log(log_level::warn, "https",
                     "connection refused: " + std::to_string(settings.max_connections) +
                         " connections are open (https.maxConnections)" +
                         runtime::log_throttle::suffix(*held));
    }
    accept();
  });
}

std::uint16_t https_server::listen(const std::string& address, std::uint16_t port) {
  impl& self = *impl_;
  if (self.listening || self.stopped) throw std::logic_error("https: listen() called twice");
  std::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec) {
    asio::ip::tcp::resolver resolver(self.io);
    const auto results = resolver.resolve(address, std::to_string(port));  // throws if none
    if (results.empty())
      throw std::system_error(std::make_error_code(std::errc::bad_address),
                              "https: cannot resolve " + address);
    ip = results.begin()->endpoint().address();
  }
  const asio::ip::tcp::endpoint endpoint(ip, port);
  try {
    self.acceptor.open(endpoint.protocol());
    // SO_REUSEADDR only (fast restarts), no SO_REUSEPORT: a second emulator on the same port
    // fails instead of silently sharing connections.
    self.acceptor.set_option(asio::socket_base::reuse_address(true));
    self.acceptor.bind(endpoint);
    self.acceptor.listen();
  } catch (const std::system_error& e) {
    std::error_code close_ec;
    self.acceptor.close(close_ec);
    // Asio's system category does not map its codes to std::errc (no default_error_condition),
    // so the caller could not test for permission_denied: hand on the errno value as such.
    throw std::system_error(std::error_code(e.code().value(), std::generic_category()),
                            "https: cannot listen on " + address + ":" + std::to_string(port));
  }
  const auto bound = self.acceptor.local_endpoint().port();
  self.listening = true;
  asio::post(self.acceptor.get_executor(), [&self] { self.accept(); });
  self.work.emplace(asio::make_work_guard(self.io));
  self.thread = std::thread([&self] { self.io.run(); });
  runtime::log(log_level::info, "https",
               "listening on " + ip.to_string() + ":" + std::to_string(bound) +
                   (self.settings.test_control ? " (test control on)" : ""));
  return bound;
}

void https_server::stop() {
  if (!impl_) return;
  impl& self = *impl_;
  if (self.stopped.exchange(true)) return;
  auto open = self.front->shut_down();
  asio::post(self.acceptor.get_executor(), [&self] {
    std::error_code ec;
    self.acceptor.close(ec);
    self.retry.cancel();
  });
  // Idle connections close now; a request being answered gets its response first.
  for (auto& c : open) c->shut_down();
  open.clear();
  // The requests already handed to the workers finish (each within hub_timeout of its
  // start: the executor must still run) and post their responses to their connections; no
  // new one starts (http_front::begin_request). Only then may the pool stop.
  self.front->wait_for_requests();
  self.front->workers.join();
  self.work.reset();
  if (self.thread.joinable()) {
    self.thread.join();
  } else {
    self.io.restart();
    self.io.run();  // never listened: run the closing handlers here
  }
}

}  // namespace emu::https
