#pragma once
#include <string>
#include <string_view>
#include <variant>

#include "flow/payment/amount.hpp"
#include "flow/policy/asset_table.hpp"

namespace flow::policy {

// An amount in a unit of the asset table, as flow.yaml writes it: "0.05 USDC" applies to every
// network where USDC is deployed; "0.05 USDC on eip155:8453" to that network only. Held in
// exact atomic units of the symbol (all entries of a symbol share decimals).
struct UnitAmount {
  std::string symbol;
  std::string network;  // empty: every network of the symbol
  unsigned decimals = 0;
  payment::Atomic atomic = 0;

  bool covers(const AssetEntry& asset) const {
    return asset.symbol == symbol && (network.empty() || asset.network == network);
  }
  bool same_unit(const UnitAmount& other) const {
    return symbol == other.symbol && network == other.network;
  }
  // The unit alone, stable for counter keys: "USDC" or "USDC@eip155:8453".
  std::string unit_key() const;
  // Back to the flow.yaml form: "0.05 USDC" or "0.05 USDC on eip155:8453".
  std::string to_string() const;
};

// Parses "<decimal> <SYMBOL>" or "<decimal> <SYMBOL> on <network>". The error text says what
// was expected (no exponents, no negatives, no more decimals than the asset has, < 2^128).
std::variant<UnitAmount, std::string> parse_unit_amount(std::string_view text,
                                                        const AssetTable& table);

}  // namespace flow::policy
