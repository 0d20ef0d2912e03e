#include <doctest/doctest.h>

#include <string>
#include <variant>
#include <vector>

#include "flow/proxy/paid/control_headers.hpp"

using flow::proxy::AgentControls;
using flow::proxy::ControlProblem;
using flow::proxy::HeaderList;
using flow::proxy::read_control_headers;

namespace {

std::variant<AgentControls, ControlProblem> read(const HeaderList& headers) {
  return read_control_headers(headers, *flow::policy::PolicySnapshot::empty());
}

}  // namespace

TEST_CASE("control headers the proxy knows are read; other headers are not its business") {
  const auto r = read({{"Host", "a"},
                       {"x-402FLOW-mode", "Prepare"},
                       {"X-402flow-Max-Amount", "0.05 USDC, 0.1 USDC on eip155:8453"},
                       {"idempotency-KEY", "k-1"},
                       {"X-Other", ""}});
  REQUIRE(std::holds_alternative<AgentControls>(r));
  CHECK(std::get<AgentControls>(r).prepare);
  CHECK(std::get<AgentControls>(r).max_amount == "0.05 USDC, 0.1 USDC on eip155:8453");
  CHECK(std::get<AgentControls>(r).idempotency_key == "k-1");
  const auto empty_key = read({{"Idempotency-Key", ""}});
  REQUIRE(std::holds_alternative<AgentControls>(empty_key));
  CHECK(std::get<AgentControls>(empty_key).idempotency_key.empty());
  const auto prepared = read({{"X-402flow-Prepared", "prep_0123abcd"}});
  REQUIRE(std::holds_alternative<AgentControls>(prepared));
  CHECK(std::get<AgentControls>(prepared).prepared_id == "prep_0123abcd");
  CHECK_FALSE(std::get<AgentControls>(prepared).prepare);
  const auto approval = read({{"x-402flow-approval", "apr_0123abcd"}});
  REQUIRE(std::holds_alternative<AgentControls>(approval));
  CHECK(std::get<AgentControls>(approval).approval_id == "apr_0123abcd");
}

TEST_CASE("a control header the proxy cannot read is a problem, never ignored") {
  struct Case {
    HeaderList headers;
    std::string code;
    std::string header;
  };
  const std::vector<Case> cases = {
      {{{"X-402flow-Mode", "dry-run"}}, "invalid_control_header", "X-402flow-Mode"},
      {{{"X-402flow-Mode", "execute"}}, "invalid_control_header", "X-402flow-Mode"},
      {{{"X-402flow-Mode", "prepare,prepare"}}, "invalid_control_header", "X-402flow-Mode"},
      {{{"X-402flow-Mode", "prepare "}}, "invalid_control_header", "X-402flow-Mode"},
      {{{"X-402flow-Mode", ""}}, "invalid_control_header", "X-402flow-Mode"},
      {{{"X-402flow-Mode", "prepare"}, {"x-402flow-MODE", "prepare"}},
       "invalid_control_header",
       "X-402flow-Mode"},
      {{{"X-402flow-Max-Amount", ""}}, "invalid_control_header", "X-402flow-Max-Amount"},
      {{{"X-402flow-Max-Amount", "abc"}}, "bad_max_amount", "X-402flow-Max-Amount"},
      {{{"X-402flow-Max-Amount", "0.05 USDC,"}}, "bad_max_amount", "X-402flow-Max-Amount"},
      {{{"X-402flow-Max-Amount", "-1 USDC"}}, "bad_max_amount", "X-402flow-Max-Amount"},
      {{{"X-402flow-Prepared", ""}}, "invalid_control_header", "X-402flow-Prepared"},
      {{{"X-402flow-Prepared", "a b"}}, "invalid_control_header", "X-402flow-Prepared"},
      {{{"X-402flow-Prepared", "a,b"}}, "invalid_control_header", "X-402flow-Prepared"},
      {{{"X-402flow-Approval", ""}}, "invalid_control_header", "X-402flow-Approval"},
      {{{"X-402flow-Approval", "apr_1 apr_2"}}, "invalid_control_header", "X-402flow-Approval"},
      {{{"X-402flow-Approval", "apr_1"}, {"X-402flow-Approval", "apr_2"}},
       "invalid_control_header",
       "X-402flow-Approval"},
      {{{"X-402flow-Custom", "x"}}, "invalid_control_header", "X-402flow-Custom"},
      {{{"X-402flow-", "x"}}, "invalid_control_header", "X-402flow-"},
      {{{"X-402flow-Receipt", "rcpt_1"}}, "invalid_control_header", "X-402flow-Receipt"},
      {{{"Idempotency-Key", "k"}, {"idempotency-key", "k"}},
       "invalid_idempotency_key",
       "Idempotency-Key"},
      {{{"Idempotency-Key", "k"}, {"Idempotency-Key", "j"}},
       "invalid_idempotency_key",
       "Idempotency-Key"},
  };
  for (const auto& c : cases) {
    INFO(c.headers.front().name << ": '" << c.headers.front().value << "'");
    const auto r = read(c.headers);
    REQUIRE(std::holds_alternative<ControlProblem>(r));
    const auto& problem = std::get<ControlProblem>(r);
    CHECK(flow::payment::reason_name(problem.code) == c.code);
    CHECK(problem.header == c.header);
    CHECK(problem.detail.find(c.header) != std::string::npos);
  }
}
