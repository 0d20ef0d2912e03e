#pragma once
#include <chrono>
#include <optional>
#include <string_view>

namespace flow::policy {

// Parses "250ms", "10s", "2m", "1h" or a bare number of seconds. Rejects negatives, fractions,
// unknown units and values that overflow.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace flow::policy
