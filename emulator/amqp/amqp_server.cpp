#include "emulator/amqp/amqp_server.hpp"

#include <asio/dispatch.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include <map>
#include <mutex>
#include <type_traits>
#include <variant>
#include <vector>

#include "emulator/amqp/connection.hpp"
#include "emulator/runtime/log_throttle.hpp"

namespace emu::amqp {

using tcp = asio::ip::tcp;
using tls_stream = asio::ssl::stream<tcp::socket>;

namespace detail {

/// What the server does to one connection from outside its strand.
class session_base {
 public:
  virtual ~session_base() = default;
  virtual void post_close(amqp_error e) = 0;
  virtual void post_feedback_available() = 0;
  virtual void post_tick() = 0;
};

/// Shared by the server object, its acceptors, its connections and the hub listener, so that
/// whichever goes last frees it.
class server_state : public std::enable_shared_from_this<server_state> {
 public:
  server_state(asio::io_context& io, asio::ssl::context* tls, runtime::hub_executor& executor,
               amqp_settings settings)
      : io_(io), tls_(tls), executor_(executor), settings_(std::move(settings)) {}

  void log(log_level level, const std::string& text) const { runtime::log(level, "amqp", text); }

  std::uint16_t listen(const std::string& address, std::uint16_t port);
  void stop();
  void for_each_session(const std::function<void(session_base&)>& fn);
  void remove(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    sessions_.erase(id);
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
  }
  void on_hub_event(const core::hub_event& ev);

  // Read-only after construction; the sessions use them.
  asio::io_context& io_;
  asio::ssl::context* tls_;
  runtime::hub_executor& executor_;
  const amqp_settings settings_;

 private:
  void accept_next(const std::shared_ptr<tcp::acceptor>& acceptor);
  void on_accepted(tcp::socket socket);

  mutable std::mutex mutex_;
  std::map<std::uint64_t, std::weak_ptr<session_base>> sessions_;
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors_;
  std::uint64_t next_id_ = 1;
  runtime::log_throttle refusals_;  // "refused" at most once a second
  bool stopped_ = false;
};

/// One TCP (or TLS) connection: reads bytes into the amqp_connection, writes what it produces,
/// and runs its timer. Everything happens on the socket's strand.
template <class Stream>
class socket_session final : public session_base,
                             public std::enable_shared_from_this<socket_session<Stream>> {
 public:
  static constexpr bool uses_tls = std::is_same_v<Stream, tls_stream>;

  socket_session(std::shared_ptr<server_state> server, Stream stream, std::string peer,
                 std::uint64_t id)
      : server_(std::move(server)),
        stream_(std::move(stream)),
        timer_(stream_.get_executor()),
        peer_(std::move(peer)),
        id_(id) {}

  ~socket_session() override { server_->remove(id_); }

  void start() {
    asio::error_code ignored;
    // ARCHITECTURE "Latency tails": without TCP_NODELAY settlements wait for delayed ACKs.
    stream_.lowest_layer().set_option(tcp::no_delay(true), ignored);
    std::weak_ptr<socket_session> weak = this->shared_from_this();
    auto executor = stream_.get_executor();
    conn_ = std::make_unique<amqp_connection>(
        server_->executor_, server_->settings_,
        [weak, executor](std::function<void(amqp_connection*)> fn) {
          asio::post(executor, [weak, fn = std::move(fn)]() mutable {
            auto self = weak.lock();
            if (!self || !self->conn_) {
              fn(nullptr);
              return;
            }
            fn(self->conn_.get());
            self->offer_input();
            self->after_activity();
          });
        },
        peer_);
    if (!conn_->start(std::chrono::steady_clock::now())) {
      close_socket();
      return;
    }
    if constexpr (uses_tls) {
      handshaking_ = true;
      handshake_deadline_ = std::chrono::steady_clock::now() + server_->settings_.handshake_timeout;
      stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](
                                                                  const asio::error_code& ec) {
        self->handshaking_ = false;
        if (!self->conn_) return;  // timed out and closed meanwhile
        if (ec) {
          self->conn_->log(log_level::info, "TLS handshake failed: " + ec.message());
          self->close_socket();
          return;
        }
        self->after_activity();
      });
      set_deadline(handshake_deadline_);
    } else {
      after_activity();
    }
  }

  /// Starts on the session's strand, so nothing posted to it (a close from stop(), a hub
  /// event) can run concurrently with start() when several threads run the io_context.
  void post_start() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->start(); });
  }

  void post_close(amqp_error e) override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this(), e = std::move(e)] {
      if (!self->conn_) return;
      if (self->handshaking_) {
        self->close_socket();
        return;
      }
      self->conn_->close(e);
      self->after_activity();
    });
  }

  void post_feedback_available() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (!self->conn_ || self->handshaking_) return;
      self->conn_->feedback_available();
      self->after_activity();
    });
  }

  void post_tick() override {
    asio::post(stream_.get_executor(),
               [self = this->shared_from_this()] { self->after_activity(); });
  }

 private:
  /// Input is kept while the connection cannot take it (a frame still incomplete, Proton's
  /// buffer full, a SASL password being verified); reading stops beyond this. Before the
  /// peer's open that is the small pre-open frame limit (issue 7).
  std::size_t input_limit() const {
    return (conn_ ? conn_->frame_limit() : server_->settings_.max_frame_size) + read_chunk;
  }
  static constexpr std::size_t read_chunk = 16 * 1024;
  static constexpr std::chrono::seconds linger{2};

  void offer_input() {
    if (!conn_ || inbox_.empty()) return;
    const std::size_t used = conn_->feed(std::span<const char>(inbox_.data(), inbox_.size()));
    inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(used));
  }

  void after_activity() {
    if (!conn_ || closing_) return;
    const auto now = std::chrono::steady_clock::now();
    if (handshaking_) {
      // Before TLS is up only the handshake time-out matters.
      if (now >= handshake_deadline_) {
        conn_->log(log_level::info, "TLS handshake not finished in time");
        close_socket();
        return;
      }
      set_deadline(handshake_deadline_);
      return;
    }
    auto next = conn_->tick(now);
    conn_->take_output(outbox_);
    start_write();
    if (conn_->write_closed()) {
      if (!writing_ && outbox_.empty()) {
        begin_shutdown();
        return;
      }
      // The last bytes (our close frame) are still being written: not forever.
      if (!linger_until_) linger_until_ = now + linger;
      if (now >= *linger_until_) {
        close_socket();
        return;
      }
      next = *linger_until_;
    }
    start_read();
    set_deadline(next);
  }

  void start_read() {
    if (reading_ || read_closed_ || closing_ || inbox_.size() >= input_limit()) return;
    reading_ = true;
    chunk_.resize(read_chunk);
    stream_.async_read_some(asio::buffer(chunk_), [self = this->shared_from_this()](
                                                      const asio::error_code& ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(const asio::error_code& ec, std::size_t n) {
    reading_ = false;
    if (closing_) {
      finish_shutdown();
      return;
    }
    if (!conn_) return;
    if (ec) {
      read_closed_ = true;
      conn_->read_closed();
    } else {
      inbox_.insert(inbox_.end(), chunk_.begin(), chunk_.begin() + static_cast<std::ptrdiff_t>(n));
      offer_input();
    }
    after_activity();
  }

  void start_write() {
    if (writing_ || outbox_.empty() || closing_) return;
    writing_ = true;
    sending_.swap(outbox_);
    outbox_.clear();
    asio::async_write(stream_, asio::buffer(sending_),
                      [self = this->shared_from_this()](const asio::error_code& ec, std::size_t) {
                        self->on_write(ec);
                      });
  }

  void on_write(const asio::error_code& ec) {
    writing_ = false;
    sending_.clear();
    if (closing_) {
      finish_shutdown();
      return;
    }
    if (!conn_) return;
    if (ec) {
      conn_->write_failed();
      outbox_.clear();
      begin_shutdown();
      return;
    }
    after_activity();
  }

  void set_deadline(std::optional<steady_time> next) {
    if (next == deadline_) return;
    deadline_ = next;
    timer_.cancel();
    if (next) arm_timer();
  }

  void arm_timer() {
    timer_.expires_at(*deadline_);
    timer_.async_wait([weak = this->weak_from_this()](const asio::error_code& ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self) return;
      self->deadline_.reset();
      self->after_activity();
    });
  }

  /// Our side is done: stop reading, then (TLS) send close_notify, then close the socket.
  void begin_shutdown() {
    if (closing_) return;
    closing_ = true;
    timer_.cancel();
    asio::error_code ignored;
    if (reading_ || writing_) {
      // Cancel the pending read; its handler continues the shutdown.
      stream_.lowest_layer().cancel(ignored);
      return;
    }
    finish_shutdown();
  }

  void finish_shutdown() {
    if (reading_ || writing_ || shutdown_started_) return;
    shutdown_started_ = true;
    if constexpr (uses_tls) {
      // Bounded: a peer that never answers our close_notify is cut off.
      timer_.expires_after(std::chrono::seconds(2));
      timer_.async_wait([weak = this->weak_from_this()](const asio::error_code& ec) {
        if (ec) return;
        if (auto self = weak.lock()) self->close_socket();
      });
      stream_.async_shutdown(
          [self = this->shared_from_this()](const asio::error_code&) { self->close_socket(); });
    } else {
      close_socket();
    }
  }

  void close_socket() {
    asio::error_code ignored;
    timer_.cancel();
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.lowest_layer().close(ignored);
    closing_ = true;
    // Releases what the links still hold (feedback locks) now rather than at destruction.
    conn_.reset();
  }

  std::shared_ptr<server_state> server_;
  Stream stream_;
  asio::steady_timer timer_;
  std::string peer_;
  std::uint64_t id_;
  std::unique_ptr<amqp_connection> conn_;
  std::vector<char> chunk_;
  std::vector<char> inbox_;
  std::string outbox_;
  std::string sending_;
  std::optional<steady_time> deadline_;
  steady_time handshake_deadline_{};
  std::optional<steady_time> linger_until_;  // when to give up writing our last bytes
  bool handshaking_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool read_closed_ = false;
  bool closing_ = false;
  bool shutdown_started_ = false;
};

std::uint16_t server_state::listen(const std::string& address, std::uint16_t port) {
  const tcp::endpoint endpoint(asio::ip::make_address(address), port);
  auto acceptor = std::make_shared<tcp::acceptor>(io_);
  acceptor->open(endpoint.protocol());
  acceptor->set_option(tcp::acceptor::reuse_address(true));
  if (endpoint.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true));
  acceptor->bind(endpoint);
  acceptor->listen();
  const std::uint16_t bound = acceptor->local_endpoint().port();
  {
    std::lock_guard lock(mutex_);
    acceptors_.push_back(acceptor);
  }
  log(log_level::info, "listening on " + address + ":" + std::to_string(bound) +
                           (tls_ != nullptr ? " (TLS)" : " (plain TCP)"));
  accept_next(acceptor);
  return bound;
}

void server_state::accept_next(const std::shared_ptr<tcp::acceptor>& acceptor) {
  acceptor->async_accept(
      asio::make_strand(io_),
      [self = shared_from_this(), acceptor](const asio::error_code& ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
        if (ec) {
          self->log(log_level::warn, "accept failed: " + ec.message());
          // e.g. EMFILE: try again shortly instead of spinning.
          auto retry =
              std::make_shared<asio::steady_timer>(self->io_, std::chrono::milliseconds(100));
          retry->async_wait([self, acceptor, retry](const asio::error_code&) {
            if (acceptor->is_open()) self->accept_next(acceptor);
          });
          return;
        }
        self->on_accepted(std::move(socket));
        self->accept_next(acceptor);
      });
}

void server_state::on_accepted(tcp::socket socket) {
  asio::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  const std::string peer =
      ec ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    if (stopped_ || sessions_.size() >= settings_.max_connections) {
      if (const auto held = refusals_.admit())
        log(log_level::warn, peer + ": refused, " +
                                 (stopped_ ? std::string("stopping")
                                           : "already " + std::to_string(sessions_.size()) +
                                                 " connections (amqp.maxConnections)") +
                                 runtime::log_throttle::suffix(*held));
      socket.close(ec);
      return;
    }
    id = next_id_++;
  }
  std::shared_ptr<session_base> session;
  if (tls_ != nullptr) {
    auto s = std::make_shared<socket_session<tls_stream>>(
        shared_from_this(), tls_stream(std::move(socket), *tls_), peer, id);
    session = s;
    {
      std::lock_guard lock(mutex_);
      sessions_[id] = session;
    }
    s->post_start();
  } else {
    auto s = std::make_shared<socket_session<tcp::socket>>(shared_from_this(), std::move(socket),
                                                           peer, id);
    session = s;
    {
      std::lock_guard lock(mutex_);
      sessions_[id] = session;
    }
    s->post_start();
  }
  log(log_level::debug, peer + ": accepted");
}

void server_state::for_each_session(const std::function<void(session_base&)>& fn) {
  std::vector<std::shared_ptr<session_base>> live;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) fn(*s);
}

void server_state::stop() {
  asio::post(io_, [self = shared_from_this()] {
    std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
    {
      std::lock_guard lock(self->mutex_);
      if (self->stopped_) return;
      self->stopped_ = true;
      acceptors.swap(self->acceptors_);
    }
    for (auto& a : acceptors) {
      asio::error_code ignored;
      a->close(ignored);
    }
    self->for_each_session([](session_base& s) {
      s.post_close(amqp_error{std::string(condition::connection_forced),
                              "The emulator is shutting down.", 0});
    });
  });
}

void server_state::on_hub_event(const core::hub_event& ev) {
  if (std::holds_alternative<core::event::feedback_available>(ev)) {
    for_each_session([](session_base& s) { s.post_feedback_available(); });
  } else if (std::holds_alternative<core::event::hub_reset>(ev)) {
    for_each_session([](session_base& s) {
      s.post_close(amqp_error{std::string(condition::connection_forced), "The hub was reset.", 0});
    });
  }
}

}  // namespace detail

amqp_server::amqp_server(asio::io_context& io, asio::ssl::context* tls,
                         runtime::hub_executor& executor, amqp_settings settings)
    : state_(std::make_shared<detail::server_state>(io, tls, executor, std::move(settings))) {
  executor.add_listener(
      [weak = std::weak_ptr<detail::server_state>(state_)](const core::hub_event& ev) {
        if (auto state = weak.lock()) state->on_hub_event(ev);
      });
}

amqp_server::~amqp_server() {
  stop();
}

std::uint16_t amqp_server::listen(const std::string& address, std::uint16_t port) {
  return state_->listen(address, port);
}

void amqp_server::stop() {
  state_->stop();
}

void amqp_server::recheck_deadlines() {
  state_->for_each_session([](detail::session_base& s) { s.post_tick(); });
}

std::size_t amqp_server::connection_count() const {
  return state_->count();
}

}  // namespace emu::amqp
