#pragma once
/// RAII owners for the Proton C objects this front creates itself. Objects owned by a Proton
/// connection (sessions, links, deliveries) are not wrapped: the connection frees them, and the
/// front only keeps non-owning pointers to them while they are open (see connection.hpp).
///
/// Not thread-safe (Proton objects belong to one connection's strand).
#include <proton/codec.h>
#include <proton/connection_driver.h>

#include <memory>

namespace emu::amqp {

struct pn_data_deleter {
  void operator()(pn_data_t* d) const noexcept { pn_data_free(d); }
};
/// An owned pn_data_t (pn_data() / pn_data_free()).
using data_ptr = std::unique_ptr<pn_data_t, pn_data_deleter>;
inline data_ptr make_data(std::size_t capacity = 16) {
  return data_ptr(pn_data(capacity));
}

/// Owns a pn_connection_driver_t: the pn_connection_t, pn_transport_t and pn_collector_t of
/// one AMQP connection (proton/connection_driver.h). Destroying it frees every session, link
/// and delivery of the connection.
class driver_handle {
 public:
  driver_handle() = default;
  ~driver_handle() { reset(); }
  driver_handle(const driver_handle&) = delete;
  driver_handle& operator=(const driver_handle&) = delete;

  /// Creates a new connection and transport. Returns false on allocation failure.
  bool init() {
    reset();
    initialised_ = pn_connection_driver_init(&driver_, nullptr, nullptr) == 0;
    return initialised_;
  }
  void reset() noexcept {
    if (initialised_) pn_connection_driver_destroy(&driver_);
    initialised_ = false;
  }
  pn_connection_driver_t* get() noexcept { return initialised_ ? &driver_ : nullptr; }
  pn_connection_t* connection() noexcept { return initialised_ ? driver_.connection : nullptr; }
  pn_transport_t* transport() noexcept { return initialised_ ? driver_.transport : nullptr; }

 private:
  pn_connection_driver_t driver_{};
  bool initialised_ = false;
};

}  // namespace emu::amqp
