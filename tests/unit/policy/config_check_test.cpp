// `402flow check`'s warnings and its JSON form: what a valid file will not do as it seems to.
#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>
#include <string>

#include "flow/policy/config_warnings.hpp"
#include "flow/policy/policy_summary.hpp"
#include "policy_test_support.hpp"

using flow::policy::ConfigWarning;

namespace {

flow::policy::FlowConfig config_of(const std::string& yaml) {
  return flow::policy::parse_flow_config(policy_test::versioned(yaml), "flow.yaml");
}

std::vector<ConfigWarning> warnings_of(const std::string& yaml) {
  return flow::policy::config_warnings(config_of(yaml));
}

bool has_warning(const std::vector<ConfigWarning>& warnings, const std::string& code,
                 const std::string& rule) {
  return std::any_of(warnings.begin(), warnings.end(),
                     [&](const ConfigWarning& w) { return w.code == code && w.rule == rule; });
}

// A file that pays USDC on Base up to 1 USDC a request, with one sidecar agent.
const char* const kPaying = R"(
proxy:
  agent: bot
wallets:
  - name: base
    networks: [eip155:8453]
    key_env: KEY
organization:
  posture: block
  caps:
    per_request: 1 USDC
agents:
  - id: bot
merchants:
  - name: weather
    host: api.weather.example
    action: allow
)";

}  // namespace

TEST_CASE("a file that pays as it says has no warnings") {
  CHECK(warnings_of(kPaying).empty());
}

TEST_CASE("a sidecar agent that is not listed under agents is warned about") {
  std::string yaml = kPaying;
  yaml.replace(yaml.find("agent: bot"), 10, "agent: robot");
  const auto w = warnings_of(yaml);
  REQUIRE(w.size() == 1);
  CHECK(w[0].code == "sidecar_agent_not_listed");
  CHECK(w[0].rule == "proxy.agent");
  CHECK(w[0].message.find("'robot' is not listed under agents") != std::string::npos);

  // Unset in sidecar mode: every payment is refused too.
  yaml = kPaying;
  yaml.replace(yaml.find("  agent: bot\n"), 13, "  listen: 127.0.0.1:8402\n");
  CHECK(has_warning(warnings_of(yaml), "sidecar_agent_not_listed", "proxy.agent"));

  // In shared mode each request names its agent: nothing to warn about.
  yaml = kPaying;
  yaml.replace(yaml.find("agent: robot") == std::string::npos ? yaml.find("agent: bot")
                                                              : yaml.find("agent: robot"),
               10, "identity: shared");
  CHECK_FALSE(has_warning(warnings_of(yaml), "sidecar_agent_not_listed", "proxy.agent"));
}

TEST_CASE("a file without agents (the empty policy) warns that nothing is paid") {
  const auto w = warnings_of("version: 1\n");
  REQUIRE(w.size() == 1);
  CHECK(w[0].code == "no_agents");
  CHECK(w[0].message.find("every payment is refused") != std::string::npos);
}

TEST_CASE("review.amount_over at or above every organization cap can never be met") {
  std::string yaml = std::string(kPaying) + "review:\n  amount_over: 1 USDC\n";
  CHECK(has_warning(warnings_of(yaml), "review_never_met", "review.amount_over"));
  // Below the per-request cap it can be met.
  yaml = std::string(kPaying) + "review:\n  amount_over: 0.5 USDC\n";
  CHECK(warnings_of(yaml).empty());
  // A daily organization budget smaller than the threshold caps every payment below it too.
  yaml = std::string(kPaying) + "review:\n  amount_over: 0.5 USDC\n";
  yaml.replace(
      yaml.find("    per_request: 1 USDC\n"), 24,
      "    per_request: 1 USDC\n    budgets:\n      - amount: 0.4 USDC\n        per: day\n");
  CHECK(has_warning(warnings_of(yaml), "review_never_met", "review.amount_over"));
  // A unit nothing pays in (no Lightning rail) can never be reviewed either.
  yaml = std::string(kPaying) + "review:\n  amount_over: 100 msat\n";
  const auto w = warnings_of(yaml);
  REQUIRE(has_warning(w, "review_never_met", "review.amount_over"));
  CHECK(w[0].message.find("nothing in msat is payable") != std::string::npos);
}

TEST_CASE("review.new_pay_to can never be met when every paying rule lists its payees") {
  const std::string listed = R"(
wallets:
  - name: base
    networks: [eip155:8453]
    key_env: KEY
organization:
  posture: block
  caps:
    per_request: 1 USDC
review:
  new_pay_to: true
agents:
  - id: bot
merchants:
  - name: weather
    host: api.weather.example
    action: allow
    pay_to: ["0x209693Bc6afc0C5328bA36FaF03C514EF312287C"]
  - name: blocked
    host: bad.example
    action: deny
)";
  CHECK(has_warning(warnings_of(listed), "review_never_met", "review.new_pay_to"));
  // Posture allow pays unlisted merchants, whose payees can be new.
  std::string open = listed;
  open.replace(open.find("posture: block"), 14, "posture: allow");
  CHECK_FALSE(has_warning(warnings_of(open), "review_never_met", "review.new_pay_to"));
  // Without a wallet nothing is paid, so no payee is ever new.
  std::string no_wallet = std::string(kPaying) + "review:\n  new_pay_to: true\n";
  CHECK_FALSE(has_warning(warnings_of(no_wallet), "review_never_met", "review.new_pay_to"));
  no_wallet.erase(no_wallet.find("wallets:"),
                  no_wallet.find("organization:") - no_wallet.find("wallets:"));
  CHECK(has_warning(warnings_of(no_wallet), "review_never_met", "review.new_pay_to"));
}

TEST_CASE("the text summary ends with the warnings") {
  std::ostringstream out;
  flow::policy::write_config_summary(out, config_of("version: 1\n"), "flow.yaml");
  const std::string text = out.str();
  const auto at = text.find("\nWarnings (1)\n  ! no agents are listed");
  REQUIRE(at != std::string::npos);
  CHECK(text.find("[no_agents]\n", at) != std::string::npos);
}

TEST_CASE("the JSON summary holds the same blocks as the text, with decisions and warnings") {
  std::string yaml = kPaying;
  yaml.replace(yaml.find("  - id: bot\n"), 12, "  - id: bot\n  - id: off\n    action: deny\n");
  const auto config = config_of(yaml);
  const auto summary = flow::policy::summarize_config(config, "flow.yaml");
  const auto j = flow::policy::config_summary_json(summary, config);
  CHECK(j["file"] == "flow.yaml");
  CHECK(j["valid"] == true);
  CHECK(j["errors"].empty());
  CHECK(j["warnings"].empty());
  REQUIRE(j["summary"].size() == summary.sections.size());
  CHECK(j["summary"][0]["section"] == "Proxy");
  CHECK(j["summary"][0]["blocks"][0]["label"] == "listen");
  CHECK(j["summary"][0]["blocks"][0]["lines"][0] == "127.0.0.1:8402");
  CHECK(j["summary"][1]["section"] == "Payments");
  // Every line of the text form is in the JSON form.
  std::ostringstream text;
  flow::policy::write_config_summary(text, summary);
  for (const auto& section : j["summary"]) {
    for (const auto& block : section["blocks"]) {
      for (const auto& line : block["lines"]) {
        CAPTURE(line.get<std::string>());
        CHECK(text.str().find(line.get<std::string>()) != std::string::npos);
      }
    }
  }
  const auto& d = j["decisions"];
  CHECK(d["posture"] == "block");
  REQUIRE(d["agents"].size() == 2);
  CHECK(d["agents"][0]["action"] == "allow");
  CHECK(d["agents"][1]["id"] == "off");
  CHECK(d["agents"][1]["action"] == "deny");
  CHECK(d["merchants"][0]["name"] == "weather");
  CHECK(d["merchants"][0]["action"] == "allow");
  // The denied agent is shown in the text too.
  CHECK(text.str().find(
            "DENIED: every payment is refused (agent_denied; agents[off].action: deny)") !=
        std::string::npos);
}

TEST_CASE("a file that fails has the same JSON shape, with its error") {
  const auto j = flow::policy::config_error_json("flow.yaml", "flow.yaml:3:1: bad");
  CHECK(j["valid"] == false);
  REQUIRE(j["errors"].size() == 1);
  CHECK(j["errors"][0] == "flow.yaml:3:1: bad");
  CHECK(j["warnings"].empty());
}
