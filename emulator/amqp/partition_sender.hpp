#pragma once
/// Our sender for an Event Hubs receiver, source `<hub>/ConsumerGroups/<cg>/Partitions/<n>`
/// (next-capabilities §1.5).
///
/// The link is a telemetry reader of the hub (core/telemetry_readers.hpp): on attach it asks
/// the hub for a reader at the position of the link's selector filter (the hub checks the
/// consumer group, the partition and the epoch; a refusal closes the link with amqp:not-found
/// or amqp:link:stolen), and whenever the client's credit changes it tells the hub how many
/// events the link may have received in all (sent so far + link credit). The hub pushes events
/// within that limit (event::telemetry_delivery, routed here by amqp_front), so a reader never
/// gets more than its credit and a slow reader holds nothing back. Events are sent pre-settled
/// (the clients accept every delivery anyway; the reader's position is the client's to keep),
/// drain is honoured like on the feedback link.
///
/// Not thread-safe: the connection's strand only.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "emulator/amqp/link_handler.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/telemetry_message.hpp"
#include "emulator/core/telemetry_readers.hpp"

namespace emu::amqp {

class partition_sender final : public link_handler {
 public:
  partition_sender(amqp_connection& conn, pn_link_t* link, std::uint64_t serial,
                   std::string partition_id, core::reader_request request)
      : link_handler(conn, link, serial),
        partition_id_(std::move(partition_id)),
        request_(std::move(request)) {}
  void on_open() override;
  void on_flow() override { report_credit(); }
  void on_delivery(pn_delivery_t* d) override;
  void on_closed() override;

  /// The hub's reader id (0 until the hub answered the attach).
  std::uint64_t reader() const { return reader_; }
  /// Events the hub delivered for this link: send them.
  void deliver(const std::vector<std::shared_ptr<const core::telemetry_message>>& events);
  /// The hub ended the reader (a higher epoch took the partition): close the link with `why`.
  void end(const core::error& why);

 private:
  void on_attached(core::result<std::uint64_t> reader);
  void report_credit();
  void on_drain_answer(std::uint64_t delivered);
  void check_drained();

  std::string partition_id_;
  core::reader_request request_;
  std::uint64_t reader_ = 0;
  bool closed_ = false;
  std::uint64_t sent_count_ = 0;
  std::optional<std::uint64_t> reported_;
  std::optional<std::uint64_t> drain_left_;
};

}  // namespace emu::amqp
