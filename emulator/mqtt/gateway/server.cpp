#include "emulator/mqtt/gateway/server.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/ip/address.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <chrono>
#include <system_error>

#include "emulator/mqtt/gateway/connection.hpp"
#include "emulator/mqtt/gateway/gateway_context.hpp"

namespace emu::mqtt {

struct server::listener {
  listener(asio::io_context& io, SSL_CTX* t)
      : acceptor(asio::make_strand(io)), retry(acceptor.get_executor()), tls(t) {}
  asio::ip::tcp::acceptor acceptor;
  asio::steady_timer retry;  // after an accept error such as EMFILE
  SSL_CTX* tls;              // null: plain TCP
};

server::server(gateway_settings settings, runtime::hub_executor& executor)
    : context_(std::make_shared<gateway_context>(std::move(settings), executor)) {
  executor.add_listener([ctx = context_](const core::hub_event& e) { ctx->on_hub_event(e); });
}

server::~server() {
  stop();
}

std::uint16_t server::listen_tls(const std::string& address, std::uint16_t port,
                                 runtime::tls_server_context& tls) {
  return listen(address, port, tls.native_handle());
}

std::uint16_t server::listen_plain(const std::string& address, std::uint16_t port) {
  return listen(address, port, nullptr);
}

std::uint16_t server::listen(const std::string& address, std::uint16_t port, SSL_CTX* tls) {
  std::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec) {
    asio::ip::tcp::resolver resolver(io_);
    const auto results = resolver.resolve(address, std::to_string(port));  // throws
    ip = results.begin()->endpoint().address();
  }
  const asio::ip::tcp::endpoint endpoint(ip, port);
  auto l = std::make_unique<listener>(io_, tls);
  l->acceptor.open(endpoint.protocol());
  l->acceptor.set_option(asio::socket_base::reuse_address(true));
  l->acceptor.bind(endpoint);  // throws std::system_error naming the reason (in use, …)
  l->acceptor.listen();
  const auto bound = l->acceptor.local_endpoint().port();
  context_->log(log_level::info, "listening on " + ip.to_string() + ":" + std::to_string(bound) +
                                     (tls ? " (TLS)" : " (plain TCP)"));
  auto& ref = *l;
  listeners_.push_back(std::move(l));
  asio::post(ref.acceptor.get_executor(), [this, &ref] { accept(ref); });
  return bound;
}

void server::accept(listener& l) {
  // Each accepted socket gets a strand of its own: one connection's handlers never run
  // concurrently, different connections run in parallel on the io threads.
  l.acceptor.async_accept(asio::make_strand(io_), [this, &l](std::error_code ec,
                                                             asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !l.acceptor.is_open()) return;
    if (ec) {
      context_->log(log_level::warning, "accept failed: " + ec.message());
      l.retry.expires_after(std::chrono::milliseconds(100));
      l.retry.async_wait([this, &l](std::error_code e) {
        if (!e && l.acceptor.is_open()) accept(l);
      });
      return;
    }
    const auto id = context_->next_connection_id.fetch_add(1);
    auto c = std::make_shared<connection>(context_, id, std::move(socket), l.tls);
    if (context_->registry.add(c, context_->settings.max_connections)) {
      c->start();
    } else {
      // Over the limit (or stopping): the socket closes when `c` goes away.
      if (const auto held = context_->refusals.admit())
        context_->log(log_level::warning,
                      "connection refused: " + std::to_string(context_->settings.max_connections) +
                          " connections are open (mqtt.maxConnections)" +
                          runtime::log_throttle::suffix(*held));
    }
    accept(l);
  });
}

void server::start() {
  if (stopped_ || !threads_.empty()) return;
  work_.emplace(asio::make_work_guard(io_));
  const std::size_t n = context_->settings.io_threads == 0 ? 1 : context_->settings.io_threads;
  for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this] { io_.run(); });
}

void server::stop() {
  if (stopped_) return;
  stopped_ = true;
  // From here no hub callback reaches a connection; the connections release their locks as
  // they close (work posted to the executor, which outlives this call).
  auto open = context_->registry.shut_down();
  for (auto& l : listeners_) {
    asio::post(l->acceptor.get_executor(), [&l = *l] {
      std::error_code ec;
      l.acceptor.close(ec);
      l.retry.cancel();
    });
  }
  for (auto& c : open) {
    asio::post(c->executor(),
               [c] { c->close_now(close_reason::server_shutdown, "the emulator is stopping"); });
  }
  open.clear();
  work_.reset();
  if (threads_.empty()) {
    io_.restart();
    io_.run();  // never started: run the closing handlers here
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

std::size_t server::connection_count() const {
  return context_->registry.size();
}

}  // namespace emu::mqtt
