#include "flow/payment/x402_network.hpp"

#include <array>
#include <charconv>

namespace flow::payment {
namespace {

struct LegacyName {
  std::string_view name;
  std::string_view caip2;
};

// v1 names and their CAIP-2 equivalents (PROTOCOLS.md). A name not here is refused rather than
// guessed: a wrong chain id would sign for a chain the merchant did not mean.
constexpr std::array<LegacyName, 12> kLegacy{{
    {"base", "eip155:8453"},
    {"base-sepolia", "eip155:84532"},
    {"polygon", "eip155:137"},
    {"polygon-amoy", "eip155:80002"},
    {"avalanche", "eip155:43114"},
    {"avalanche-fuji", "eip155:43113"},
    {"sei", "eip155:1329"},
    {"sei-testnet", "eip155:1328"},
    {"ethereum", "eip155:1"},
    {"sepolia", "eip155:11155111"},
    {"solana", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"},
    {"solana-devnet", "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"},
}};

bool is_namespace_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

bool is_reference_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// An EIP-155 chain id in canonical decimal: no sign, no leading zero, not zero, fits 64 bits.
// Canonical only, because the CAIP-2 string is compared as text by policy and by the merchant.
std::optional<std::uint64_t> parse_chain_id(std::string_view text) {
  if (text.empty() || text.front() == '0') return std::nullopt;
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

std::optional<X402Network> parse_caip2(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto ns = text.substr(0, colon);
  const auto ref = text.substr(colon + 1);
  if (ns.size() < 3 || ns.size() > 8 || ref.empty() || ref.size() > 32) return std::nullopt;
  for (char c : ns)
    if (!is_namespace_char(c)) return std::nullopt;
  for (char c : ref)
    if (!is_reference_char(c)) return std::nullopt;  // also refuses a second ':'
  X402Network network{std::string(text), std::nullopt};
  if (ns == "eip155") {
    network.evm_chain_id = parse_chain_id(ref);
    if (!network.evm_chain_id) return std::nullopt;
  }
  return network;
}

}  // namespace

std::optional<X402Network> normalize_x402_network(std::string_view name) {
  for (const auto& legacy : kLegacy) {
    if (legacy.name == name) return parse_caip2(legacy.caip2);
  }
  return parse_caip2(name);
}

}  // namespace flow::payment
