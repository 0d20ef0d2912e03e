// ASCII text helpers for wire fields (header names, reason codes): private to payment/.
#pragma once

#include <cstddef>
#include <string_view>

namespace flow::payment::detail {

inline char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Case-insensitive ASCII comparison (header names, x402 reason codes).
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// Without the optional whitespace (spaces, tabs) around a field value (RFC 9110 5.5).
inline std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace flow::payment::detail
