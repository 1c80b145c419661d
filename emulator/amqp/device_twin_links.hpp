#pragma once
/// A device's twin over AMQP (next-capabilities §2.5): the device attaches a sender and a
/// receiver on `/devices/{id}/twin`, both carrying the same
/// `com.microsoft:channel-correlation-id`. Requests come in on our twin_request_receiver,
/// answers and desired-property notifications go out on our twin_sender of the same channel
/// (else the device's newest twin_sender on the connection).
///
/// What each request does is what the same request does over MQTT (next-capabilities §2.2):
/// GET answers 200 with `{desired, reported}`; PATCH /properties/reported answers 204 with the
/// new reported `version` (it needs the device's session: a device whose session was taken
/// over cannot write); PUT and DELETE on /notifications/twin/properties/desired turn the
/// desired-property notifications of that channel on and off (204). Anything else answers 400
/// with IoT Hub's error JSON; a message that cannot be a request (no correlation-id, not a data
/// body) is rejected. Credit is granted once the session is open, so no request waits.
///
/// Not thread-safe: the connection's strand only.
#include <proton/message_id.hpp>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/amqp/delivery_reader.hpp"
#include "emulator/amqp/device_link.hpp"

namespace emu::amqp {

struct twin_request;

/// Our sender on a device's twin receiver link.
class twin_sender final : public device_link {
 public:
  twin_sender(amqp_connection& conn, pn_link_t* link, std::uint64_t serial, std::string device_id,
              std::string channel)
      : device_link(conn, link, serial, std::move(device_id)), channel_(std::move(channel)) {}
  void on_flow() override { send_waiting(); }

  const std::string& channel() const { return channel_; }
  /// Desired-property notifications are on (PUT on the notifications resource).
  bool wants_desired() const { return wants_desired_; }
  void set_wants_desired(bool on) { wants_desired_ = on; }
  /// Sends an encoded message, settled (the device's receiver accepts everything); it waits
  /// while the link has no credit.
  void send(std::vector<char> bytes);

 private:
  void on_session_open() override { send_waiting(); }
  void on_link_closed() override { waiting_.clear(); }
  const char* what() const override { return "twin"; }
  void send_waiting();

  std::string channel_;
  bool wants_desired_ = false;
  std::deque<std::vector<char>> waiting_;
  std::uint64_t next_tag_ = 1;
};

/// Our receiver on a device's twin sender link.
class twin_request_receiver final : public device_link {
 public:
  twin_request_receiver(amqp_connection& conn, pn_link_t* link, std::uint64_t serial,
                        std::string device_id, std::string channel)
      : device_link(conn, link, serial, std::move(device_id)), channel_(std::move(channel)) {}
  void on_delivery(pn_delivery_t* d) override;

 private:
  void on_session_open() override { top_up(); }
  const char* what() const override { return "twin"; }
  void top_up();
  void handle(twin_request r);
  void answer(const proton::message_id& cid, int status, std::optional<std::int64_t> version,
              std::string_view body);
  void answer_error(const proton::message_id& cid, int error_number, std::string_view message);
  twin_sender* sender();

  std::string channel_;
  delivery_reader reader_;
  int at_hub_ = 0;  // requests submitted, not yet answered by the hub
};

}  // namespace emu::amqp
