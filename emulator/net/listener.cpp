#include "emulator/net/listener.hpp"

#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <atomic>
#include <chrono>
#include <system_error>

#include "emulator/log/log.hpp"
#include "emulator/log/log_throttle.hpp"

namespace emu::net {

namespace {

/// Connection ids are unique in the process, across fronts (they name connections in logs).
std::atomic<std::uint64_t> next_connection_id{1};

}  // namespace

struct listener::state : std::enable_shared_from_this<listener::state> {
  state(asio::io_context& i, SSL_CTX* t, std::shared_ptr<connection_set> c, listener_options o,
        protocol_factory f)
      : io(i),
        tls(t),
        connections(std::move(c)),
        options(std::move(o)),
        factory(std::move(f)),
        acceptor(asio::make_strand(io)),
        retry(acceptor.get_executor()),
        log(emu::log::get(options.front)) {}

  void accept() {
    // Each accepted socket gets a strand of its own: one connection's handlers never run
    // concurrently, different connections run in parallel on the pool's threads.
    acceptor.async_accept(
        asio::make_strand(io),
        [self = shared_from_this()](std::error_code ec, asio::ip::tcp::socket socket) {
          if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
          if (ec) {
            self->log.warn("accept failed: {}", ec.message());
            self->retry.expires_after(std::chrono::milliseconds(100));  // e.g. EMFILE: no spinning
            self->retry.async_wait([self](std::error_code e) {
              if (!e && self->acceptor.is_open()) self->accept();
            });
            return;
          }
          self->on_accepted(std::move(socket));
          self->accept();
        });
  }

  void on_accepted(asio::ip::tcp::socket socket) {
    const auto id = next_connection_id.fetch_add(1);
    auto c = std::make_shared<stream_connection>(std::move(socket), tls, id, options.connection,
                                                 factory(), connections);
    if (connections->add(c)) {
      c->start();
      return;
    }
    // Over the limit (or stopping): the socket closes when `c` goes away.
    connections->refusals().count("connection_limit");
    if (const auto held = refusals.admit())
      log.warn("connection refused: {} connections are open ({}){}", connections->size(),
               options.limit_setting, emu::log::log_throttle::suffix(*held));
  }

  asio::io_context& io;
  SSL_CTX* tls;
  std::shared_ptr<connection_set> connections;
  const listener_options options;
  const protocol_factory factory;
  asio::ip::tcp::acceptor acceptor;
  asio::steady_timer retry;
  spdlog::logger& log;
  emu::log::log_throttle refusals;  // "connection refused" at most once a second
};

listener::listener(asio::io_context& io, SSL_CTX* tls, std::shared_ptr<connection_set> connections,
                   listener_options options, protocol_factory factory)
    : state_(std::make_shared<state>(io, tls, std::move(connections), std::move(options),
                                     std::move(factory))) {}

listener::~listener() {
  stop();
}

std::uint16_t listener::listen(const std::string& address, std::uint16_t port) {
  auto& s = *state_;
  const auto where = address + ":" + std::to_string(port);
  // Asio's system category does not map its codes to std::errc (no default_error_condition),
  // so callers could not test for permission_denied: errors are rethrown as errno values.
  const auto fail = [&](const std::error_code& ec) {
    std::error_code ignored;
    s.acceptor.close(ignored);
    return std::system_error(std::error_code(ec.value(), std::generic_category()),
                             "cannot listen on " + where);
  };
  std::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec) {
    asio::ip::tcp::resolver resolver(s.io);
    const auto results = resolver.resolve(address, std::to_string(port), ec);
    if (ec) throw fail(ec);
    if (results.empty()) throw fail(std::make_error_code(std::errc::address_not_available));
    ip = results.begin()->endpoint().address();
  }
  const asio::ip::tcp::endpoint endpoint(ip, port);
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && ip.is_v6()) s.acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw fail(ec);
  const auto bound = s.acceptor.local_endpoint().port();
  s.log.info("listening on {}:{} ({})", ip.to_string(), bound, s.tls ? "TLS" : "plain TCP");
  asio::post(s.acceptor.get_executor(), [self = state_] { self->accept(); });
  return bound;
}

void listener::stop() {
  asio::post(state_->acceptor.get_executor(), [self = state_] {
    std::error_code ignored;
    self->acceptor.close(ignored);
    self->retry.cancel();
  });
}

}  // namespace emu::net
