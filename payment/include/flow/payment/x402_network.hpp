#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flow::payment {

// A network as x402 names it, normalized to CAIP-2. v2 sends CAIP-2 ("eip155:8453",
// "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"); v1 sends legacy names ("base", "base-sepolia",
// "polygon", "polygon-amoy", "avalanche", "avalanche-fuji", "sei", "sei-testnet", "ethereum",
// "sepolia", "solana", "solana-devnet"), mapped with the table in PROTOCOLS.md.
struct X402Network {
  std::string caip2;                          // "eip155:8453"
  std::optional<std::uint64_t> evm_chain_id;  // for eip155:*
};

// Nothing for an unknown legacy name or a malformed CAIP-2 identifier.
std::optional<X402Network> normalize_x402_network(std::string_view name);

}  // namespace flow::payment
