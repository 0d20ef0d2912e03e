#pragma once
// Reading the policy sections of flow.yaml (organization, review, assets, agents, merchants)
// into a PolicyDefinition. Every error throws ConfigError naming file:line:column.
#include <string>
#include <string_view>
#include <vector>

#include "flow/policy/policy_rules.hpp"
#include "yaml_reader.hpp"

namespace flow::policy {

PolicyDefinition read_policy(const YamlReader& r, const YAML::Node& root);

// Pieces shared by the sections.
void read_assets(const YamlReader& r, const Field& f, AssetTable& table);
UnitAmount read_unit_amount(const YamlReader& r, const YAML::Node& node, const std::string& where,
                            const AssetTable& table);
// One amount or a list of amounts, at most one per unit.
std::vector<UnitAmount> read_amounts(const YamlReader& r, const Field& f, const AssetTable& table);
// A list of networks, each known to the asset table, none twice.
std::vector<std::string> read_networks(const YamlReader& r, const Field& f,
                                       const AssetTable& table);
// f.where names the block in rules ("agents[alice].caps"); key_prefix ("agent|alice|") starts
// its counter keys, or is empty when the subject is known only per request (an agent's "*").
CapSet read_caps(const YamlReader& r, const Field& f, const AssetTable& table,
                 std::string_view key_prefix);
std::vector<MerchantRule> read_merchants(const YamlReader& r, const Field& f,
                                         const AssetTable& table);
std::vector<AgentRule> read_agents(const YamlReader& r, const Field& f, const AssetTable& table,
                                   const std::vector<MerchantRule>& merchants);

// A host pattern: a lower-cased DNS name or IPv4 literal, or "*." and one (merchants[].host,
// tls.intercept.hosts and .exclude).
std::string read_host_pattern(const YamlReader& r, const Field& f);

// Ids and names: 1 to 64 of [A-Za-z0-9._-] (merchant names also '*', from host patterns).
bool is_valid_name(std::string_view text, bool allow_star);

}  // namespace flow::policy
