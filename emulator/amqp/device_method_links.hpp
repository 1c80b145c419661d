#pragma once
/// A device's direct methods over AMQP (next-capabilities §3.3): the device attaches a sender
/// and a receiver on `/devices/{id}/methods/devicebound`. Calls go out on our
/// method_request_sender (the device's receiver), answers come in on our
/// method_response_receiver (the device's sender).
///
/// The device is reachable for calls while its method_request_sender is open in its session
/// (hub::set_iothub_topics with the methods bit, as an MQTT subscription to
/// `$iothub/methods/POST/#` makes it). The call's correlation-id is a uuid that carries the
/// hub's call id (method_message.hpp); the answer completes the call on the hub, which answers
/// the caller. An answer to no waiting call is accepted and dropped (IoT Hub does the same
/// over MQTT); one without `IoThub-status` is rejected.
///
/// Not thread-safe: the connection's strand only.
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "emulator/amqp/delivery_reader.hpp"
#include "emulator/amqp/device_link.hpp"

namespace emu::amqp {

/// Our sender on a device's method receiver link.
class method_request_sender final : public device_link {
 public:
  using device_link::device_link;
  void on_flow() override { send_waiting(); }
  /// A call for this session (event::method_request).
  void call(std::uint64_t call_id, const std::string& name, const std::string& payload);

 private:
  void on_session_open() override;
  void on_link_closed() override;
  const char* what() const override { return "methods"; }
  void send_waiting();

  std::deque<std::vector<char>> waiting_;
  std::uint64_t next_tag_ = 1;
};

/// Our receiver on a device's method sender link.
class method_response_receiver final : public device_link {
 public:
  using device_link::device_link;
  void on_delivery(pn_delivery_t* d) override;

 private:
  void on_session_open() override { top_up(); }
  const char* what() const override { return "methods"; }
  void top_up();

  delivery_reader reader_;
  int at_hub_ = 0;  // answers submitted, not yet done by the hub
};

}  // namespace emu::amqp
