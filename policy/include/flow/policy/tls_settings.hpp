#pragma once
// The `tls:` section of flow.yaml (HTTPS interception) and the decision which hosts are
// decrypted. docs/configuration.md describes the keys; docs/https.md the behaviour.
#include <string>
#include <string_view>
#include <vector>

#include "flow/policy/policy_rules.hpp"

namespace flow::policy {

struct TlsSettings {
  // The CA directory (ca.pem, ca.key); interception is on when it is set. Written in flow.yaml,
  // a relative path is relative to the file's directory.
  std::string ca_dir;
  // PEM roots trusted for upstream TLS in addition to the system store; same path rule.
  std::string upstream_ca_file;
  // Host patterns (lower-case, exact or "*.suffix"): decrypted in addition to the merchants'.
  std::vector<std::string> intercept_hosts;
  // Host patterns never decrypted, whatever else names them (a client that pins certificates).
  std::vector<std::string> exclude_hosts;

  bool interception_on() const { return !ca_dir.empty(); }
};

// Why a host is, or is not, decrypted. Names are stable (logs, `check`).
enum class InterceptReason {
  interception_off,  // no tls.ca_dir: every tunnel is spliced
  excluded,          // tls.intercept.exclude names it
  listed,            // tls.intercept.hosts names it
  merchant_rule,     // a merchant rule's host pattern names it
  posture_allow,     // organization.posture allow: every host may be a merchant
  not_named,         // nothing names it: spliced untouched
};
std::string_view intercept_reason_name(InterceptReason reason);

struct InterceptDecision {
  bool intercept = false;
  InterceptReason reason = InterceptReason::interception_off;
};

// Whether a tunnel to `host` (an SNI name or a CONNECT host; any case, a trailing dot or a port
// ignored) is decrypted. In order: interception off -> no; excluded -> no; listed -> yes; named
// by a merchant rule (its host pattern alone: path and methods are not known yet) -> yes;
// posture allow -> yes; otherwise no. Pure: the same answer for the same inputs.
InterceptDecision decide_interception(const TlsSettings& tls, const PolicyDefinition& policy,
                                      std::string_view host);

// "api.example.com" matches itself only; "*.example.com" matches any name below example.com but
// not example.com itself (as merchant rules do). `host` must be lower-case without a port.
bool host_pattern_matches(std::string_view pattern, std::string_view host);

}  // namespace flow::policy
