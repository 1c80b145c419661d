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
#include <string>
#include <variant>
#include <vector>

#include "emulator/amqp/request_link.hpp"
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

/// Our receiver for the client's `$cbs` sender: reads requests and asks the hub. Replies go
/// on a reply_link of node `cbs`.
class cbs_request_link final : public request_link {
 public:
  using request_link::request_link;

 private:
  void handle_request(std::string_view bytes) override;
  void reply(const proton::message_id& id, const std::string& reply_to, int code,
             const std::string& description);
};

}  // namespace emu::amqp
