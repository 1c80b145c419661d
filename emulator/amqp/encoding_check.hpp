#pragma once
/// A bounded, iterative structural check of AMQP 1.0 type encodings (AMQP 1.0 §1.6).
///
/// Proton's decoder recurses once per nesting level and its 0.37 message decoder does not
/// report truncation, so untrusted bytes are checked here first: every constructor must be
/// known, every size must fit its container, nesting is limited, and arrays may only hold
/// simple (non-compound, non-described) elements. The check never recurses, so a hostile
/// input cannot exhaust the stack.
///
/// Pure functions; thread-safe.
#include <cstddef>
#include <optional>
#include <span>

namespace emu::amqp {

/// Nesting allowed in frames and messages: performatives need about 5 levels (attach → source
/// → filter → described value → map); messages from the SDKs need 2.
inline constexpr int max_encoding_depth = 32;

/// The size in bytes of the first complete value at the start of `bytes`, if it is
/// well-formed within `max_depth` nesting levels; nullopt if it is truncated or malformed.
std::optional<std::size_t> first_value_size(std::span<const char> bytes,
                                            int max_depth = max_encoding_depth);

/// True if `bytes` is a sequence of zero or more complete, well-formed values.
bool well_formed_values(std::span<const char> bytes, int max_depth = max_encoding_depth);

}  // namespace emu::amqp
