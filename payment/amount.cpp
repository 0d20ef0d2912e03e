#include "flow/payment/amount.hpp"

#include <algorithm>

namespace flow::payment {
namespace {

constexpr Atomic kMax = ~Atomic{0};

// value * 10 + digit, or false on overflow.
bool push_digit(Atomic& value, char digit) {
  const auto d = static_cast<unsigned>(digit - '0');
  if (value > (kMax - d) / 10) return false;
  value = value * 10 + d;
  return true;
}

AmountResult fail(AmountError e) {
  return {0, e};
}

AmountResult classify_bad(std::string_view text) {
  if (text.front() == '-') return fail(AmountError::negative);
  if (text.find_first_of("eE") != std::string_view::npos) return fail(AmountError::exponent);
  return fail(AmountError::not_a_number);
}

}  // namespace

std::string_view amount_error_name(AmountError e) {
  switch (e) {
    case AmountError::none:
      return "none";
    case AmountError::empty:
      return "empty";
    case AmountError::not_a_number:
      return "not_a_number";
    case AmountError::negative:
      return "negative";
    case AmountError::exponent:
      return "exponent";
    case AmountError::too_many_decimals:
      return "too_many_decimals";
    case AmountError::overflow:
      return "overflow";
  }
  return "unknown";
}

AmountResult parse_atomic(std::string_view digits) {
  if (digits.empty()) return fail(AmountError::empty);
  Atomic value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return classify_bad(digits);
    if (!push_digit(value, c)) return fail(AmountError::overflow);
  }
  return {value, AmountError::none};
}

AmountResult parse_decimal(std::string_view text, unsigned decimals) {
  if (text.empty()) return fail(AmountError::empty);
  const auto dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view frac = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  const bool digits_only =
      std::all_of(whole.begin(), whole.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      std::all_of(frac.begin(), frac.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits_only || (whole.empty() && frac.empty()) ||
      (dot != std::string_view::npos && frac.empty())) {
    return classify_bad(text);
  }
  // Trailing zeros beyond the asset's precision are harmless ("0.050000000" of a 6-decimal asset).
  std::string_view significant = frac;
  while (significant.size() > decimals && significant.back() == '0') significant.remove_suffix(1);
  if (significant.size() > decimals) return fail(AmountError::too_many_decimals);
  Atomic value = 0;
  for (char c : whole) {
    if (!push_digit(value, c)) return fail(AmountError::overflow);
  }
  for (unsigned i = 0; i < decimals; ++i) {
    const char c = i < significant.size() ? significant[i] : '0';
    if (!push_digit(value, c)) return fail(AmountError::overflow);
  }
  return {value, AmountError::none};
}

std::string format_atomic(Atomic value) {
  if (value == 0) return "0";
  std::string out;
  while (value > 0) {
    out.push_back(static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string format_decimal(Atomic value, unsigned decimals) {
  std::string digits = format_atomic(value);
  if (decimals == 0) return digits;
  if (digits.size() <= decimals) digits.insert(0, decimals - digits.size() + 1, '0');
  std::string whole = digits.substr(0, digits.size() - decimals);
  std::string frac = digits.substr(digits.size() - decimals);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return frac.empty() ? whole : whole + "." + frac;
}

std::string format_display(Atomic value, unsigned decimals, std::string_view symbol) {
  if (symbol.empty()) return {};
  return format_decimal(value, decimals) + " " + std::string(symbol);
}

}  // namespace flow::payment
