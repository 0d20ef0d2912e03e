// The x402 rail end to end at the PaymentRail interface: read a 402, say what the wallets can
// pay, make a credential the merchant can verify, judge the merchant's answer, settle().
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "flow/payment/base64.hpp"
#include "flow/payment/evm_address.hpp"
#include "flow/payment/exact_evm.hpp"
#include "flow/payment/payment_rails.hpp"
#include "flow/payment/x402_credential.hpp"
#include "flow/payment/x402_payer.hpp"
#include "flow/payment/x402_rail.hpp"
#include "flow/payment/x402_settlement.hpp"

using namespace flow::payment;
using nlohmann::json;

namespace {

constexpr std::string_view kDevKey =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
constexpr std::string_view kDevAddress = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
constexpr const char* kUsdcBase = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
constexpr const char* kUsdcBaseSepolia = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";
constexpr const char* kPayTo = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
constexpr std::string_view kUrl = "https://api.example.com/weather";
constexpr std::int64_t kNow = 1'790'000'000;

json v2_offer(const char* network, const char* asset) {
  return {{"scheme", "exact"},
          {"network", network},
          {"amount", "10000"},
          {"asset", asset},
          {"payTo", kPayTo},
          {"maxTimeoutSeconds", 60},
          {"extra", {{"name", "USD Coin"}, {"version", "2"}}}};
}

// A 402 response the rail reads: owns what the header views point into.
struct Answer {
  int status = 402;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;

  std::vector<HeaderField> views() const {
    std::vector<HeaderField> v;
    for (const auto& [n, value] : fields) v.push_back({n, value});
    return v;
  }
  ChallengeRead read(const PaymentRail& rail) const {
    const auto headers = views();
    return rail.read_challenge({status, headers, body, kUrl});
  }
};

Answer v2_answer() {
  const json required = {{"x402Version", 2},
                         {"error", "Payment required"},
                         {"resource", {{"url", std::string(kUrl)}}},
                         {"accepts", json::array({v2_offer("eip155:8453", kUsdcBase),
                                                  v2_offer("eip155:84532", kUsdcBaseSepolia)})}};
  Answer a;
  a.fields = {{"content-type", "application/json"},
              {"PAYMENT-REQUIRED", base64_encode(required.dump())}};
  a.body = "{}";
  return a;
}

Answer v1_answer() {
  const json body = {
      {"x402Version", 1},
      {"error", "X-PAYMENT header is required"},
      {"accepts", json::array({{{"scheme", "exact"},
                                {"network", "base"},
                                {"maxAmountRequired", "1000"},
                                {"resource", std::string(kUrl)},
                                {"payTo", kPayTo},
                                {"maxTimeoutSeconds", 60},
                                {"asset", kUsdcBase},
                                {"extra", {{"name", "USD Coin"}, {"version", "2"}}}}})}};
  Answer a;
  a.fields = {{"content-type", "application/json"}};
  a.body = body.dump();
  return a;
}

std::shared_ptr<const RailChallenge> challenge_of(const ChallengeRead& read) {
  const auto* error = std::get_if<RailError>(&read);
  REQUIRE_MESSAGE(
      error == nullptr,
      (error ? std::string(flow::payment::reason_name(error->code)) + ": " + error->detail : ""));
  return std::get<std::shared_ptr<const RailChallenge>>(read);
}

// One wallet, the Hardhat/Anvil development key, on Base only.
SignerRegistry base_wallet() {
  auto key = EvmKey::from_hex(kDevKey);
  REQUIRE(key.has_value());
  SignerRegistry signers;
  signers.add("main", {"eip155:8453"}, std::make_unique<EvmSigner>(std::move(*key)));
  return signers;
}

// The owner's thread, by hand: posted functions run when the test says so.
struct ManualPost {
  std::vector<std::function<void()>> queue;
  Post post() {
    return [this](std::function<void()> fn) { queue.push_back(std::move(fn)); };
  }
  void run() {
    auto now = std::move(queue);
    queue.clear();
    for (auto& fn : now) fn();
  }
};

Credential credential_of(const SettleResult& result) {
  const auto* error = std::get_if<RailError>(&result);
  REQUIRE_MESSAGE(
      error == nullptr,
      (error ? std::string(flow::payment::reason_name(error->code)) + ": " + error->detail : ""));
  return std::get<Credential>(result);
}

std::string settlement_header(const json& evidence) {
  return encode_x402_settlement(evidence);
}

}  // namespace

TEST_CASE("the x402 rail reads a v2 PAYMENT-REQUIRED challenge into normalized offers") {
  const SignerRegistry signers = base_wallet();
  ManualPost loop;
  X402Rail rail(signers, loop.post());
  const auto challenge = challenge_of(v2_answer().read(rail));
  CHECK(challenge->rail() == "x402");
  CHECK(challenge->merchant_error() == "Payment required");
  REQUIRE(challenge->offers().size() == 2);
  const Offer& first = challenge->offers()[0].offer;
  CHECK(first.protocol == "x402");
  CHECK(first.protocol_version == 2);
  CHECK(first.network == "eip155:8453");
  CHECK(first.asset == "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913");
  CHECK(first.pay_to == "0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
  CHECK(first.amount == 10000);
  CHECK(first.resource == kUrl);
  CHECK(challenge->offers()[1].offer.index == 1);
}

TEST_CASE("the x402 rail reads a v1 body challenge, its legacy network as CAIP-2") {
  const SignerRegistry signers = base_wallet();
  ManualPost loop;
  X402Rail rail(signers, loop.post());
  const auto challenge = challenge_of(v1_answer().read(rail));
  REQUIRE(challenge->offers().size() == 1);
  CHECK(challenge->offers()[0].offer.protocol_version == 1);
  CHECK(challenge->offers()[0].offer.network == "eip155:8453");
  CHECK(challenge->offers()[0].offer.amount == 1000);
  CHECK(challenge->merchant_error() == "X-PAYMENT header is required");
}

TEST_CASE("a 402 without an x402 challenge is a rail error with x402's stable code") {
  const SignerRegistry signers = base_wallet();
  ManualPost loop;
  X402Rail rail(signers, loop.post());
  Answer plain;
  plain.fields = {{"content-type", "text/plain"}};
  plain.body = "pay me";
  const ChallengeRead read = plain.read(rail);
  REQUIRE(std::holds_alternative<RailError>(read));
  CHECK(std::get<RailError>(read).code == flow::payment::Reason::not_x402);
  CHECK_FALSE(std::get<RailError>(read).detail.empty());
}

TEST_CASE("only offers on a network a wallet covers are payable") {
  const SignerRegistry signers = base_wallet();
  ManualPost loop;
  X402Rail rail(signers, loop.post());
  const auto challenge = challenge_of(v2_answer().read(rail));
  CHECK(payable_offers(rail, *challenge) == std::vector<std::size_t>{0});
  CHECK(rail.unpayable_reason(*challenge, 0).empty());
  CHECK(rail.unpayable_reason(*challenge, 1) == "no_wallet_for_network");

  SignerRegistry none;
  X402Rail poor(none, loop.post());
  CHECK(payable_offers(poor, *challenge).empty());
}

TEST_CASE("the signer registry finds a wallet by rail and network, eip155:* covering every chain") {
  SignerRegistry signers = base_wallet();
  auto other = EvmKey::generate();
  const std::string other_address = evm_address_checksummed(other.address());
  signers.add("any-evm", {"eip155:*"}, std::make_unique<EvmSigner>(std::move(other)));
  REQUIRE(signers.find("x402", "eip155:8453") != nullptr);
  CHECK(evm_address_lower(signers.find_as<EvmSigner>("x402", "eip155:8453")->key().address()) ==
        kDevAddress);
  REQUIRE(signers.find("x402", "eip155:84532") != nullptr);
  CHECK(signers.find("x402", "eip155:84532")->address() == other_address);
  CHECK(signers.find("x402", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp") == nullptr);
  CHECK(signers.find("l402", "eip155:8453") == nullptr);
}

TEST_CASE("a wallet whose key cannot be loaded is named, without any key material") {
  const std::string secret = "0xdeadbeef";
  ::setenv("FLOW402_RAIL_TEST_KEY", secret.c_str(), 1);
  try {
    (void)SignerRegistry::load({{"main", {"eip155:8453"}, {"", "FLOW402_RAIL_TEST_KEY"}}});
    FAIL("a malformed key loaded");
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    CHECK(what.find("wallet 'main'") != std::string::npos);
    CHECK(what.find("deadbeef") == std::string::npos);
  }
  ::unsetenv("FLOW402_RAIL_TEST_KEY");
}

TEST_CASE("the credential is signed by the wallet and verifies against the offer's terms") {
  const SignerRegistry signers = base_wallet();
  ManualPost loop;
  X402Rail rail(signers, loop.post());
  REQUIRE(rail.signs_in_transaction());
  const auto challenge = challenge_of(v2_answer().read(rail));
  const Credential c = credential_of(rail.credential_now({challenge, 0, kNow, 600, {}}));
  CHECK(c.header_name == "PAYMENT-SIGNATURE");
  CHECK(c.payer == kDevAddress);
  CHECK(c.valid_until == kNow + 60);
  CHECK(c.credential_sha256.size() == 64);
  CHECK(c.credential_ref.rfind("eip3009:", 0) == 0);

  const auto decoded = decode_x402_credential(c.header_value);
  REQUIRE(decoded.has_value());
  const auto& requirement = dynamic_cast<const X402RailChallenge&>(*challenge).x402().accepts.at(0);
  const auto terms = exact_evm_terms(requirement);
  REQUIRE(terms.has_value());
  const ExactEvmCheck checked = verify_exact_evm((*decoded)["payload"], *terms, kNow);
  REQUIRE(std::holds_alternative<ExactEvmVerified>(checked));
  CHECK(evm_address_lower(std::get<ExactEvmVerified>(checked).payer) == kDevAddress);

  // The credential_ref rebuilds the identical credential: same nonce, same bytes.
  const Credential again =
      credential_of(rail.credential_now({challenge, 0, kNow + 100, 600, c.credential_ref}));
  CHECK(again.header_value == c.header_value);
  CHECK(again.credential_sha256 == c.credential_sha256);
}

TEST_CASE("an offer no wallet covers and an unreadable credential_ref give rail errors") {
  const SignerRegistry signers = base_wallet();
  ManualPost loop;
  X402Rail rail(signers, loop.post());
  const auto challenge = challenge_of(v2_answer().read(rail));
  CHECK(std::holds_alternative<RailError>(rail.credential_now({challenge, 1, kNow, 600, {}})));
  const SettleResult bad = rail.credential_now({challenge, 0, kNow, 600, "eip3009:nonsense"});
  REQUIRE(std::holds_alternative<RailError>(bad));
  CHECK(std::get<RailError>(bad).code == flow::payment::Reason::credential_not_rebuildable);
}

TEST_CASE("settle() completes later on the owner's thread, never inside the call") {
  const SignerRegistry signers = base_wallet();
  ManualPost loop;
  X402Rail rail(signers, loop.post());
  const auto challenge = challenge_of(v2_answer().read(rail));
  std::optional<SettleResult> got;
  const CancelHandle handle =
      rail.settle({challenge, 0, kNow, 600, {}}, [&](SettleResult r) { got = std::move(r); });
  CHECK_FALSE(got.has_value());
  CHECK(loop.queue.size() == 1);
  loop.run();
  REQUIRE(got.has_value());
  CHECK(credential_of(*got).payer == kDevAddress);
  CHECK_FALSE(handle.cancelled());
}

TEST_CASE("a cancelled settle() never calls back") {
  const SignerRegistry signers = base_wallet();
  ManualPost loop;
  X402Rail rail(signers, loop.post());
  const auto challenge = challenge_of(v2_answer().read(rail));
  bool called = false;
  CancelHandle handle =
      rail.settle({challenge, 0, kNow, 600, {}}, [&](SettleResult) { called = true; });
  handle.cancel();
  CHECK(handle.cancelled());
  loop.run();
  CHECK_FALSE(called);
}

TEST_CASE("a settlement's abort hook runs on cancel, and not after it completed") {
  int aborted = 0;
  int done = 0;
  SettleCompletion pending([&](SettleResult) { ++done; });
  CancelHandle handle = pending.handle([&] { ++aborted; });
  handle.cancel();
  handle.cancel();
  pending.complete(RailError{flow::payment::Reason::not_supported, "y"});
  CHECK(aborted == 1);
  CHECK(done == 0);

  SettleCompletion finished([&](SettleResult) { ++done; });
  CancelHandle late = finished.handle([&] { ++aborted; });
  finished.complete(RailError{flow::payment::Reason::not_supported, "y"});
  finished.complete(RailError{flow::payment::Reason::not_supported, "y"});
  late.cancel();
  CHECK(done == 1);
  CHECK(aborted == 1);
  CHECK_FALSE(late.cancelled());
}

TEST_CASE("the merchant's answer is judged settled, failed or unknown, with its evidence") {
  const SignerRegistry signers = base_wallet();
  ManualPost loop;
  X402Rail rail(signers, loop.post());

  const std::string ok =
      settlement_header({{"success", true}, {"transaction", "0xabc"}, {"network", "eip155:8453"}});
  const std::vector<HeaderField> settled_headers{{"PAYMENT-RESPONSE", ok}};
  const AnswerJudgement settled = rail.judge_answer(200, settled_headers);
  CHECK(settled.verdict == SettlementVerdict::settled);
  CHECK(settled.settlement_ref == "0xabc");
  CHECK(settled.evidence.find("\"0xabc\"") != std::string::npos);

  const std::string refused = settlement_header(
      {{"success", false}, {"errorReason", "invalid_exact_evm_payload_signature"}});
  const std::vector<HeaderField> refused_headers{{"PAYMENT-RESPONSE", refused}};
  const AnswerJudgement failed = rail.judge_answer(402, refused_headers);
  CHECK(failed.verdict == SettlementVerdict::failed);
  CHECK(failed.reason == "invalid_exact_evm_payload_signature");

  // A fresh v2 challenge without evidence: its `error` is the refusal's reason.
  const json again = {{"x402Version", 2},
                      {"error", "insufficient_funds"},
                      {"resource", {{"url", std::string(kUrl)}}},
                      {"accepts", json::array({v2_offer("eip155:8453", kUsdcBase)})}};
  const std::string required = base64_encode(again.dump());
  const std::vector<HeaderField> challenge_headers{{"PAYMENT-REQUIRED", required}};
  CHECK(rail.judge_answer(402, challenge_headers).verdict == SettlementVerdict::failed);

  const std::vector<HeaderField> silent{{"content-type", "text/plain"}};
  const AnswerJudgement unknown = rail.judge_answer(502, silent);
  CHECK(unknown.verdict == SettlementVerdict::unknown);
  CHECK_FALSE(unknown.reason.empty());
  CHECK(unknown.evidence.empty());
}

namespace {

// A second rail that reads only 402s carrying "X-Test-Rail": how another protocol plugs in.
class TestRail final : public PaymentRail {
 public:
  struct Challenge final : RailChallenge {
    std::vector<RailOffer> list;
    std::string_view rail() const override { return "test"; }
    const std::vector<RailOffer>& offers() const override { return list; }
    std::string_view merchant_error() const override { return {}; }
  };
  std::string_view name() const override { return "test"; }
  ChallengeRead read_challenge(const RailAnswer& answer) const override {
    for (const auto& h : answer.headers) {
      if (h.name == "X-Test-Rail") return std::make_shared<const Challenge>();
    }
    return RailError{flow::payment::Reason::not_supported, "no X-Test-Rail"};
  }
  std::string unpayable_reason(const RailChallenge&, std::size_t) const override {
    return "unsupported_scheme";
  }
  CancelHandle settle(SettleRequest, SettleDone done) override {
    SettleCompletion completion(std::move(done));
    return completion.handle();
  }
  AnswerJudgement judge_answer(int, std::span<const HeaderField>) const override { return {}; }
};

}  // namespace

TEST_CASE("the first rail that reads a 402 takes it; when none does, the first rail's error") {
  const SignerRegistry signers = base_wallet();
  ManualPost loop;
  PaymentRails rails = build_payment_rails(signers, loop.post());
  rails.add(std::make_unique<TestRail>());
  REQUIRE(rails.find("x402") != nullptr);
  REQUIRE(rails.find("test") != nullptr);
  CHECK(rails.find("l402") == nullptr);

  const Answer v2 = v2_answer();
  const auto v2_headers = v2.views();
  auto read = rails.read_challenge({402, v2_headers, v2.body, kUrl});
  REQUIRE(std::holds_alternative<RailChallengeRead>(read));
  CHECK(std::get<RailChallengeRead>(read).rail->name() == "x402");

  const std::vector<HeaderField> test_headers{{"X-Test-Rail", "1"}};
  read = rails.read_challenge({402, test_headers, "", kUrl});
  REQUIRE(std::holds_alternative<RailChallengeRead>(read));
  CHECK(std::get<RailChallengeRead>(read).rail->name() == "test");
  CHECK_FALSE(std::get<RailChallengeRead>(read).rail->signs_in_transaction());

  const std::vector<HeaderField> neither{{"content-type", "text/plain"}};
  read = rails.read_challenge({402, neither, "", kUrl});
  REQUIRE(std::holds_alternative<RailError>(read));
  CHECK(std::get<RailError>(read).code == flow::payment::Reason::not_x402);
}
