#include "flow/policy/asset_table.hpp"

#include "flow/payment/ascii.hpp"

#include <algorithm>

namespace flow::policy {
namespace {

bool is_caip2_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

AssetEntry built_in(std::string network, std::string_view asset, std::string symbol,
                    unsigned decimals) {
  return {std::move(network), lower_ascii(asset), std::move(symbol), decimals, true};
}

}  // namespace

bool is_evm_network(std::string_view network) {
  return network.starts_with("eip155:");
}

bool is_evm_address(std::string_view text) {
  return text.size() == 42 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') &&
         std::all_of(text.begin() + 2, text.end(), payment::is_hex_digit);
}

std::string lower_ascii(std::string_view text) {
  return payment::ascii_lower(text);
}

bool same_address(std::string_view a, std::string_view b) {
  if (a.size() == 42 && b.size() == 42 && is_evm_address(a) && is_evm_address(b)) {
    return payment::iequals(a, b);
  }
  return a == b;
}

bool is_valid_network_id(std::string_view network) {
  const auto colon = network.find(':');
  const std::string_view ns = network.substr(0, colon);
  if (ns.empty() || ns.size() > 32 || !std::all_of(ns.begin(), ns.end(), is_caip2_char)) {
    return false;
  }
  if (colon == std::string_view::npos) return true;
  const std::string_view ref = network.substr(colon + 1);
  return !ref.empty() && ref.size() <= 64 && std::all_of(ref.begin(), ref.end(), is_caip2_char);
}

AssetTable AssetTable::with_built_ins() {
  AssetTable t;
  t.entries_ = {
      built_in("eip155:8453", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USDC", 6),
      built_in("eip155:84532", "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "USDC", 6),
      built_in("eip155:137", "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", "USDC", 6),
      built_in("eip155:42161", "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", "USDC", 6),
      built_in("eip155:43114", "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E", "USDC", 6),
      built_in("eip155:1", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "USDC", 6),
      built_in("lightning", "msat", "msat", 0),
  };
  return t;
}

std::optional<std::string> AssetTable::add(AssetEntry entry) {
  if (is_evm_network(entry.network)) entry.asset = lower_ascii(entry.asset);
  if (const AssetEntry* known = find(entry.network, entry.asset)) {
    return "asset " + entry.asset + " on " + entry.network + " is already in the table as " +
           known->symbol + (known->built_in ? " (built in)" : "");
  }
  if (const AssetEntry* same = find_symbol(entry.symbol);
      same && same->decimals != entry.decimals) {
    return "symbol " + entry.symbol + " already has " + std::to_string(same->decimals) +
           " decimals (on " + same->network + "); one symbol must name one unit";
  }
  entries_.push_back(std::move(entry));
  return std::nullopt;
}

const AssetEntry* AssetTable::find(std::string_view network, std::string_view asset) const {
  // A handful of entries: a scan is faster than hashing and needs no normalized copy. Entries
  // are stored lower-case, as adapters normally send EVM assets: try the exact match first.
  const AssetEntry* folded = nullptr;
  const bool evm = is_evm_network(network);
  for (const auto& e : entries_) {
    if (e.network != network) continue;
    if (e.asset == asset) return &e;
    if (evm && folded == nullptr && payment::iequals(e.asset, asset)) folded = &e;
  }
  return folded;
}

const AssetEntry* AssetTable::find_symbol(std::string_view symbol) const {
  for (const auto& e : entries_) {
    if (e.symbol == symbol) return &e;
  }
  return nullptr;
}

bool AssetTable::has_network(std::string_view network) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const AssetEntry& e) { return e.network == network; });
}

bool AssetTable::has_symbol_on(std::string_view symbol, std::string_view network) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const AssetEntry& e) {
    return e.symbol == symbol && e.network == network;
  });
}

std::string AssetTable::symbols_list() const {
  std::vector<std::string_view> seen;
  std::string out;
  for (const auto& e : entries_) {
    if (std::find(seen.begin(), seen.end(), e.symbol) != seen.end()) continue;
    seen.push_back(e.symbol);
    out += (out.empty() ? "" : ", ") + e.symbol;
  }
  return out;
}

}  // namespace flow::policy
