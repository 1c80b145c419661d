#include "emulator/core/feedback.hpp"

#include <nlohmann/json.hpp>

namespace emu::core {

std::string_view to_string(feedback_status s) {
  switch (s) {
    case feedback_status::success:
      return "Success";
    case feedback_status::expired:
      return "Expired";
    case feedback_status::delivery_count_exceeded:
      return "DeliveryCountExceeded";
    case feedback_status::rejected:
      return "Rejected";
    case feedback_status::purged:
      return "Purged";
  }
  return "Success";
}

std::string feedback_json(const feedback_batch& b) {
  auto records = nlohmann::json::array();
  for (const auto& r : b.records) {
    const std::string status{to_string(r.status)};
    // camelCase keys; description == statusCode because the C SDK derives the status from
    // the lower-cased description (spec §2.2).
    records.push_back({{"originalMessageId", r.original_message_id},
                       {"description", status},
                       {"deviceGenerationId", r.device_generation_id},
                       {"deviceId", r.device_id},
                       {"enqueuedTimeUtc", to_iso8601(r.enqueued_time)},
                       {"statusCode", status}});
  }
  return records.dump();
}

}  // namespace emu::core
