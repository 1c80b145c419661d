#pragma once
/// One device connection as a net::protocol: bytes are decoded into packets (decoder.hpp), the
/// pure session decides (session.hpp), and this class carries out its actions: packets go to
/// the link's output, hub work goes to the hub executor, whose answers come back to the
/// connection's strand through its handle.
///
/// Time: the session thinks in hub time (the executor's clock, which test control can move
/// forward); its next deadline is turned into the connection's steady clock each time it is
/// asked, so a clock travel followed by connection_handle::poke() fires what became due.
///
/// Memory: the decoder keeps nothing between packets; until the hub accepted the CONNECT the
/// read buffer is bounded by `max_connect_packet_size` (issue 7), then by `max_packet_size`.
///
/// Thread safety: every member runs on the connection's strand.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "emulator/core/fault_request.hpp"
#include "emulator/mqtt/codec/decoder.hpp"
#include "emulator/mqtt/session/session.hpp"
#include "emulator/net/protocol.hpp"

namespace emu::mqtt {

struct gateway_state;

class device_connection final : public net::protocol {
 public:
  explicit device_connection(std::shared_ptr<gateway_state> state);
  ~device_connection() override;

  // ---- net::protocol ----------------------------------------------------------------------
  void on_open(net::link& l) override;
  std::size_t on_input(std::span<const std::uint8_t> bytes) override;
  void on_input_closed(std::string_view error) override;
  void on_deadline(net::steady_time now) override;
  void on_shutdown(std::string_view reason) override;
  void on_hub_reset() override { close_now(close_reason::hub_reset, "the hub was reset"); }
  void on_closed(std::string_view reason) override;
  bool wants_input() const override;
  std::size_t input_limit() const override;
  std::optional<net::steady_time> deadline() const override;

  // ---- from the hub (posted to the strand by the gateway) ----------------------------------
  void on_delivery(core::c2d_delivery d, int qos);
  /// The service changed the device's desired properties (core event desired_patch).
  void on_desired_patch(std::int64_t version, const nlohmann::json& patch);
  /// A direct method call (core event method_request) for this connection.
  void on_method_request(std::uint64_t call_id, const std::string& name, std::string payload);
  /// Closes at once: takeover, device changed, hub reset, shutdown.
  void close_now(close_reason why, std::string detail);
  /// Test control expired every token (event::tokens_expired): a connection authenticated by
  /// a SAS token ends as at its token's expiry (spec §3.3); an X.509 one has no token.
  void expire_credentials() {
    if (epoch_ != 0 && token_authenticated_)
      close_now(close_reason::token_expired, "test control expired every token");
  }
  /// Fault injection (issue 17): carries out `r` at hub time now + r.delay (its telemetry asked
  /// for it, or test control through event::fault_requested).
  void schedule_fault(core::fault_request r);
  void on_output_flushed() override;

 private:
  core::time_point hub_now() const;
  void apply(actions list);
  void apply_one(session_action& a);
  void close_after_flush(close_reason why, const std::string& detail);
  void log_close(close_reason why, std::string_view detail) const;
  void log_packet(const packet& p) const;
  std::string who() const;

  // hub work: submitted to the executor; answers come back through the link's handle
  void hub_connect(action::authenticate a);
  void hub_subscribe(std::optional<int> qos);
  void hub_settle(std::uint64_t seq, std::uint64_t lock_id);
  void hub_store_telemetry(action::store_telemetry t);
  void hub_twin(action::twin_request t);
  void hub_disconnect();
  void request_done();
  void apply_due_faults();
  void apply_fault(const core::fault_request& r);
  void note_fault(core::fault_kind kind, std::string event, std::string detail);

  std::shared_ptr<gateway_state> state_;
  session session_;
  decoder decoder_;
  std::string device_id_;         // set at CONNECT
  std::uint64_t epoch_ = 0;       // the hub's session, once accepted
  std::size_t hub_requests_ = 0;  // outstanding hub work with an answer
  std::optional<close_reason> close_reason_;
  bool closed_ = false;  // on_closed() ran
  struct pending_fault {
    core::time_point due;
    core::fault_request request;
  };
  std::vector<pending_fault> faults_;  // scheduled, not yet due
  bool token_authenticated_ = false;   // CONNECT had a password (a SAS token), not X.509
  // A throttled CONNECT's CONNACK 3 waits until refuse_at_ (core::limits::throttled_refusal_delay).
  std::optional<auth_result> held_refusal_;
  net::steady_time refuse_at_{};
  bool abort_when_flushed_ = false;  // KillTcp waits for the acknowledgement to be out
  net::steady_time abort_by_{};      // ... until then (kill_tcp_linger)
  // deadline(): one hub time and the steady time it was read at, and the executor's clock
  // generation then.
  mutable std::optional<std::pair<core::time_point, net::steady_time>> anchor_;
  mutable std::uint64_t anchor_generation_ = 0;
};

}  // namespace emu::mqtt
