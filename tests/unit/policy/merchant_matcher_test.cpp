// Which merchant rule applies to a request: the precedence rules, and the index against a scan.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "flow/policy/merchant_matcher.hpp"
#include "policy_test_support.hpp"

using namespace policy_test;

namespace {

// The name of the rule the snapshot picks, or "-".
std::string rule_for(const flow::policy::PolicySnapshot& p, const std::string& host,
                     const std::string& path = "/", const std::string& method = "GET") {
  const auto* m = p.match_merchant(host, path, method);
  return m ? m->name : "-";
}

std::string merchant(const std::string& name, const std::string& host,
                     const std::string& extra = "") {
  return "  - name: " + name + "\n    host: \"" + host + "\"\n    action: allow\n" + extra;
}

}  // namespace

TEST_CASE("an exact host beats a wildcard, and a longer wildcard beats a shorter one") {
  const auto p =
      load("merchants:\n" + merchant("any-example", "*.example.com") +
           merchant("any-api", "*.api.example.com") + merchant("exact", "v2.api.example.com"));
  CHECK(rule_for(*p, "v2.api.example.com") == "exact");
  CHECK(rule_for(*p, "v1.api.example.com") == "any-api");
  CHECK(rule_for(*p, "deep.v1.api.example.com") == "any-api");
  CHECK(rule_for(*p, "www.example.com") == "any-example");
}

TEST_CASE("a wildcard does not match the bare domain, nor a lookalike suffix") {
  const auto p = load("merchants:\n" + merchant("any", "*.example.com"));
  CHECK(rule_for(*p, "example.com") == "-");
  CHECK(rule_for(*p, "badexample.com") == "-");
  CHECK(rule_for(*p, "a.example.com.evil.net") == "-");
  CHECK(rule_for(*p, "a.example.com") == "any");
}

TEST_CASE("hosts match case-insensitively, without trailing dot or port") {
  const auto p = load("merchants:\n" + merchant("exact", "API.Example.com"));
  CHECK(rule_for(*p, "api.example.com") == "exact");
  CHECK(rule_for(*p, "API.EXAMPLE.COM.") == "exact");
  CHECK(rule_for(*p, "api.example.com:8443") == "exact");
  CHECK(rule_for(*p, "api.example.co") == "-");
}

TEST_CASE("the longer path prefix wins, on segment boundaries") {
  const auto p = load("merchants:\n" + merchant("root", "api.example.com") +
                      merchant("v1", "api.example.com", "    path: /v1\n") +
                      merchant("v1-chat", "api.example.com", "    path: /v1/chat\n"));
  CHECK(rule_for(*p, "api.example.com", "/v1/chat/completions") == "v1-chat");
  CHECK(rule_for(*p, "api.example.com", "/v1/chat") == "v1-chat");
  CHECK(rule_for(*p, "api.example.com", "/v1/chatty") == "v1");
  CHECK(rule_for(*p, "api.example.com", "/v1?x=/v1/chat") == "v1");
  CHECK(rule_for(*p, "api.example.com", "/v1beta") == "root");
  CHECK(rule_for(*p, "api.example.com", "/v2") == "root");
}

TEST_CASE("host specificity is decided before path length") {
  const auto p = load("merchants:\n" + merchant("wild-paid", "*.example.com", "    path: /paid\n") +
                      merchant("exact", "api.example.com"));
  CHECK(rule_for(*p, "api.example.com", "/paid/x") == "exact");
  CHECK(rule_for(*p, "www.example.com", "/paid/x") == "wild-paid");
}

TEST_CASE("a rule that does not match the path lets a less specific host rule apply") {
  const auto p = load("merchants:\n" + merchant("exact-v1", "api.example.com", "    path: /v1\n") +
                      merchant("wild", "*.example.com"));
  CHECK(rule_for(*p, "api.example.com", "/v2") == "wild");
}

TEST_CASE("a rule with methods beats one without; then the rule written first wins") {
  const auto p = load("merchants:\n" + merchant("any", "api.example.com") +
                      merchant("post", "api.example.com", "    methods: [POST]\n") +
                      merchant("get-first", "api.example.com", "    methods: [GET]\n") +
                      merchant("get-second", "api.example.com", "    methods: [GET, HEAD]\n"));
  CHECK(rule_for(*p, "api.example.com", "/", "POST") == "post");
  CHECK(rule_for(*p, "api.example.com", "/", "post") == "post");
  CHECK(rule_for(*p, "api.example.com", "/", "GET") == "get-first");
  CHECK(rule_for(*p, "api.example.com", "/", "HEAD") == "get-second");
  CHECK(rule_for(*p, "api.example.com", "/", "PUT") == "any");
}

TEST_CASE("the index picks the same rule as a scan of every rule") {
  // A generated policy: exact and wildcard hosts at three depths, paths and methods.
  std::mt19937 rng(402);
  const std::vector<std::string> domains{"a.test", "b.test", "shop.a.test", "x.y.b.test"};
  const std::vector<std::string> paths{"", "/v1", "/v1/x", "/v2", "/"};
  std::string yaml = "merchants:\n";
  int n = 0;
  for (const auto& d : domains) {
    for (const std::string& host : {d, "*." + d, "api." + d, "*.api." + d}) {
      for (const auto& path : paths) {
        for (const std::string methods : {"", "    methods: [POST]\n"}) {
          if (rng() % 3 == 0) continue;
          std::string extra = methods;
          if (!path.empty()) extra += "    path: " + path + "\n";
          yaml += merchant("m" + std::to_string(n++), host, extra);
        }
      }
    }
  }
  const auto p = load(yaml);
  const auto& rules = p->definition().merchants;
  REQUIRE(rules.size() > 50);
  const std::vector<std::string> hosts{
      "a.test",     "api.a.test",     "z.api.a.test", "shop.a.test", "q.shop.a.test",
      "x.y.b.test", "api.x.y.b.test", "b.test",       "other.test",  "API.B.TEST"};
  const std::vector<std::string> req_paths{"/", "/v1", "/v1/x/y", "/v1x", "/v2/a", "/v3"};
  int matched = 0;
  for (const auto& h : hosts) {
    for (const auto& path : req_paths) {
      for (const std::string method : {"GET", "POST"}) {
        CAPTURE(h);
        CAPTURE(path);
        CAPTURE(method);
        const auto* indexed = p->match_merchant(h, path, method);
        const auto scanned = flow::policy::find_merchant_by_scan(rules, h, path, method);
        REQUIRE(scanned.has_value() == (indexed != nullptr));
        if (scanned) {
          CHECK(rules[*scanned].name == indexed->name);
          ++matched;
        }
      }
    }
  }
  CHECK(matched > 50);  // the comparison exercised real matches, not only misses
}
