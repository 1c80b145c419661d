#pragma once
/// The `$management` node of the Event Hubs-compatible endpoint (next-capabilities §1.4): READ
/// of `com.microsoft:eventhub` (name, created_at, partition_count, partition_ids) and of
/// `com.microsoft:partition` (begin/last sequence number, last offset, last enqueued time,
/// is-empty). Both Event Hubs clients read the answer's body as an AMQP-value MAP (a data
/// section would read as undefined), with `status-code` (int) and `status-description`
/// application properties and correlation-id = the request's message-id (same type).
///
/// Not thread-safe: the connection's strand only.
#include <proton/message.hpp>
#include <proton/message_id.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "emulator/amqp/request_link.hpp"
#include "emulator/base/result.hpp"
#include "emulator/core/telemetry_message.hpp"
#include "emulator/core/time.hpp"

namespace emu::amqp {

struct management_request {
  proton::message_id id;
  std::string reply_to;
  std::string name;  ///< the event hub
  enum class kind { eventhub, partition } what = kind::eventhub;
  std::string partition;  ///< for kind::partition
};

/// A status to reply with at once (the request cannot be processed).
struct management_status {
  proton::message_id id;
  std::string reply_to;
  int code = 400;
  std::string description;
};

/// Parses a request: `operation` must be READ, `type` com.microsoft:eventhub or
/// com.microsoft:partition (then `partition` is required) → 400 otherwise; `name` must be
/// `event_hub_name` (case-insensitive) → 404 otherwise.
emu::result<management_request, management_status> parse_management_request(
    const proton::message& m, std::string_view event_hub_name);

proton::message make_eventhub_reply(const management_request& r, std::string_view event_hub_name,
                                    core::time_point created, int partition_count);
proton::message make_partition_reply(const management_request& r, std::string_view event_hub_name,
                                     const core::partition_info& info);
/// An error reply: status-code, status-description and `error-condition` (core-amqp reads it
/// before its status table).
proton::message make_management_error(const proton::message_id& id, int code,
                                      std::string_view condition, const std::string& description);

/// Our receiver for the client's `$management` sender; replies go on a reply_link of node
/// `management`.
class management_request_link final : public request_link {
 public:
  using request_link::request_link;

 private:
  void handle_request(std::string_view bytes) override;
  void reply(const proton::message& m, const std::string& reply_to);
};

}  // namespace emu::amqp
