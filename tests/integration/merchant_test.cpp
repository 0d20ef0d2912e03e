// `402flow merchant`: the real binary on loopback, paid with credentials signed by the payment
// library (the well-known first dev-chain key), checked through its answers and its payment book.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <csignal>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "flow/payment/base64.hpp"
#include "flow/payment/evm_address.hpp"
#include "flow/payment/evm_key.hpp"
#include "flow/payment/exact_evm.hpp"
#include "flow/payment/unix_clock.hpp"
#include "flow/payment/x402_challenge.hpp"
#include "flow/payment/x402_credential.hpp"
#include "flow/payment/x402_settlement.hpp"
#include "support/child_process.hpp"
#include "support/client_connection.hpp"
#include "support/merchant_process.hpp"
#include "support/proxy_process.hpp"
#include "support/temp_dir.hpp"

using namespace flow::testing;
using flow::payment::Atomic;
using flow::payment::EvmAddress;
using flow::payment::EvmKey;
using flow::payment::ExactEvmNonce;
using flow::payment::X402Challenge;
using flow::payment::X402Settlement;
using nlohmann::json;

namespace {

constexpr std::string_view kDevKey =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
constexpr std::string_view kDevAddress = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
constexpr std::string_view kDefaultPayTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";

const EvmKey& dev_key() {
  static const EvmKey key = *EvmKey::from_hex(kDevKey);
  return key;
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::int64_t now() {
  return flow::payment::unix_now();
}

ExactEvmNonce fresh_nonce(std::int64_t valid_for = 60) {
  static std::mt19937_64 rng{std::random_device{}()};
  ExactEvmNonce n;
  for (auto& b : n.nonce) b = static_cast<std::uint8_t>(rng());
  n.valid_after = now() - 600;
  n.valid_before = now() + valid_for;
  return n;
}

std::string get_request(const MerchantProcess& merchant, std::string_view path,
                        std::string_view extra_headers = {}) {
  std::string r = "GET ";
  r += path;
  r += " HTTP/1.1\r\nHost: " + merchant.authority() + "\r\n";
  r += extra_headers;
  r += "\r\n";
  return r;
}

HttpResponse get(ClientConnection& client, const MerchantProcess& merchant, std::string_view path,
                 std::string_view extra_headers = {}) {
  return client.exchange(get_request(merchant, path, extra_headers));
}

std::vector<flow::payment::HeaderField> fields(const HttpResponse& response) {
  std::vector<flow::payment::HeaderField> out;
  for (const auto& h : response.headers) out.push_back({h.name, h.value});
  return out;
}

X402Challenge challenge_of(const HttpResponse& response, const std::string& url) {
  const auto f = fields(response);
  auto parsed = flow::payment::parse_x402_challenge(f, response.body, url);
  REQUIRE_MESSAGE(parsed.challenge.has_value(), parsed.detail);
  return *parsed.challenge;
}

// The merchant's settlement header, decoded, with its raw JSON.
X402Settlement settlement_of(const HttpResponse& response) {
  const auto f = fields(response);
  auto parsed = flow::payment::parse_x402_settlement(f);
  REQUIRE_MESSAGE(parsed.settlement.has_value(), parsed.problem);
  return *parsed.settlement;
}

// What a payer may get wrong on purpose.
struct Tweaks {
  std::optional<Atomic> amount;
  std::optional<EvmAddress> pay_to;
  std::optional<ExactEvmNonce> nonce;
};

Tweaks with_amount(Atomic amount) {
  Tweaks t;
  t.amount = amount;
  return t;
}
Tweaks with_pay_to(EvmAddress pay_to) {
  Tweaks t;
  t.pay_to = pay_to;
  return t;
}
Tweaks with_nonce(const ExactEvmNonce& nonce) {
  Tweaks t;
  t.nonce = nonce;
  return t;
}

// "HEADER: value\r\n" paying challenge.accepts[index] with the dev key.
std::string pay(const X402Challenge& challenge, std::size_t index, const Tweaks& tweaks = {}) {
  const auto& req = challenge.accepts.at(index);
  flow::payment::ExactEvmTerms terms;
  terms.method = req.permit2 ? flow::payment::EvmTransferMethod::permit2
                             : flow::payment::EvmTransferMethod::eip3009;
  terms.chain_id = req.chain_id.value_or(0);
  terms.asset = *flow::payment::parse_evm_address(req.offer.asset);
  terms.pay_to = tweaks.pay_to.value_or(*flow::payment::parse_evm_address(req.offer.pay_to));
  terms.amount = tweaks.amount.value_or(req.offer.amount);
  terms.domain_name = req.domain_name;
  terms.domain_version = req.domain_version;
  const ExactEvmNonce nonce = tweaks.nonce.value_or(fresh_nonce());
  const auto signed_payload = flow::payment::sign_exact_evm(terms, nonce, dev_key());
  const auto credential =
      flow::payment::encode_x402_credential(challenge, index, signed_payload.payload);
  return credential.header_name + ": " + credential.header_value + "\r\n";
}

json payment_book(ClientConnection& client, const MerchantProcess& merchant) {
  const HttpResponse r = get(client, merchant, "/_merchant/payments");
  REQUIRE(r.status == 200);
  return json::parse(r.body);
}

void check_paid(const HttpResponse& r, std::string_view network) {
  CHECK(r.status == 200);
  const X402Settlement s = settlement_of(r);
  CHECK(s.success);
  CHECK(lower(s.payer) == lower(std::string(kDevAddress)));
  CHECK(s.network == network);
  CHECK(s.transaction.size() == 66);
  CHECK(s.transaction.starts_with("0x"));
  const json raw = json::parse(s.raw_json);
  CHECK(raw["extensions"]["localSettlement"]["onChain"] == false);
  CHECK(raw["extensions"]["localSettlement"]["settledBy"] == "402flow merchant");
}

void check_refused(const HttpResponse& r, std::string_view reason) {
  CHECK(r.status == 402);
  const X402Settlement s = settlement_of(r);
  CHECK_FALSE(s.success);
  CHECK(s.error_reason == reason);
}

}  // namespace

TEST_CASE("the free route answers 200 without any payment, on a kept-alive connection") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  for (int i = 0; i < 3; ++i) {
    const HttpResponse r = get(client, merchant, "/free?attempt=" + std::to_string(i));
    CHECK(r.status == 200);
    CHECK(json::parse(r.body) == json{{"route", "free"}});
    CHECK_FALSE(r.header("PAYMENT-RESPONSE").has_value());
  }
  CHECK(get(client, merchant, "/nowhere").status == 404);
}

TEST_CASE("an unpaid v2 request gets a 402 with a PAYMENT-REQUIRED challenge for the route") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  const HttpResponse r = get(client, merchant, "/v2/weather?city=lisbon");
  REQUIRE(r.status == 402);
  CHECK(r.body == "{}");
  const auto header = r.header("PAYMENT-REQUIRED");
  REQUIRE(header.has_value());
  const json required = json::parse(*flow::payment::base64_decode(*header));
  CHECK(required["x402Version"] == 2);
  CHECK(required["error"] == "Payment required");
  CHECK(required["resource"]["url"] == merchant.url("/v2/weather"));
  REQUIRE(required["accepts"].size() == 1);
  const json& offer = required["accepts"][0];
  CHECK(offer["scheme"] == "exact");
  CHECK(offer["network"] == "eip155:8453");
  CHECK(offer["amount"] == "10000");
  CHECK(offer["asset"] == "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913");
  CHECK(offer["payTo"] == kDefaultPayTo);
  CHECK(offer["maxTimeoutSeconds"] == 60);
  CHECK(offer["extra"] == json{{"name", "USD Coin"}, {"version", "2"}});

  const X402Challenge challenge = challenge_of(r, merchant.url("/v2/weather"));
  CHECK(challenge.version == 2);
  CHECK(challenge.accepts.at(0).problem == flow::payment::OfferProblem::none);
}

TEST_CASE("a signed payment is verified and settled locally: 200 with a PAYMENT-RESPONSE") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  const X402Challenge challenge =
      challenge_of(get(client, merchant, "/v2/weather"), merchant.url("/v2/weather"));
  const HttpResponse r = get(client, merchant, "/v2/weather", pay(challenge, 0));
  check_paid(r, "eip155:8453");
  CHECK(json::parse(r.body)["route"] == "weather");
  CHECK(json::parse(r.body).contains("forecast"));

  const json book = payment_book(client, merchant);
  REQUIRE(book.size() == 1);
  CHECK(book[0]["route"] == "/v2/weather");
  CHECK(lower(book[0]["payer"]) == lower(std::string(kDevAddress)));
  CHECK(book[0]["amount"] == "10000");
  CHECK(book[0]["network"] == "eip155:8453");
  CHECK(book[0]["transaction"] == settlement_of(r).transaction);
  CHECK(std::string(book[0]["nonce"]).size() == 66);
  // The log line names the payer (log lines are written in batches: wait for it).
  const Deadline deadline = default_deadline();
  while (merchant.stderr_text().find("\"payer\"") == std::string::npos && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling the log file
  }
  const std::string log = merchant.stderr_text();
  CHECK(log.find("\"payer\":\"" + std::string(kDevAddress) + "\"") != std::string::npos);
  CHECK(log.find("signature") == std::string::npos);
}

TEST_CASE("the v1 route challenges in the body and settles through X-PAYMENT-RESPONSE") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  const HttpResponse unpaid = get(client, merchant, "/v1/weather");
  REQUIRE(unpaid.status == 402);
  CHECK_FALSE(unpaid.header("PAYMENT-REQUIRED").has_value());
  const json body = json::parse(unpaid.body);
  CHECK(body["x402Version"] == 1);
  CHECK(body["accepts"][0]["network"] == "base");
  CHECK(body["accepts"][0]["maxAmountRequired"] == "10000");
  CHECK(body["accepts"][0]["resource"] == merchant.url("/v1/weather"));

  const X402Challenge challenge = challenge_of(unpaid, merchant.url("/v1/weather"));
  REQUIRE(challenge.version == 1);
  const std::string credential = pay(challenge, 0);
  CHECK(credential.starts_with("X-PAYMENT: "));
  const HttpResponse r = get(client, merchant, "/v1/weather", credential);
  CHECK(r.header("X-PAYMENT-RESPONSE").has_value());
  check_paid(r, "base");
}

TEST_CASE("the permit2 route offers assetTransferMethod permit2 and takes a Permit2 payment") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  const X402Challenge challenge =
      challenge_of(get(client, merchant, "/v2/permit2"), merchant.url("/v2/permit2"));
  REQUIRE(challenge.accepts.size() == 1);
  CHECK(challenge.accepts[0].permit2);
  CHECK(challenge.accepts[0].raw["extra"]["assetTransferMethod"] == "permit2");
  check_paid(get(client, merchant, "/v2/permit2", pay(challenge, 0)), "eip155:8453");
  CHECK(payment_book(client, merchant).size() == 1);
}

TEST_CASE("the multi route offers Polygon, Base and Base Sepolia, and any of them pays") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  const X402Challenge challenge =
      challenge_of(get(client, merchant, "/v2/multi"), merchant.url("/v2/multi"));
  REQUIRE(challenge.accepts.size() == 3);
  CHECK(challenge.accepts[0].offer.network == "eip155:137");
  CHECK(challenge.accepts[0].raw["amount"] == "9000");
  CHECK(challenge.accepts[1].offer.network == "eip155:8453");
  CHECK(challenge.accepts[1].raw["amount"] == "10000");
  CHECK(challenge.accepts[2].offer.network == "eip155:84532");
  CHECK(challenge.accepts[2].raw["amount"] == "5000");
  CHECK(challenge.accepts[2].domain_name == "USDC");
  check_paid(get(client, merchant, "/v2/multi", pay(challenge, 2)), "eip155:84532");
  check_paid(get(client, merchant, "/v2/multi", pay(challenge, 0)), "eip155:137");
  const json book = payment_book(client, merchant);
  REQUIRE(book.size() == 2);
  CHECK(book[0]["amount"] == "5000");
  CHECK(book[1]["amount"] == "9000");
}

TEST_CASE("a wrong amount, a wrong payee or an expired authorization is refused with its reason") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  const X402Challenge challenge =
      challenge_of(get(client, merchant, "/v2/expensive"), merchant.url("/v2/expensive"));
  CHECK(challenge.accepts.at(0).raw["amount"] == "5000000");

  check_refused(get(client, merchant, "/v2/expensive", pay(challenge, 0, with_amount(4999999))),
                "invalid_exact_evm_authorization_value");
  const auto other = flow::payment::parse_evm_address("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
  check_refused(get(client, merchant, "/v2/expensive", pay(challenge, 0, with_pay_to(*other))),
                "invalid_exact_evm_recipient_mismatch");
  ExactEvmNonce expired = fresh_nonce();
  expired.valid_before = now() - 10;
  const HttpResponse r =
      get(client, merchant, "/v2/expensive", pay(challenge, 0, with_nonce(expired)));
  check_refused(r, "invalid_exact_evm_payload_authorization_valid_before");
  // The refusal carries the challenge again, naming the reason.
  const json again = json::parse(*flow::payment::base64_decode(*r.header("PAYMENT-REQUIRED")));
  CHECK(again["error"] == "invalid_exact_evm_payload_authorization_valid_before");
  CHECK(again["accepts"][0]["amount"] == "5000000");

  check_refused(get(client, merchant, "/v2/expensive", "PAYMENT-SIGNATURE: not-base64!\r\n"),
                "invalid_payload");
  CHECK(payment_book(client, merchant).empty());
}

TEST_CASE("the identical credential sent twice is one payment; the same nonce re-signed is not") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  const X402Challenge challenge =
      challenge_of(get(client, merchant, "/v2/weather"), merchant.url("/v2/weather"));
  const ExactEvmNonce nonce = fresh_nonce();
  const std::string credential = pay(challenge, 0, with_nonce(nonce));
  const HttpResponse first = get(client, merchant, "/v2/weather", credential);
  check_paid(first, "eip155:8453");
  ClientConnection second_client(merchant.port());
  const HttpResponse second = get(second_client, merchant, "/v2/weather", credential);
  check_paid(second, "eip155:8453");
  CHECK(settlement_of(second).transaction == settlement_of(first).transaction);
  CHECK(payment_book(client, merchant).size() == 1);

  ExactEvmNonce same_nonce = nonce;
  same_nonce.valid_before += 5;  // a different payload (and signature) with the spent nonce
  const HttpResponse reused =
      get(client, merchant, "/v2/weather", pay(challenge, 0, with_nonce(same_nonce)));
  check_refused(reused, "invalid_exact_evm_nonce_already_used");
  CHECK(payment_book(client, merchant).size() == 1);

  // Nor does the credential pay for another route with the same terms.
  check_refused(get(client, merchant, "/v2/always-402", credential),
                "invalid_exact_evm_nonce_already_used");
}

TEST_CASE("price-change: the paid request finds the price raised and gets a fresh challenge") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  const X402Challenge first =
      challenge_of(get(client, merchant, "/v2/price-change"), merchant.url("/v2/price-change"));
  CHECK(first.accepts.at(0).raw["amount"] == "10000");
  const HttpResponse r = get(client, merchant, "/v2/price-change", pay(first, 0));
  check_refused(r, "invalid_exact_evm_authorization_value");
  const X402Challenge raised = challenge_of(r, merchant.url("/v2/price-change"));
  CHECK(raised.error == "invalid_exact_evm_authorization_value");
  CHECK(raised.accepts.at(0).raw["amount"] == "20000");
  CHECK(payment_book(client, merchant).empty());
  // Paying the raised price is accepted.
  check_paid(get(client, merchant, "/v2/price-change", pay(raised, 0)), "eip155:8453");
  const json book = payment_book(client, merchant);
  REQUIRE(book.size() == 1);
  CHECK(book[0]["amount"] == "20000");
}

TEST_CASE("payto-change: the paid request finds another payee and gets a fresh challenge") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  const X402Challenge first =
      challenge_of(get(client, merchant, "/v2/payto-change"), merchant.url("/v2/payto-change"));
  CHECK(first.accepts.at(0).raw["payTo"] == kDefaultPayTo);
  const HttpResponse r = get(client, merchant, "/v2/payto-change", pay(first, 0));
  check_refused(r, "invalid_exact_evm_recipient_mismatch");
  const X402Challenge changed = challenge_of(r, merchant.url("/v2/payto-change"));
  CHECK(changed.accepts.at(0).raw["payTo"] != kDefaultPayTo);
  CHECK(payment_book(client, merchant).empty());
}

TEST_CASE("always-402 refuses to settle a payment that verifies, and records nothing") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  const X402Challenge challenge =
      challenge_of(get(client, merchant, "/v2/always-402"), merchant.url("/v2/always-402"));
  const HttpResponse r = get(client, merchant, "/v2/always-402", pay(challenge, 0));
  check_refused(r, "settlement_refused");
  CHECK(lower(settlement_of(r).payer) == lower(std::string(kDevAddress)));
  CHECK(r.header("PAYMENT-REQUIRED").has_value());
  CHECK(payment_book(client, merchant).empty());
}

TEST_CASE("drop settles the payment, then closes without answering; the retry gets the answer") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  const X402Challenge challenge =
      challenge_of(get(client, merchant, "/v2/drop"), merchant.url("/v2/drop"));
  const std::string credential = pay(challenge, 0);
  client.send(get_request(merchant, "/v2/drop", credential));
  std::string received;
  CHECK(client.wait_for_close(default_deadline(), &received));
  CHECK(received.empty());

  ClientConnection retry(merchant.port());
  check_paid(get(retry, merchant, "/v2/drop", credential), "eip155:8453");
  const json book = payment_book(retry, merchant);
  REQUIRE(book.size() == 1);
  CHECK(book[0]["route"] == "/v2/drop");
}

TEST_CASE("--pay-to names the payee; pipelined requests are answered in order") {
  MerchantProcess merchant({"--pay-to", "0x70997970c51812dc3a010c7d01b50e0d17dc79c8", "--quiet"});
  ClientConnection client(merchant.port());
  client.send(get_request(merchant, "/v2/weather") + get_request(merchant, "/free") +
              get_request(merchant, "/v1/weather"));
  const HttpResponse a = client.read_response();
  const HttpResponse b = client.read_response();
  const HttpResponse c = client.read_response();
  CHECK(a.status == 402);
  CHECK(b.status == 200);
  CHECK(c.status == 402);
  const X402Challenge challenge = challenge_of(a, merchant.url("/v2/weather"));
  CHECK(challenge.accepts.at(0).raw["payTo"] == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
  check_paid(get(client, merchant, "/v2/weather", pay(challenge, 0)), "eip155:8453");
  merchant.send_signal(SIGTERM);  // the log is flushed on exit
  REQUIRE(merchant.wait_exit(kDefaultTimeout).has_value());
  CHECK(merchant.stderr_text().find("merchant listening") != std::string::npos);
  CHECK(merchant.stderr_text().find("\"path\"") == std::string::npos);  // --quiet
}

TEST_CASE("request bodies are read and ignored, up to a bound") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  const std::string host = "Host: " + merchant.authority() + "\r\n";
  HttpResponse r =
      client.exchange("POST /free HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello");
  CHECK(r.status == 200);
  client.send("POST /free HTTP/1.1\r\n" + host +
              "Expect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  ResponseReadOptions interim;
  interim.stop_at_interim = true;
  CHECK(client.read_response(interim).status == 100);
  r = client.exchange("body");
  CHECK(r.status == 200);
  CHECK(get(client, merchant, "/free").status == 200);  // still kept alive

  ClientConnection big(merchant.port());
  r = big.exchange("POST /free HTTP/1.1\r\n" + host + "Content-Length: 100000000\r\n\r\n");
  CHECK(r.status == 413);
  CHECK(big.wait_for_close());
}

TEST_CASE("a request head over the limit gets 431 and the connection closes") {
  MerchantProcess merchant;
  ClientConnection client(merchant.port());
  const std::string big(32 * 1024, 'a');
  const HttpResponse r = get(client, merchant, "/free", "X-Big: " + big + "\r\n");
  CHECK(r.status == 431);
  CHECK(client.wait_for_close());
}

TEST_CASE("SIGTERM and SIGINT stop the merchant with exit code 0") {
  for (int signal : {SIGTERM, SIGINT}) {
    MerchantProcess merchant;
    ClientConnection idle(merchant.port());
    merchant.send_signal(signal);
    const auto status = merchant.wait_exit(kDefaultTimeout);
    REQUIRE(status.has_value());
    CHECK(status->describe() == "exit code 0");
  }
}

TEST_CASE("a --pay-to that is not an address is refused at start-up") {
  const CommandResult r =
      run_command({flow_binary(), "merchant", "--listen", "127.0.0.1:0", "--pay-to", "0x1234"},
                  kDefaultTimeout);
  CHECK(r.status.describe() == "exit code 2");
  CHECK(r.err.find("--pay-to") != std::string::npos);
}

TEST_CASE("keygen writes a new 0600 key file and prints only its address") {
  TempDir dir;
  const std::string path = dir.file("wallet.key");
  const CommandResult r = run_command({flow_binary(), "keygen", "--out", path}, kDefaultTimeout);
  REQUIRE(r.status.describe() == "exit code 0");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const std::string secret = read_file(path);
  const auto key = EvmKey::from_hex(secret);
  REQUIRE(key.has_value());
  CHECK(r.out.find(flow::payment::evm_address_checksummed(key->address())) != std::string::npos);
  std::string hex = secret;
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) hex.pop_back();
  CHECK(r.out.find(hex.substr(2)) == std::string::npos);
  // Never over an existing file.
  const CommandResult again =
      run_command({flow_binary(), "keygen", "--out", path}, kDefaultTimeout);
  CHECK(again.status.describe() != "exit code 0");
  CHECK(read_file(path) == secret);
}

// --- HTTPS (--tls-cert/--tls-key) ---

namespace {

MerchantProcess https_merchant(std::vector<std::string> extra_args = {}) {
  return MerchantProcess(MerchantProcessOptions{std::move(extra_args), true});
}

// Log lines are written in batches: waits for one holding `needle`.
bool wait_for_log(const MerchantProcess& merchant, std::string_view needle) {
  const Deadline deadline = default_deadline();
  while (merchant.stderr_text().find(needle) == std::string::npos) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling the log file
  }
  return true;
}

CommandResult run_merchant_with(const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv = {flow_binary(), "merchant", "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  return run_command(argv, kDefaultTimeout);
}

}  // namespace

TEST_CASE(
    "over HTTPS the merchant challenges with https:// resources, keeps the TLS connection "
    "alive and settles a payment") {
  const MerchantProcess merchant = https_merchant();
  REQUIRE(merchant.url("/v2/weather").starts_with("https://127.0.0.1:"));
  ClientConnection client = merchant.connect();  // verifies the certificate for 127.0.0.1

  const HttpResponse unpaid = get(client, merchant, "/v2/weather");
  REQUIRE(unpaid.status == 402);
  const json required =
      json::parse(*flow::payment::base64_decode(*unpaid.header("PAYMENT-REQUIRED")));
  CHECK(required["resource"]["url"] == merchant.url("/v2/weather"));
  const X402Challenge challenge = challenge_of(unpaid, merchant.url("/v2/weather"));

  // The same TLS connection, kept alive: a v1 challenge names https:// too.
  const HttpResponse v1 = get(client, merchant, "/v1/weather");
  REQUIRE(v1.status == 402);
  CHECK(json::parse(v1.body)["accepts"][0]["resource"] == merchant.url("/v1/weather"));

  const HttpResponse paid = get(client, merchant, "/v2/weather", pay(challenge, 0));
  check_paid(paid, "eip155:8453");
  const json book = payment_book(client, merchant);
  REQUIRE(book.size() == 1);
  CHECK(book[0]["transaction"] == settlement_of(paid).transaction);
  CHECK(wait_for_log(merchant, "\"tls\":true"));
}

TEST_CASE(
    "over HTTPS a client that does not trust the certificate fails its handshake, and the "
    "merchant serves the next client") {
  const MerchantProcess merchant = https_merchant();
  const TlsIdentity stranger;  // a client trusting only another certificate
  ClientConnection distrustful(merchant.port());
  CHECK_THROWS_AS(distrustful.start_tls(stranger, "127.0.0.1"), IoError);
  CHECK(wait_for_log(merchant, "\"msg\":\"TLS handshake failed\""));
  CHECK(wait_for_log(merchant, "unknown ca"));  // the client's alert, as the reason

  // Plain HTTP to the HTTPS port: no answer, the connection closes.
  ClientConnection plain(merchant.port());
  plain.send(get_request(merchant, "/free"));
  std::string received;
  CHECK(plain.wait_for_close(default_deadline(), &received));
  CHECK(received.find("HTTP/1.1 200") == std::string::npos);

  ClientConnection next = merchant.connect("localhost");
  const HttpResponse r = get(next, merchant, "/free");
  CHECK(r.status == 200);
  CHECK(json::parse(r.body) == json{{"route", "free"}});
  CHECK(get(next, merchant, "/free").status == 200);
}

TEST_CASE("curl --cacert gets the HTTPS merchant's 402 challenge") {
  const std::string curl = find_executable("curl");
  if (curl.empty()) {
    MESSAGE("skipped: curl is not installed");
    return;
  }
  const MerchantProcess merchant = https_merchant();
  const CommandResult r =
      run_command({curl, "-q", "-sS", "-i", "--max-time", "20", "--cacert", merchant.ca_file(),
                   merchant.url("/v2/weather"), merchant.url("/free")},
                  kDefaultTimeout);
  INFO("curl stderr: " << r.err);
  REQUIRE(r.status.describe() == "exit code 0");
  CHECK(r.out.starts_with("HTTP/1.1 402 Payment Required\r\n"));
  CHECK(r.out.find("PAYMENT-REQUIRED: ") != std::string::npos);
  CHECK(r.out.find("HTTP/1.1 200 OK\r\n") != std::string::npos);
  CHECK(r.out.ends_with("{\"route\":\"free\"}"));

  // Without the certificate curl refuses it, and the merchant stays up.
  const CommandResult untrusted =
      run_command({curl, "-q", "-sS", "--max-time", "20", merchant.url("/free")}, kDefaultTimeout);
  CHECK(untrusted.status.describe() != "exit code 0");
  ClientConnection next = merchant.connect();
  CHECK(get(next, merchant, "/free").status == 200);
}

TEST_CASE("a missing or unreadable --tls-cert or --tls-key is refused at start-up, naming it") {
  TempDir dir;
  const TlsIdentity identity;
  write_pem_files(identity, dir.file("cert.pem"), dir.file("key.pem"));
  const std::string missing = dir.file("missing.pem");

  CommandResult r = run_merchant_with({"--tls-cert", missing, "--tls-key", dir.file("key.pem")});
  CHECK(r.status.describe() == "exit code 2");
  CHECK(r.err.find("TLS certificate " + missing) != std::string::npos);

  r = run_merchant_with({"--tls-cert", dir.file("cert.pem"), "--tls-key", missing});
  CHECK(r.status.describe() == "exit code 2");
  CHECK(r.err.find("TLS key " + missing) != std::string::npos);

  // A key file that holds a certificate, and a certificate file that holds a key.
  r = run_merchant_with({"--tls-cert", dir.file("cert.pem"), "--tls-key", dir.file("cert.pem")});
  CHECK(r.status.describe() == "exit code 2");
  CHECK(r.err.find("TLS key " + dir.file("cert.pem")) != std::string::npos);
  r = run_merchant_with({"--tls-cert", dir.file("key.pem"), "--tls-key", dir.file("key.pem")});
  CHECK(r.status.describe() == "exit code 2");
  CHECK(r.err.find("TLS certificate " + dir.file("key.pem")) != std::string::npos);

  r = run_merchant_with({"--tls-cert", dir.file("cert.pem")});
  CHECK(r.status.describe() == "exit code 2");
  CHECK(r.err.find("--tls-key") != std::string::npos);
}

TEST_CASE("a --tls-key that is not the certificate's key is refused at start-up") {
  TempDir dir;
  const TlsIdentity one;
  const TlsIdentity other;
  write_pem_files(one, dir.file("cert.pem"), dir.file("key.pem"));
  write_pem_files(other, dir.file("other-cert.pem"), dir.file("other-key.pem"));
  const CommandResult r = run_merchant_with(
      {"--tls-cert", dir.file("cert.pem"), "--tls-key", dir.file("other-key.pem")});
  CHECK(r.status.describe() == "exit code 2");
  CHECK(r.err.find("the TLS key " + dir.file("other-key.pem") +
                   " is not the key of the certificate " + dir.file("cert.pem")) !=
        std::string::npos);
}
