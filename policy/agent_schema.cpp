// agents: who may spend, how they prove it in shared mode, and their caps.
#include <algorithm>
#include <unordered_map>

#include "counter_key.hpp"
#include "policy_schema.hpp"

namespace flow::policy {
namespace {

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

std::vector<std::string> read_token_hashes(const YamlReader& r, const Field& f) {
  std::vector<std::string> out;
  r.scalar_or_list(f, [&](const std::string& hex, const YAML::Node& node) {
    if (!is_sha256_hex(hex)) {
      r.fail(node, f.where +
                       " must be the SHA-256 of a token as 64 hex digits (never the "
                       "token itself)");
    }
    out.push_back(lower_ascii(hex));
  });
  return out;
}

std::size_t find_merchant(const std::vector<MerchantRule>& merchants, std::string_view name) {
  const auto it = std::find_if(merchants.begin(), merchants.end(),
                               [&](const MerchantRule& m) { return m.name == name; });
  return static_cast<std::size_t>(it - merchants.begin());
}

// merchant_caps: { <merchant name>: caps, "*": caps for each configured merchant }
void read_merchant_caps(const YamlReader& r, const Field& f, const AssetTable& table,
                        const std::vector<MerchantRule>& merchants, AgentRule& agent) {
  r.expect_map(f);
  r.unique_keys(f.value, f.where);
  for (const auto& item : f.value) {
    const std::string name = item.first.IsScalar() ? item.first.Scalar() : "";
    const Field caps{item.first, item.second, agent.rule + ".merchant_caps[" + name + "]"};
    if (name == "*") {
      agent.each_merchant_caps = read_caps(r, caps, table, "");  // keyed per request
      continue;
    }
    const std::size_t index = find_merchant(merchants, name);
    if (index == merchants.size()) {
      r.fail(item.first, f.where + " names '" + name +
                             "', which is not the name of a merchant rule (or \"*\")");
    }
    const std::string prefix = counter_key::agent_merchant_prefix(agent.id, name);
    agent.merchant_caps.push_back({name, index, read_caps(r, caps, table, prefix)});
  }
}

// An agent's `action`: allow (the default) or deny, which refuses its every payment. Review is
// a merchant's or an amount's matter, not an agent's.
AgentAction read_agent_action(const YamlReader& r, const Field& f) {
  const std::string a = f.value.IsScalar() ? f.value.Scalar() : "";
  if (a == "allow") return AgentAction::allow;
  if (a == "deny") return AgentAction::deny;
  r.fail(f, f.where + " must be allow or deny, got '" + a + "'");
}

AgentRule read_agent(const YamlReader& r, const YAML::Node& node, const std::string& where,
                     const AssetTable& table, const std::vector<MerchantRule>& merchants) {
  r.expect_map(node, where);
  r.only_keys(node, where, {"id", "action", "token_sha256", "caps", "merchant_caps"});
  AgentRule a;
  const Field id = r.required(node, where, "id");
  a.id = r.string(id);
  if (!is_valid_name(a.id, false)) {
    r.fail(id, id.where + " must be 1 to 64 of A-Z a-z 0-9 . _ -, got '" + a.id + "'");
  }
  a.rule = "agents[" + a.id + "]";
  if (Field f = r.field(node, where, "action")) {
    f.where = a.rule + ".action";
    a.action = read_agent_action(r, f);
  }
  if (const Field f = r.field(node, where, "token_sha256"))
    a.token_sha256 = read_token_hashes(r, f);
  if (Field f = r.field(node, where, "caps")) {
    f.where = a.rule + ".caps";
    a.caps = read_caps(r, f, table, counter_key::agent_prefix(a.id));
  }
  if (Field f = r.field(node, where, "merchant_caps")) {
    f.where = a.rule + ".merchant_caps";
    read_merchant_caps(r, f, table, merchants, a);
  }
  return a;
}

}  // namespace

std::vector<AgentRule> read_agents(const YamlReader& r, const Field& f, const AssetTable& table,
                                   const std::vector<MerchantRule>& merchants) {
  std::vector<AgentRule> agents;
  std::unordered_map<std::string, std::string> hash_owner;
  r.list(f, [&](const YAML::Node& item, std::size_t i) {
    AgentRule a = read_agent(r, item, f.where + "[" + std::to_string(i) + "]", table, merchants);
    for (const AgentRule& earlier : agents) {
      if (earlier.id == a.id) r.fail(item, "agent id '" + a.id + "' is used twice");
    }
    for (const auto& hash : a.token_sha256) {
      if (auto [it, fresh] = hash_owner.emplace(hash, a.id); !fresh) {
        r.fail(item, it->second == a.id ? a.rule + " lists the same token hash twice"
                                        : a.rule + " has a token hash already given to agents[" +
                                              it->second + "]");
      }
    }
    agents.push_back(std::move(a));
  });
  return agents;
}

}  // namespace flow::policy
