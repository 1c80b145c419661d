// libFuzzer target for the twin query language (next-capabilities §2.5): `POST /devices/query`
// bodies come from any service client, so twin_query::parse sees untrusted text.
// Properties: no crash, sanitizer report or stack exhaustion (length and nesting are bounded);
// a parsed query evaluates on any JSON document without throwing; is_count() agrees with
// count_alias(); a copy evaluates like the original; and when the input also parses as a
// WHERE condition c, `NOT (c)` selects exactly the documents `c` does not (NOT is two-valued).
// Built by tests/fuzz/CMakeLists.txt: emu_fuzz_target(twin_query twin_query_fuzz.cpp emu_core)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/core/twin_query.hpp"

namespace {

using emu::core::twin_query;
using json = nlohmann::json;

void check(bool condition) {
  if (!condition) std::abort();
}

/// Built once: twins of the service shape, plus documents that are not twins at all.
const std::vector<json>& documents() {
  static const std::vector<json> docs = {
      json::parse(R"({"deviceId":"dev1","status":"enabled","connectionState":"Connected",
        "tags":{"location":{"region":"US","plant":43},"on":true,"n":null,"a":[1,2],
                "big":18446744073709551615,"neg":-9223372036854775808,"name":"Zoë"},
        "properties":{"desired":{"rate":5,"$version":4},
                      "reported":{"fw":"1.2","temp":21.5,"$version":7}}})"),
      json::parse(R"({"deviceId":"dev2","status":"disabled","connectionState":"Disconnected",
        "tags":{"location":{"region":"EU"}},
        "properties":{"desired":{"$version":1},"reported":{"$version":1}}})"),
      json::object(),
      json::array({1, 2}),
      json("text"),
      json(nullptr),
  };
  return docs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (const auto q = twin_query::parse(text)) {
    check(q->is_count() == q->count_alias().has_value());
    check(!q->is_count() || !q->count_alias()->empty());
    const twin_query copy = *q;
    for (const auto& doc : documents()) check(q->matches(doc) == copy.matches(doc));
  }

  // The input as a condition, and its negation.
  const auto plain = twin_query::parse("SELECT * FROM devices WHERE " + std::string(text));
  if (!plain) return 0;
  const auto negated =
      twin_query::parse("SELECT * FROM devices WHERE NOT (" + std::string(text) + ")");
  if (!negated) return 0;  // the wrapper can push it past the length or nesting limit
  for (const auto& doc : documents()) check(plain->matches(doc) != negated->matches(doc));
  return 0;
}
