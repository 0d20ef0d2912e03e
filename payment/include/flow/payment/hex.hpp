#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace flow::payment {

// Lower-case hex, with "0x" in front when `prefix`.
std::string to_hex(std::span<const std::uint8_t> bytes, bool prefix = true);
// Hex digits of either case, with or without "0x"; an odd length or a non-hex digit → nothing.
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text);

}  // namespace flow::payment
