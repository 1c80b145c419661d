#include "clients/common/cli.hpp"

#include <charconv>
#include <cstdlib>
#include <fstream>

namespace iothub_samples {

command_line::command_line(const std::vector<std::string>& args,
                           const std::set<std::string>& with_value,
                           const std::set<std::string>& switches) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::optional<std::string> inline_value;
    if (name.rfind("--", 0) != 0) throw usage_error("unexpected argument '" + name + "'");
    if (const auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (with_value.count(name)) {
      if (!inline_value) {
        if (i + 1 >= args.size()) throw usage_error(name + " needs a value");
        inline_value = args[++i];
      }
      values_[name] = *inline_value;
    } else if (switches.count(name)) {
      if (inline_value) throw usage_error(name + " takes no value");
      switches_.insert(name);
    } else {
      throw usage_error("unknown option '" + name + "'");
    }
  }
}

bool command_line::has(const std::string& name) const {
  return switches_.count(name) > 0 || values_.count(name) > 0;
}

std::optional<std::string> command_line::value(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string command_line::value_or_env(const std::string& name, const char* env_name) const {
  if (auto v = value(name)) return *v;
  const char* env = std::getenv(env_name);
  return env != nullptr ? std::string(env) : std::string();
}

std::int64_t command_line::number(const std::string& name, std::int64_t fallback, std::int64_t min,
                                  std::int64_t max) const {
  const auto text = value(name);
  if (!text) return fallback;
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc{} || end != text->data() + text->size() || n < min || n > max) {
    throw usage_error(name + " must be a whole number from " + std::to_string(min) + " to " +
                      std::to_string(max) + " (got '" + *text + "')");
  }
  return n;
}

void require_readable_file(const std::string& path, const std::string& option) {
  std::ifstream in(path);
  if (!in) throw usage_error(option + ": cannot read '" + path + "'");
}

}  // namespace iothub_samples
