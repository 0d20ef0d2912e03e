#include <doctest/doctest.h>

#include <cstddef>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "flow/payment/reason.hpp"
#include "flow/payment/x402_challenge.hpp"
#include "flow/proxy/exchange/access_log.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/http/reason_field.hpp"
#include "flow/proxy/paid/payment_answer.hpp"
#include "flow/proxy/proxy_stats.hpp"
#include "flow/storage/result.hpp"

using flow::payment::Reason;
TEST_CASE(
    "every transport reason keeps its name and status (those of the old proxy errors, then TLS)") {
  struct Row {
    Reason reason;
    std::string_view name;
    int status;
  };
  // As they were before the taxonomy: the names are on the wire and in the metrics.
  const Row rows[] = {
      {Reason::bad_request, "bad_request", 400},
      {Reason::header_too_large, "header_too_large", 431},
      {Reason::request_timeout, "request_timeout", 408},
      {Reason::connect_port_denied, "connect_port_denied", 403},
      {Reason::loop_detected, "loop_detected", 508},
      {Reason::not_implemented, "not_implemented", 501},
      {Reason::upstream_unreachable, "upstream_unreachable", 502},
      {Reason::upstream_timeout, "upstream_timeout", 504},
      {Reason::upstream_protocol, "upstream_protocol", 502},
      {Reason::too_many_connections, "too_many_connections", 503},
      {Reason::client_closed, "client_closed", 0},
      {Reason::upstream_closed, "upstream_closed", 502},
      {Reason::shutting_down, "shutting_down", 503},
      {Reason::proxy_auth_required, "proxy_auth_required", 407},
      // Appended with HTTPS.
      {Reason::upstream_tls_failed, "upstream_tls_failed", 502},
      {Reason::client_tls_failed, "client_tls_failed", 0},
  };
  std::size_t transport = 0;
  for (const auto& info : flow::payment::reasons()) {
    if (info.category == flow::payment::ReasonCategory::transport) ++transport;
  }
  REQUIRE(std::size(rows) == transport);
  for (const auto& row : rows) {
    CAPTURE(row.name);
    CHECK(flow::payment::reason_name(row.reason) == row.name);
    CHECK(flow::payment::reason_status(row.reason) == row.status);
    CHECK(flow::payment::reason_category(row.reason) == flow::payment::ReasonCategory::transport);
    const auto answer = flow::proxy::error_answer(row.reason, "why");
    CHECK(answer.status == row.status);
    CHECK(answer.close);
    REQUIRE(answer.headers.size() >= 2);
    CHECK(answer.headers[1].name == "X-402flow-Error");
    CHECK(answer.headers[1].value == row.name);
  }
}

TEST_CASE("a proxy error answer carries its reason for the access log") {
  const auto answer = flow::proxy::error_answer(Reason::loop_detected, "a loop");
  CHECK(answer.code.reason() == Reason::loop_detected);
  CHECK(answer.code.name() == "loop_detected");
}

TEST_CASE("the proxy's stats count errors by reason and print each counted one by name") {
  flow::proxy::ProxyStats stats;
  CHECK(flow::proxy::stats_fields(stats).ends_with(",\"errors\":{}"));
  stats.count(Reason::upstream_timeout);
  stats.count(Reason::bad_request);
  stats.count(Reason::upstream_timeout);
  CHECK(flow::proxy::stats_fields(stats).ends_with(
      ",\"errors\":{\"bad_request\":1,\"upstream_timeout\":2}"));
}

TEST_CASE("challenge errors and offer problems name their reasons") {
  using flow::payment::ChallengeError;
  using flow::payment::OfferProblem;
  CHECK_FALSE(flow::payment::reason_of(ChallengeError::none).has_value());
  CHECK(flow::payment::challenge_error_name(ChallengeError::none) == "none");
  CHECK(flow::payment::reason_of(ChallengeError::bad_json) == Reason::bad_json);
  CHECK(flow::payment::challenge_error_name(ChallengeError::too_large) == "too_large");
  CHECK_FALSE(flow::payment::reason_of(OfferProblem::none).has_value());
  CHECK(flow::payment::offer_problem_name(OfferProblem::none) == "none");
  CHECK(flow::payment::reason_of(OfferProblem::missing_domain) == Reason::missing_domain);
  CHECK(flow::payment::offer_problem_name(OfferProblem::unknown_network) == "unknown_network");
  CHECK(flow::storage::reason_of(flow::storage::LedgerErrorCode::queue_full) ==
        Reason::ledger_unavailable);
}

TEST_CASE("a reason field holds a reason or none") {
  flow::proxy::ReasonField field;
  CHECK(field.empty());
  CHECK(field.name().empty());
  field = Reason::already_paid;
  CHECK(field.name() == "already_paid");
  CHECK(field.reason() == Reason::already_paid);
  CHECK(field == flow::proxy::ReasonField(Reason::already_paid));
  CHECK_FALSE(field == flow::proxy::ReasonField());
}

TEST_CASE("a problem named by its reason carries the reason's wire name and status") {
  const nlohmann::json extra = {{"idempotency_key", "k1"}};
  const flow::proxy::HeaderList headers = {{"X-402flow-Receipt", "rcpt_1"}};
  const auto by_reason =
      flow::proxy::problem_response(Reason::already_paid, "paid before", extra, headers, false);
  const auto by_name = flow::proxy::problem_response(409, Reason::already_paid, "paid before",
                                                     extra, headers, false);
  CHECK(by_reason.status == 409);
  CHECK(by_reason.status == by_name.status);
  CHECK(by_reason.body == by_name.body);
  REQUIRE(by_reason.headers.size() == by_name.headers.size());
  for (std::size_t i = 0; i < by_name.headers.size(); ++i) {
    CHECK(by_reason.headers[i].name == by_name.headers[i].name);
    CHECK(by_reason.headers[i].value == by_name.headers[i].value);
  }
  CHECK(by_reason.code == by_name.code);
  CHECK(by_reason.code.reason() == Reason::already_paid);
  const auto body = nlohmann::json::parse(by_reason.body);
  CHECK(body["type"] == "urn:402flow:already_paid");
  CHECK(body["code"] == "already_paid");
  CHECK(body["status"] == 409);
  CHECK(body["idempotency_key"] == "k1");

  // A status from elsewhere: payment_outcome_unknown answers with the upstream error's.
  const auto unknown = flow::proxy::problem_response(504, Reason::payment_outcome_unknown, "late",
                                                     nlohmann::json::object(), {}, true);
  CHECK(unknown.status == 504);
  CHECK(unknown.close);
  CHECK(unknown.code.name() == "payment_outcome_unknown");
}

TEST_CASE("explanation headers name the reason and say why") {
  const auto h = flow::proxy::error_headers(Reason::no_payable_offer, "offer 0: zero_amount");
  REQUIRE(h.size() == 2);
  CHECK(h[0].name == "X-402flow-Error");
  CHECK(h[0].value == "no_payable_offer");
  CHECK(h[1].name == "X-402flow-Detail");
  CHECK(h[1].value == "offer 0: zero_amount");
}
