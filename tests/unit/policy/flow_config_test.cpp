#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "flow/policy/flow_config.hpp"
#include "policy_test_support.hpp"

using flow::policy::ConfigError;

namespace {
// Snippets get `version: 1` (appended: their errors keep their lines and columns).
flow::policy::FlowConfig parse_flow_config(const std::string& yaml, const std::string& source) {
  return flow::policy::parse_flow_config(policy_test::versioned(yaml), source);
}

std::string error_of(const std::string& yaml) {
  try {
    parse_flow_config(yaml, "flow.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("a file with only its version gives the safe defaults") {
  const auto c = parse_flow_config("version: 1\n", "flow.yaml");
  CHECK(c.proxy.listen == "127.0.0.1:8402");
  CHECK(c.proxy.transparent.empty());  // no transparent listener unless asked for
  REQUIRE(c.proxy.connect_ports.size() == 1);
  CHECK(c.proxy.connect_ports[0] == 443);
}

TEST_CASE("the proxy section sets listener, ports, limits and timeouts") {
  const auto c = parse_flow_config(
      "version: 1\nproxy:\n  listen: 127.0.0.1:9000\n  connect_ports: [443, 8443]\n"
      "  transparent: 127.0.0.1:15001\n"
      "  max_connections: 10\n  timeouts:\n    header: 500ms\n    drain: 2s\n",
      "flow.yaml");
  CHECK(c.proxy.listen == "127.0.0.1:9000");
  CHECK(c.proxy.transparent == "127.0.0.1:15001");
  CHECK(c.proxy.connect_ports == std::vector<std::uint16_t>{443, 8443});
  CHECK(c.proxy.max_connections == 10);
  CHECK(c.proxy.timeouts.header.count() == 500);
  CHECK(c.proxy.timeouts.drain.count() == 2000);
}

TEST_CASE("an empty file, or one without version, is invalid") {
  // A truncated or half-written file must never pass as "no agents, no wallets".
  const auto error = [](const std::string& text) {
    try {
      flow::policy::parse_flow_config(text, "flow.yaml");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string missing =
      "the file is empty or has no `version: 1` line; every flow.yaml starts with `version: 1`";
  CHECK(error("") == "flow.yaml: " + missing);
  CHECK(error("\n# only a comment\n") == "flow.yaml: " + missing);
  CHECK(error("proxy:\n  listen: 127.0.0.1:9000\n") == "flow.yaml:1:1: " + missing);
  CHECK(error("agents:\n  - id: a\n").find(missing) != std::string::npos);
  CHECK(error("version: 2\n").rfind("flow.yaml:1:10: ", 0) == 0);
  CHECK(error("version: 1\n") == "no error");
}

TEST_CASE("errors name the file, line and column and what was expected") {
  CHECK(error_of("proxy:\n  conect_ports: [443]\n") ==
        "flow.yaml:2:3: unknown key 'conect_ports' in proxy (expected one of: listen, "
        "transparent, connect_ports, max_connections, max_header_bytes, write_high_water, "
        "pool_max_idle_per_origin, timeouts, access_log, log_level, identity, agent, "
        "replay_limit, challenge_max_bytes)");
  CHECK(error_of("proxy:\n  connect_ports: [443, 70000]\n").rfind("flow.yaml:2:24: ", 0) == 0);
  CHECK(error_of("proxy:\n  timeouts:\n    idle: 5 parsecs\n") ==
        "flow.yaml:3:11: proxy.timeouts.idle must be a positive duration such as 500ms, 10s, 2m, "
        "got '5 parsecs'");
  CHECK(error_of("proxy: [1, 2]\n") == "flow.yaml:1:8: proxy must be a mapping");
  CHECK(error_of("proxy:\n  listen: [a\n").rfind("flow.yaml:", 0) == 0);
  CHECK(error_of("agent: []\n").find("unknown key 'agent'") != std::string::npos);
}

TEST_CASE("wallets, ledger and agent identity are read, with paths relative to the file") {
  const auto c = parse_flow_config(R"(
proxy:
  identity: shared
  agent: research-bot
  replay_limit: 4096
  challenge_max_bytes: 2048
  timeouts:
    challenge: 3s
  access_log: logs/access.jsonl
ledger:
  path: data/ledger.db
  url_query: drop
wallets:
  - name: base
    networks: [eip155:8453]
    key_file: keys/base.key
  - name: any-evm
    key_env: FLOW402_EVM_KEY
  - name: absolute
    key_file: /etc/402flow/key
)",
                                   "/etc/402flow/flow.yaml");
  CHECK(c.proxy.identity == flow::policy::AgentIdentity::shared);
  CHECK(c.proxy.agent == "research-bot");
  CHECK(c.proxy.replay_limit == 4096);
  CHECK(c.proxy.challenge_max_bytes == 2048);
  CHECK(c.proxy.timeouts.challenge.count() == 3000);
  CHECK(c.ledger.path == "/etc/402flow/data/ledger.db");
  CHECK(c.proxy.access_log == "/etc/402flow/logs/access.jsonl");  // not the working directory
  CHECK(c.ledger.url_query == "drop");
  REQUIRE(c.wallets.size() == 3);
  CHECK(c.wallets[0].key_file == "/etc/402flow/keys/base.key");
  CHECK(c.wallets[0].covers("eip155:8453"));
  CHECK_FALSE(c.wallets[0].covers("eip155:137"));
  CHECK(c.wallets[1].key_env == "FLOW402_EVM_KEY");
  CHECK(c.wallets[1].covers("eip155:137"));  // default: every EVM chain
  CHECK_FALSE(c.wallets[1].covers("lightning"));
  CHECK(c.wallets[2].key_file == "/etc/402flow/key");
}

TEST_CASE("an access log of \"-\" is stderr, and an absolute one stays as written") {
  CHECK(parse_flow_config("proxy:\n  access_log: \"-\"\n", "/etc/402flow/flow.yaml")
            .proxy.access_log == "-");
  CHECK(parse_flow_config("proxy:\n  access_log: /var/log/a.jsonl\n", "/etc/402flow/flow.yaml")
            .proxy.access_log == "/var/log/a.jsonl");
}

TEST_CASE("the defaults: sidecar identity, a ledger in the working directory, no wallets") {
  const auto c = parse_flow_config("", "/etc/402flow/flow.yaml");
  CHECK(c.proxy.identity == flow::policy::AgentIdentity::sidecar);
  CHECK(c.ledger.path == "402flow.db");
  CHECK(c.ledger.url_query == "hash");
  CHECK(c.wallets.empty());
  CHECK(c.proxy.replay_limit == 1024 * 1024);
}

TEST_CASE("bad wallets, ledger and identity settings name their line") {
  CHECK(error_of("wallets:\n  - name: a\n") ==
        "flow.yaml:2:5: wallet 'a' needs exactly one of key_file and key_env");
  CHECK(error_of("wallets:\n  - name: a\n    key_file: k\n    key_env: K\n") ==
        "flow.yaml:2:5: wallet 'a' needs exactly one of key_file and key_env");
  CHECK(error_of("wallets:\n  - name: a\n    key_env: K\n  - name: a\n    key_env: L\n") ==
        "flow.yaml:4:11: wallet 'a' is defined twice");
  CHECK(error_of("wallets:\n  - name: a\n    key_env: K\n    networks: [lightning]\n") ==
        "flow.yaml:4:16: wallet networks are EVM chains: eip155:<chain id> or eip155:*, not "
        "'lightning'");
  CHECK(error_of("wallets:\n  - name: a\n    key_env: K\n    secret: x\n")
            .find("unknown key 'secret'") != std::string::npos);
  CHECK(error_of("ledger:\n  url_query: show\n") ==
        "flow.yaml:2:14: ledger.url_query must be keep, hash or drop");
  CHECK(error_of("proxy:\n  identity: trusted\n") ==
        "flow.yaml:2:13: proxy.identity must be sidecar or shared");
  CHECK(error_of("wallets: {}\n") == "flow.yaml:1:10: wallets must be a list");
}

TEST_CASE("payment.max_validity bounds how long a signed payment stays valid; default 10 minutes") {
  const auto defaults = parse_flow_config("version: 1\n", "flow.yaml");
  CHECK(defaults.policy->definition().payment.max_validity == std::chrono::minutes(10));
  const auto set = parse_flow_config("version: 1\npayment:\n  max_validity: 2m\n", "flow.yaml");
  CHECK(set.policy->definition().payment.max_validity == std::chrono::seconds(120));
  const auto longest =
      parse_flow_config("version: 1\npayment:\n  max_validity: 24h\n", "flow.yaml");
  CHECK(longest.policy->definition().payment.max_validity == std::chrono::hours(24));
  const auto shortest =
      parse_flow_config("version: 1\npayment:\n  max_validity: 10\n", "flow.yaml");
  CHECK(shortest.policy->definition().payment.max_validity == std::chrono::seconds(10));
}

TEST_CASE("a payment.max_validity of zero, too short, over a day or not a duration is refused") {
  for (const char* bad : {"0", "0s", "9s", "1500ms", "25h", "1000000h", "-5m", "ten minutes"}) {
    const std::string error =
        error_of(std::string("version: 1\npayment:\n  max_validity: ") + bad + "\n");
    INFO(bad << ": " << error);
    CHECK(error.rfind("flow.yaml:3:17: payment.max_validity must be ", 0) == 0);
  }
  CHECK(error_of("version: 1\npayment:\n  max_validity:\n").find("payment.max_validity") !=
        std::string::npos);
  CHECK(error_of("version: 1\npayment:\n  max_valid: 5m\n").find("unknown key 'max_valid'") !=
        std::string::npos);
  CHECK(error_of("version: 1\npayment: 5m\n").find("payment must be a mapping") !=
        std::string::npos);
}

TEST_CASE("the admin section sets the listener and the token file, relative to the file") {
  const auto defaults = parse_flow_config("version: 1\n", "conf/flow.yaml");
  CHECK(defaults.admin.listen == "127.0.0.1:9402");
  CHECK(defaults.admin.enabled());
  CHECK(defaults.admin.token_file.empty());
  const auto c = parse_flow_config(
      "version: 1\nadmin:\n  listen: 0.0.0.0:9500\n  token_file: admin.token\n", "conf/flow.yaml");
  CHECK(c.admin.listen == "0.0.0.0:9500");
  CHECK(c.admin.token_file == "conf/admin.token");
  CHECK_FALSE(
      parse_flow_config("version: 1\nadmin:\n  listen: off\n", "flow.yaml").admin.enabled());
  CHECK(error_of("version: 1\nadmin:\n  token: abc\n").find("flow.yaml:3") != std::string::npos);
}

TEST_CASE("admin.webhook: an http:// URL and a secret file relative to the file, both required") {
  CHECK_FALSE(parse_flow_config("version: 1\n", "flow.yaml").admin.webhook.enabled());
  const auto c = parse_flow_config(
      "version: 1\nadmin:\n  webhook:\n    url: http://127.0.0.1:8080/hook\n    secret_file: "
      "hook.secret\n",
      "conf/flow.yaml");
  CHECK(c.admin.webhook.enabled());
  CHECK(c.admin.webhook.url == "http://127.0.0.1:8080/hook");
  CHECK(c.admin.webhook.secret_file == "conf/hook.secret");
  CHECK(error_of("version: 1\nadmin:\n  webhook:\n    url: http://x/\n").find("secret_file") !=
        std::string::npos);
  CHECK(error_of("version: 1\nadmin:\n  webhook:\n    secret_file: s\n").find("needs url") !=
        std::string::npos);
  CHECK(error_of("version: 1\nadmin:\n  webhook:\n    url: https://x/\n    secret_file: s\n")
            .find("flow.yaml:4") != std::string::npos);
  CHECK(error_of("version: 1\nadmin:\n  webhook:\n    url: http://x/\n    secret_file: s\n    "
                 "retries: 3\n")
            .find("flow.yaml:6") != std::string::npos);
}

TEST_CASE("admin.tokens names more bearer tokens; reserved and repeated names are refused") {
  const auto c = parse_flow_config(
      "version: 1\nadmin:\n  tokens:\n    - {name: alice, file: alice.token}\n"
      "    - {name: bob.ops, file: /etc/bob.token}\n",
      "conf/flow.yaml");
  REQUIRE(c.admin.tokens.size() == 2);
  CHECK(c.admin.tokens[0].name == "alice");
  CHECK(c.admin.tokens[0].file == "conf/alice.token");
  CHECK(c.admin.tokens[1].file == "/etc/bob.token");
  CHECK(
      error_of("version: 1\nadmin:\n  tokens:\n    - {name: admin, file: a}\n").find("reserved") !=
      std::string::npos);
  CHECK(error_of("version: 1\nadmin:\n  tokens:\n    - {name: a, file: a}\n"
                 "    - {name: a, file: b}\n")
            .find("twice") != std::string::npos);
  CHECK(error_of("version: 1\nadmin:\n  tokens:\n    - {name: 'a b', file: a}\n").find("letters") !=
        std::string::npos);
  CHECK(error_of("version: 1\nadmin:\n  tokens:\n    - {name: a}\n").find("file") !=
        std::string::npos);
}
