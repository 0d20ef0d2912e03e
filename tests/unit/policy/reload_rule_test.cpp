// What a hot reload may change: a valid file that drops every agent, wallet or merchant rule is
// refused; proxy, ledger and wallet changes are reported as needing a restart.
#include <doctest/doctest.h>

#include <string>

#include "flow/policy/flow_config.hpp"
#include "flow/policy/reload_rule.hpp"

using flow::policy::FlowConfig;
using flow::policy::parse_flow_config;
using flow::policy::reload_refusal;
using flow::policy::restart_only_changes;

namespace {

const char* const kWallet = "wallets:\n  - name: main\n    key_env: KEY\n";
const char* const kAgents = "agents:\n  - id: a\n  - id: b\n";
const char* const kMerchants = "merchants:\n  - host: shop.example\n    action: allow\n";

FlowConfig config(const std::string& body) {
  return parse_flow_config("version: 1\n" + body, "flow.yaml");
}

}  // namespace

TEST_CASE("a reload that drops every agent, wallet or merchant rule is refused") {
  const FlowConfig running = config(std::string(kWallet) + kAgents + kMerchants);
  CHECK_FALSE(reload_refusal(running, running).has_value());

  const auto no_agents = reload_refusal(running, config(std::string(kWallet) + kMerchants));
  REQUIRE(no_agents.has_value());
  CHECK(*no_agents ==
        "the new file has no agents (the running configuration has 2): refused as a likely "
        "truncated or half-written file; to remove them all on purpose, restart the proxy");
  const auto no_wallets = reload_refusal(running, config(std::string(kAgents) + kMerchants));
  REQUIRE(no_wallets.has_value());
  CHECK(no_wallets->find("no wallets (the running configuration has 1)") != std::string::npos);
  const auto no_merchants = reload_refusal(running, config(std::string(kWallet) + kAgents));
  REQUIRE(no_merchants.has_value());
  CHECK(no_merchants->find("no merchant rules (the running configuration has 1)") !=
        std::string::npos);
  // What a half-written save leaves: the version line and little else.
  CHECK(reload_refusal(running, config("proxy:\n  identity: sidecar\n")).has_value());
}

TEST_CASE("a reload that keeps some of each, or adds them, is accepted") {
  const FlowConfig running = config(std::string(kWallet) + kAgents + kMerchants);
  // One agent of two removed: a deliberate edit, not an empty file.
  CHECK_FALSE(
      reload_refusal(running, config(std::string(kWallet) + "agents:\n  - id: a\n" + kMerchants))
          .has_value());
  // A running configuration without agents may reload a file without agents.
  const FlowConfig bare = config("");
  CHECK_FALSE(reload_refusal(bare, config("")).has_value());
  CHECK_FALSE(reload_refusal(bare, config(kAgents)).has_value());
}

TEST_CASE("changes to proxy, ledger and wallets are named as needing a restart") {
  const FlowConfig running = config(std::string("proxy:\n  listen: 127.0.0.1:8402\n") + kWallet);
  CHECK(restart_only_changes(running, running).empty());
  const FlowConfig next = config(
      "proxy:\n  listen: 127.0.0.1:9000\n  transparent: 127.0.0.1:15001\n  identity: shared\n"
      "  timeouts:\n    idle: 5s\n"
      "ledger:\n  path: other.db\n"
      "wallets:\n  - name: main\n    key_env: OTHER_KEY\n" +
      std::string(kAgents));
  CHECK(restart_only_changes(running, next) ==
        std::vector<std::string>{"proxy.listen", "proxy.transparent", "proxy.identity",
                                 "proxy.timeouts.idle", "ledger.path", "wallets"});
}

TEST_CASE("changes to the admin listener and its token file need a restart") {
  const FlowConfig running = config("admin:\n  listen: 127.0.0.1:9402\n");
  const FlowConfig next = config("admin:\n  listen: 127.0.0.1:9500\n  token_file: /etc/t\n");
  CHECK(restart_only_changes(running, next) ==
        std::vector<std::string>{"admin.listen", "admin.token_file"});
  const FlowConfig hooked = config(
      "admin:\n  listen: 127.0.0.1:9402\n  webhook:\n    url: http://127.0.0.1/h\n    "
      "secret_file: /etc/s\n");
  CHECK(restart_only_changes(running, hooked) == std::vector<std::string>{"admin.webhook"});
}
