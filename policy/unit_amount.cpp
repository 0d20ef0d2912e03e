#include "flow/policy/unit_amount.hpp"

#include <vector>

namespace flow::policy {
namespace {

// Splits on runs of spaces.
std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ') ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

std::string decimal_error(payment::AmountError e, std::string_view number, const AssetEntry& unit) {
  const std::string n(number);
  switch (e) {
    case payment::AmountError::negative:
      return "amounts cannot be negative, got '" + n + "'";
    case payment::AmountError::exponent:
      return "exponent notation is not accepted, write the decimal out, got '" + n + "'";
    case payment::AmountError::too_many_decimals:
      return "'" + n + "' has more decimals than " + unit.symbol + " has (" +
             std::to_string(unit.decimals) + ")";
    case payment::AmountError::overflow:
      return "'" + n + " " + unit.symbol + "' is too large (over 2^128 atomic units)";
    default:
      return "'" + n + "' is not a decimal number such as 0.05";
  }
}

}  // namespace

std::string UnitAmount::unit_key() const {
  return network.empty() ? symbol : symbol + "@" + network;
}

std::string UnitAmount::to_string() const {
  std::string out = payment::format_decimal(atomic, decimals) + " " + symbol;
  if (!network.empty()) out += " on " + network;
  return out;
}

std::variant<UnitAmount, std::string> parse_unit_amount(std::string_view text,
                                                        const AssetTable& table) {
  const auto w = words(text);
  if (w.size() != 2 && !(w.size() == 4 && w[2] == "on")) {
    return "expected an amount such as '0.05 USDC' or '0.05 USDC on eip155:8453', got '" +
           std::string(text) + "'";
  }
  UnitAmount out;
  out.symbol = std::string(w[1]);
  const AssetEntry* unit = table.find_symbol(out.symbol);
  if (unit == nullptr) {
    return "unknown asset symbol '" + out.symbol + "' (known: " + table.symbols_list() + ")";
  }
  if (w.size() == 4) {
    out.network = std::string(w[3]);
    if (!table.has_symbol_on(out.symbol, out.network)) {
      return out.symbol + " is not in the asset table on network '" + out.network + "'";
    }
  }
  const auto parsed = payment::parse_decimal(w[0], unit->decimals);
  if (!parsed.ok()) return decimal_error(parsed.error, w[0], *unit);
  out.decimals = unit->decimals;
  out.atomic = parsed.value;
  return out;
}

}  // namespace flow::policy
