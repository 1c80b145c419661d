#pragma once
/// A front's connections in numbers (issue 18, `/metrics`): open now, accepted since start, and
/// refused since start by reason (refusal_counts.hpp), the transport's and the protocol's.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "emulator/net/connection_set.hpp"

namespace emu::net {

struct front_numbers {
  std::size_t open = 0;
  std::uint64_t accepted = 0;
  std::map<std::string, std::uint64_t, std::less<>> refused;
};

/// The set's numbers, with `protocol`'s refusals added (a front without any passes none).
inline front_numbers numbers_of(const connection_set& set,
                                const refusal_counts* protocol = nullptr) {
  front_numbers n;
  n.open = set.size();
  n.accepted = set.accepted();
  n.refused = set.refusals().snapshot();
  if (protocol != nullptr)
    for (const auto& [reason, count] : protocol->snapshot()) n.refused[reason] += count;
  return n;
}

}  // namespace emu::net
