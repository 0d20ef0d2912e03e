// Review that holds: a reviewed request parks until its approval is decided, expires or
// review.hold passes; X-402flow-Approval pays with an approval once. A real Server and
// PaidAttempt, a real SQLite ledger with its writer thread; the client and the origin are
// FakeByteStreams the test plays. Approvals are resolved as the admin API does: in the ledger
// (through the writer) first, then ApprovalDesk::decided().
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "fake_streams.hpp"
#include "flow/proxy/exchange/client_connection.hpp"
#include "server_fixture.hpp"
#include "support/x402_origin_wire.hpp"

using flow::proxy::ClientConnection;
using flow::proxy::testing::FakeByteStream;
using flow::proxy::testing::PaidServerFixture;
using flow::storage::Approval;
using flow::storage::ApprovalState;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

const std::string kUrl = "http://origin.test/paid";
constexpr const char* kReviewed = "20000";  // 0.02 USDC: above review.amount_over
constexpr const char* kAllowed = "10000";   // 0.01 USDC

// Reviews above 0.015 USDC; the agent may spend 0.025 USDC a day.
std::string review_policy(std::string_view hold, std::string_view ttl = "15m") {
  return "version: 1\n"
         "organization:\n"
         "  posture: block\n"
         "  networks: [eip155:8453]\n"
         "  caps:\n"
         "    per_request: [1 USDC]\n"
         "review:\n"
         "  amount_over: 0.015 USDC\n"
         "  hold: " +
         std::string(hold) +
         "\n"
         "  approval_ttl: " +
         std::string(ttl) +
         "\n"
         "agents:\n"
         "  - id: agent-under-test\n"
         "    caps:\n"
         "      budgets:\n"
         "        - amount: 0.025 USDC\n"
         "          per: day\n"
         "merchants:\n"
         "  - name: shop\n"
         "    host: origin.test\n"
         "    action: allow\n";
}

std::string paid_get(std::string_view extra = {}) {
  return "GET " + kUrl + " HTTP/1.1\r\nHost: origin.test\r\n" + std::string(extra) + "\r\n";
}

std::string challenge_402(const char* amount) {
  return "HTTP/1.1 402 Payment Required\r\nPAYMENT-REQUIRED: " +
         flow::testing::v2_challenge(kUrl, amount) + "\r\nContent-Length: 2\r\n\r\n{}";
}

std::string settled_200(std::string_view body) {
  return "HTTP/1.1 200 OK\r\nPAYMENT-RESPONSE: " + flow::testing::settlement_success() +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// An agent's connection to the proxy.
struct Agent {
  Agent(PaidServerFixture& f) : fixture(f) {
    auto stream = std::make_unique<FakeByteStream>();
    client = stream.get();
    connection = std::make_unique<ClientConnection>(*f.server, std::move(stream));
    connection->start_accepted();
  }
  bool received(std::string_view part) {
    return fixture.run_until([&] {
      answer += client->take_written();
      return contains(answer, part);
    });
  }
  // The JSON body of a complete answer.
  nlohmann::json body() const {
    const auto at = answer.find("\r\n\r\n");
    return nlohmann::json::parse(answer.substr(at + 4));
  }

  PaidServerFixture& fixture;
  FakeByteStream* client = nullptr;
  std::unique_ptr<ClientConnection> connection;
  std::string answer;
};

struct HoldFixture : PaidServerFixture {
  explicit HoldFixture(const std::string& policy)
      : PaidServerFixture(flow::proxy::testing::paid_settings(), policy), origin(pooled_origin()) {}

  // The agent's request reaches the origin, which answers 402 for `amount`.
  void challenge(Agent& agent, const char* amount, std::string_view headers = {}) {
    REQUIRE(agent.client->inject_read(paid_get(headers)));
    std::string sent;
    REQUIRE(run_until([&] {
      sent += origin.take_written();
      return contains(sent, "\r\n\r\n");
    }));
    REQUIRE(origin.inject_read(challenge_402(amount)));
  }

  // The paid retry reaches the origin with its credential; it answers settled.
  void settle_retry(Agent& agent) {
    std::string retry;
    REQUIRE(run_until([&] {
      retry += origin.take_written();
      return contains(retry, "\r\n\r\n");
    }));
    CHECK(contains(retry, "\r\nPAYMENT-SIGNATURE: "));
    REQUIRE(origin.inject_read(settled_200("paid content")));
    REQUIRE(agent.received("paid content"));
    CHECK(agent.answer.starts_with("HTTP/1.1 200 OK\r\n"));
  }

  // As the admin API does: durable in the ledger, then the desk.
  Approval resolve(const std::string& id, ApprovalState to, const std::string& note) {
    auto resolved = services->ledger().call<Approval>(
        flow::storage::Durability::durable, [&](flow::storage::Ledger& ledger) {
          return ledger.resolve_approval(id, to, "ops@example.com", note);
        });
    REQUIRE(resolved.ok());
    services->approvals().decided(resolved.value());
    return resolved.value();
  }

  bool held(std::size_t n) {
    return run_until([&] { return services->approvals().held() == n; });
  }

  FakeByteStream& origin;
};

}  // namespace

TEST_CASE("a held review that is approved continues and pays once, naming the approval") {
  HoldFixture f(review_policy("30s"));
  Agent agent(f);
  f.challenge(agent, kReviewed);
  REQUIRE(f.held(1));
  CHECK(agent.client->take_written().empty());  // parked: nothing answered yet
  const auto pending = f.approvals();
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].state == ApprovalState::pending);
  CHECK(f.services->counters().approvals_opened == 1);
  CHECK(f.receipts().empty());

  f.resolve(pending[0].id, ApprovalState::approved, "fine");
  CHECK(f.services->approvals().held() == 0);
  f.settle_retry(agent);
  CHECK(contains(agent.answer, "X-402flow-Receipt: "));
  CHECK(f.services->counters().held_approved == 1);

  const auto receipts = f.receipts();
  REQUIRE(receipts.size() == 1);
  CHECK(receipts[0].attempt.intent.approval_id == pending[0].id);
  CHECK(receipts[0].attempt.intent.offer.amount == 20000);
  const auto after = f.approvals();
  REQUIRE(after.size() == 1);
  CHECK(after[0].state == ApprovalState::used);
  CHECK(after[0].attempt_id == receipts[0].attempt.id);
}

TEST_CASE("a held review that is denied is answered 403 approval_denied with the note") {
  HoldFixture f(review_policy("30s"));
  Agent agent(f);
  f.challenge(agent, kReviewed);
  REQUIRE(f.held(1));
  const std::string id = f.approvals().at(0).id;
  f.resolve(id, ApprovalState::denied, "not this vendor");
  REQUIRE(agent.received("}"));
  CHECK(agent.answer.starts_with("HTTP/1.1 403 "));
  const auto body = agent.body();
  CHECK(body["code"] == "approval_denied");
  CHECK(body["approval_id"] == id);
  CHECK(body["note"] == "not this vendor");
  CHECK(contains(body["detail"].get<std::string>(), "not this vendor"));
  CHECK(f.receipts().empty());
  CHECK(f.services->counters().held_denied == 1);
}

TEST_CASE("a held review whose approval expires is answered 403 approval_expired") {
  HoldFixture f(review_policy("30s", "1s"));
  Agent agent(f);
  f.challenge(agent, kReviewed);
  REQUIRE(f.held(1));
  // The services' expiry sweep expires it in the ledger and wakes the holder.
  REQUIRE(agent.received("}"));
  CHECK(agent.answer.starts_with("HTTP/1.1 403 "));
  CHECK(agent.body()["code"] == "approval_expired");
  CHECK(f.approvals().at(0).state == ApprovalState::expired);
  CHECK(f.services->counters().approvals_expired == 1);
  CHECK(f.services->counters().held_expired == 1);
  CHECK(f.receipts().empty());
}

TEST_CASE("a hold that passes with the approval pending answers review_required as hold 0 does") {
  HoldFixture f(review_policy("1s"));
  Agent agent(f);
  f.challenge(agent, kReviewed);
  REQUIRE(f.held(1));
  REQUIRE(agent.received("}"));
  CHECK(agent.answer.starts_with("HTTP/1.1 403 "));
  const std::string id = f.approvals().at(0).id;
  CHECK(contains(agent.answer, "X-402flow-Approval: " + id + "\r\n"));
  const auto body = agent.body();
  CHECK(body["code"] == "review_required");
  CHECK(body["approval_id"] == id);
  CHECK(body["approval_state"] == "pending");
  CHECK(body["poll"] == "/v1/approvals/" + id);
  CHECK(body["retry_with"] == "X-402flow-Approval: " + id);
  CHECK(body["expires_at"].get<std::string>().ends_with("Z"));
  CHECK(f.services->counters().held_timed_out == 1);
  CHECK(f.services->approvals().held() == 0);
  CHECK(f.approvals().at(0).state == ApprovalState::pending);
}

TEST_CASE("an agent gone while held pays nothing; the approval stays to be decided") {
  HoldFixture f(review_policy("30s"));
  {
    Agent agent(f);
    f.challenge(agent, kReviewed);
    REQUIRE(f.held(1));
    REQUIRE(agent.client->inject_eof());
    agent.connection->close_now();
  }
  REQUIRE(f.held(0));
  const std::string id = f.approvals().at(0).id;
  f.resolve(id, ApprovalState::approved, "late");  // nobody is woken
  f.run_until([] { return false; }, 50ms);
  CHECK(f.receipts().empty());
  CHECK(f.approvals().at(0).state == ApprovalState::approved);
  CHECK(f.services->counters().credentials_sent == 0);
}

TEST_CASE("the same request asked again while its approval is pending reuses it") {
  HoldFixture f(review_policy("0"));
  Agent agent(f);
  f.challenge(agent, kReviewed);
  REQUIRE(agent.received("}"));
  CHECK(agent.answer.starts_with("HTTP/1.1 403 "));
  const std::string first = agent.body()["approval_id"];
  agent.answer.clear();
  f.challenge(agent, kReviewed);
  REQUIRE(agent.received("}"));
  CHECK(agent.body()["approval_id"] == first);
  CHECK(f.approvals().size() == 1);
  CHECK(f.services->counters().approvals_opened == 1);
  CHECK(f.services->counters().reviews == 2);
}

TEST_CASE("X-402flow-Approval with an approved approval pays once; used again it is 409") {
  HoldFixture f(review_policy("0"));
  Agent agent(f);
  f.challenge(agent, kReviewed);
  REQUIRE(agent.received("}"));
  const std::string id = agent.body()["approval_id"];
  f.resolve(id, ApprovalState::approved, "");

  agent.answer.clear();
  f.challenge(agent, kReviewed, "X-402flow-Approval: " + id + "\r\n");
  f.settle_retry(agent);
  REQUIRE(f.receipts().size() == 1);
  CHECK(f.receipts()[0].attempt.intent.approval_id == id);
  CHECK(f.approvals().at(0).state == ApprovalState::used);

  agent.answer.clear();
  f.challenge(agent, kReviewed, "X-402flow-Approval: " + id + "\r\n");
  REQUIRE(agent.received("}"));
  CHECK(agent.answer.starts_with("HTTP/1.1 409 "));
  CHECK(agent.body()["code"] == "approval_used");
  CHECK(agent.body()["attempt_id"] == f.receipts()[0].attempt.id);
  CHECK(f.receipts().size() == 1);

  agent.answer.clear();
  f.challenge(agent, kReviewed, "X-402flow-Approval: apr_unknown\r\n");
  REQUIRE(agent.received("}"));
  CHECK(agent.answer.starts_with("HTTP/1.1 409 "));
  CHECK(agent.body()["code"] == "approval_mismatch");
}

TEST_CASE("X-402flow-Approval for a pending approval is a review; for a denied one a 403") {
  HoldFixture f(review_policy("0"));
  Agent agent(f);
  f.challenge(agent, kReviewed);
  REQUIRE(agent.received("}"));
  const std::string id = agent.body()["approval_id"];

  agent.answer.clear();
  f.challenge(agent, kReviewed, "X-402flow-Approval: " + id + "\r\n");
  REQUIRE(agent.received("}"));
  CHECK(agent.body()["code"] == "review_required");
  CHECK(agent.body()["approval_id"] == id);

  f.resolve(id, ApprovalState::denied, "no");
  agent.answer.clear();
  f.challenge(agent, kReviewed, "X-402flow-Approval: " + id + "\r\n");
  REQUIRE(agent.received("}"));
  CHECK(agent.answer.starts_with("HTTP/1.1 403 "));
  CHECK(agent.body()["code"] == "approval_denied");
  // An approval for this request does not pay a dearer one.
  agent.answer.clear();
  f.challenge(agent, "30000", "X-402flow-Approval: " + id + "\r\n");
  REQUIRE(agent.received("}"));
  CHECK(agent.body()["code"] == "approval_mismatch");
  CHECK(f.receipts().empty());
}

TEST_CASE("a cap used up while a request is held refuses it when approved: nothing paid") {
  HoldFixture f(review_policy("30s"));
  Agent held(f);
  f.challenge(held, kReviewed);
  REQUIRE(f.held(1));

  // Meanwhile another request pays 0.01 of the agent's 0.025 a day.
  Agent other(f);
  f.challenge(other, kAllowed);
  f.settle_retry(other);
  REQUIRE(f.receipts().size() == 1);

  f.resolve(f.approvals().at(0).id, ApprovalState::approved, "");
  REQUIRE(held.received("}"));
  CHECK(held.answer.starts_with("HTTP/1.1 403 "));
  CHECK(held.body()["code"] == "over_agent_cap");
  CHECK(f.receipts().size() == 1);
  CHECK(f.approvals().at(0).state == ApprovalState::approved);  // not used: nothing paid
}

TEST_CASE("observers hear approvals opened and expired, held or not") {
  struct Recorder : flow::proxy::ApprovalDesk::Observer {
    std::vector<std::string> seen;
    void approval_opened(const Approval& a) override { seen.push_back("opened " + a.id); }
    void approval_decided(const Approval& a) override {
      seen.push_back(std::string(flow::storage::approval_state_name(a.state)) + " " + a.id);
    }
  } recorder;
  HoldFixture f(review_policy("0", "1s"));
  f.services->approvals().add_observer(&recorder);
  Agent agent(f);
  f.challenge(agent, kReviewed);
  REQUIRE(agent.received("}"));
  const std::string id = agent.body()["approval_id"];
  // Nobody holds it; the expiry sweep still expires it when its time comes.
  REQUIRE(f.run_until([&] { return recorder.seen.size() == 2; }, 5s));
  CHECK(recorder.seen[0] == "opened " + id);
  CHECK(recorder.seen[1] == "expired " + id);
  CHECK(f.approvals().at(0).state == ApprovalState::expired);
  f.services->approvals().remove_observer(&recorder);
}
