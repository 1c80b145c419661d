#pragma once
/// One HTTPS client connection as a net::protocol: the request/response cycle of HTTP/1.1
/// keep-alive over http_codec.
///
/// Every phase has a deadline, so no client can hold a connection by being slow (issue 7,
/// slowloris rows of the attack matrix):
///   next request  `request_timeout` for the first request after the handshake; then
///                 `keep_alive_timeout` of idleness between requests; once a request's first
///                 byte arrives the whole request (head and body) must arrive within
///                 `request_timeout` (else 408, then close);
///   the hub       `hub_timeout` for the hub call's answer (else 503; a late answer is
///                 dropped);
///   response      `write_timeout` to hand the whole response to a client that reads;
///   after a refusal the connection drains (net::link::close with draining), so a client that
///                 sends its whole body before reading sees the 413/431 instead of a reset.
/// Reading pauses while a request is answered, so a connection holds at most one request (a
/// pipelined one waits, unread, in the connection's buffer).
///
/// Thread safety: every member runs on the connection's strand.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/core/client_certificate.hpp"
#include "emulator/core/hub_event.hpp"
#include "emulator/https/http_message.hpp"
#include "emulator/https/hub_call.hpp"
#include "emulator/https/routes.hpp"
#include "emulator/net/protocol.hpp"

namespace emu::https {

struct https_state;

class http_session final : public net::protocol {
 public:
  explicit http_session(std::shared_ptr<https_state> state);

  void on_open(net::link& l) override;
  std::size_t on_input(std::span<const std::uint8_t> bytes) override;
  void on_input_closed(std::string_view error) override;
  void on_deadline(net::steady_time now) override;
  void on_output_flushed() override;
  void on_shutdown(std::string_view reason) override;
  void on_closed(std::string_view reason) override;
  void on_input_overflow() override;
  bool wants_input() const override {
    return phase_ == phase::reading || phase_ == phase::streaming;
  }
  /// How many times a request was parsed (tests: input trickled byte by byte is parsed a
  /// bounded number of times, not once per byte).
  std::size_t parses() const { return parses_; }
  std::size_t input_limit() const override;
  std::optional<net::steady_time> deadline() const override;

  /// The outcome of the direct method call this connection's request waits for.
  void on_method_result(std::uint64_t generation, const core::event::method_result& r);

 private:
  /// `streaming`: the dashboard's event stream (`GET /dashboard/events`) owns the connection
  /// until it closes.
  enum class phase : std::uint8_t { reading, answering, writing, streaming, closed };

  void await_request(bool first);
  void answer(http_request request, bool keep_alive);
  /// Which API renders the hub's answer.
  enum class api : std::uint8_t {
    registry,
    device,
    test_control,
    health,
    metrics,
    dashboard,
    dashboard_stream
  };
  void ask_hub(hub_call call, api which);
  /// `GET /$iothub/websocket`: 101 and hand the connection to a websocket_stream carrying the
  /// protocol the client asked for, or refuse (400/405/426, then close).
  void upgrade(const http_request& request);
  void travel(const http_request& request);
  void step_wall_clock(const http_request& request);
  /// `/` and /dashboard/…: who may see it (https_settings::dashboard), then the page, the CA,
  /// the view, the event stream or the C2D send.
  void dashboard(const http_request& request);
  /// The event stream: the head, then an event each time the view changed (polled every
  /// dashboard_refresh; at most one unread event: a client that stops reading is closed after
  /// write_timeout, and holds no more than that).
  void start_stream(const http_request& request, bool trusted);
  void stream_tick();
  void stream_look();
  void on_stream_view(bool committed, const hub_answer& a);
  void write_stream(std::string_view text);
  void on_hub_answer(std::uint64_t generation, bool committed, api which, const hub_answer& a);
  void respond(const http_response& response, bool keep_alive);

  std::shared_ptr<https_state> state_;
  phase phase_ = phase::reading;
  bool request_started_ = false;  // a byte of the next request has arrived
  bool continue_sent_ = false;    // `100 Continue` written for the request being read
  bool keep_alive_ = true;        // after the response being written
  bool refused_ = false;          // the response being written refuses the request
  /// The connection's TLS client certificate for the device API (X.509 devices), once read.
  std::shared_ptr<const core::client_certificate> certificate_;
  bool certificate_parsed_ = false;
  bool stopping_ = false;         // on_shutdown() was called
  net::steady_time deadline_{};   // of the current phase
  std::uint64_t generation_ = 0;  // of the request being answered (a late hub answer is old)
  std::string method_;            // of the request being answered (for the log)
  std::string path_;
  route route_;  // of the request being answered (the device API renders with it)
  // Parsing work is linear in the bytes received, however they are split into reads:
  std::size_t lead_ = 0;       // CR/LF bytes before the request line (RFC 9112 §2.2)
  std::size_t scanned_ = 0;    // bytes already searched for the end of the head
  std::size_t needed_ = 0;     // head parsed: the request's total size, else 0
  std::size_t line_from_ = 0;  // chunked framing waits for a line's end from here, else 0
  std::size_t parses_ = 0;     // parse_request calls (tests: trickled input stays linear)
  // The dashboard's event stream (phase::streaming):
  struct stream_state {
    std::string device;  // the selected device
    std::string token;   // a remote peer's SAS token, checked at every look
    bool trusted = false;
    bool waiting = false;  // a look at the hub is on its way
    std::string last;      // the last view sent
    net::steady_time last_write{};
    net::steady_time unread_since{};  // when output last went from empty to pending
  };
  std::unique_ptr<stream_state> stream_;
  bool dashboard_trusted_ = false;  // of the `GET /dashboard/state` being answered
};

}  // namespace emu::https
