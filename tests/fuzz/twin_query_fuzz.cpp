// libFuzzer target for the twin query parser (`POST /devices/query` bodies come from any
// service client): twin_query::parse and matches() over fixed twin documents.
// Properties: no crash, sanitizer report or unbounded recursion (the parser bounds nesting and
// length); a parsed query evaluates on any document without throwing.
// Built by tests/fuzz/CMakeLists.txt: emu_fuzz_target(twin_query twin_query_fuzz.cpp emu_core)
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/core/twin_query.hpp"

namespace {

const std::vector<nlohmann::json>& documents() {
  static const std::vector<nlohmann::json> docs = {
      nlohmann::json::parse(R"({"deviceId":"dev1","status":"enabled","connectionState":"Connected",
        "tags":{"location":{"region":"US","plant":43},"on":true,"n":null,"a":[1,2]},
        "properties":{"desired":{"rate":5,"$version":4},"reported":{"fw":"1.2","$version":7}}})"),
      nlohmann::json::object(),
      nlohmann::json::array({1, 2}),
      nlohmann::json("text"),
  };
  return docs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto q = emu::core::twin_query::parse(text);
  if (!q) return 0;
  for (const auto& doc : documents()) (void)q->matches(doc);
  (void)q->count_alias();
  return 0;
}
