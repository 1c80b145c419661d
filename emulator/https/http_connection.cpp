#include "emulator/https/http_connection.hpp"

#include <algorithm>
#include <asio/post.hpp>
#include <cstring>
#include <span>
#include <utility>

#include "emulator/https/error_response.hpp"
#include "emulator/runtime/log.hpp"

namespace emu::https {

namespace {

using runtime::log_level;
using runtime::transport;

constexpr std::size_t initial_read_buffer = 4096;
/// A response buffer larger than this is freed once written instead of being kept.
constexpr std::size_t keep_write_buffer = 16 * 1024;
/// After refusing a request: how long, and how many bytes, the rest of it is read and dropped
/// before the connection closes (a close with unread input makes TCP send a reset, which can
/// destroy the refusal before the client reads it).
constexpr std::chrono::milliseconds linger_timeout{2'000};
constexpr std::size_t linger_bytes = 16 * 1024 * 1024;
constexpr std::size_t linger_buffer = 16 * 1024;

std::string ip_of(const asio::ip::tcp::socket& s) {
  std::error_code ec;
  const auto ep = s.remote_endpoint(ec);
  return ec ? std::string() : ep.address().to_string();
}

}  // namespace

http_connection::http_connection(std::shared_ptr<http_front> front, std::uint64_t id,
                                 asio::ip::tcp::socket socket, SSL_CTX* tls)
    : front_(std::move(front)),
      id_(id),
      executor_(socket.get_executor()),
      peer_address_(ip_of(socket)),
      transport_(std::move(socket), tls),
      timer_(executor_) {}

http_connection::~http_connection() = default;

void http_connection::start() {
  asio::post(executor_, [self = shared_from_this()] {
    if (self->phase_ == phase::closed) return;
    self->arm(self->front_->settings.tls_handshake_timeout, "TLS handshake");
    self->handshake();
  });
}

void http_connection::shut_down() {
  asio::post(executor_, [self = shared_from_this()] {
    self->stopping_ = true;
    // A request being answered gets its response (with `Connection: close`) first.
    if (self->phase_ == phase::answering || self->phase_ == phase::writing) {
      self->keep_alive_ = false;
      return;
    }
    self->close("the emulator is stopping");
  });
}

void http_connection::arm(std::chrono::milliseconds after, const char* what) {
  timer_.expires_after(after);
  timer_.async_wait(
      [self = shared_from_this(), what, generation = ++timer_generation_](std::error_code ec) {
        // A wait replaced by a later arm() is cancelled (operation_aborted), unless it had already
        // fired and been queued: then its generation is stale and it must not close anything.
        if (ec || self->phase_ == phase::closed || generation != self->timer_generation_) return;
        self->deadline_passed(what);
      });
}

void http_connection::deadline_passed(const char* what) {
  // A request that began but did not finish in time is told so (RFC 9110 §15.5.9) before the
  // connection closes; the answer is small and gets write_timeout like any other.
  if (phase_ == phase::reading && request_started_ && out_offset_ >= out_.size() &&
      std::string_view(what) == "request") {
    if (runtime::log_enabled(log_level::debug))
      runtime::log(log_level::debug, "https", "#" + std::to_string(id_) + " request timeout");
    respond(error_response(408, "RequestTimeout",
                           "The request did not arrive within " +
                               std::to_string(front_->settings.request_timeout.count()) + " ms."),
            false);
    return;
  }
  close(std::string(what) + " timeout");
}

void http_connection::disarm() {
  ++timer_generation_;
  timer_.cancel();
}

void http_connection::handshake() {
  if (phase_ == phase::closed) return;
  auto r = transport_.handshake();
  switch (r.st) {
    case transport::status::ok:
      if (runtime::log_enabled(log_level::debug))
        runtime::log(log_level::debug, "https",
                     "#" + std::to_string(id_) + " " + transport_.peer() + " " +
                         transport_.protocol() + " up");
      await_request(true);
      return;
    case transport::status::would_block:
      transport_.socket().async_wait(r.wait, [self = shared_from_this()](std::error_code ec) {
        if (ec || self->phase_ == phase::closed) return;
        self->handshake();
      });
      return;
    case transport::status::closed:
      close("closed during the TLS handshake");
      return;
    case transport::status::failed:
      close("TLS handshake failed: " + r.error);
      return;
  }
}

void http_connection::await_request(bool first) {
  phase_ = phase::reading;
  continue_sent_ = false;
  request_started_ = in_end_ > 0;  // a pipelined request already began
  if (request_started_ || first) {
    arm(front_->settings.request_timeout, "request");
  } else {
    arm(front_->settings.keep_alive_timeout, "keep-alive idle");
  }
  if (in_end_ > 0) {
    process_input();
    if (phase_ != phase::reading) return;
  } else {
    // Idle: hold no read buffer (a few thousand idle keep-alive clients cost little).
    std::string().swap(in_);
  }
  read_input();
}

bool http_connection::ensure_read_space() {
  if (in_end_ < in_.size()) return true;
  // Enough for the largest request the limits allow; the parser refuses anything larger
  // before this cap is reached, so a full buffer at the cap cannot happen.
  const auto& l = front_->settings.limits;
  const std::size_t cap = l.max_head_bytes + l.max_body_bytes + 1;
  std::size_t want = std::max(initial_read_buffer, in_.size() * 2);
  want = std::min(want, cap);
  if (want <= in_.size()) {
    refused_ = true;
    respond(error_response(431, "ArgumentInvalid", "The request is too large."), false);
    return false;
  }
  in_.resize(want);
  return true;
}

void http_connection::read_input() {
  if (phase_ != phase::reading || read_waiting_) return;
  for (int turn = 0; turn < 16; ++turn) {
    if (phase_ != phase::reading) return;
    if (!ensure_read_space()) return;
    auto r = transport_.read(
        std::span(reinterpret_cast<std::uint8_t*>(in_.data()) + in_end_, in_.size() - in_end_));
    switch (r.st) {
      case transport::status::ok:
        in_end_ += r.bytes;
        if (!request_started_) {
          // The first byte of a request: from now on the whole request has
          // `request_timeout` (a slow client cannot stretch it byte by byte).
          request_started_ = true;
          arm(front_->settings.request_timeout, "request");
        }
        process_input();
        continue;
      case transport::status::would_block:
        read_waiting_ = true;
        transport_.socket().async_wait(r.wait, [self = shared_from_this()](std::error_code ec) {
          self->read_waiting_ = false;
          if (ec || self->phase_ == phase::closed) return;
          self->read_input();
        });
        return;
      case transport::status::closed:
        close(request_started_ ? "closed by the client inside a request" : "closed by the client");
        return;
      case transport::status::failed:
        close(r.error);
        return;
    }
  }
  asio::post(executor_, [self = shared_from_this()] { self->read_input(); });
}

void http_connection::request_consumed(std::size_t bytes) {
  // Keep what follows (a pipelined request) for after the response.
  in_.erase(0, bytes);
  in_end_ -= bytes;
  lead_ = scanned_ = needed_ = 0;
}

void http_connection::process_input() {
  if (phase_ != phase::reading) return;
  const auto& limits = front_->settings.limits;
  // parse_request() reads the whole head each time; call it only when it can say something
  // new, so a head or body trickling in byte by byte costs linear, not quadratic, work.
  if (needed_ > 0) {
    if (in_end_ < needed_) return;  // the body is not complete yet
  } else {
    while (lead_ < in_end_ && (in_[lead_] == '\r' || in_[lead_] == '\n')) ++lead_;
    const std::string_view seen(in_.data(), in_end_);
    const std::size_t from = std::max(lead_, scanned_ >= 2 ? scanned_ - 2 : 0);
    const bool head_end = seen.find("\n\n", from) != std::string_view::npos ||
                          seen.find("\n\r\n", from) != std::string_view::npos;
    scanned_ = in_end_;
    // Without the head's end the parser can only refuse a head over its bound.
    if (!head_end && lead_ <= limits.max_head_bytes && in_end_ - lead_ <= limits.max_head_bytes)
      return;
  }
  auto r = parse_request(std::string_view(in_.data(), in_end_), limits);
  switch (r.status) {
    case parse_status::need_more:
      // The buffer grows as the body arrives (ensure_read_space), not to the announced size:
      // a Content-Length alone must not reserve memory.
      needed_ = r.needed;
      if (r.expect_continue && !continue_sent_) {
        continue_sent_ = true;
        out_.append(continue_response);
        flush_output();
      }
      return;
    case parse_status::error:
      if (runtime::log_enabled(log_level::debug))
        runtime::log(log_level::debug, "https",
                     "#" + std::to_string(id_) + " refused: " + std::to_string(r.error_status) +
                         " " + r.error_text);
      refused_ = true;
      respond(parse_error_response(r), false);
      return;
    case parse_status::complete:
      request_consumed(r.consumed);
      answer(std::move(r.request), r.keep_alive);
      return;
  }
}

void http_connection::answer(http_request request, bool keep_alive) {
  phase_ = phase::answering;
  keep_alive_ = keep_alive && !stopping_;
  // No timer while the hub answers: the handler answers by `deadline` (503 after that).
  disarm();
  if (!front_->begin_request()) {
    // The server is stopping (its workers may be gone): answer here.
    respond(error_response(503, "ServiceUnavailable", "The emulator is stopping."), false);
    return;
  }
  const auto deadline = http_front::clock::now() + front_->settings.hub_timeout;
  asio::post(front_->workers, [self = shared_from_this(), request = std::move(request), deadline] {
    http_response response = self->front_->handle(request, self->peer_address_, deadline);
    if (runtime::log_enabled(log_level::debug)) {
      // The path only: headers (the token) never.
      // (Appended, not `"#" + …`: GCC 12 -O2 reports a false -Wrestrict for that, PR 105329.)
      std::string text = "#";
      text += std::to_string(self->id_);
      text += ' ';
      text += request.method;
      text += ' ';
      text += std::string_view(request.target).substr(0, request.target.find('?'));
      text += " -> ";
      text += std::to_string(response.status);
      runtime::log(log_level::debug, "https", text);
    }
    asio::post(self->executor_, [self, response = std::move(response)] {
      if (self->phase_ != phase::answering) return;  // closed meanwhile
      self->respond(response, self->keep_alive_);
    });
    self->front_->end_request();
  });
}

void http_connection::respond(const http_response& response, bool keep_alive) {
  if (phase_ == phase::closed) return;
  phase_ = phase::writing;
  keep_alive_ = keep_alive && !stopping_;
  out_ += encode_response(response, keep_alive_);
  arm(front_->settings.write_timeout, "response write");
  flush_output();
}

void http_connection::flush_output() {
  if (phase_ == phase::closed || write_waiting_) return;
  while (out_offset_ < out_.size()) {
    auto r =
        transport_.write(std::span(reinterpret_cast<const std::uint8_t*>(out_.data()) + out_offset_,
                                   out_.size() - out_offset_));
    switch (r.st) {
      case transport::status::ok:
        out_offset_ += r.bytes;
        continue;
      case transport::status::would_block:
        write_waiting_ = true;
        transport_.socket().async_wait(r.wait, [self = shared_from_this()](std::error_code ec) {
          self->write_waiting_ = false;
          if (ec || self->phase_ == phase::closed) return;
          self->flush_output();
        });
        return;
      case transport::status::closed:
        close("closed by the client before the response was written");
        return;
      case transport::status::failed:
        close(r.error);
        return;
    }
  }
  out_offset_ = 0;
  if (out_.capacity() > keep_write_buffer) {
    std::string().swap(out_);
  } else {
    out_.clear();
  }
  if (phase_ == phase::writing) response_written();
}

void http_connection::response_written() {
  if (refused_ && !stopping_) {
    linger();
    return;
  }
  if (!keep_alive_ || stopping_) {
    close(stopping_ ? "the emulator is stopping" : "response with Connection: close");
    return;
  }
  await_request(false);
}

void http_connection::linger() {
  if (phase_ != phase::lingering) {
    phase_ = phase::lingering;
    arm(linger_timeout, "linger");
    in_.assign(linger_buffer, '\0');
    in_end_ = 0;
  }
  for (int turn = 0; turn < 16; ++turn) {
    auto r = transport_.read(std::span(reinterpret_cast<std::uint8_t*>(in_.data()), in_.size()));
    switch (r.st) {
      case transport::status::ok:
        discarded_ += r.bytes;
        if (discarded_ > linger_bytes) {
          close("refused request: the client kept sending");
          return;
        }
        continue;
      case transport::status::would_block:
        transport_.socket().async_wait(r.wait, [self = shared_from_this()](std::error_code ec) {
          if (ec || self->phase_ != phase::lingering) return;
          self->linger();
        });
        return;
      case transport::status::closed:
      case transport::status::failed:
        close("refused request");
        return;
    }
  }
  asio::post(executor_, [self = shared_from_this()] {
    if (self->phase_ == phase::lingering) self->linger();
  });
}

void http_connection::close(const std::string& why) {
  if (phase_ == phase::closed) return;
  phase_ = phase::closed;
  if (runtime::log_enabled(log_level::debug)) {
    std::string text = "#";  // appended: see answer()
    text += std::to_string(id_);
    text += ' ';
    text += transport_.peer();
    text += " closed: ";
    text += why;
    runtime::log(log_level::debug, "https", text);
  }
  disarm();
  transport_.close();
  std::string().swap(in_);
  std::string().swap(out_);
  in_end_ = out_offset_ = lead_ = scanned_ = needed_ = 0;
  front_->remove(id_);
}

}  // namespace emu::https
