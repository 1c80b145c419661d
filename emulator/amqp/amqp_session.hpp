#pragma once
/// One AMQP connection as a net::protocol: the bytes the network layer reads go to the
/// amqp_connection (Proton C driver, our link handlers), what Proton writes goes back to the
/// link's output, and Proton's time-driven work (idle time-out, heartbeats, token expiry, the
/// open deadline) runs at the deadline it asks for.
///
/// Thread safety: every member runs on the connection's strand.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "emulator/amqp/connection.hpp"
#include "emulator/net/protocol.hpp"

namespace emu::amqp {

struct amqp_state;

class amqp_session final : public net::protocol {
 public:
  /// `local_port`: the port of the listener that accepted the connection (redirects name it).
  amqp_session(std::shared_ptr<amqp_state> state, std::uint16_t local_port);
  ~amqp_session() override;

  /// The connection, or null once closed.
  amqp_connection* connection() { return conn_.get(); }
  /// Runs `fn` with the connection (null once closed), then writes what it produced.
  void run(const std::function<void(amqp_connection*)>& fn);
  /// Ends the connection with `e` (server stop, hub reset).
  void close_with(const amqp_error& e);
  /// The hub was reset: amqp:connection:forced.
  void on_hub_reset() override;

  void on_open(net::link& l) override;
  std::size_t on_input(std::span<const std::uint8_t> bytes) override;
  void on_input_closed(std::string_view error) override;
  void on_deadline(net::steady_time now) override;
  void on_clock_travel() override;
  void on_shutdown(std::string_view reason) override;
  void on_closed(std::string_view reason) override;
  bool wants_input() const override;
  std::size_t input_limit() const override;
  std::optional<net::steady_time> deadline() const override { return next_; }
  void on_output_flushed() override;

 private:
  /// After everything: Proton's timers, its output, and the end of the connection.
  void after_activity();
  /// Cuts the transport (fault injection's KillTcp, amqp_connection::take_abort).
  void abort_now();

  std::shared_ptr<amqp_state> state_;
  std::uint16_t local_port_;
  std::unique_ptr<amqp_connection> conn_;
  std::optional<net::steady_time> next_;
  bool closing_ = false;
  bool abort_when_flushed_ = false;
};

}  // namespace emu::amqp
