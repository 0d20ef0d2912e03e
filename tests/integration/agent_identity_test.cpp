// Who pays: sidecar mode names one agent (proxy.agent, FLOW402_AGENT, --agent), shared mode asks
// every request for Proxy-Authorization: Basic agent:token. Receipts name the agent either way.
#include <doctest/doctest.h>

#include <openssl/sha.h>

#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "flow/payment/base64.hpp"
#include "proxy_expectations.hpp"
#include "support/child_process.hpp"
#include "support/client_connection.hpp"
#include "support/merchant_process.hpp"
#include "support/paid_proxy.hpp"
#include "support/temp_dir.hpp"
#include "support/test_origin.hpp"

using namespace flow::testing;
using nlohmann::json;

namespace {

constexpr std::string_view kBotToken = "tok-research-7f3a";
constexpr std::string_view kOtherToken = "tok-other-19c2";

std::string sha256_hex(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// Agents test-agent, env-agent and flag-agent (sidecar), research-bot and other-bot (with token
// hashes, for shared mode); the merchant's /v2 routes are allowed.
std::string identity_policy() {
  return R"(organization:
  posture: block
  networks: [eip155:8453]
  caps:
    per_request: [1 USDC]
agents:
  - id: test-agent
  - id: env-agent
  - id: flag-agent
  - id: research-bot
    token_sha256: [)" +
         sha256_hex(kBotToken) + R"(]
  - id: other-bot
    token_sha256: [)" +
         sha256_hex(kOtherToken) + R"(]
merchants:
  - name: merchant-v2
    host: 127.0.0.1
    path: /v2
    action: allow
  - name: test-origin
    host: 127.0.0.1
    path: /paid
    action: allow
)";
}

PaidProxyOptions sidecar(std::vector<std::string> args = {}, std::vector<std::string> env = {}) {
  PaidProxyOptions o;
  o.policy = identity_policy();
  o.extra_args = std::move(args);
  o.extra_env = std::move(env);
  return o;
}

PaidProxyOptions shared() {
  PaidProxyOptions o;
  o.identity = "shared";
  o.agent.clear();
  o.policy = identity_policy();
  return o;
}

std::string basic(std::string_view agent, std::string_view token) {
  return "Proxy-Authorization: Basic " +
         flow::payment::base64_encode(std::string(agent) + ":" + std::string(token)) + "\r\n";
}

// Pays /v2/weather and returns the agent its receipt names.
std::string paying_agent(PaidProxy& proxy, const MerchantProcess& merchant,
                         std::string_view headers = {}) {
  const HttpResponse r = get_via_proxy(proxy.port(), merchant.authority(), "/v2/weather", headers);
  INFO(r.head << r.body);
  REQUIRE(r.status == 200);
  const json receipts = proxy.receipts();
  for (const auto& row : receipts) {
    if (row["receipt_id"] == header_or_absent(r, "x-402flow-receipt")) return row["agent"];
  }
  FAIL("no receipt " << header_or_absent(r, "x-402flow-receipt"));
  return {};
}

void check_auth_required(const HttpResponse& r) {
  check_proxy_error(r, 407, "proxy_auth_required");
  CHECK(header_or_absent(r, "proxy-authenticate").rfind("Basic", 0) == 0);
}

}  // namespace

TEST_CASE("sidecar mode: proxy.agent, then FLOW402_AGENT, then --agent names the paying agent") {
  MerchantProcess merchant;
  SUBCASE("proxy.agent from flow.yaml") {
    PaidProxy proxy(sidecar());
    CHECK(paying_agent(proxy, merchant) == "test-agent");
  }
  SUBCASE("FLOW402_AGENT overrides proxy.agent") {
    PaidProxy proxy(sidecar({}, {"FLOW402_AGENT=env-agent"}));
    CHECK(paying_agent(proxy, merchant) == "env-agent");
  }
  SUBCASE("--agent overrides FLOW402_AGENT") {
    PaidProxy proxy(sidecar({"--agent", "flag-agent"}, {"FLOW402_AGENT=env-agent"}));
    CHECK(paying_agent(proxy, merchant) == "flag-agent");
  }
  SUBCASE("a sidecar agent the policy does not list is refused, not paid") {
    PaidProxy proxy(sidecar({"--agent", "stranger"}));
    const HttpResponse r = get_via_proxy(proxy.port(), merchant.authority(), "/v2/weather");
    CHECK(r.status == 403);
    CHECK(header_or_absent(r, "x-402flow-error") == "unknown_agent");
    CHECK(merchant_book(merchant).empty());
  }
  SUBCASE("a sidecar ignores Proxy-Authorization") {
    PaidProxy proxy(sidecar());
    CHECK(paying_agent(proxy, merchant, basic("research-bot", kBotToken)) == "test-agent");
  }
}

TEST_CASE("shared mode: a request without valid Proxy-Authorization is answered 407") {
  MerchantProcess merchant;
  PaidProxy proxy(shared());
  const std::string m = merchant.authority();
  check_auth_required(get_via_proxy(proxy.port(), m, "/v2/weather"));
  check_auth_required(
      get_via_proxy(proxy.port(), m, "/v2/weather", basic("research-bot", "wrong")));
  check_auth_required(get_via_proxy(proxy.port(), m, "/v2/weather", basic("other-bot", kBotToken)));
  check_auth_required(get_via_proxy(proxy.port(), m, "/v2/weather", basic("nobody", kBotToken)));
  check_auth_required(get_via_proxy(
      proxy.port(), m, "/free", "Proxy-Authorization: Bearer " + std::string(kBotToken) + "\r\n"));
  check_auth_required(
      get_via_proxy(proxy.port(), m, "/free", "Proxy-Authorization: Basic %%%\r\n"));
  CHECK(merchant_requests(merchant, "/v2/weather").empty());  // nothing went upstream
  CHECK(merchant_requests(merchant, "/free").empty());
  CHECK(merchant_book(merchant).empty());
}

TEST_CASE("shared mode: the agent that authenticated is the one the receipt names") {
  MerchantProcess merchant;
  PaidProxy proxy(shared());
  CHECK(paying_agent(proxy, merchant, basic("research-bot", kBotToken)) == "research-bot");
  CHECK(paying_agent(proxy, merchant, basic("other-bot", kOtherToken)) == "other-bot");
  CHECK(merchant_book(merchant).size() == 2);
  // Free routes pass too, once authenticated.
  const HttpResponse free =
      get_via_proxy(proxy.port(), merchant.authority(), "/free", basic("other-bot", kOtherToken));
  CHECK(free.status == 200);
}

TEST_CASE("shared mode: Proxy-Authorization never reaches the origin") {
  PaidProxy proxy(shared());
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "ok"); });
  const HttpResponse r =
      get_via_proxy(proxy.port(), origin.authority(), "/paid/x", basic("research-bot", kBotToken));
  CHECK(r.status == 200);
  REQUIRE(origin.request_count() == 1);
  CHECK(header_or_absent(origin.requests()[0], "proxy-authorization") == "<absent>");
}

TEST_CASE("a non-loopback listener is allowed in shared mode and refused in sidecar mode") {
  TempDir dir;
  SUBCASE("sidecar: refused at start-up") {
    PaidProxy proxy(sidecar());  // for its flow.yaml
    const CommandResult r =
        run_command({flow_binary(), "run", "-c", proxy.config(), "--db", dir.file("other.db"),
                     "--listen", "0.0.0.0:0", "--access-log", dir.file("access.log")},
                    std::chrono::seconds(20));
    CHECK(r.status.exited);
    CHECK(r.status.code != 0);
    CHECK(r.err.find("non-loopback") != std::string::npos);
  }
  SUBCASE("shared: listens on 0.0.0.0 and still asks for credentials") {
    PaidProxy proxy(shared());
    SpawnOptions options;
    options.stderr_path = dir.file("stderr.log");
    ChildProcess child(
        {flow_binary(), "run", "-c", proxy.config(), "--db", dir.file("other.db"), "--listen",
         "0.0.0.0:0", "--port-file", dir.file("port"), "--access-log", dir.file("access.log")},
        options);
    std::string port_text;
    const Deadline deadline = default_deadline();
    while ((port_text = read_file(dir.file("port"))).empty() && child.running() &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling for the port file
    }
    INFO(read_file(dir.file("stderr.log")));
    REQUIRE_FALSE(port_text.empty());
    CHECK(port_text.rfind("0.0.0.0:", 0) == 0);
    const auto port = static_cast<std::uint16_t>(std::stoul(port_text.substr(8)));
    check_auth_required(get_via_proxy(port, "127.0.0.1:9", "/"));
  }
}

TEST_CASE("shared mode: one Idempotency-Key used by two agents is two payments") {
  MerchantProcess merchant;
  PaidProxy proxy(shared());
  const std::string key = "Idempotency-Key: same-key\r\n";
  CHECK(paying_agent(proxy, merchant, basic("research-bot", kBotToken) + key) == "research-bot");
  CHECK(paying_agent(proxy, merchant, basic("other-bot", kOtherToken) + key) == "other-bot");
  CHECK(merchant_book(merchant).size() == 2);
  // The same agent again with that key: already paid.
  const HttpResponse again = get_via_proxy(proxy.port(), merchant.authority(), "/v2/weather",
                                           basic("research-bot", kBotToken) + key);
  CHECK(again.status == 409);
  CHECK(header_or_absent(again, "x-402flow-error") == "already_paid");
  CHECK(merchant_book(merchant).size() == 2);
}
