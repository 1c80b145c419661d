#pragma once
/// Our receiver for a device's telemetry sender link, target `/devices/{id}/messages/events`
/// (next-capabilities §4, sdk-wire §4): each delivery is decoded (device_telemetry.hpp),
/// stamped with the hub's properties (telemetry_stamps) and appended to the telemetry log, and
/// accepted once that round committed (committed_receiver): the same log, partitions and
/// Event Hubs view as MQTT telemetry. The connection admits the link only for a device whose
/// token it holds (connection.cpp).
///
/// A device changed in the registry since the link's last message (its etag moved: disabled,
/// re-keyed) has its token checked again with the hub, as its session's links are ended by the
/// hub: a token that no longer holds rejects the message and closes the link with
/// amqp:unauthorized-access (the common case, an unchanged device, costs a string compare).
///
/// Not thread-safe: the connection's strand only.
#include <optional>
#include <string>

#include "emulator/amqp/committed_receiver.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/fault_request.hpp"
#include "emulator/core/limits.hpp"

namespace emu::amqp {

class telemetry_receiver final : public committed_receiver {
 public:
  /// `hub_scope`: the device authenticated with a hub policy's key (DeviceConnect).
  telemetry_receiver(amqp_connection& conn, pn_link_t* link, std::uint64_t serial,
                     std::string device_id, bool hub_scope)
      : committed_receiver(conn, link, serial),
        device_id_(std::move(device_id)),
        hub_scope_(hub_scope) {}

  const std::string& device_id() const { return device_id_; }
  /// Azure announces the D2C limit on the telemetry link, and the C SDK sizes its batches
  /// from it: with none it refuses to send at all ("link_get_peer_max_message_size (0) is
  /// less than the reserve size", issue 21).
  std::uint64_t max_message_size() const override { return core::limits::d2c_max_message_size; }

 protected:
  std::optional<amqp_error> submit(std::string bytes, std::uint32_t format,
                                   std::uint64_t id) override;

 private:
  /// What a round made of a delivery: the device's etag then, the connection fault the message
  /// asked for (fault injection), or the refusal of a fault-injection window.
  struct stored {
    std::string etag;
    std::optional<core::fault_request> fault;
    std::optional<core::error> refusal;
  };
  void refused_access(const std::string& why);

  std::string device_id_;
  bool hub_scope_;
  std::string verified_etag_;  // the device's etag when its token was last found good
};

}  // namespace emu::amqp
