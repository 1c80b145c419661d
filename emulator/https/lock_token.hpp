#pragma once
/// The lock token of a C2D message received over the device HTTPS API (next-capabilities §5):
/// the `ETag` of the GET, the last path segment of complete/reject/abandon. Azure's tokens are
/// GUIDs; ours have that shape and carry the message's sequence number and the lock's id, so
/// the hub needs no table of tokens: a token is valid exactly while that lock is (c2d_queue),
/// and a token of another device's message, an old lock or a made-up one is "lock lost".
///
/// Pure; thread-safe.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace emu::https {

struct lock_token {
  std::uint64_t seq = 0;
  std::uint64_t lock_id = 0;
  friend bool operator==(const lock_token&, const lock_token&) = default;
};

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower-case hex: seq (16 digits), then lock id.
std::string to_string(const lock_token& t);
/// The inverse; optional surrounding double quotes (the C SDK quotes If-Match); hex in either
/// case. nullopt for anything else.
std::optional<lock_token> parse_lock_token(std::string_view text);

}  // namespace emu::https
