// `402flow approvals`, `attempts`, `reconcile` and `decisions` against a running proxy: the real
// binary as the operator runs it, with the token from the environment or a file.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.hpp"
#include "support/merchant_process.hpp"
#include "support/paid_proxy.hpp"

using namespace flow::testing;
using nlohmann::json;

namespace {

constexpr const char* kToken = "cli-admin-token-0123456789";

std::string review_policy() {
  std::string p = default_policy();
  const std::string caps = "per_request: [1 USDC]\n";
  p.replace(p.find(caps), caps.size(), "per_request: [10 USDC]\nreview:\n  amount_over: 1 USDC\n");
  return p;
}

struct Cli {
  MerchantProcess merchant;
  PaidProxy proxy;

  explicit Cli(std::string policy) : proxy(options(std::move(policy))) {}

  static PaidProxyOptions options(std::string policy) {
    PaidProxyOptions o;
    o.policy = std::move(policy);
    o.extra_env = {std::string("FLOW402_ADMIN_TOKEN=") + kToken};
    return o;
  }

  std::string admin_url() {
    return "http://127.0.0.1:" + std::to_string(proxy.process().admin_port());
  }

  // `402flow <args> --admin URL`, with the token in the environment unless `env` says otherwise.
  CommandResult run(std::vector<std::string> args,
                    std::vector<std::string> env = {std::string("FLOW402_ADMIN_TOKEN=") + kToken}) {
    args.insert(args.begin(), flow_binary());
    args.push_back("--admin");
    args.push_back(admin_url());
    return run_command(args, std::chrono::seconds(20), env);
  }

  json run_json(std::vector<std::string> args) {
    args.push_back("--json");
    const CommandResult r = run(std::move(args));
    INFO(r.out << r.err);
    REQUIRE(r.status.exited);
    REQUIRE(r.status.code == 0);
    return json::parse(r.out);
  }

  std::string open_approval() {
    const HttpResponse r = get_via_proxy(proxy.port(), merchant.authority(), "/v2/expensive");
    REQUIRE(r.status == 403);
    return json::parse(r.body).value("approval_id", "");
  }
};

}  // namespace

TEST_CASE("402flow approvals lists, shows, approves and denies through the admin API") {
  Cli c(review_policy());
  const std::string first = c.open_approval();

  const json list = c.run_json({"approvals", "list"});
  REQUIRE(list.is_array());
  REQUIRE_FALSE(list.empty());
  CHECK(list[0]["id"] == first);
  CHECK(list[0]["offer"]["display"] == "5 USDC");

  const CommandResult table = c.run({"approvals", "list"});
  CHECK(table.status.code == 0);
  CHECK(table.out.find(first) != std::string::npos);
  CHECK(table.out.find("5 USDC") != std::string::npos);
  CHECK(table.out.find("approval(s)") != std::string::npos);

  CHECK(c.run_json({"approvals", "show", first})["state"] == "pending");
  const CommandResult shown = c.run({"approvals", "show", first});
  CHECK(shown.out.find("state: pending") != std::string::npos);

  const CommandResult approved = c.run({"approvals", "approve", first, "--note", "fine"});
  INFO(approved.out << approved.err);
  CHECK(approved.status.code == 0);
  CHECK(approved.out.find("approved " + first + " by env") != std::string::npos);

  // Approving again: the admin API's 409 is exit 1 with its message.
  const CommandResult again = c.run({"approvals", "approve", first});
  CHECK(again.status.code == 1);
  CHECK(again.err.find("409") != std::string::npos);
  CHECK(again.err.find("approved") != std::string::npos);

  // A new request opens a new approval (the first is decided); deny it with a reason.
  const std::string third = c.open_approval();
  REQUIRE(third != first);
  const json denied = c.run_json({"approvals", "deny", third, "--reason", "not today"});
  CHECK(denied["state"] == "denied");
  CHECK(denied["note"] == "not today");

  CHECK(c.run({"approvals", "show", "apr_unknown"}).status.code == 1);

  // The decisions behind them.
  const json decisions = c.run_json({"decisions", "--outcome", "review"});
  CHECK(decisions.size() == 2);
  CHECK(decisions[0]["reason"] == "review_required");
}

TEST_CASE("402flow attempts and reconcile settle and fail unknown payments") {
  Cli c(default_policy());
  REQUIRE(get_via_proxy(c.proxy.port(), c.merchant.authority(), "/v2/always-402").status == 402);
  REQUIRE(get_via_proxy(c.proxy.port(), c.merchant.authority(), "/v2/always-402").status == 402);
  const json unknown = c.run_json({"attempts", "--state", "unknown"});
  REQUIRE(unknown.size() == 2);
  const std::string newest = std::to_string(unknown[0]["id"].get<std::int64_t>());
  const std::string oldest = std::to_string(unknown[1]["id"].get<std::int64_t>());
  const CommandResult table = c.run({"attempts"});  // unknown is the default state
  CHECK(table.out.find("2 attempt(s)") != std::string::npos);

  const CommandResult settled =
      c.run({"reconcile", oldest, "--settled", "--evidence", "seen on chain"});
  INFO(settled.out << settled.err);
  CHECK(settled.status.code == 0);
  CHECK(settled.out.find("attempt " + oldest + " is now settled") != std::string::npos);
  const json failed =
      c.run_json({"reconcile", newest, "--failed", "--reason", "the merchant never got it"});
  CHECK(failed["state"] == "failed");
  CHECK(failed["failure_code"] == "reconciled_failed");
  CHECK(c.run_json({"attempts"}).empty());

  // Reconciled already: exit 1 naming the state. Usage errors: exit 2 naming the option.
  const CommandResult twice = c.run({"reconcile", oldest, "--failed", "--reason", "x"});
  CHECK(twice.status.code == 1);
  CHECK(twice.err.find("409") != std::string::npos);
  const CommandResult both = c.run({"reconcile", oldest, "--settled", "--failed"});
  CHECK(both.status.code == 2);
  CHECK(both.err.find("--failed") != std::string::npos);
  const CommandResult no_evidence = c.run({"reconcile", oldest, "--settled"});
  CHECK(no_evidence.status.code == 2);
  CHECK(no_evidence.err.find("--evidence") != std::string::npos);
}

TEST_CASE("the admin commands take the token from a file, and without one are refused") {
  Cli c(default_policy());
  const std::string token_file = c.proxy.path("cli.token");
  write_text_file(token_file, std::string(kToken) + "\n");
  REQUIRE(::chmod(token_file.c_str(), 0600) == 0);
  const CommandResult with_file = c.run({"decisions", "--token-file", token_file}, {});
  INFO(with_file.err);
  CHECK(with_file.status.code == 0);
  CHECK(with_file.out.find("0 decision(s)") != std::string::npos);

  const CommandResult without = c.run({"decisions"}, {});
  CHECK(without.status.code == 1);
  CHECK(without.err.find("401") != std::string::npos);

  // A token file others can read is refused, like the proxy's own.
  REQUIRE(::chmod(token_file.c_str(), 0644) == 0);
  CHECK(c.run({"decisions", "--token-file", token_file}, {}).status.code == 2);
}
