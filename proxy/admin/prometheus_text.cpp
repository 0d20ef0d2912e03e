#include "flow/proxy/admin/prometheus_text.hpp"

#include <charconv>
#include <cmath>

namespace flow::proxy {
namespace {

// HELP text escapes backslash and newline; label values escape the double quote too.
void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

}  // namespace

std::string prometheus_number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PrometheusText::sample(std::string_view name, std::uint64_t value) {
  out_ += name;
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

void PrometheusText::labelled(std::string_view name, MetricLabel label) {
  labelled(name, std::span<const MetricLabel>(&label, 1));
}

void PrometheusText::labelled(std::string_view name, std::span<const MetricLabel> labels) {
  out_ += name;
  out_ += '{';
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out_ += ',';
    out_ += labels[i].first;
    out_ += "=\"";
    append_escaped(out_, labels[i].second, true);
    out_ += '"';
  }
  out_ += "} ";
}

void PrometheusText::sample(std::string_view name, MetricLabel first, MetricLabel second,
                            std::uint64_t value) {
  const MetricLabel labels[] = {first, second};
  labelled(name, labels);
  out_ += std::to_string(value);
  out_ += '\n';
}

void PrometheusText::sample(std::string_view name, MetricLabel first, MetricLabel second,
                            double value) {
  const MetricLabel labels[] = {first, second};
  labelled(name, labels);
  out_ += prometheus_number(value);
  out_ += '\n';
}

void PrometheusText::sample(std::string_view name, MetricLabel label, std::uint64_t value) {
  labelled(name, label);
  out_ += std::to_string(value);
  out_ += '\n';
}

void PrometheusText::sample(std::string_view name, MetricLabel label, double value) {
  labelled(name, label);
  out_ += prometheus_number(value);
  out_ += '\n';
}

void PrometheusText::histogram(std::string_view name, std::span<const double> bounds,
                               std::span<const std::uint64_t> cumulative, double sum) {
  const std::string bucket = std::string(name) + "_bucket";
  for (std::size_t i = 0; i < bounds.size() && i < cumulative.size(); ++i) {
    const std::string le = prometheus_number(bounds[i]);
    sample(bucket, {"le", le}, cumulative[i]);
  }
  const std::uint64_t count = cumulative.empty() ? 0 : cumulative.back();
  sample(bucket, {"le", "+Inf"}, count);
  out_ += name;
  out_ += "_sum ";
  out_ += prometheus_number(sum);
  out_ += '\n';
  sample(std::string(name) + "_count", count);
}

}  // namespace flow::proxy
