// Which tunnels are decrypted: tls.intercept, merchant rules and the organization's posture.
#include <algorithm>

#include "flow/payment/ascii.hpp"
#include "flow/policy/tls_settings.hpp"

namespace flow::policy {
namespace {

// Lower-cased, without a port ("host:443", "[::1]:443"), brackets or a trailing dot.
std::string normalized_host(std::string_view host) {
  if (host.starts_with('[')) {
    host = host.substr(1, host.find(']') - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return payment::ascii_lower(host);
}

bool any_matches(const std::vector<std::string>& patterns, std::string_view host) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return host_pattern_matches(p, host); });
}

}  // namespace

std::string_view intercept_reason_name(InterceptReason reason) {
  switch (reason) {
    case InterceptReason::interception_off:
      return "interception_off";
    case InterceptReason::excluded:
      return "excluded";
    case InterceptReason::listed:
      return "listed";
    case InterceptReason::merchant_rule:
      return "merchant_rule";
    case InterceptReason::posture_allow:
      return "posture_allow";
    case InterceptReason::not_named:
      return "not_named";
  }
  return "not_named";
}

bool host_pattern_matches(std::string_view pattern, std::string_view host) {
  if (!pattern.starts_with("*.")) return pattern == host;
  const std::string_view suffix = pattern.substr(1);  // ".example.com"
  return host.size() > suffix.size() && host.ends_with(suffix);
}

InterceptDecision decide_interception(const TlsSettings& tls, const PolicyDefinition& policy,
                                      std::string_view host) {
  if (!tls.interception_on()) return {false, InterceptReason::interception_off};
  const std::string name = normalized_host(host);
  if (any_matches(tls.exclude_hosts, name)) return {false, InterceptReason::excluded};
  if (any_matches(tls.intercept_hosts, name)) return {true, InterceptReason::listed};
  const bool merchant =
      std::any_of(policy.merchants.begin(), policy.merchants.end(),
                  [&](const MerchantRule& m) { return host_pattern_matches(m.host, name); });
  if (merchant) return {true, InterceptReason::merchant_rule};
  if (policy.organization.posture == Posture::allow) return {true, InterceptReason::posture_allow};
  return {false, InterceptReason::not_named};
}

}  // namespace flow::policy
