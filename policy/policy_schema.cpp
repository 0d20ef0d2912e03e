// The policy sections of flow.yaml: organization, review, and the order they are read in.
#include "policy_schema.hpp"

#include <algorithm>

#include "counter_key.hpp"

namespace flow::policy {
namespace {

Posture read_posture(const YamlReader& r, const Field& f) {
  const std::string p = f.value.IsScalar() ? f.value.Scalar() : "";
  if (p == "allow") return Posture::allow;
  if (p == "block") return Posture::block;
  r.fail(f, f.where +
                " must be allow (pay unconfigured merchants within the organization's "
                "caps) or block (only merchants a rule allows), got '" +
                p + "'");
}

OrganizationRules read_organization(const YamlReader& r, const Field& f, const AssetTable& table) {
  r.expect_map(f);
  r.only_keys(f.value, f.where, {"posture", "networks", "prefer_networks", "caps"});
  OrganizationRules org;
  org.caps.where = "organization.caps";
  if (const Field p = r.field(f.value, f.where, "posture")) org.posture = read_posture(r, p);
  if (const Field n = r.field(f.value, f.where, "networks")) {
    org.networks = read_networks(r, n, table);
  }
  if (const Field n = r.field(f.value, f.where, "prefer_networks")) {
    org.prefer_networks = read_networks(r, n, table);
  }
  if (const Field c = r.field(f.value, f.where, "caps")) {
    org.caps = read_caps(r, c, table, counter_key::kOrgPrefix);
  }
  return org;
}

ReviewRules read_review(const YamlReader& r, const Field& f, const AssetTable& table) {
  r.expect_map(f);
  r.only_keys(f.value, f.where, {"amount_over", "new_pay_to", "approval_ttl", "hold"});
  ReviewRules review;
  if (const Field a = r.field(f.value, f.where, "amount_over")) {
    review.amount_over = read_amounts(r, a, table);
  }
  if (const Field n = r.field(f.value, f.where, "new_pay_to")) review.new_pay_to = r.boolean(n);
  if (const Field t = r.field(f.value, f.where, "approval_ttl")) {
    const auto ttl = r.duration(t);
    if (ttl.count() % 1000 != 0 || ttl > std::chrono::hours(24 * 7)) {
      r.fail(t, t.where + " must be whole seconds, at most 7 days (168h)");
    }
    review.approval_ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
  }
  if (const Field h = r.field(f.value, f.where, "hold");
      h && !(h.value.IsScalar() && h.value.Scalar() == "0")) {  // 0: answer at once
    const auto hold = r.duration(h);
    if (hold.count() % 1000 != 0 || hold > kMaxReviewHold) {
      r.fail(h, h.where + " must be whole seconds, at most 1h");
    }
    review.hold = std::chrono::duration_cast<std::chrono::seconds>(hold);
  }
  return review;
}

PaymentRules read_payment(const YamlReader& r, const Field& f) {
  r.expect_map(f);
  r.only_keys(f.value, f.where, {"max_validity"});
  PaymentRules payment;
  if (const Field v = r.field(f.value, f.where, "max_validity")) {
    const auto validity = r.duration(v);
    if (validity.count() % 1000 != 0 || validity < kMinMaxValidity || validity > kMaxMaxValidity) {
      r.fail(v, v.where + " must be whole seconds from 10s to 24h (e.g. 10m), got '" +
                    (v.value.IsScalar() ? v.value.Scalar() : std::string()) + "'");
    }
    payment.max_validity = std::chrono::duration_cast<std::chrono::seconds>(validity);
  }
  return payment;
}

}  // namespace

bool is_valid_name(std::string_view text, bool allow_star) {
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || (allow_star && c == '*');
  });
}

// Assets first: every amount elsewhere is read in their units. Merchants before agents: agents'
// merchant_caps name merchant rules.
PolicyDefinition read_policy(const YamlReader& r, const YAML::Node& root) {
  PolicyDefinition def;
  if (const Field f = r.field(root, "", "assets")) read_assets(r, f, def.assets);
  if (const Field f = r.field(root, "", "organization")) {
    def.organization = read_organization(r, f, def.assets);
  }
  if (const Field f = r.field(root, "", "review")) def.review = read_review(r, f, def.assets);
  if (const Field f = r.field(root, "", "payment")) def.payment = read_payment(r, f);
  if (const Field f = r.field(root, "", "merchants")) {
    def.merchants = read_merchants(r, f, def.assets);
  }
  if (const Field f = r.field(root, "", "agents")) {
    def.agents = read_agents(r, f, def.assets, def.merchants);
  }
  return def;
}

}  // namespace flow::policy
