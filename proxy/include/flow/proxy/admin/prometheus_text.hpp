// The Prometheus text exposition format, version 0.0.4: one family at a time, each with its HELP
// and TYPE lines, label values escaped. No I/O: the admin API serves what this writes.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace flow::proxy {

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// One label, name="value" (the value is escaped when written).
using MetricLabel = std::pair<std::string_view, std::string_view>;

class PrometheusText {
 public:
  // Starts a family: "# HELP name help" and "# TYPE name type" (counter, gauge, histogram).
  void family(std::string_view name, std::string_view type, std::string_view help);
  // A sample of the current family (a counter's name ends in _total).
  void sample(std::string_view name, std::uint64_t value);
  void sample(std::string_view name, MetricLabel label, std::uint64_t value);
  void sample(std::string_view name, MetricLabel label, double value);
  void sample(std::string_view name, MetricLabel first, MetricLabel second, std::uint64_t value);
  void sample(std::string_view name, MetricLabel first, MetricLabel second, double value);
  // A histogram's samples: `name`_bucket per upper bound (le, in seconds) and +Inf, then _sum
  // and _count. `cumulative` holds bounds.size() + 1 cumulative counts, the last one +Inf's.
  void histogram(std::string_view name, std::span<const double> bounds,
                 std::span<const std::uint64_t> cumulative, double sum);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void labelled(std::string_view name, MetricLabel label);
  void labelled(std::string_view name, std::span<const MetricLabel> labels);
  std::string out_;
};

// `value` as a sample value or `le` bound: shortest round-trip form, "+Inf" for infinity.
std::string prometheus_number(double value);

}  // namespace flow::proxy
