#include "emulator/net/stream_connection.hpp"

#include <algorithm>
#include <asio/post.hpp>
#include <cstring>
#include <utility>

#include "emulator/net/connection_set.hpp"

namespace emu::net {

namespace {

/// Read buffers start at this size and double up to the protocol's input limit.
constexpr std::size_t initial_read_buffer = 4096;
/// A write buffer whose capacity grew beyond this is freed once written instead of kept.
constexpr std::size_t keep_write_buffer = 16 * 1024;
/// Reads in a row before the strand is yielded to the other connections.
constexpr int reads_per_turn = 16;
/// The buffer input is read into, and dropped, while draining.
constexpr std::size_t drain_buffer = 16 * 1024;

std::string address_of(const asio::ip::tcp::socket& s) {
  std::error_code ec;
  const auto ep = s.remote_endpoint(ec);
  return ec ? std::string("?") : ep.address().to_string();
}

}  // namespace

// ---- protocol defaults ------------------------------------------------------------------------

void protocol::on_shutdown(std::string_view reason) {
  if (link_ != nullptr) link_->close(reason);
}

void protocol::on_input_overflow() {
  if (link_ != nullptr) link_->close_now("input larger than the protocol's limit");
}

// ---- connection_handle ------------------------------------------------------------------------

bool connection_handle::post(std::function<void(protocol&)> fn) const {
  const auto c = c_.lock();
  return c && c->post(std::move(fn));
}

void connection_handle::shutdown(std::string reason) const {
  if (const auto c = c_.lock()) c->shutdown(std::move(reason));
}

void connection_handle::poke() const {
  if (const auto c = c_.lock()) c->poke();
}

// ---- lifetime ---------------------------------------------------------------------------------

stream_connection::stream_connection(asio::ip::tcp::socket socket, SSL_CTX* tls, std::uint64_t id,
                                     const connection_settings& settings,
                                     std::unique_ptr<protocol> p,
                                     std::weak_ptr<connection_set> owner)
    : id_(id),
      settings_(settings),
      owner_(std::move(owner)),
      peer_address_(address_of(socket)),
      transport_(std::move(socket), tls),
      timer_(transport_.socket().get_executor()),
      protocol_(std::move(p)) {
  // Here, before any handler can run: start() and poke() both read it on the connection's thread.
  if (const auto set = owner_.lock()) paused_flag_ = set->pause_flag();
}

stream_connection::~stream_connection() {
  if (const auto set = owner_.lock()) set->remove(id_);
}

connection_handle stream_connection::handle() const {
  return connection_handle(std::const_pointer_cast<stream_connection>(shared_from_this()), id_);
}

void stream_connection::start() {
  asio::post(transport_.socket().get_executor(), [self = shared_from_this()] {
    // Shut down before it started, or a resume (poke) started it already.
    if (self->phase_ != phase::handshake || self->handshake_started_) return;
    if (self->paused()) return;  // accepted; poke() goes on when resumed
    if (!self->transport_.is_tls()) {
      self->opened();
    } else {
      self->handshake_deadline_ = steady_clock::now() + self->settings_.tls_handshake_timeout;
      self->handshake();
    }
    self->settle();
  });
}

bool stream_connection::post(std::function<void(protocol&)> fn) {
  asio::post(transport_.socket().get_executor(), [self = shared_from_this(), fn = std::move(fn)] {
    // Also after the close: an answer may bring something the protocol must give back.
    if (!self->opened_) return;
    fn(self->protocol_->dispatch_target());
    self->settle();
  });
  return true;
}

void stream_connection::shutdown(std::string reason) {
  asio::post(transport_.socket().get_executor(),
             [self = shared_from_this(), reason = std::move(reason)] {
               if (self->phase_ == phase::handshake) {
                 self->close_now(reason);
               } else if (self->phase_ == phase::open) {
                 self->protocol_->on_shutdown(reason);
               }
               self->settle();
             });
}

void stream_connection::poke() {
  asio::post(transport_.socket().get_executor(), [self = shared_from_this()] {
    if (self->paused()) {
      self->settle();  // just paused: no deadline now, so this disarms the timer
      return;
    }
    if (self->phase_ == phase::handshake && !self->handshake_started_) {
      // Accepted while its front was paused: the handshake starts now.
      if (!self->transport_.is_tls()) {
        self->opened();
      } else {
        self->handshake_deadline_ = steady_clock::now() + self->settings_.tls_handshake_timeout;
        self->handshake();
      }
      self->settle();
      return;
    }
    if (self->phase_ != phase::open) return;
    self->protocol_->on_clock_travel();
    self->settle();
  });
}

// ---- TLS handshake ----------------------------------------------------------------------------

void stream_connection::handshake() {
  if (phase_ != phase::handshake) return;
  handshake_started_ = true;
  auto r = transport_.handshake();
  switch (r.st) {
    case transport::status::ok:
      opened();
      return;
    case transport::status::would_block:
      transport_.socket().async_wait(r.wait, [self = shared_from_this()](std::error_code ec) {
        if (ec) return;
        self->handshake();
        self->settle();
      });
      return;
    case transport::status::closed:
      close_now("closed during the TLS handshake");
      return;
    case transport::status::failed:
      count_refusal("tls_handshake_failed");
      close_now("TLS handshake failed: " + r.error);
      return;
  }
}

void stream_connection::count_refusal(std::string_view reason) const {
  if (const auto set = owner_.lock()) set->refusals().count(reason);
}

void stream_connection::opened() {
  peer_certificates_ = transport_.peer_certificates();
  phase_ = phase::open;
  opened_ = true;
  protocol_->open(*this);
}

// ---- the loop -------------------------------------------------------------------------------

void stream_connection::switch_protocol() {
  if (!next_protocol_ || phase_ != phase::open) {
    next_protocol_.reset();
    return;
  }
  // The old protocol is not on the stack here (callbacks have returned); it gives way without
  // on_closed(): the connection goes on.
  protocol_ = std::move(next_protocol_);
  protocol_->open(*this);
}

void stream_connection::settle() {
  if (next_protocol_) switch_protocol();
  if (phase_ == phase::closed) {
    notify_closed();
    return;
  }
  // Write; tell the protocol when its output is out (it may answer with more, e.g. the next
  // pipelined HTTP request's response).
  for (int round = 0; round < reads_per_turn; ++round) {
    if (opened_ && phase_ != phase::closed) protocol_->on_settle();
    flush_output();
    if (phase_ == phase::open && output_pending() > settings_.unread_output_limit()) {
      // The peer does not read what the emulator sends it: cut it rather than buffer without
      // bound (its unwritten output is dropped with it).
      close_now("the peer does not read: " + std::to_string(output_pending()) +
                " bytes of output wait (limit " + std::to_string(settings_.unread_output_limit()) +
                ")");
      break;
    }
    if (!(phase_ == phase::open && flushed_ && output_pending() == 0 && !write_waiting_)) break;
    flushed_ = false;
    protocol_->on_output_flushed();
    if (phase_ == phase::open && in_end_ > in_begin_) process_input();
  }
  if (phase_ == phase::closed) {
    notify_closed();
    return;
  }
  if (phase_ == phase::closing && output_pending() == 0 && !write_waiting_) {
    if (!draining_ || input_closed_) {
      finish_close();
      notify_closed();
      return;
    }
    // Everything is written: tell the peer now, so it closes its side and ends the drain
    // instead of waiting for the linger time.
    transport_.shutdown_write();
  }
  schedule_read();
  const auto next = next_deadline();
  if (next != armed_) {
    if (next) {
      arm(*next);
    } else {
      ++timer_generation_;
      armed_.reset();
      timer_.cancel();
    }
  }
}

std::optional<steady_time> stream_connection::next_deadline() const {
  if (paused()) return std::nullopt;  // a hung server keeps no time
  switch (phase_) {
    case phase::handshake:
      return handshake_deadline_;
    case phase::open:
      return protocol_->deadline();
    case phase::closing:
      return close_deadline_;
    case phase::closed:
      break;
  }
  return std::nullopt;
}

void stream_connection::arm(steady_time at) {
  armed_ = at;
  timer_.expires_at(at);
  timer_.async_wait(
      [self = shared_from_this(), generation = ++timer_generation_](std::error_code ec) {
        // A wait replaced by a later arm() is cancelled; one that had already fired and was queued
        // carries an old generation and does nothing.
        if (ec || generation != self->timer_generation_) return;
        self->armed_.reset();
        self->on_timer();
        self->settle();
      });
}

void stream_connection::on_timer() {
  if (paused()) return;  // armed before the pause: a hung server keeps no time
  const auto now = steady_clock::now();
  switch (phase_) {
    case phase::handshake:
      if (now >= handshake_deadline_) {
        count_refusal("tls_handshake_timeout");
        close_now("TLS handshake timeout");
      }
      return;
    case phase::open:
      if (const auto d = protocol_->deadline(); d && now >= *d) protocol_->on_deadline(now);
      return;
    case phase::closing:
      if (now >= close_deadline_) finish_close();
      return;
    case phase::closed:
      return;
  }
}

// ---- input ------------------------------------------------------------------------------------

bool stream_connection::can_read() const {
  if (read_waiting_ || read_posted_ || input_closed_ || paused()) return false;
  if (phase_ == phase::closing) return draining_;
  if (phase_ != phase::open) return false;
  return protocol_->wants_input() && output_pending() <= settings_.max_output_backlog;
}

void stream_connection::schedule_read() {
  if (!can_read()) return;
  // Posted, never nested: settle() may run inside a protocol callback's aftermath.
  read_posted_ = true;
  asio::post(transport_.socket().get_executor(), [self = shared_from_this()] {
    self->read_posted_ = false;
    self->read_input();
    self->settle();
  });
}

bool stream_connection::ensure_read_space() {
  if (in_end_ < in_.size()) return true;
  if (in_begin_ > 0) {
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
    if (in_end_ < in_.size()) return true;
  }
  const std::size_t limit = std::max<std::size_t>(protocol_->input_limit(), 1);
  const std::size_t want = std::min(std::max(initial_read_buffer, in_.size() * 2), limit);
  if (want <= in_.size()) return false;  // full at the limit: on_input_overflow()
  in_.resize(want);
  return true;
}

void stream_connection::release_idle_read_buffer() {
  if (in_begin_ == in_end_) {
    std::vector<std::uint8_t>().swap(in_);
    in_begin_ = in_end_ = 0;
  }
}

void stream_connection::read_input() {
  // Input kept while the protocol did not want it (a pipelined request) comes first.
  if (phase_ == phase::open && in_end_ > in_begin_) process_input();
  for (int turn = 0; turn < reads_per_turn; ++turn) {
    if (!can_read()) return;
    std::span<std::uint8_t> into;
    if (phase_ == phase::closing) {
      in_.resize(drain_buffer);  // what was unread is of no use any more
      in_begin_ = in_end_ = 0;
      into = std::span(in_);
    } else {
      if (!ensure_read_space()) {
        protocol_->on_input_overflow();
        return;
      }
      into = std::span(in_.data() + in_end_, in_.size() - in_end_);
    }
    auto r = transport_.read(into);
    switch (r.st) {
      case transport::status::ok:
        if (phase_ == phase::closing) {
          drained_ += r.bytes;
          if (drained_ > settings_.max_drain_bytes) {
            finish_close();
            return;
          }
          continue;
        }
        in_end_ += r.bytes;
        process_input();
        continue;
      case transport::status::would_block:
        read_waiting_ = true;
        release_idle_read_buffer();
        transport_.socket().async_wait(r.wait, [self = shared_from_this()](std::error_code ec) {
          self->read_waiting_ = false;
          if (ec) return;
          self->read_input();
          self->settle();
        });
        return;
      case transport::status::closed:
      case transport::status::failed:
        input_closed_ = true;
        if (phase_ == phase::open) protocol_->on_input_closed(r.error);
        return;
    }
  }
  // A busy peer: let the other connections on this thread have a turn (settle() posts again).
}

void stream_connection::process_input() {
  // The protocol reads `in_` through a span: nothing may free or move it meanwhile, not even a
  // close_now() from inside on_input() (finish_close() leaves it to this function).
  processing_ = true;
  while (phase_ == phase::open && in_end_ > in_begin_ && protocol_->wants_input()) {
    const std::size_t used = protocol_->on_input(
        std::span<const std::uint8_t>(in_.data() + in_begin_, in_end_ - in_begin_));
    in_begin_ += std::min(used, in_end_ - in_begin_);
    if (next_protocol_) {
      switch_protocol();  // the rest of the input is the new protocol's
      continue;
    }
    if (used == 0) break;
  }
  processing_ = false;
  if (in_begin_ == in_end_ || phase_ != phase::open) {
    in_begin_ = in_end_ = 0;
    if (phase_ != phase::open) std::vector<std::uint8_t>().swap(in_);
  }
}

// ---- output -----------------------------------------------------------------------------------

void stream_connection::flush_output() {
  if (write_waiting_ || phase_ == phase::handshake || phase_ == phase::closed || paused()) return;
  while (out_offset_ < out_.size()) {
    auto r = transport_.write(std::span(out_.data() + out_offset_, out_.size() - out_offset_));
    switch (r.st) {
      case transport::status::ok:
        out_offset_ += r.bytes;
        continue;
      case transport::status::would_block:
        // The same bytes (plus any appended) are written again when the socket is ready.
        write_waiting_ = true;
        transport_.socket().async_wait(r.wait, [self = shared_from_this()](std::error_code ec) {
          self->write_waiting_ = false;
          if (ec) return;
          self->settle();
        });
        return;
      case transport::status::closed:
        close_now("closed by the peer");
        return;
      case transport::status::failed:
        close_now(r.error);
        return;
    }
  }
  if (!out_.empty()) flushed_ = true;
  out_offset_ = 0;
  if (out_.capacity() > keep_write_buffer) {
    std::vector<std::uint8_t>().swap(out_);
  } else {
    out_.clear();
  }
}

// ---- closing ----------------------------------------------------------------------------------

void stream_connection::close(std::string_view reason, bool drain_input) {
  if (phase_ == phase::closing || phase_ == phase::closed) return;
  if (phase_ == phase::handshake) {
    close_now(reason);
    return;
  }
  phase_ = phase::closing;
  close_reason_ = std::string(reason);
  draining_ = drain_input;
  close_deadline_ = steady_clock::now() + settings_.close_linger;
}

void stream_connection::close_now(std::string_view reason) {
  if (phase_ == phase::closed) return;
  if (phase_ != phase::closing) close_reason_ = std::string(reason);
  finish_close();
}

void stream_connection::abort(std::string_view reason) {
  if (phase_ == phase::closed) return;
  transport_.abort();  // finish_close()'s close() is then a no-op
  close_now(reason);
}

void stream_connection::finish_close() {
  if (phase_ == phase::closed) return;
  notify_pending_ = phase_ == phase::open || phase_ == phase::closing;
  phase_ = phase::closed;
  ++timer_generation_;
  armed_.reset();
  timer_.cancel();
  transport_.close();
  if (!processing_) {
    std::vector<std::uint8_t>().swap(in_);
    in_begin_ = in_end_ = 0;
  }
  std::vector<std::uint8_t>().swap(out_);
  out_offset_ = 0;
}

void stream_connection::notify_closed() {
  // Runs at the end of the callback that closed the connection, never inside a protocol call.
  if (notify_pending_) {
    notify_pending_ = false;
    protocol_->on_closed(close_reason_);
  }
  if (const auto set = owner_.lock()) set->remove(id_);
}

}  // namespace emu::net
