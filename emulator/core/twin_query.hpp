#pragma once
/// The IoT Hub query language over device twins, the subset applications use
/// (next-capabilities §2.5, DOC "IoT Hub query language for device and module twins"):
///
///   SELECT * FROM devices [WHERE <condition>]
///   SELECT COUNT() [AS <alias>] FROM devices [WHERE <condition>]
///
///   condition  := or
///   or         := and { OR and }
///   and        := not { AND not }
///   not        := NOT not | primary
///   primary    := '(' condition ')' | IS_DEFINED '(' path ')' | operand op operand
///   op         := '=' | '!=' | '<>' | '<' | '<=' | '>' | '>='
///   operand    := path | 'string' | "string" | number | true | false | null
///   path       := name { '.' name }      e.g. deviceId, tags.location.region,
///                                       properties.reported.$version, status, connectionState
///
/// Keywords are case-insensitive; names are case-sensitive. A path is looked up in the
/// document of one device (the service twin JSON: deviceId, status, connectionState, tags,
/// properties.desired/reported, …). A comparison with an undefined path, or between values
/// of different JSON types, is false (Azure's semantics: no implicit conversion); numbers
/// compare as numbers, strings by code points, booleans and null only with = and !=.
///
/// Pure: text in, a parsed query out; evaluation over JSON documents. No I/O, no clock.
/// Inputs are bounded (query text at most 8 KB, nesting at most 32 levels) so hostile text
/// cannot exhaust the stack.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "emulator/core/errors.hpp"

namespace emu::core {

namespace query_limits {
inline constexpr std::size_t max_text_bytes = 8 * 1024;
inline constexpr int max_nesting = 32;
}  // namespace query_limits

class twin_query {
 public:
  /// `argument_invalid` with a message naming the problem and its position, e.g.
  /// "Syntax error at 23: expected a comparison operator".
  static result<twin_query> parse(std::string_view text);

  /// The name of the count column for `SELECT COUNT()`: the alias when one is given
  /// (`SELECT COUNT() AS n` → "n"), else "$1" as Azure names an unnamed aggregate
  /// (`SELECT COUNT()` → "$1"). nullopt for `SELECT *`.
  const std::optional<std::string>& count_alias() const { return count_alias_; }
  bool is_count() const { return count_alias_.has_value(); }

  /// True when `document` (one device's twin JSON) satisfies the WHERE condition (always,
  /// without one).
  bool matches(const nlohmann::json& document) const;

  struct node;  // the parsed condition (defined in twin_query.cpp)

 private:
  std::optional<std::string> count_alias_;
  std::shared_ptr<const node> where_;  // null: no WHERE
};

}  // namespace emu::core
