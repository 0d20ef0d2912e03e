#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace flow::payment {

// Standard alphabet (RFC 4648 §4) with padding: what x402 sends. Decoding is strict: the URL-safe
// alphabet, missing padding, whitespace inside and non-zero pad bits are refused, as the
// reference servers refuse them.
std::string base64_encode(std::span<const std::uint8_t> bytes);
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace flow::payment
