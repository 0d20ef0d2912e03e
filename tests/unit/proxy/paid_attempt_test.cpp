// The paid path hooked into the exchange, over fake transports: a real Server and PaidAttempt, a
// real SQLite ledger with its writer thread and a throwaway key; the client and the origin are
// FakeByteStreams the test plays. Also the transport's park: an exchange waiting for the ledger,
// a rail or a human is not ended by a transport timer.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>

#include "fake_streams.hpp"
#include "flow/payment/payment_rail.hpp"
#include "flow/proxy/exchange/client_connection.hpp"
#include "flow/proxy/exchange/exchange.hpp"
#include "flow/proxy/http/http_codec.hpp"
#include "server_fixture.hpp"
#include "support/x402_origin_wire.hpp"

using flow::proxy::ClientConnection;
using flow::proxy::Exchange;
using flow::proxy::HttpParser;
using flow::proxy::MessageSink;
using flow::proxy::testing::FakeByteStream;
using flow::proxy::testing::FakeDownstream;
using flow::proxy::testing::PaidServerFixture;
using flow::proxy::testing::ServerFixture;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

const std::string kUrl = "http://origin.test/paid";

std::string paid_get(std::string_view extra = {}) {
  return "GET " + kUrl + " HTTP/1.1\r\nHost: origin.test\r\n" + std::string(extra) + "\r\n";
}

std::string challenge_402() {
  return "HTTP/1.1 402 Payment Required\r\nPAYMENT-REQUIRED: " + flow::testing::v2_challenge(kUrl) +
         "\r\nContent-Length: 2\r\n\r\n{}";
}

std::string settled_200(std::string_view body) {
  return "HTTP/1.1 200 OK\r\nPAYMENT-RESPONSE: " + flow::testing::settlement_success() +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// A client connection accepted over a FakeByteStream, on the paid fixture.
struct PaidClient : flow::proxy::testing::WithClient<PaidServerFixture> {
  explicit PaidClient(flow::policy::ProxySettings settings = flow::proxy::testing::paid_settings())
      : WithClient(std::move(settings)) {}

  std::string answer;  // what the client has received so far

  bool client_received(std::string_view part) {
    return run_until([&] {
      answer += client->take_written();
      return contains(answer, part);
    });
  }
};

// A second rail whose credential is made through I/O (as an lnd node or a Solana RPC would):
// it reads `WWW-Authenticate: TestPay`, and its settle() completes when the test says so. It
// plugs in through PaymentServices::add_rail, with nothing in proxy/ knowing its name.
class SlowRail final : public flow::payment::PaymentRail {
 public:
  struct Challenge final : flow::payment::RailChallenge {
    std::vector<flow::payment::RailOffer> list;
    std::string_view rail() const override { return "test-rail"; }
    const std::vector<flow::payment::RailOffer>& offers() const override { return list; }
    std::string_view merchant_error() const override { return {}; }
  };

  std::string_view name() const override { return "test-rail"; }
  flow::payment::ChallengeRead read_challenge(
      const flow::payment::RailAnswer& answer) const override {
    for (const auto& h : answer.headers) {
      if (flow::payment::iequals(h.name, "www-authenticate") && h.value.starts_with("TestPay")) {
        auto c = std::make_shared<Challenge>();
        flow::payment::Offer o;
        o.protocol = "test-rail";
        o.scheme = "exact";
        o.network = "eip155:8453";
        o.asset = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
        o.amount = 20000;
        o.pay_to = "0x209693bc6afc0c5328ba36faf03c514ef312287c";
        o.resource = std::string(answer.request_url);
        c->list.push_back({o, flow::payment::AmountError::none});
        return c;
      }
    }
    return flow::payment::RailError{flow::payment::Reason::not_supported, "no TestPay challenge"};
  }
  std::string unpayable_reason(const flow::payment::RailChallenge&, std::size_t) const override {
    return {};
  }
  flow::payment::CancelHandle settle(flow::payment::SettleRequest,
                                     flow::payment::SettleDone done) override {
    ++settles;
    pending = std::make_unique<flow::payment::SettleCompletion>(std::move(done));
    return pending->handle();
  }
  flow::payment::AnswerJudgement judge_answer(
      int status, std::span<const flow::payment::HeaderField>) const override {
    flow::payment::AnswerJudgement j;
    j.verdict = status == 200 ? flow::payment::SettlementVerdict::settled
                              : flow::payment::SettlementVerdict::unknown;
    j.settlement_ref = "test-settlement";
    return j;
  }

  // The rail's I/O finishes: the credential is made.
  void finish() {
    flow::payment::Credential c;
    c.header_name = "X-Test-Payment";
    c.header_value = "token-1";
    c.payer = "0x0000000000000000000000000000000000000001";
    c.credential_ref = "test:1";
    c.credential_sha256 = std::string(64, 'a');
    c.valid_until = 4102444800;
    pending->complete(std::move(c));
  }

  int settles = 0;
  std::unique_ptr<flow::payment::SettleCompletion> pending;
};

std::string test_rail_402() {
  return "HTTP/1.1 402 Payment Required\r\nWWW-Authenticate: TestPay realm=\"shop\"\r\n"
         "Content-Length: 0\r\n\r\n";
}

// A paid client whose origin answers with the SlowRail's challenge: set up until the rail has
// been asked for its credential (the reservation is durable by then).
struct SlowRailPayment : PaidClient {
  SlowRailPayment() : origin(pooled_origin()) {
    auto owned = std::make_unique<SlowRail>();
    rail = owned.get();
    services->add_rail(std::move(owned));
    REQUIRE(client->inject_read(paid_get()));
    origin.take_written();
    REQUIRE(origin.inject_read(test_rail_402()));
    REQUIRE(run_until([&] { return rail->settles == 1; }));
  }
  FakeByteStream& origin;
  SlowRail* rail = nullptr;
};

}  // namespace

TEST_CASE("a rail that makes its credential through I/O: the exchange waits, then retries") {
  // The reservation commits on the writer, then the rail is asked for its credential.
  SlowRailPayment f;
  SlowRail& slow = *f.rail;
  FakeByteStream& origin = f.origin;
  f.run_until([] { return false; }, 50ms);
  CHECK(origin.take_written().empty());  // nothing goes while the rail works

  slow.finish();
  std::string retry;
  REQUIRE(f.run_until([&] {
    retry += origin.take_written();
    return contains(retry, "\r\n\r\n");
  }));
  CHECK(contains(retry, "\r\nX-Test-Payment: token-1\r\n"));
  REQUIRE(origin.inject_read("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  REQUIRE(f.client_received("\r\n\r\nok"));
  CHECK(contains(f.answer, "X-402flow-Payment-State: settled"));
  const auto receipts = f.receipts();
  REQUIRE(receipts.size() == 1);
  CHECK(receipts[0].attempt.intent.offer.protocol == "test-rail");
  CHECK(receipts[0].attempt.settlement_ref == "test-settlement");
}

TEST_CASE(
    "an agent gone while its rail settles: the credential never leaves, the budget is freed") {
  SlowRailPayment f;
  SlowRail& slow = *f.rail;
  FakeByteStream& origin = f.origin;
  f.connection->close_now();  // the agent goes away while the rail works

  slow.finish();
  std::optional<flow::storage::Attempt> attempt;
  REQUIRE(f.run_until([&] {
    attempt = f.attempt(1);
    return attempt && attempt->state == flow::storage::AttemptState::released;
  }));
  CHECK(contains(attempt->failure_reason, "disconnected"));
  CHECK(attempt->failure_code == flow::payment::Reason::client_closed);
  CHECK(origin.take_written().empty());
  CHECK(f.services->counters().credentials_sent == 0);
}

TEST_CASE("a 402 is paid: the request goes again with the credential, the answer with a receipt") {
  PaidClient f;
  FakeByteStream& origin = f.pooled_origin();

  REQUIRE(f.client->inject_read(paid_get()));
  CHECK(contains(origin.take_written(), "GET /paid HTTP/1.1\r\n"));
  REQUIRE(origin.inject_read(challenge_402()));
  // Nothing of the 402 reaches the agent while the payment is decided.
  CHECK(f.client->take_written().empty());

  // Policy, reservation and signature run on the ledger's writer; the retry follows.
  std::string retry;
  REQUIRE(f.run_until([&] {
    retry += origin.take_written();
    return contains(retry, "\r\n\r\n");
  }));
  CHECK(retry.starts_with("GET /paid HTTP/1.1\r\nHost: origin.test\r\n"));
  CHECK(contains(retry, "\r\nPAYMENT-SIGNATURE: "));
  CHECK(f.services->counters().credentials_sent == 1);

  // The merchant's answer is held until its receipt is durable, then relayed with it.
  REQUIRE(origin.inject_read(settled_200("paid content")));
  REQUIRE(f.client_received("paid content"));
  CHECK(f.answer.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(contains(f.answer, "X-402flow-Receipt: rcpt_1_"));
  CHECK(contains(f.answer, "X-402flow-Payment-State: settled"));
  CHECK(contains(f.answer, "X-402flow-Paid: 10000;"));
  CHECK(f.connection->state() == ClientConnection::State::idle);
  CHECK(f.services->counters().settled == 1);

  const auto receipts = f.receipts();
  REQUIRE(receipts.size() == 1);
  CHECK(receipts[0].attempt.state == flow::storage::AttemptState::settled);
  CHECK(receipts[0].attempt.intent.offer.amount == 10000);
}

TEST_CASE("an agent gone while its payment is decided: nothing is sent, the attempt is closed") {
  PaidClient f;
  FakeByteStream& origin = f.pooled_origin();

  REQUIRE(f.client->inject_read(paid_get("Idempotency-Key: gone-1\r\n")));
  origin.take_written();
  REQUIRE(origin.inject_read(challenge_402()));
  // The ledger job is queued; the agent disconnects before its completion comes back.
  REQUIRE(f.client->inject_eof());
  f.connection->close_now();

  // The orphaned completion cleans up after itself: the signed credential never left.
  std::vector<flow::storage::Receipt> receipts;
  REQUIRE(f.run_until([&] {
    receipts = f.receipts();
    return !receipts.empty();
  }));
  REQUIRE(receipts.size() == 1);
  CHECK(receipts[0].attempt.state == flow::storage::AttemptState::failed);
  CHECK(contains(receipts[0].attempt.failure_reason, "disconnected"));
  CHECK(receipts[0].attempt.failure_code == flow::payment::Reason::client_closed);
  CHECK(f.services->counters().credentials_sent == 0);
  CHECK_FALSE(contains(origin.take_written(), "PAYMENT-SIGNATURE"));
}

TEST_CASE("a 402 on a request whose body exceeds the replay limit is relayed unpaid") {
  flow::policy::ProxySettings settings = flow::proxy::testing::paid_settings();
  settings.replay_limit = 16;
  PaidClient f(settings);
  FakeByteStream& origin = f.pooled_origin();
  const std::string body(64, 'x');
  REQUIRE(f.client->inject_read("POST " + kUrl +
                                " HTTP/1.1\r\nHost: origin.test\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body));
  origin.take_written();
  REQUIRE(origin.inject_read(challenge_402()));
  REQUIRE(f.client_received("{}"));
  CHECK(f.answer.starts_with("HTTP/1.1 402 Payment Required\r\n"));
  CHECK(contains(f.answer, "X-402flow-Error: request_not_replayable"));
  CHECK(f.services->counters().credentials_sent == 0);
}

TEST_CASE("a parked exchange outlives the upstream timeout; unparked, it is answered") {
  flow::policy::ProxySettings settings;
  settings.timeouts.upstream = 20ms;
  ServerFixture f(settings);
  FakeByteStream& origin = f.pooled_origin();
  FakeDownstream client;
  HttpParser parser(HttpParser::Kind::request, 64 * 1024);
  struct HeadOnly : MessageSink {
    HeadAction on_head() override { return HeadAction::pause; }
    void on_body(std::string_view) override {}
    void on_message_end() override {}
  } head_only;
  parser.set_sink(&head_only);
  const std::string request = "GET http://origin.test/slow HTTP/1.1\r\nHost: origin.test\r\n\r\n";
  REQUIRE(parser.feed(request.data(), request.size()).status == HttpParser::Status::paused_head);

  SUBCASE("parked: the timer does not end it") {
    Exchange exchange(*f.server, client, parser);
    exchange.start();
    exchange.on_request_end();
    CHECK(contains(origin.take_written(), "GET /slow HTTP/1.1\r\n"));
    exchange.park();
    f.run_until([] { return false; }, 100ms);  // five upstream timeouts
    CHECK_FALSE(client.ended_with.has_value());
    CHECK(exchange.stage() == Exchange::Stage::awaiting_response);
    exchange.unpark();
    REQUIRE(origin.inject_read("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate"));
    CHECK(client.written.ends_with("\r\n\r\nlate"));
    REQUIRE(client.ended_with.has_value());
    CHECK(*client.ended_with);
  }
  SUBCASE("not parked: the same wait ends it with 504") {
    Exchange exchange(*f.server, client, parser);
    exchange.start();
    exchange.on_request_end();
    REQUIRE(f.run_until([&] { return client.ended_with.has_value(); }, 2s));
    CHECK(client.written.starts_with("HTTP/1.1 504"));
    CHECK_FALSE(*client.ended_with);
  }
}
