#pragma once
/// One AMQP connection of the service endpoint, without I/O: bytes in, bytes out, timers.
///
/// It drives a Proton C `pn_connection_driver_t` and handles its C events (the transport has to
/// be reachable for our server-side SASL, which Proton's C++ container does not allow: see
/// amqp_server.hpp). Link logic lives in the link handlers (cbs_node, c2d_receiver,
/// feedback_sender); hub work goes to the hub executor and its results come back through
/// `post` (the connection's net handle), on this connection's strand. amqp_session.hpp plugs it
/// into the network layer.
///
/// Input is offered frame by frame: every frame's performative is checked with
/// encoding_check.hpp before Proton sees it (bounded depth, no truncation), oversized frames
/// end the connection, and while a SASL PLAIN password is being verified by the hub the
/// following bytes are held back, so a client that pipelines its AMQP header after the
/// sasl-init is not misparsed.
///
/// Before authentication (issue 7) a peer can make us hold little: frames before its open are
/// limited to `max_frame_size_before_open`, and once it has sent `max_input_before_auth` bytes
/// without being authorised (SASL PLAIN or a CBS put-token), its next frame ends the
/// connection. Both are checked at the frame header, before the frame is buffered.
///
/// Thread safety: none. Every call, including the functions given to `post`, must run on the
/// owning I/O object's strand. The hub executor must outlive the connection.
#include <proton/connection_driver.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "emulator/amqp/address.hpp"
#include "emulator/amqp/amqp_settings.hpp"
#include "emulator/amqp/device_link_sessions.hpp"
#include "emulator/amqp/errors.hpp"
#include "emulator/amqp/link_handler.hpp"
#include "emulator/amqp/link_routes.hpp"
#include "emulator/amqp/proton_handles.hpp"
#include "emulator/amqp/sasl_authenticator.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/hub_event.hpp"
#include "emulator/executor/hub_executor.hpp"
#include "emulator/net/connection_handle.hpp"
#include "emulator/net/refusal_counts.hpp"

namespace emu::amqp {

using steady_time = std::chrono::steady_clock::time_point;

class amqp_connection {
 public:
  /// Runs a function later on this connection's strand, with the connection, or with nullptr
  /// if the connection is gone by then. Must be callable from any thread (the executor's).
  using post_fn = std::function<void(std::function<void(amqp_connection*)>)>;

  /// `handle` is the connection's own (for routes to it); `routes` finds the connection of a
  /// feedback receiver (the front's).
  amqp_connection(executor::hub_executor& executor, const amqp_settings& settings, post_fn post,
                  net::connection_handle handle, link_routes& routes, std::string peer);
  /// Gives back what the links hold (unsettled feedback batches are released to the hub).
  ~amqp_connection();
  amqp_connection(const amqp_connection&) = delete;
  amqp_connection& operator=(const amqp_connection&) = delete;

  /// The certificates the peer presented in its TLS handshake (DER, leaf first): an X.509
  /// device attaches its links without CBS (next-capabilities §4).
  /// How the peer is carried, for the dashboard's device list: "AMQP" or "AMQP/WebSocket".
  void set_transport(std::string t) { transport_ = std::move(t); }
  const std::string& transport() const { return transport_; }
  void set_peer_certificates(std::vector<std::string> chain) {
    peer_certificates_ = std::move(chain);
  }
  /// Where refused authentication is counted (the front's, for /metrics); none in unit tests.
  void set_refusal_counts(net::refusal_counts* counts) { refusals_ = counts; }
  void count_refusal(std::string_view reason) {
    if (refusals_ != nullptr) refusals_->count(reason);
  }
  /// Sets up the Proton driver and transport. False if Proton cannot allocate.
  bool start(steady_time now);

  // ---- I/O side ------------------------------------------------------------------------
  /// Offers bytes from the peer; returns how many were taken. The caller keeps the rest and
  /// offers it again after more bytes arrive or after any posted completion ran.
  std::size_t feed(std::span<const char> bytes);
  /// The largest frame the peer may send now: `max_frame_size_before_open` until its open
  /// arrived, then our max-frame-size. The caller needs to keep at most this many bytes of
  /// unconsumed input (one incomplete frame).
  std::size_t frame_limit() const;
  /// The peer closed its side, or reading failed.
  void read_closed();
  /// Writing failed: nothing more can be sent.
  void write_failed();
  /// Appends the bytes to send to `out`.
  void take_output(std::vector<std::uint8_t>& out);
  /// False while the hub checks a SASL PLAIN password: the bytes that follow must wait.
  bool accepting_input() const;
  /// Nothing more will be written (after our close frame, or on a transport error).
  bool write_closed();
  /// Whether the peer may still be sending when our side ends: we closed first (a protocol
  /// error, an expired token, a forced close), not in answer to the peer's close. The transport
  /// then reads and drops what still arrives, so the peer reads our close instead of a reset.
  bool peer_may_still_send();
  /// Both directions are done and every event was handled.
  bool finished();
  /// Runs the time-driven work due at `now`: Proton's idle time-out and heartbeats, the token
  /// expiry, the open deadline. Returns when to call again.
  std::optional<steady_time> tick(steady_time now);
  /// Handles every pending Proton event.
  void pump();

  // ---- server side -----------------------------------------------------------------------
  /// Closes the connection with `e` (server stop, hub reset).
  void close(const amqp_error& e);
  /// The hub locked `batch` for the feedback receiver `receiver` (event::feedback_delivery):
  /// the feedback link of that receiver sends it.
  void feedback_delivery(std::uint64_t receiver, core::feedback_batch batch);
  /// Events for the telemetry reader `reader` (event::telemetry_delivery): its link sends them.
  void telemetry_delivery(
      std::uint64_t reader,
      const std::vector<std::shared_ptr<const core::telemetry_message>>& events);
  /// A C2D message the hub locked for device session (device, epoch) (event::c2d_delivery):
  /// the device's C2D link sends it.
  void device_c2d_delivery(const std::string& device_id, std::uint64_t epoch, core::c2d_delivery d);
  /// Test control expired every token now (event::tokens_expired): every grant of the
  /// connection ends as at its expiry (tick() carries it out).
  void expire_all_tokens();
  /// Device `device_id`'s token expired unrenewed: its links close with
  /// amqp:unauthorized-access.
  void device_token_expired(const std::string& device_id);
  /// The hub ended device session (device, epoch) (event::session_ended): its links close.
  void device_session_ended(const std::string& device_id, std::uint64_t epoch,
                            core::session_end why);
  // ---- fault injection (issue 17, next-capabilities §7.2; connection_faults.cpp) ----------
  /// A device on this connection asked for `r` (its telemetry, or test control through
  /// event::fault_requested): tick() carries it out at hub time now + r.delay.
  void schedule_fault(const std::string& device_id, core::fault_request r);
  /// True once, after a KillTcp fault was carried out: the session cuts the transport as soon
  /// as what is written so far (the acknowledgement of the message that asked) is out.
  bool take_abort() { return std::exchange(abort_requested_, false); }

  /// The service changed the device's desired properties (event::desired_patch): its twin
  /// links that asked for notifications send `patch` (JSON text with `$version`).
  void device_desired_patch(const std::string& device_id, std::int64_t version,
                            const std::string& patch);
  /// A direct method call for device session (device, epoch) (event::method_request): its
  /// method link sends it.
  void device_method_request(const std::string& device_id, std::uint64_t epoch,
                             std::uint64_t call_id, const std::string& name,
                             const std::string& payload);
  /// The hub ended the telemetry reader `reader` (event::telemetry_reader_ended).
  void telemetry_reader_ended(std::uint64_t reader, const core::error& why);
  /// The port this connection's listener is bound to (the redirect's address names it).
  void set_local_port(std::uint16_t port) { local_port_ = port; }

  // ---- for link handlers ----------------------------------------------------------------
  executor::hub_executor& executor() { return executor_; }
  const amqp_settings& settings() const { return settings_; }
  const post_fn& poster() const { return post_; }
  const net::connection_handle& handle() const { return handle_; }
  amqp::link_routes& routes() { return routes_; }
  /// The hub sessions of the devices whose links are on this connection.
  device_link_sessions& device_sessions() { return device_sessions_; }
  /// The token this connection holds for `device_id` ("" if none): its session opens with it.
  /// What admitted the device on this connection (its CBS token or the TLS client
  /// certificate), for the hub calls that check it again.
  core::device_credential device_credential(const std::string& device_id) const;
  void log(log_level level, std::string_view text) const;

  /// Runs `fn(hub, now)` on the executor; `done(conn, committed, result)` then runs on this
  /// connection's strand (conn is nullptr if the connection is gone).
  template <class Fn, class Done>
  void submit(Fn fn, Done done) {
    executor_.submit(
        std::move(fn), [post = post_, done = std::move(done)](bool committed, auto r) mutable {
          post([done = std::move(done), committed, r = std::move(r)](amqp_connection* c) mutable {
            done(c, committed, std::move(r));
          });
        });
  }

  /// Calls `fn(T&)` for each link handler of type T, in attach order.
  template <class T, class Fn>
  void for_each_link(Fn&& fn) {
    for (auto& [serial, h] : links_)
      if (auto* t = dynamic_cast<T*>(h.get())) fn(*t);
  }

  /// The handler with this serial, if it is still open and of type T.
  template <class T>
  T* find(std::uint64_t serial) {
    const auto it = links_.find(serial);
    return it == links_.end() ? nullptr : dynamic_cast<T*>(it->second.get());
  }

  /// True while a token (CBS or SASL PLAIN) with ServiceConnect is valid.
  bool authorized() const;
  /// A put-token succeeded: the connection is authorised until `grant.expiry` (a service
  /// grant), or may open that device's links until then (a grant with a device id).
  void set_grant(core::auth_grant grant, core::device_credential credential = {});
  /// The valid grant of `device_id` on this connection, if any.
  const core::auth_grant* device_grant(std::string_view device_id) const;
  /// A put-token is being verified; attaches that need a token wait for it (cbs_finished).
  void cbs_started() { ++cbs_in_flight_; }
  /// No grant for `device_id` yet: if the connection presented a client certificate not yet
  /// tried for it, asks the hub (attaches wait as for a put-token) and returns true.
  bool try_certificate(const std::string& device_id);
  const std::vector<std::string>& transport_certificates() const { return peer_certificates_; }
  void cbs_finished();
  /// Sends a reply of `node` ($cbs, $management) on the client's receiver link of that node
  /// whose target equals `reply_to`, else on one with that source (spec §4.2 "Emulator routing
  /// rule", next-capabilities §1.3): the newest one in the session of the request link
  /// `request_serial` if it is still open, else the newest one. (A client that attaches a new
  /// pair per request reads the newest receiver.)
  void send_reply(node_kind node, std::string_view reply_to, std::vector<char> bytes,
                  std::uint64_t request_serial);
  /// The message-format of the transfer frame whose events are being handled (0 when it
  /// names none or the frame is not a transfer): a receiver reads it at a delivery's first
  /// frame (transfer_frame.hpp).
  std::uint32_t transfer_format() const { return transfer_format_; }
  /// When the hub was created, as `$management` reports it (the front's start).
  core::time_point created() const { return settings_.hub_created; }

 private:
  void handle(pn_event_t* e);
  void on_link_remote_open(pn_link_t* link);
  void decide_attach(pn_link_t* link);
  /// A device's own link (`/devices/<id>/…`): admitted with that device's token only.
  void decide_device_attach(pn_link_t* link, const std::string& address, bool we_send);
  void refuse_link(pn_link_t* link, const amqp_error& e);
  void redirect_link(pn_link_t* link);
  void attach_partition_reader(pn_link_t* link, const std::string& address);
  void accept_link(pn_link_t* link, std::unique_ptr<link_handler> handler);
  link_handler* handler_of(pn_link_t* link);
  void drop_link(pn_link_t* link);
  void drop_session_links(pn_session_t* session);
  void drop_all_links();
  void protocol_error(std::string_view condition, std::string_view description);
  bool push_to_driver(std::span<const char> bytes, std::size_t& pushed);
  void on_sasl_plain(plain_response response);
  struct pending_fault {
    std::string device_id;
    core::fault_request request;
    core::time_point due;
  };
  /// Carries out the faults due at `hub_now`; the next one's time goes to `sooner`.
  void apply_due_faults(core::time_point hub_now, steady_time now,
                        const std::function<void(steady_time)>& sooner);
  void apply_fault(const pending_fault& f);
  /// Ends every open session, with `e` if given (before a fault closes the connection).
  void end_all_sessions(const amqp_error* e);
  /// Closes, with `e`, the links of type T (that `pick` selects); how many there were.
  template <class T, class Pick>
  int detach_links(const amqp_error& e, Pick&& pick);
  void note_fault(const std::string& device_id, core::fault_kind kind, std::string event,
                  std::string detail);

  executor::hub_executor& executor_;
  const amqp_settings& settings_;
  post_fn post_;
  net::connection_handle handle_;
  amqp::link_routes& routes_;
  std::string peer_;

  // Declared before the driver: Proton keeps pointers into it until the transport is freed.
  sasl_authenticator sasl_;
  driver_handle driver_;

  // Declared before the links: closing links leave their device's session.
  device_link_sessions device_sessions_{*this};
  std::map<std::uint64_t, std::unique_ptr<link_handler>> links_;
  std::vector<pn_link_t*> deferred_attaches_;
  std::vector<std::string> peer_certificates_;
  std::string transport_ = "AMQP";
  net::refusal_counts* refusals_ = nullptr;
  /// Devices whose certificate check failed, with the reason (tried once per connection).
  std::map<std::string, std::string, std::less<>> certificate_refusals_;
  std::uint64_t next_serial_ = 1;
  std::optional<core::auth_grant> grant_;
  /// Devices whose tokens this connection holds (device AMQP; several may share a connection).
  std::map<std::string, core::auth_grant, std::less<>> device_grants_;
  /// The token of each device grant: the device's hub session opens with it.
  std::map<std::string, core::device_credential, std::less<>> device_credentials_;
  int cbs_in_flight_ = 0;
  std::uint16_t local_port_ = 5671;

  steady_time open_deadline_{};
  bool remote_opened_ = false;
  bool authenticated_ = false;         // authorised once (latched): no input budget any more
  std::size_t input_before_auth_ = 0;  // bytes given to Proton before that
  bool failed_ = false;                // a protocol error was raised by us: ignore further input
  bool in_pump_ = false;
  std::size_t unit_left_ = 0;          // bytes of the current header/frame not yet given to Proton
  std::uint32_t transfer_format_ = 0;  // of the frame being fed (transfer_frame.hpp)
  std::vector<pending_fault> pending_faults_;
  bool abort_requested_ = false;
};

}  // namespace emu::amqp
