#pragma once
// Private to the payment module: JSON reading shared by the x402 parsers.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "flow/payment/base64.hpp"

namespace flow::payment::detail {

// Deeper than any real challenge (PaymentRequired → accepts → offer → extra → schema ...), and
// shallow enough that dumping or destroying the value cannot exhaust the stack: nlohmann's dump
// recurses once per level.
inline constexpr std::size_t kMaxJsonDepth = 64;

// Nesting depth of JSON text, counting brackets outside strings. Cheap, and it runs before the
// parser so a hostile `[[[[...` never becomes a deep tree.
inline bool json_depth_within(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

// A JSON object, or nothing: malformed text, another JSON type, or too deep. Never throws.
inline std::optional<nlohmann::json> parse_json_object(std::string_view text) {
  if (!json_depth_within(text, kMaxJsonDepth)) return std::nullopt;
  auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  return doc;
}

// JSON text for a header: invalid UTF-8 (only possible in values built by the caller, the
// parser refuses it) is replaced instead of throwing.
inline std::string dump_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace flow::payment::detail
