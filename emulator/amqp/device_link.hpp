#pragma once
/// The base of a device's links that act in the device's hub session (next-capabilities §4,
/// §2.5, §3.3): its C2D link (device_c2d_sender), its twin links (device_twin_links) and its
/// method links (device_method_links). Telemetry needs no session (telemetry_receiver).
///
/// Over MQTT the connection is the session; over AMQP the device's session lives while any of
/// these links is open on the connection (device_link_sessions.hpp): the first one to attach
/// opens it with the token the connection holds for the device, the last one to close ends
/// it. A link starts its work in on_session_open(), once the hub gave the session an epoch.
/// When the hub ends the session (a newer connection of the device took over, the device was
/// changed) or the device's token expires, every such link closes with the reason.
///
/// Not thread-safe: the connection's strand only.
#include <cstdint>
#include <string>

#include "emulator/amqp/link_handler.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/hub_event.hpp"

namespace emu::amqp {

class device_link : public link_handler {
 public:
  device_link(amqp_connection& conn, pn_link_t* link, std::uint64_t serial, std::string device_id)
      : link_handler(conn, link, serial), device_id_(std::move(device_id)) {}

  /// Joins the device's session on this connection; on_session_open() follows.
  void on_open() override;
  /// Leaves the session (the last link to leave ends it); subclasses give back what they hold
  /// in on_link_closed() first.
  void on_closed() final;

  const std::string& device_id() const { return device_id_; }
  /// The hub session's epoch (0 until it is open).
  std::uint64_t epoch() const { return epoch_; }
  bool closed() const { return closed_; }

  /// The session is open (device_link_sessions calls this once).
  void session_opened(std::uint64_t epoch);
  /// The session could not be opened: the link closes with `why`.
  void session_refused(const amqp_error& why);
  /// The hub ended the session: the link closes with amqp:link:stolen (taken over) or
  /// amqp:unauthorized-access (the device changed).
  void end(core::session_end why);
  /// Closes the link with `why` (the device's token expired, a protocol error).
  void end(const amqp_error& why);

 protected:
  /// The session is open: start the link's work (credit, deliveries).
  virtual void on_session_open() {}
  /// The link is closing (by either side, or the connection): give back what it holds. The
  /// session is still this link's here.
  virtual void on_link_closed() {}
  /// The word for the link in logs ("C2D", "twin", "methods").
  virtual const char* what() const = 0;

 private:
  std::string device_id_;
  std::uint64_t epoch_ = 0;
  bool closed_ = false;
};

}  // namespace emu::amqp
