#include "flow/proxy/exchange/tls_service.hpp"

namespace flow::proxy {

TlsService::TlsService(policy::TlsSettings settings, std::shared_ptr<const CertAuthority> ca)
    : settings_(std::move(settings)),
      ca_(std::move(ca)),
      verified_(make_client_context(settings_.upstream_ca_file)) {
  if (ca_) {
    leaves_ = std::make_unique<LeafCache>(*ca_);
    leaf_context_ = make_leaf_server_context();
  }
}

policy::InterceptDecision TlsService::decide(const policy::PolicyDefinition& policy,
                                             std::string_view host) const {
  if (!intercepting()) return {};
  return policy::decide_interception(settings_, policy, host);
}

std::variant<std::shared_ptr<const ServerLeaf>, LeafError> TlsService::leaf(std::string_view name) {
  if (!leaves_) return LeafError::ca_not_valid;  // interception is off: never asked
  return leaves_->get(name);
}

bool TlsService::insecure_upstream(const policy::PolicyDefinition& policy, std::string_view host) {
  for (const policy::MerchantRule& rule : policy.merchants) {
    if (rule.insecure_upstream && policy::host_pattern_matches(rule.host, host)) return true;
  }
  return false;
}

std::shared_ptr<TlsClientContext> TlsService::upstream(const policy::PolicyDefinition& policy,
                                                       std::string_view host) {
  if (!insecure_upstream(policy, host)) return verified_;
  if (!insecure_) insecure_ = make_insecure_client_context();
  return insecure_;
}

}  // namespace flow::proxy
