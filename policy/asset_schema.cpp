// assets: entries the operator adds to the built-in asset table.
#include <algorithm>

#include "policy_schema.hpp"

namespace flow::policy {
namespace {

bool is_symbol(std::string_view s) {
  return !s.empty() && s.size() <= 16 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

bool is_plain_id(std::string_view s) {
  return !s.empty() && s.size() <= 128 &&
         std::none_of(s.begin(), s.end(), [](char c) { return c <= ' ' || c == '|' || c == 127; });
}

AssetEntry read_asset(const YamlReader& r, const YAML::Node& node, const std::string& where) {
  r.expect_map(node, where);
  r.only_keys(node, where, {"network", "asset", "symbol", "decimals"});
  AssetEntry e;
  const Field network = r.required(node, where, "network");
  e.network = r.string(network);
  if (!is_valid_network_id(e.network)) {
    r.fail(network,
           network.where + " must be a CAIP-2 id such as eip155:8453, got '" + e.network + "'");
  }
  const Field asset = r.required(node, where, "asset");
  e.asset = r.string(asset);
  if (is_evm_network(e.network) && !is_evm_address(e.asset)) {
    r.fail(asset, asset.where + " on an eip155 network must be a 0x address of 40 hex digits");
  }
  if (!is_plain_id(e.asset)) r.fail(asset, asset.where + " must not contain spaces or '|'");
  const Field symbol = r.required(node, where, "symbol");
  e.symbol = r.string(symbol);
  if (!is_symbol(e.symbol)) {
    r.fail(symbol, symbol.where + " must be 1 to 16 of A-Z a-z 0-9 . _ -, got '" + e.symbol + "'");
  }
  e.decimals =
      static_cast<unsigned>(r.integer(r.required(node, where, "decimals"), 0, kMaxDecimals));
  return e;
}

}  // namespace

void read_assets(const YamlReader& r, const Field& f, AssetTable& table) {
  r.list(f, [&](const YAML::Node& item, std::size_t i) {
    AssetEntry e = read_asset(r, item, f.where + "[" + std::to_string(i) + "]");
    if (auto clash = table.add(std::move(e)))
      r.fail(item, f.where + "[" + std::to_string(i) + "]: " + *clash);
  });
}

}  // namespace flow::policy
