#pragma once
/// Faults of the hub as a whole that test control sets (issue 17 item 2, `PATCH /admin/chaos`),
/// so an application's retry logic meets them on demand: slow or failing commits (a slow or
/// full disk), refused put-tokens, paused fronts. The hub keeps the numbers; the executor
/// (commits), the CBS node (put-tokens) and the fronts (pause) act on them.
///
/// Not durable, not part of any snapshot: a restart or `POST /admin/reset` clears them.
#include <set>
#include <string>

#include "emulator/core/time.hpp"

namespace emu::core {

struct hub_faults {
  /// Every commit with changes waits this long first (a slow disk). 0: none.
  duration commit_delay{};
  /// The next commits with changes fail as SQLITE_FULL would: the round is rolled back and
  /// every request in it is answered with the protocol's storage error.
  int failing_commits = 0;
  /// The next CBS put-tokens are answered 401 whatever the token.
  int rejected_put_tokens = 0;
  /// Fronts ("mqtt", "amqp") whose connections accept TCP but neither read nor write.
  std::set<std::string> paused_fronts;
};

}  // namespace emu::core
