#pragma once
/// The `$cbs` node: claims-based security put-token (spec §4.2, sdk-wire §2.3).
///
/// A client attaches a sender with target `$cbs` (requests) and a receiver with source `$cbs`
/// (replies). A request carries application properties `operation` = `put-token`, `type` =
/// `servicebus.windows.net:sastoken` or `azure-devices.net:sastoken`, `name` = the audience,
/// and the SAS token as an amqp-value string body. The hub verifies the token (signature,
/// expiry, ServiceConnect); the reply has `correlation-id` = the request's message-id in the
/// SAME AMQP type (uAMQP requires a ulong, Node compares strings), `status-code` as an AMQP
/// int and `status-description`.
///
/// The audience (`name`) is logged but not checked: the token's own `sr` is what the hub
/// verifies, and the SDKs send different audiences for the same hub (host, `amqps://host:5671/`).
///
/// Not thread-safe: the connection's strand only.
#include <proton/message.hpp>
#include <proton/message_id.hpp>

#include <cstdint>
#include <deque>
#include <string>
#include <variant>
#include <vector>

#include "emulator/amqp/link_handler.hpp"
#include "emulator/base/result.hpp"

namespace emu::amqp {

struct put_token_request {
  proton::message_id id;  ///< echoed as the reply's correlation-id, same type
  std::string reply_to;
  std::string audience;  ///< `name`
  std::string token;
};

/// A CBS status to reply with at once (the request cannot be processed).
struct cbs_status {
  proton::message_id id;
  std::string reply_to;
  int code = 400;
  std::string description;
};

/// Parses a request: wrong operation or token type → 400; missing token → 400.
emu::result<put_token_request, cbs_status> parse_put_token(const proton::message& m);

/// The reply message: correlation-id = `request_id` (same AMQP type), `to` = `reply_to` when
/// set, application properties `status-code` (int) and `status-description` (string).
proton::message make_cbs_reply(const proton::message_id& request_id, const std::string& reply_to,
                               int status_code, const std::string& description);

/// Our receiver for the client's `$cbs` sender: reads requests and asks the hub.
class cbs_request_link final : public link_handler {
 public:
  using link_handler::link_handler;
  void on_open() override;
  void on_delivery(pn_delivery_t* d) override;

 private:
  void handle_request(std::string_view bytes);
  void reply(const proton::message_id& id, const std::string& reply_to, int code,
             const std::string& description);
  void top_up();

  std::string buffer_;
};

/// Our sender for the client's `$cbs` receiver: carries replies as credit allows. Replies are
/// sent unsettled and settled when the client accepts them (Node and C# auto-accept; a
/// pre-settled reply would confuse clients that accept explicitly, e.g. Proton's
/// BlockingReceiver).
class cbs_reply_link final : public link_handler {
 public:
  cbs_reply_link(amqp_connection& conn, pn_link_t* link, std::uint64_t serial,
                 std::size_t max_queued)
      : link_handler(conn, link, serial), max_queued_(max_queued) {}
  void on_open() override { send_queued(); }
  void on_flow() override { send_queued(); }
  void on_delivery(pn_delivery_t* d) override;
  /// Queues a reply (dropped with a log line if the queue is full).
  void send(std::vector<char> bytes);
  /// The remote target address (C# sets it to the request's reply-to).
  std::string remote_target() const;

 private:
  void send_queued();

  std::size_t max_queued_;
  std::deque<std::vector<char>> queue_;
  std::uint64_t next_tag_ = 1;
};

}  // namespace emu::amqp
