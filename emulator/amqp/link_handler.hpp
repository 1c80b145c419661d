#pragma once
/// The base of the per-link handlers of one connection (CBS links, the C2D receiver, the
/// feedback sender).
///
/// Ownership: the connection (connection.hpp) owns its handlers; each handler keeps a
/// non-owning pn_link_t* that stays valid until the handler is destroyed, because the
/// connection destroys the handler before it frees the link. Handlers that wait for the hub
/// executor are found again by `serial()` when the completion comes back, never by pointer.
///
/// Not thread-safe: everything runs on the connection's strand.
#include <proton/condition.h>
#include <proton/delivery.h>
#include <proton/link.h>

#include <cstdint>

#include "emulator/amqp/errors.hpp"

namespace emu::amqp {

class amqp_connection;

class link_handler {
 public:
  link_handler(amqp_connection& conn, pn_link_t* link, std::uint64_t serial)
      : conn_(conn), link_(link), serial_(serial) {}
  virtual ~link_handler() = default;
  link_handler(const link_handler&) = delete;
  link_handler& operator=(const link_handler&) = delete;

  /// The link was accepted (our attach is written): set up credit, start sending.
  virtual void on_open() {}
  /// The max-message-size our attach announces; 0 = none (unlimited). Read before the attach.
  virtual std::uint64_t max_message_size() const { return 0; }
  /// Credit changed (senders).
  virtual void on_flow() {}
  /// A delivery arrived, grew or changed state.
  virtual void on_delivery(pn_delivery_t*) {}
  /// The link or the whole connection is going away: give back what is held (feedback locks).
  /// Called exactly once, before destruction; the link must not be used afterwards.
  virtual void on_closed() {}

  pn_link_t* link() const { return link_; }
  std::uint64_t serial() const { return serial_; }

 protected:
  amqp_connection& conn_;
  pn_link_t* link_;

 private:
  std::uint64_t serial_;
};

/// Writes `e` into a Proton condition: name, description and, when `e.error_code` is set, the
/// info map {com.microsoft:error-code: int} (spec §4.4).
void set_condition(pn_condition_t* c, const amqp_error& e);

/// Settles an incoming delivery with `accepted`.
void accept_delivery(pn_delivery_t* d);
/// Settles an incoming delivery with `rejected{e}`.
void reject_delivery(pn_delivery_t* d, const amqp_error& e);

}  // namespace emu::amqp
