// Reads a /metrics body with Python's prometheus_client parser (Debian's
// python3-prometheus-client), which raises on anything outside the text format.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace flow::testing {

// The samples as {"name{label=value,...}": value}, labels sorted by name. Throws (with the
// parser's message) when it refuses the text.
nlohmann::json parse_metrics(const std::string& text);

}  // namespace flow::testing
