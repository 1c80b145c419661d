#pragma once
/// Twin documents and patches: Azure's rules for what a tags / desired / reported document may
/// hold (next-capabilities §2.3, DOC "Understand and use device twins" — "Tags and properties
/// format", "Twin size"), and the merge of a patch into a section with its `$metadata`.
///
/// Pure functions over parsed JSON; no clock (the update time comes in as text).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "emulator/core/device_twin.hpp"
#include "emulator/core/errors.hpp"

namespace emu::core {

enum class twin_part : std::uint8_t { tags, desired, reported };
std::string_view to_string(twin_part p);

/// The documented limits (DOC "Twin size", "Tags and properties format").
namespace twin_limits {
/// Nested objects below a section's root: {"one":{…{"ten":{"property":"value"}}…}} is the
/// documented deepest valid document (ten levels).
inline constexpr int max_depth = 10;
inline constexpr std::size_t max_key_bytes = 1024;
inline constexpr std::size_t max_string_bytes = 4096;
inline constexpr std::int64_t min_integer = -4503599627370496;  // -2^52
inline constexpr std::int64_t max_integer = 4503599627370495;   //  2^52 - 1
inline constexpr std::size_t max_tags_bytes = 8 * 1024;
inline constexpr std::size_t max_desired_bytes = 32 * 1024;
inline constexpr std::size_t max_reported_bytes = 32 * 1024;
std::size_t max_bytes(twin_part p);
}  // namespace twin_limits

/// Checks a patch (or a replacement document) for `part`: an object; keys non-empty, at most
/// 1 KB, without C0/C1 controls, `.`, `$` or space; values bool, number, string, object, array
/// or null (null deletes); integers within ±2^52; strings at most 4 KB; at most 10 levels of
/// nesting (arrays count as a level). `argument_invalid` naming the first offence.
status check_twin_patch(const nlohmann::json& patch, twin_part part);

/// The size Azure limits (emulator choice, UNCONFIRMED how Azure counts): the compact JSON
/// text of the section's values, without `$version` and `$metadata`.
std::size_t twin_section_size(const nlohmann::json& values);
/// `argument_invalid` when `values` is above the limit of `part`.
status check_twin_size(const nlohmann::json& values, twin_part part);

/// Merges `patch` (already checked) into `values`, as JSON merge patch (RFC 7386): `null`
/// removes a member, an object merges into an object (replacing any non-object), anything
/// else replaces. `metadata` follows: every written leaf and every object level on the way
/// gets `$lastUpdated` = `stamp` (and `$lastUpdatedVersion` = `version` when given, desired);
/// removed members lose theirs.
void merge_twin_patch(nlohmann::json& values, nlohmann::json& metadata, const nlohmann::json& patch,
                      const std::string& stamp, std::optional<std::int64_t> version);

/// The patch that turns `before` into `after` at the top level: every member of `after`
/// whose value differs, and `null` for every member of `before` that is gone. What a device
/// receives when the service replaces desired (next-capabilities §2.2, UNCONFIRMED: the Node
/// SDK's merge needs the explicit nulls).
nlohmann::json top_level_diff(const nlohmann::json& before, const nlohmann::json& after);

/// Metadata for a whole document written at once (a replacement).
nlohmann::json metadata_for(const nlohmann::json& values, const std::string& stamp,
                            std::optional<std::int64_t> version);

}  // namespace emu::core
