#pragma once
/// Delivery feedback: records produced by C2D outcomes and the batches the service reads
/// (spec §2).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/core/time.hpp"

namespace emu::core {

enum class feedback_status : std::uint8_t {
  success,
  expired,
  delivery_count_exceeded,
  rejected,
  purged
};
/// "Success", "Expired", "DeliveryCountExceeded", "Rejected", "Purged".
std::string_view to_string(feedback_status s);

struct feedback_record {
  std::uint64_t id = 0;
  std::string original_message_id;
  std::string device_id;
  std::string device_generation_id;
  feedback_status status = feedback_status::success;
  time_point enqueued_time{};  // when the outcome happened
  std::uint64_t batch_id = 0;  // 0 while not yet batched
  friend bool operator==(const feedback_record&, const feedback_record&) = default;
};

/// A batch has its own lock, TTL and delivery count, like a C2D message (spec §2.3).
struct feedback_batch {
  std::uint64_t id = 0;
  time_point created{};
  time_point expiry{};
  int delivery_count = 0;
  std::uint64_t lock_id = 0;  // non-zero while locked by a consumer
  time_point lock_expiry{};
  std::vector<feedback_record> records;
  friend bool operator==(const feedback_batch&, const feedback_batch&) = default;
};

/// The batch body: a JSON array of camelCase records with `description` equal to `statusCode`
/// (spec §2.2; the C SDK derives the status from `description`).
std::string feedback_json(const feedback_batch& b);

}  // namespace emu::core
