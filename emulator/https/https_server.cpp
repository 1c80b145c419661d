#include "emulator/https/https_server.hpp"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "emulator/https/error_response.hpp"
#include "emulator/https/registry_api.hpp"
#include "emulator/https/routes.hpp"
#include "emulator/https/test_control_api.hpp"
#include "emulator/https/text_checks.hpp"
#include "emulator/runtime/log.hpp"
#include "emulator/runtime/tls_context.hpp"

namespace emu::https {

namespace {

using json = nlohmann::json;
using runtime::log_level;

/// Configures cpp-httplib's SSL_CTX like runtime::tls_server_context configures the other
/// fronts' (sdk-wire §8 "TLS": 1.2 for Python, 1.3 for Node). The files were already validated
/// by constructing a tls_server_context, which reports problems with file names.
bool configure_tls(SSL_CTX& ctx, const https_settings& s) {
  try {
    runtime::configure_server_tls(&ctx);
  } catch (const std::exception&) {
    return false;
  }
  return SSL_CTX_use_certificate_chain_file(&ctx, s.certificate_chain.c_str()) == 1 &&
         SSL_CTX_use_PrivateKey_file(&ctx, s.private_key.c_str(), SSL_FILETYPE_PEM) == 1 &&
         SSL_CTX_check_private_key(&ctx) == 1;
}

void apply(const http_response& from, httplib::Response& to) {
  to.status = from.status;
  for (const auto& [name, value] : from.headers) to.set_header(name, value);
  if (!from.body.empty()) to.set_content(from.body, from.content_type.c_str());
}

/// The IoT Hub error for an error status that cpp-httplib produced itself (no body yet).
http_response library_error(int status, std::size_t max_body) {
  switch (status) {
    case 413:
      return error_response(
          413, "MessageTooLarge",
          "The request body is larger than " + std::to_string(max_body) + " bytes.");
    case 404:
      return error_response(404, "NotFound", "No such resource.");
    case 400:
      return error_response(400, "ArgumentInvalid", "The request is malformed.");
    default:
      return error_response(status, status >= 500 ? "ServerError" : "ArgumentInvalid",
                            "The request failed.");
  }
}

}  // namespace

struct https_server::impl {
  impl(runtime::hub_executor& e, https_settings s)
      : executor(e),
        settings(std::move(s)),
        server([this](SSL_CTX& ctx) { return configure_tls(ctx, settings); }) {}

  http_response dispatch(const route& r, const http_request& request,
                         const std::string& remote_addr);
  /// Runs `fn(hub, now) -> http_response` on the executor and waits (bounded) for the answer,
  /// which arrives after the round's commit.
  template <class Fn>
  http_response on_hub(Fn fn);
  http_response advance_clock(const http_request& request);
  json clock_now() const {
    const auto now = executor.now();
    const auto wall =
        std::chrono::time_point_cast<core::duration>(std::chrono::system_clock::now());
    return clock_json(now, now - core::time_point{wall.time_since_epoch()});
  }

  runtime::hub_executor& executor;
  const https_settings settings;
  std::function<void()> clock_hook;
  httplib::SSLServer server;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable cv;
  bool serving = false;  // listen_after_bind has entered its loop (or returned)
  bool stopped = false;
};

template <class Fn>
http_response https_server::impl::on_hub(Fn fn) {
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
  if (future.wait_for(settings.hub_timeout) != std::future_status::ready)
    return error_response(503, "ServiceUnavailable", "The hub did not answer in time.");
  auto [committed, response] = future.get();
  if (!committed)
    return error_response(500, "ServerError", "The change could not be stored; nothing was done.");
  return std::move(response);
}

http_response https_server::impl::advance_clock(const http_request& request) {
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
  auto done = on_hub([](core::hub&, core::time_point) { return json_response(json::object()); });
  if (done.status != 200) return done;
  if (clock_hook) clock_hook();
  return json_response(clock_now());
}

http_response https_server::impl::dispatch(const route& r, const http_request& request,
                                           const std::string& remote_addr) {
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
    if (r.kind == route_kind::admin_clock_advance) return advance_clock(request);
    return on_hub([r, request](core::hub& hub, core::time_point now) {
      return handle_test_control(hub, now, r, request);
    });
  }
  return on_hub([r, request](core::hub& hub, core::time_point now) {
    return handle_registry(hub, now, r, request);
  });
}

https_server::https_server(runtime::hub_executor& executor, https_settings settings) {
  // Validate the files with the shared TLS code first: it names the file and the reason.
  runtime::tls_server_context check(
      runtime::tls_server_options{settings.certificate_chain, settings.private_key});
  impl_ = std::make_unique<impl>(executor, std::move(settings));
  auto& server = impl_->server;
  if (!server.is_valid()) {
    ERR_clear_error();
    throw std::runtime_error("https: cannot configure TLS with '" +
                             impl_->settings.certificate_chain.string() + "'");
  }
  impl* self = impl_.get();
  const auto& s = impl_->settings;

  // cpp-httplib's default sets SO_REUSEPORT, which would let a second emulator bind the same
  // port and silently share connections. SO_REUSEADDR only: fast restarts, exclusive port.
  server.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server.set_payload_max_length(s.max_body_bytes);
  server.set_keep_alive_timeout(static_cast<time_t>(s.keep_alive_timeout.count()));
  // The SDKs keep connections alive (the Node Registry's agent does): spare TLS handshakes.
  server.set_keep_alive_max_count(100);
  server.set_read_timeout(s.io_timeout);
  server.set_write_timeout(s.io_timeout);
  // The task queue is created inside listen_after_bind() once the server is running: the
  // moment stop() can no longer be missed (stop() before that would be ignored).
  server.new_task_queue = [self]() -> httplib::TaskQueue* {
    {
      std::lock_guard lock(self->mutex);
      self->serving = true;
    }
    self->cv.notify_all();
    // cpp-httplib takes ownership of the raw pointer (it wraps it in a unique_ptr).
    return std::make_unique<httplib::ThreadPool>(self->settings.worker_threads).release();
  };

  const auto handler = [self](const httplib::Request& req, httplib::Response& res) {
    http_request request{req.method, req.target, req.get_header_value("Authorization"),
                         req.get_header_value("If-Match"), req.body};
    const route r = match_route(request.method, request.target);
    const http_response response = self->dispatch(r, request, req.remote_addr);
    apply(response, res);
    // The path only: queries carry no secrets but add noise; headers (the token) never.
    if (runtime::log_enabled(log_level::debug))
      runtime::log(log_level::debug, "https",
                   req.method + " " + req.path + " -> " + std::to_string(response.status));
  };
  // One catch-all per method: routing is ours (routes.hpp) on the raw target, so the device
  // id is percent-decoded exactly once.
  server.Get(".*", handler);
  server.Put(".*", handler);
  server.Post(".*", handler);
  server.Delete(".*", handler);
  server.set_error_handler(
      httplib::Server::HandlerWithResponse([self](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        apply(library_error(res.status, self->settings.max_body_bytes), res);
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        runtime::log(log_level::error, "https", "request failed: " + what);
        apply(error_response(500, "ServerError", "Internal error."), res);
      });
}

https_server::~https_server() {
  stop();
}

void https_server::on_clock_advanced(std::function<void()> hook) {
  impl_->clock_hook = std::move(hook);
}

std::uint16_t https_server::listen(const std::string& address, std::uint16_t port) {
  auto& server = impl_->server;
  int bound = port;
  errno = 0;
  if (port == 0) {
    bound = server.bind_to_any_port(address);
  } else if (!server.bind_to_port(address, port)) {
    bound = -1;
  }
  if (bound <= 0) {
    const int err = errno != 0 ? errno : EADDRNOTAVAIL;
    throw std::system_error(err, std::generic_category(),
                            "https: cannot listen on " + address + ":" + std::to_string(port));
  }
  impl* self = impl_.get();
  self->thread = std::thread([self] {
    self->server.listen_after_bind();
    {
      std::lock_guard lock(self->mutex);
      self->serving = true;  // also when it returned at once: listen() must not wait forever
    }
    self->cv.notify_all();
  });
  std::unique_lock lock(self->mutex);
  if (!self->cv.wait_for(lock, std::chrono::seconds(30), [self] { return self->serving; })) {
    lock.unlock();
    stop();
    throw std::runtime_error("https: the server did not start");
  }
  runtime::log(log_level::info, "https",
               "listening on " + address + ":" + std::to_string(bound) +
                   (self->settings.test_control ? " (test control on)" : ""));
  return static_cast<std::uint16_t>(bound);
}

void https_server::stop() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace emu::https
