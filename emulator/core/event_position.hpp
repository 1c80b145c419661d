#pragma once
/// Where a reader of an Event Hubs partition starts (next-capabilities §1.5): the position an
/// `apache.org:selector-filter:string` names (amqp/selector_filter.hpp parses it; the telemetry
/// log resolves it to the first event to deliver).
#include <cstdint>

namespace emu::core {

struct event_position {
  enum class kind {
    offset,           ///< x-opt-offset: `value` is an offset; -1 (not inclusive) = the earliest
    sequence_number,  ///< x-opt-sequence-number: `value` is a sequence number
    enqueued_time,    ///< x-opt-enqueued-time / x-opt-enqueuedtimeutc: `value` is Unix ms
    latest,           ///< x-opt-offset > '@latest': only events enqueued after the attach
  };
  kind what = kind::offset;
  std::int64_t value = -1;
  /// `>=` rather than `>`.
  bool inclusive = false;

  /// The first event of the partition (what a receiver without a filter gets).
  static constexpr event_position earliest() { return {kind::offset, -1, false}; }
  friend bool operator==(const event_position&, const event_position&) = default;
};

}  // namespace emu::core
