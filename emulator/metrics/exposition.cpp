#include "emulator/metrics/exposition.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace emu::metrics {

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // The shortest text that reads back as `v` (0.0025, not 0.0025000000000000001).
  char buf[400];  // fixed notation of a tiny or huge double is long; none here is
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  if (r.ec != std::errc{}) return "NaN";
  return std::string(buf, r.ptr);
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  // HELP text escapes `\` and line feeds only.
  for (const char c : help) {
    if (c == '\\') {
      text_ += "\\\\";
    } else if (c == '\n') {
      text_ += "\\n";
    } else {
      text_ += c;
    }
  }
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

void exposition::write_labels(const labels& l) {
  if (l.empty()) return;
  text_ += '{';
  bool first = true;
  for (const auto& [k, v] : l) {
    if (!first) text_ += ',';
    first = false;
    text_ += k;
    text_ += "=\"";
    text_ += escape_label_value(v);
    text_ += '"';
  }
  text_ += '}';
}

void exposition::sample(std::string_view name, const labels& l, double value) {
  text_ += name;
  write_labels(l);
  text_ += ' ';
  text_ += format_value(value);
  text_ += '\n';
}

void exposition::sample(std::string_view name, const labels& l, std::uint64_t value) {
  text_ += name;
  write_labels(l);
  text_ += ' ';
  text_ += std::to_string(value);
  text_ += '\n';
}

void exposition::histogram(std::string_view name, const labels& l,
                           const std::vector<double>& bounds,
                           const std::vector<std::uint64_t>& counts, std::uint64_t count,
                           double sum) {
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    labels with = l;
    with.emplace_back("le", format_value(bounds[i]));
    sample(bucket, with, cumulative);
  }
  labels inf = l;
  inf.emplace_back("le", "+Inf");
  sample(bucket, inf, count);
  sample(std::string(name) + "_sum", l, sum);
  sample(std::string(name) + "_count", l, count);
}

}  // namespace emu::metrics
