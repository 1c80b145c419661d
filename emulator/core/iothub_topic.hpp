#pragma once
#include <cstdint>

namespace emu::core {

/// The twin and method filters of an MQTT session (next-capabilities §2.1, §3.2). A session
/// with clean session 0 keeps them across connections, as it keeps its C2D subscription: the
/// Node SDK subscribes once per client and publishes `$iothub/twin/GET` after a reconnect
/// without subscribing again. Kept in memory (not across an emulator restart, UNCONFIRMED).
namespace iothub_topic {
inline constexpr std::uint8_t twin_responses = 1;  // $iothub/twin/res/#
inline constexpr std::uint8_t twin_desired = 2;    // $iothub/twin/PATCH/properties/desired/#
inline constexpr std::uint8_t methods = 4;         // $iothub/methods/POST/#
}  // namespace iothub_topic

}  // namespace emu::core
