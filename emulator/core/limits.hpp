#pragma once
/// Every limit and default of the hub, named once, with its source in
/// ../shared/spec/iothub-protocol.md. Settings that a hub may change start from these values
/// (hub_settings.hpp); the ranges are enforced when the configuration is validated.
#include <chrono>
#include <cstddef>

namespace emu::core::limits {

using namespace std::chrono_literals;

// §1.1: lock (visibility) timeout of a delivered C2D message; 1 minute, not changeable on Azure.
inline constexpr std::chrono::milliseconds c2d_lock_timeout = 60s;
// §1.2: cloudToDevice.defaultTtlAsIso8601, default 1 hour, range 1 minute .. 2 days.
inline constexpr std::chrono::milliseconds c2d_default_ttl = 1h;
inline constexpr std::chrono::milliseconds c2d_ttl_min = 1min;
inline constexpr std::chrono::milliseconds c2d_ttl_max = 48h;
// §1.2: cloudToDevice.maxDeliveryCount, default 10, range 1 .. 100.
inline constexpr int c2d_max_delivery_count = 10;
inline constexpr int delivery_count_min = 1;
inline constexpr int delivery_count_max = 100;
// §1.4: at most 50 messages pending per device queue (Enqueued + Invisible; UNCONFIRMED which).
inline constexpr int c2d_max_queue_depth = 50;
// §1.4 / §6.2: C2D message size 64 KB, measured as body + system property values + application
// property names and values.
inline constexpr std::size_t c2d_max_message_size = 64 * 1024;
// §1.4: message-id at most 128 characters.
inline constexpr std::size_t message_id_max_length = 128;
// §7: device id at most 128 characters.
inline constexpr std::size_t device_id_max_length = 128;

// §2.3: a feedback batch goes out at 64 records or 15 s after the last batch.
inline constexpr std::size_t feedback_batch_max_records = 64;
inline constexpr std::chrono::milliseconds feedback_batch_interval = 15s;
// §1.2 / §2.3: feedback queue TTL 1 h (1 min .. 2 days), lock 60 s (5 .. 300 s), max delivery
// count 10 (2026 article; the 2018 article said 100).
inline constexpr std::chrono::milliseconds feedback_ttl = 1h;
inline constexpr std::chrono::milliseconds feedback_lock_duration = 60s;
inline constexpr std::chrono::milliseconds feedback_lock_min = 5s;
inline constexpr std::chrono::milliseconds feedback_lock_max = 300s;
inline constexpr int feedback_max_delivery_count = 10;

// §5.1: a SAS token is still accepted up to 5 minutes after its `se` (MaxClockSkew).
inline constexpr std::chrono::milliseconds sas_clock_skew = 5min;

// §6.1 ("excess is queued, then rejected"): a throttled connect (deviceConnectRate,
// --throttling) is refused this long after it came, on MQTT (CONNACK 3) and AMQP (the link's
// detach): far below every SDK's connect timeout, long enough that a client reconnecting the
// moment it is refused makes one attempt a second. The emulator's choice (UNCONFIRMED).
inline constexpr std::chrono::milliseconds throttled_refusal_delay = 1s;

// §3.3: keep-alive is enforced at 1.5 x the client's value, capped at 1767 s.
inline constexpr double mqtt_keep_alive_factor = 1.5;
inline constexpr std::chrono::seconds mqtt_keep_alive_cap = 1767s;
// §3.1 / §6.2: device-to-cloud message at most 256 KB.
inline constexpr std::size_t d2c_max_message_size = 256 * 1024;
// §3.4: a device can subscribe to at most five topics at a time.
inline constexpr int mqtt_max_subscriptions = 5;

// Issue 14, DOC iot-hub-devguide-messages-read-builtin: the built-in endpoint keeps telemetry
// 1 day by default (up to 7). Partitions: 4 by default (Azure's minimum for new hubs is 2,
// the default 4), at most 32 here. The byte and event bounds are emulator choices that cap the
// memory and disk of the log (oldest dropped first).
inline constexpr std::chrono::milliseconds telemetry_retention = 24h;
inline constexpr std::size_t telemetry_retention_bytes = 256u * 1024 * 1024;
inline constexpr std::size_t telemetry_capacity = 1'000'000;
inline constexpr int d2c_partition_count = 4;
inline constexpr int d2c_max_partition_count = 32;
// Emulator choice: events trimmed per hub round at most, so a large trim never stalls devices.
inline constexpr std::size_t telemetry_trim_per_round = 5000;

}  // namespace emu::core::limits
