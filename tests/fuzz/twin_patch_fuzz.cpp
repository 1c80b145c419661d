// libFuzzer target for the twin document code that sees untrusted JSON from devices (MQTT
// PATCH reported) and services (REST PATCH/PUT): check_twin_patch, merge_twin_patch with
// $metadata, check_twin_size, top_level_diff, and the stored form (issue 13).
// Properties: no crash or sanitizer report; a patch that passes the rules merges without
// throwing; merging a patch twice gives the same values (merge patch is idempotent); the
// metadata never holds a member the values do not; the stored form round-trips.
// Built by tests/fuzz/CMakeLists.txt: emu_fuzz_target(twin_patch twin_patch_fuzz.cpp emu_core)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "emulator/core/device_twin.hpp"
#include "emulator/core/twin_patch.hpp"

namespace {

using namespace emu::core;
using json = nlohmann::json;

void check(bool condition) {
  if (!condition) std::abort();
}

/// Every member of `meta` (except $-names) is a member of `values`, recursively.
bool metadata_follows(const json& values, const json& meta) {
  if (!meta.is_object()) return true;
  for (const auto& [key, m] : meta.items()) {
    if (!key.empty() && key[0] == '$') continue;
    if (!values.is_object() || !values.contains(key)) return false;
    if (!metadata_follows(values[key], m)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The same parse the MQTT session and the HTTPS front use (no exceptions).
  const json patch = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (patch.is_discarded()) return 0;
  for (const auto part : {twin_part::tags, twin_part::desired, twin_part::reported}) {
    if (!check_twin_patch(patch, part)) continue;
    check(patch.is_object());
    json values = {{"existing", {{"a", 1}}}, {"keep", "x"}};
    json meta = metadata_for(values, "2026-01-01T00:00:00Z", 1);
    merge_twin_patch(values, meta, patch, "2026-01-02T00:00:00Z", 2);
    check(values.is_object());
    check(metadata_follows(values, meta));
    const json once = values;
    merge_twin_patch(values, meta, patch, "2026-01-03T00:00:00Z", 3);
    check(values == once);
    (void)check_twin_size(values, part);
    (void)top_level_diff(json{{"existing", 1}}, values);

    device_twin t;
    t.device_id = "fuzz";
    t.etag = "AAAA";
    t.desired.values = values;
    t.desired.metadata = meta;
    const auto back = from_stored("fuzz", to_stored(t));
    check(back.has_value() && *back == t);
  }
  return 0;
}
