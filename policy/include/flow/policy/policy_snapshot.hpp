#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "flow/policy/merchant_matcher.hpp"
#include "flow/policy/policy_rules.hpp"
#include "flow/policy/unit_amount.hpp"

namespace flow::policy {

// The validated policy with its lookup indexes. Immutable and shared by pointer: a reload builds
// a new snapshot and swaps the pointer (PolicyStore), so an evaluation in progress keeps the one
// it started with.
class PolicySnapshot {
 public:
  // `definition` must come from the flow.yaml loader (or satisfy the same invariants: unique
  // agent ids and merchant names, resolved merchant_caps indexes).
  static std::shared_ptr<const PolicySnapshot> build(PolicyDefinition definition);
  // No agents, posture block: every payment is refused. The policy of a proxy without a file.
  static std::shared_ptr<const PolicySnapshot> empty();

  PolicySnapshot(const PolicySnapshot&) = delete;
  PolicySnapshot& operator=(const PolicySnapshot&) = delete;

  const PolicyDefinition& definition() const { return definition_; }
  const AssetTable& assets() const { return definition_.assets; }

  const AgentRule* find_agent(std::string_view id) const;
  // Shared mode: the agent, if `token_sha256_hex` (lower- or upper-case hex of SHA-256 of the
  // presented token) is one of its hashes. Compared in constant time.
  const AgentRule* authenticate(std::string_view id, std::string_view token_sha256_hex) const;

  const MerchantRule* match_merchant(std::string_view host, std::string_view path,
                                     std::string_view method) const;

  // Position in organization.prefer_networks; networks not listed rank after all listed ones.
  std::size_t network_rank(std::string_view network) const;

  // For amounts an agent states itself (X-402flow-Max-Amount): the flow.yaml amount syntax.
  std::variant<UnitAmount, std::string> parse_amount(std::string_view text) const {
    return parse_unit_amount(text, definition_.assets);
  }

 private:
  explicit PolicySnapshot(PolicyDefinition definition);

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  PolicyDefinition definition_;
  std::unordered_map<std::string, std::size_t, Hash, std::equal_to<>> agents_by_id_;
  MerchantMatcher merchants_;
};

}  // namespace flow::policy
