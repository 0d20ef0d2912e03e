// The `tls:` section of flow.yaml, merchants' insecure_upstream, and which hosts are decrypted.
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "flow/policy/flow_config.hpp"
#include "flow/policy/policy_summary.hpp"
#include "flow/policy/tls_settings.hpp"
#include "policy_test_support.hpp"

using flow::policy::FlowConfig;
using flow::policy::InterceptReason;
using flow::policy::TlsSettings;

namespace {

FlowConfig parse(const std::string& yaml, const std::string& source = "/etc/402flow/flow.yaml") {
  return flow::policy::parse_flow_config(policy_test::versioned(yaml), source);
}

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml, "flow.yaml");
  } catch (const flow::policy::ConfigError& e) {
    return e.what();
  }
  return "no error";
}

// The decision for `host` under a file's tls section and policy.
std::pair<bool, InterceptReason> decide(const FlowConfig& c, std::string_view host) {
  const auto d = flow::policy::decide_interception(c.tls, c.policy->definition(), host);
  return {d.intercept, d.reason};
}

const char* kMerchants = R"(
merchants:
  - host: api.merchant.example
    action: allow
  - host: "*.paid.example"
    path: /v1
    action: review
)";

}  // namespace

TEST_CASE("tls: ca_dir and upstream_ca_file are read relative to flow.yaml, hosts lower-cased") {
  const auto c = parse(R"(
tls:
  ca_dir: ./ca
  upstream_ca_file: roots/extra.pem
  intercept:
    hosts: ["*.Example.com", api.other.example]
    exclude:
      - pinned.example.org
)");
  CHECK(c.tls.interception_on());
  CHECK(c.tls.ca_dir == "/etc/402flow/./ca");
  CHECK(c.tls.upstream_ca_file == "/etc/402flow/roots/extra.pem");
  CHECK(c.tls.intercept_hosts == std::vector<std::string>{"*.example.com", "api.other.example"});
  CHECK(c.tls.exclude_hosts == std::vector<std::string>{"pinned.example.org"});
  // Absolute paths stay as written.
  CHECK(parse("tls:\n  ca_dir: /var/lib/402flow/ca\n").tls.ca_dir == "/var/lib/402flow/ca");
}

TEST_CASE("without a tls section interception is off and nothing is decrypted") {
  const auto c = parse(std::string(kMerchants) + "organization:\n  posture: allow\n");
  CHECK_FALSE(c.tls.interception_on());
  CHECK(decide(c, "api.merchant.example") == std::pair{false, InterceptReason::interception_off});
}

TEST_CASE("tls errors name the line and what was expected; unknown keys are refused") {
  CHECK(error_of("tls:\n  ca_dri: ./ca\n").starts_with("flow.yaml:2:3:"));
  CHECK(error_of("tls:\n  ca_dri: ./ca\n").find("ca_dri") != std::string::npos);
  CHECK(error_of("tls:\n  intercept:\n    host: [a.example]\n").find("host") != std::string::npos);
  CHECK(error_of("tls:\n  intercept:\n    host: [a.example]\n").starts_with("flow.yaml:3:"));
  CHECK(error_of("tls: ./ca\n").find("tls must be a mapping") != std::string::npos);
  CHECK(error_of("tls:\n  intercept: [a.example]\n").find("tls.intercept must be a mapping") !=
        std::string::npos);
  CHECK(error_of("tls:\n  ca_dir: \"\"\n").find("tls.ca_dir must be a string") !=
        std::string::npos);
  CHECK(error_of("tls:\n  intercept:\n    hosts: a.example\n")
            .find("tls.intercept.hosts must be a list") != std::string::npos);
  const std::string bad_pattern = error_of("tls:\n  intercept:\n    hosts: [\"api.*.example\"]\n");
  CHECK(bad_pattern.starts_with("flow.yaml:3:"));
  CHECK(bad_pattern.find("tls.intercept.hosts[0]") != std::string::npos);
  CHECK(bad_pattern.find("wildcard") != std::string::npos);
  CHECK(error_of("tls:\n  intercept:\n    exclude: [\"a.example:443\"]\n")
            .find("without scheme or port") != std::string::npos);
  const std::string twice = error_of("tls:\n  intercept:\n    exclude: [a.example, A.example]\n");
  CHECK(twice.find("lists 'a.example' twice") != std::string::npos);
}

TEST_CASE("a merchant rule may set insecure_upstream; it defaults to false and must be a bool") {
  const auto c = parse(R"(
merchants:
  - host: self-signed.test
    action: allow
    insecure_upstream: true
  - host: normal.example
    action: allow
)");
  const auto& m = c.policy->definition().merchants;
  REQUIRE(m.size() == 2);
  CHECK(m[0].insecure_upstream);
  CHECK_FALSE(m[1].insecure_upstream);
  CHECK(error_of("merchants:\n  - host: a.example\n    action: allow\n    insecure_upstream: yes\n")
            .find("insecure_upstream must be true or false") != std::string::npos);
}

TEST_CASE("the decision: excluded, then listed, then merchant rules, then posture allow") {
  const std::string tls = R"(
tls:
  ca_dir: ca
  intercept:
    hosts: ["*.listed.example", both.example]
    exclude: [pinned.paid.example, both.example]
)";
  const auto block = parse(tls + kMerchants);
  CHECK(decide(block, "pinned.paid.example") == std::pair{false, InterceptReason::excluded});
  CHECK(decide(block, "both.example") == std::pair{false, InterceptReason::excluded});
  CHECK(decide(block, "a.listed.example") == std::pair{true, InterceptReason::listed});
  CHECK(decide(block, "listed.example") == std::pair{false, InterceptReason::not_named});
  CHECK(decide(block, "api.merchant.example") == std::pair{true, InterceptReason::merchant_rule});
  // A rule's path does not matter: the path is not known before decrypting.
  CHECK(decide(block, "x.paid.example") == std::pair{true, InterceptReason::merchant_rule});
  CHECK(decide(block, "paid.example") == std::pair{false, InterceptReason::not_named});
  CHECK(decide(block, "elsewhere.example") == std::pair{false, InterceptReason::not_named});
  // Case, a trailing dot and a port do not change the answer.
  CHECK(decide(block, "API.Merchant.Example.:443") ==
        std::pair{true, InterceptReason::merchant_rule});
  CHECK(decide(block, "Pinned.Paid.Example") == std::pair{false, InterceptReason::excluded});

  // Posture allow: every host may be a merchant, so every host not excluded is decrypted.
  const auto allow = parse(tls + kMerchants + "organization:\n  posture: allow\n");
  CHECK(decide(allow, "elsewhere.example") == std::pair{true, InterceptReason::posture_allow});
  CHECK(decide(allow, "[2001:db8::1]:443") == std::pair{true, InterceptReason::posture_allow});
  CHECK(decide(allow, "api.merchant.example") == std::pair{true, InterceptReason::merchant_rule});
  CHECK(decide(allow, "pinned.paid.example") == std::pair{false, InterceptReason::excluded});
  CHECK(flow::policy::intercept_reason_name(InterceptReason::posture_allow) == "posture_allow");
}

TEST_CASE("host patterns: exact names, and wildcards below a suffix but not the suffix itself") {
  using flow::policy::host_pattern_matches;
  CHECK(host_pattern_matches("api.example.com", "api.example.com"));
  CHECK_FALSE(host_pattern_matches("api.example.com", "x.api.example.com"));
  CHECK(host_pattern_matches("*.example.com", "a.example.com"));
  CHECK(host_pattern_matches("*.example.com", "a.b.example.com"));
  CHECK_FALSE(host_pattern_matches("*.example.com", "example.com"));
  CHECK_FALSE(host_pattern_matches("*.example.com", "badexample.com"));
}

TEST_CASE("check shows interception, what it decrypts, and insecure upstreams loudly") {
  const auto c = parse(std::string(R"(
tls:
  ca_dir: /var/lib/402flow/ca
  upstream_ca_file: /etc/extra.pem
  intercept:
    hosts: ["*.listed.example"]
    exclude: [pinned.example]
organization:
  posture: allow
merchants:
  - host: self-signed.test
    action: allow
    insecure_upstream: true
)"));
  std::ostringstream out;
  flow::policy::write_config_summary(out, c, "flow.yaml");
  const std::string text = out.str();
  CHECK(text.find("/var/lib/402flow/ca (HTTPS interception on)") != std::string::npos);
  CHECK(text.find("system store + /etc/extra.pem") != std::string::npos);
  CHECK(text.find("never pinned.example") != std::string::npos);
  CHECK(text.find("listed *.listed.example") != std::string::npos);
  CHECK(text.find("merchant hosts self-signed.test") != std::string::npos);
  CHECK(text.find("EVERY other host too") != std::string::npos);
  CHECK(text.find("INSECURE: upstream TLS certificate NOT verified") != std::string::npos);

  std::ostringstream off;
  flow::policy::write_config_summary(
      off, parse("merchants:\n  - host: a.example\n    action: allow\n"), "flow.yaml");
  CHECK(off.str().find("not decrypted (no tls.ca_dir)") != std::string::npos);
  CHECK(off.str().find("INSECURE") == std::string::npos);
}
