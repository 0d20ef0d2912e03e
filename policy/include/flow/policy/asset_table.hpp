#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace flow::policy {

// One (network, asset) pair the proxy knows how to count. Decimals come from this table — built
// in, or added by the operator — never from a merchant's challenge.
struct AssetEntry {
  std::string network;  // CAIP-2 ("eip155:8453") or "lightning"
  std::string asset;    // token contract (EVM: stored lower-case), mint, or "msat"
  std::string symbol;   // "USDC": the unit amounts in flow.yaml are written in
  unsigned decimals = 0;
  bool built_in = false;
};

// The largest number of decimals an asset may have: 10^38 still fits in 128 bits.
inline constexpr unsigned kMaxDecimals = 38;

bool is_evm_network(std::string_view network);  // "eip155:<chain id>"
bool is_evm_address(std::string_view text);     // "0x" and 40 hex digits, any case
std::string lower_ascii(std::string_view text);
// Addresses compare case-insensitively when both are EVM addresses (EIP-55 checksums only
// change letter case), and exactly otherwise (Solana base58 is case-sensitive).
bool same_address(std::string_view a, std::string_view b);
// Networks are CAIP-2 ids (`namespace:reference`) or a bare word such as "lightning".
bool is_valid_network_id(std::string_view network);

class AssetTable {
 public:
  // USDC on Base, Base Sepolia, Polygon, Arbitrum, Avalanche and Ethereum; Lightning msat.
  static AssetTable with_built_ins();

  // Adds an operator entry. Returns why it cannot be added: a (network, asset) already known,
  // or a symbol already used with other decimals (a symbol names one unit, so that amounts of
  // one symbol can be added across networks).
  std::optional<std::string> add(AssetEntry entry);

  const AssetEntry* find(std::string_view network, std::string_view asset) const;
  // Any entry of the symbol (all share decimals), or nullptr.
  const AssetEntry* find_symbol(std::string_view symbol) const;
  bool has_network(std::string_view network) const;
  bool has_symbol_on(std::string_view symbol, std::string_view network) const;
  std::string symbols_list() const;  // "USDC, msat", for error messages

  std::span<const AssetEntry> entries() const { return entries_; }

 private:
  std::vector<AssetEntry> entries_;
};

}  // namespace flow::policy
