#pragma once
/// The Prometheus text exposition format, version 0.0.4
/// (https://prometheus.io/docs/instrumenting/exposition_formats/): `# HELP` and `# TYPE`
/// once per family, then its samples, label values escaped (`\\`, `\"`, `\n`). Pure.
///
///     exposition out;
///     out.family("iothub_connections", "gauge", "Open connections, by front.");
///     out.sample("iothub_connections", {{"front", "mqtt"}}, 3);
///     std::string text = out.text();
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace emu::metrics {

using labels = std::vector<std::pair<std::string_view, std::string>>;

class exposition {
 public:
  /// Starts a family: `type` is counter, gauge or histogram.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const labels& l, double value);
  void sample(std::string_view name, const labels& l, std::uint64_t value);
  void sample(std::string_view name, std::uint64_t value) { sample(name, labels{}, value); }
  /// A histogram's samples: cumulative `_bucket{le}` per bound and `+Inf`, `_sum`, `_count`.
  void histogram(std::string_view name, const labels& l, const std::vector<double>& bounds,
                 const std::vector<std::uint64_t>& counts, std::uint64_t count, double sum);

  const std::string& text() const { return text_; }

 private:
  void write_labels(const labels& l);
  std::string text_;
};

/// A number as the format writes it: integers without a fraction, `+Inf`, `NaN`.
std::string format_value(double v);
/// A label value with `\`, `"` and line feeds escaped.
std::string escape_label_value(std::string_view v);

}  // namespace emu::metrics
