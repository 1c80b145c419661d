#pragma once
/// A tiny command-line reader for the samples: `--name value`, `--name=value` and switches.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace iothub_samples {

class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class command_line {
 public:
  /// Throws usage_error for an unknown option, a missing value or a stray argument.
  command_line(const std::vector<std::string>& args, const std::set<std::string>& with_value,
               const std::set<std::string>& switches);

  bool has(const std::string& name) const;
  std::optional<std::string> value(const std::string& name) const;

  /// The option's value, else the environment variable's (if set and not empty), else "".
  std::string value_or_env(const std::string& name, const char* env_name) const;

  /// A whole number in [min, max]; `fallback` when the option is absent. Throws usage_error.
  std::int64_t number(const std::string& name, std::int64_t fallback, std::int64_t min,
                      std::int64_t max) const;

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> switches_;
};

/// Throws usage_error naming `option` if `path` cannot be opened for reading.
void require_readable_file(const std::string& path, const std::string& option);

}  // namespace iothub_samples
