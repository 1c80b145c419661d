#include "emulator/amqp/device_link.hpp"

#include "emulator/amqp/connection.hpp"

namespace emu::amqp {

void device_link::on_open() {
  conn_.device_sessions().join(device_id_, serial(), conn_.device_credential(device_id_));
}

void device_link::session_opened(std::uint64_t epoch) {
  if (closed_ || epoch_ != 0) return;
  epoch_ = epoch;
  on_session_open();
}

void device_link::session_refused(const amqp_error& why) {
  end(why);
}

void device_link::end(core::session_end why) {
  end(why == core::session_end::taken_over
          ? amqp_error{std::string(condition::link_stolen),
                       "A newer connection of device '" + device_id_ + "' took over.", 0}
          : unauthorized("Device '" + device_id_ + "' was changed in the registry."));
}

void device_link::end(const amqp_error& why) {
  if (closed_) return;
  conn_.log(log_level::info, "device '" + device_id_ + "' " + what() +
                                 " link closed: " + why.condition + ": " + why.description);
  set_condition(pn_link_condition(link_), why);
  pn_link_close(link_);
  on_closed();
}

void device_link::on_closed() {
  if (closed_) return;
  closed_ = true;
  on_link_closed();
  conn_.device_sessions().leave(device_id_, serial());
}

}  // namespace emu::amqp
