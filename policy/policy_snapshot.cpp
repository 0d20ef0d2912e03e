#include "flow/policy/policy_snapshot.hpp"

#include "flow/payment/ascii.hpp"

#include <algorithm>

namespace flow::policy {
namespace {

// Both are 64 hex digits; the time taken does not depend on where they differ.
bool same_digest_hex(std::string_view stored, std::string_view presented) {
  if (stored.size() != 64 || presented.size() != 64) return false;
  unsigned diff = 0;
  for (std::size_t i = 0; i < 64; ++i) {
    diff |= static_cast<unsigned>(static_cast<unsigned char>(stored[i]) ^
                                  static_cast<unsigned char>(payment::ascii_lower(presented[i])));
  }
  return diff == 0;
}

}  // namespace

std::string_view posture_name(Posture p) {
  return p == Posture::allow ? "allow" : "block";
}

const CapSet* AgentRule::caps_at(std::size_t merchant_index) const {
  for (const auto& m : merchant_caps) {
    if (m.merchant_index == merchant_index) return &m.caps;
  }
  return each_merchant_caps ? &*each_merchant_caps : nullptr;
}

PolicySnapshot::PolicySnapshot(PolicyDefinition definition)
    : definition_(std::move(definition)), merchants_(definition_.merchants) {
  for (std::size_t i = 0; i < definition_.agents.size(); ++i) {
    agents_by_id_.emplace(definition_.agents[i].id, i);
  }
}

std::shared_ptr<const PolicySnapshot> PolicySnapshot::build(PolicyDefinition definition) {
  return std::shared_ptr<const PolicySnapshot>(new PolicySnapshot(std::move(definition)));
}

std::shared_ptr<const PolicySnapshot> PolicySnapshot::empty() {
  return build(PolicyDefinition{});
}

const AgentRule* PolicySnapshot::find_agent(std::string_view id) const {
  const auto it = agents_by_id_.find(id);
  return it == agents_by_id_.end() ? nullptr : &definition_.agents[it->second];
}

const AgentRule* PolicySnapshot::authenticate(std::string_view id,
                                              std::string_view token_sha256_hex) const {
  const AgentRule* agent = find_agent(id);
  if (agent == nullptr) return nullptr;
  bool ok = false;
  for (const auto& hash : agent->token_sha256) ok |= same_digest_hex(hash, token_sha256_hex);
  return ok ? agent : nullptr;
}

const MerchantRule* PolicySnapshot::match_merchant(std::string_view host, std::string_view path,
                                                   std::string_view method) const {
  const auto hit = merchants_.match(definition_.merchants, host, path, method);
  return hit ? &definition_.merchants[*hit] : nullptr;
}

std::size_t PolicySnapshot::network_rank(std::string_view network) const {
  const auto& order = definition_.organization.prefer_networks;
  const auto it = std::find(order.begin(), order.end(), network);
  return static_cast<std::size_t>(it - order.begin());
}

}  // namespace flow::policy
