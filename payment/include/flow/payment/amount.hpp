#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace flow::payment {

// An amount in an asset's atomic units (USDC: 10^-6; Lightning: millisatoshi). Never floating
// point. 128 bits: larger values are refused as overflow.
__extension__ typedef unsigned __int128 Atomic;

enum class AmountError {
  none,
  empty,
  not_a_number,  // anything but digits (and one '.' for decimals)
  negative,
  exponent,           // 1e6, 1E-3
  too_many_decimals,  // more fractional digits than the asset has
  overflow,           // does not fit in 128 bits
};
std::string_view amount_error_name(AmountError e);

struct AmountResult {
  Atomic value = 0;
  AmountError error = AmountError::none;
  bool ok() const { return error == AmountError::none; }
};

// A whole number of atomic units as merchants send it ("10000"): digits only.
AmountResult parse_atomic(std::string_view digits);
// A human decimal ("0.05") converted exactly with the asset's decimals (6 -> 50000).
AmountResult parse_decimal(std::string_view text, unsigned decimals);

std::string format_atomic(Atomic value);
// "0.05" for (50000, 6); trailing zeros trimmed, no exponent.
std::string format_decimal(Atomic value, unsigned decimals);
// "0.01 USDC" for (10000, 6, "USDC"): an amount as people read it; empty without a symbol.
std::string format_display(Atomic value, unsigned decimals, std::string_view symbol);

}  // namespace flow::payment
