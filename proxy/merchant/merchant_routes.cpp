#include "merchant/merchant_routes.hpp"

#include "flow/payment/ascii.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "flow/payment/amount.hpp"
#include "flow/payment/base64.hpp"
#include "flow/payment/hex.hpp"
#include "flow/payment/keccak.hpp"
#include "flow/payment/x402_credential.hpp"
#include "flow/payment/x402_settlement.hpp"

namespace flow::proxy::merchant {
namespace {

using nlohmann::json;
using payment::EvmAddress;
using payment::EvmTransferMethod;

constexpr std::string_view kPaymentRequired = "Payment required";
constexpr std::int64_t kMaxTimeoutSeconds = 60;
constexpr std::uint64_t kHostileTimeoutSeconds = 1'000'000'000'000;  // 10^12 s
constexpr std::size_t kChallengeCacheLimit = 64;

constexpr std::string_view kBaseUsdc = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
constexpr std::string_view kPolygonUsdc = "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359";
constexpr std::string_view kBaseSepoliaUsdc = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";

constexpr std::string_view kForecast =
    R"("forecast":{"city":"Lisbon","sky":"clear","highC":24,"lowC":15})";

// Everything that tells one chain/token apart, for building a requirement.
struct Chain {
  std::string_view caip2;
  std::string_view v1_name;
  std::uint64_t chain_id;
  std::string_view asset;
  std::string_view domain_name;
};
constexpr Chain kBase{"eip155:8453", "base", 8453, kBaseUsdc, "USD Coin"};
constexpr Chain kPolygon{"eip155:137", "polygon", 137, kPolygonUsdc, "USD Coin"};
constexpr Chain kBaseSepolia{"eip155:84532", "base-sepolia", 84532, kBaseSepoliaUsdc, "USDC"};

EvmAddress address_or_throw(std::string_view text) {
  auto parsed = payment::parse_evm_address(text);
  if (!parsed) throw std::invalid_argument("not an EVM address: " + std::string(text));
  return *parsed;
}

// One accepts[] entry. v1 entries get resource/description/mimeType when a challenge is written.
Requirement make_requirement(int version, const Chain& chain, payment::Atomic amount,
                             const EvmAddress& pay_to, EvmTransferMethod method) {
  Requirement r;
  r.network = std::string(version == 2 ? chain.caip2 : chain.v1_name);
  r.terms.method = method;
  r.terms.chain_id = chain.chain_id;
  r.terms.asset = address_or_throw(chain.asset);
  r.terms.pay_to = pay_to;
  r.terms.amount = amount;
  r.terms.domain_name = std::string(chain.domain_name);
  r.terms.domain_version = "2";
  json extra = {{"name", chain.domain_name}, {"version", "2"}};
  if (method == EvmTransferMethod::permit2) extra["assetTransferMethod"] = "permit2";
  const std::string pay_to_text = payment::evm_address_checksummed(pay_to);
  const std::string amount_text = payment::format_atomic(amount);
  if (version == 2) {
    r.json = {{"scheme", "exact"},     {"network", r.network},
              {"amount", amount_text}, {"asset", chain.asset},
              {"payTo", pay_to_text},  {"maxTimeoutSeconds", kMaxTimeoutSeconds},
              {"extra", extra}};
  } else {
    r.json = {{"scheme", "exact"},
              {"network", r.network},
              {"maxAmountRequired", amount_text},
              {"payTo", pay_to_text},
              {"maxTimeoutSeconds", kMaxTimeoutSeconds},
              {"asset", chain.asset},
              {"extra", extra}};
  }
  return r;
}

std::string route_body(std::string_view name, bool forecast) {
  std::string body = R"({"route":")";
  body += name;
  body += '"';
  if (forecast) {
    body += ',';
    body += kForecast;
  }
  body += "}";
  return body;
}

bool json_string_equals(const json& object, const char* key, const json& other) {
  const auto a = object.find(key);
  const auto b = other.find(key);
  return a != object.end() && b != other.end() && *a == *b;
}

std::string string_field(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Identifies one spent authorization: EIP-3009 nonces are per (token, payer), Permit2 nonces
// per (payer) on the chain's Permit2 contract.
payment::Hash32 nonce_key(const Requirement& requirement, const payment::ExactEvmVerified& v) {
  std::uint8_t buf[1 + 8 + 20 + 20 + 32] = {};
  std::size_t at = 0;
  const bool permit2 = requirement.terms.method == EvmTransferMethod::permit2;
  buf[at++] = permit2 ? 2 : 1;
  for (int i = 7; i >= 0; --i) {
    buf[at++] = static_cast<std::uint8_t>(requirement.terms.chain_id >> (8 * i));
  }
  if (!permit2) std::memcpy(buf + at, requirement.terms.asset.data(), 20);
  at += 20;
  std::memcpy(buf + at, v.payer.data(), 20);
  at += 20;
  std::memcpy(buf + at, v.nonce.nonce.data(), 32);
  return payment::keccak256(std::span<const std::uint8_t>(buf, sizeof buf));
}

// x402's payment-identifier extension as a merchant declares it, with `required: true`.
json payment_identifier_extension() {
  return {{"payment-identifier",
           {{"info", {{"required", true}}},
            {"schema",
             {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
              {"type", "object"},
              {"properties",
               {{"required", {{"type", "boolean"}}},
                {"id", {{"type", "string"}, {"minLength", 16}, {"maxLength", 128}}}}},
              {"required", json::array({"required"})}}}}}};
}

// 16–128 characters of [A-Za-z0-9_-].
bool valid_payment_id(std::string_view id) {
  if (id.size() < 16 || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

}  // namespace

void MerchantAnswer::clear() {
  status = 0;
  drop = false;
  headers.clear();
  body.clear();
  payer.clear();
  error_reason.clear();
}

std::size_t MerchantRoutes::HashKey::operator()(const payment::Hash32& h) const {
  std::size_t v = 0;
  std::memcpy(&v, h.data(), sizeof v);  // keccak output: any 8 bytes are uniform
  return v;
}

MerchantRoutes::MerchantRoutes(const EvmAddress& pay_to, std::string_view scheme)
    : url_prefix_(std::string(scheme) + "://") {
  EvmAddress other_pay_to = pay_to;
  other_pay_to[19] ^= 0xff;  // a different payee, for /v2/payto-change
  const auto eip3009 = EvmTransferMethod::eip3009;
  auto add = [this](std::string path, RouteKind kind, std::string description, std::string body) {
    auto route = std::make_unique<Route>();
    route->path = std::move(path);
    route->kind = kind;
    route->description = std::move(description);
    route->paid_body = std::move(body);
    routes_.push_back(std::move(route));
    return routes_.back().get();
  };
  auto paid = [&](std::string path, std::string description, std::string_view name,
                  std::vector<Requirement> offers) {
    Route* r =
        add(std::move(path), RouteKind::paid, std::move(description), route_body(name, true));
    r->offered = offers;
    r->required = std::move(offers);
    return r;
  };

  add("/free", RouteKind::free, "", route_body("free", false));
  add("/_merchant/payments", RouteKind::payments, "", "");
  paid("/v2/weather", "Weather forecast (x402 v2, exact, EIP-3009)", "weather",
       {make_requirement(2, kBase, 10000, pay_to, eip3009)});
  paid("/v2/permit2", "Weather forecast (x402 v2, exact, Permit2)", "permit2",
       {make_requirement(2, kBase, 10000, pay_to, EvmTransferMethod::permit2)});
  paid("/v1/weather", "Weather forecast (x402 v1, exact, EIP-3009)", "v1-weather",
       {make_requirement(1, kBase, 10000, pay_to, eip3009)})
      ->version = 1;
  paid("/v2/multi", "Weather forecast payable on Polygon, Base or Base Sepolia", "multi",
       {make_requirement(2, kPolygon, 9000, pay_to, eip3009),
        make_requirement(2, kBase, 10000, pay_to, eip3009),
        make_requirement(2, kBaseSepolia, 5000, pay_to, eip3009)});
  paid("/v2/expensive", "An expensive forecast (5 USDC)", "expensive",
       {make_requirement(2, kBase, 5000000, pay_to, eip3009)});
  paid("/v2/price-change", "A forecast whose price rises between challenge and payment",
       "price-change", {make_requirement(2, kBase, 10000, pay_to, eip3009)})
      ->required = {make_requirement(2, kBase, 20000, pay_to, eip3009)};
  paid("/v2/payto-change", "A forecast whose payee changes between challenge and payment",
       "payto-change", {make_requirement(2, kBase, 10000, pay_to, eip3009)})
      ->required = {make_requirement(2, kBase, 10000, other_pay_to, eip3009)};
  paid("/v2/always-402", "A forecast that never settles", "always-402",
       {make_requirement(2, kBase, 10000, pay_to, eip3009)})
      ->settlement = Settlement::refuse;
  paid("/v2/drop", "A forecast whose connection drops after settlement", "drop",
       {make_requirement(2, kBase, 10000, pay_to, eip3009)})
      ->settlement = Settlement::settle_and_drop;
  Route* payment_id = paid("/v2/payment-id",
                           "A forecast that requires payment-identifier and drops its first answer",
                           "payment-id", {make_requirement(2, kBase, 10000, pay_to, eip3009)});
  payment_id->settlement = Settlement::settle_and_drop;
  payment_id->payment_identifier = true;
  // Hostile terms: offers an honest merchant never makes, which the proxy must not sign as asked.
  Requirement long_validity = make_requirement(2, kBase, 10000, pay_to, eip3009);
  long_validity.json["maxTimeoutSeconds"] = kHostileTimeoutSeconds;
  paid("/v2/long-validity", "A forecast asking for an authorization valid ~31,688 years",
       "long-validity", {long_validity});
  Requirement long_permit2 = make_requirement(2, kBase, 10000, pay_to, EvmTransferMethod::permit2);
  long_permit2.json["maxTimeoutSeconds"] = kHostileTimeoutSeconds;
  paid("/v2/long-validity-permit2", "A forecast asking for a Permit2 deadline ~31,688 years away",
       "long-validity-permit2", {long_permit2});
  paid("/v2/zero-amount", "A forecast for 0 USDC", "zero-amount",
       {make_requirement(2, kBase, 0, pay_to, eip3009)});
  paid("/v2/pay-to-zero", "A forecast paid to the zero address", "pay-to-zero",
       {make_requirement(2, kBase, 10000, EvmAddress{}, eip3009)});
  paid("/v2/pay-to-asset", "A forecast paid to the USDC contract itself", "pay-to-asset",
       {make_requirement(2, kBase, 10000, address_or_throw(kBaseUsdc), eip3009)});
  paid("/v2/unsettled-200", "A forecast delivered with success:false (keeps the authorization)",
       "unsettled-200", {make_requirement(2, kBase, 10000, pay_to, eip3009)})
      ->settlement = Settlement::deliver_unsettled;
  paid("/v2/settlement-pending", "A forecast whose settlement is broadcast, not confirmed",
       "settlement-pending", {make_requirement(2, kBase, 10000, pay_to, eip3009)})
      ->settlement = Settlement::pending;
  paid("/v2/settled-502", "A forecast settled, then answered 502", "settled-502",
       {make_requirement(2, kBase, 10000, pay_to, eip3009)})
      ->settlement = Settlement::settle_then_502;
  paid("/v2/bad-signature", "A forecast whose facilitator rejects every signature", "bad-signature",
       {make_requirement(2, kBase, 10000, pay_to, eip3009)})
      ->settlement = Settlement::refuse_signature;
}

Route* MerchantRoutes::find(std::string_view path) {
  for (auto& r : routes_) {
    if (r->path == path) return r.get();
  }
  return nullptr;
}

void MerchantRoutes::handle(const MerchantRequest& request, std::int64_t now,
                            MerchantAnswer& answer) {
  answer.clear();
  if (request.method != "GET" && request.method != "POST") {
    answer.status = 405;
    answer.headers = "Allow: GET, POST\r\n";
    answer.body = R"({"error":"method not allowed"})";
    return;
  }
  Route* route = find(request.path);
  if (route == nullptr) {
    answer.status = 404;
    answer.body = R"({"error":"not found"})";
    return;
  }
  switch (route->kind) {
    case RouteKind::free:
      answer.status = 200;
      answer.body = route->paid_body;
      return;
    case RouteKind::payments:
      write_payments(answer);
      return;
    case RouteKind::paid:
      answer_paid_route(*route, request, now, answer);
      return;
  }
}

void MerchantRoutes::answer_paid_route(Route& route, const MerchantRequest& request,
                                       std::int64_t now, MerchantAnswer& answer) {
  const std::string* header = route.version == 2 ? request.payment_signature : request.x_payment;
  if (header == nullptr) {
    write_challenge(route, request.host, kPaymentRequired, false, answer);
    return;
  }
  PaymentRecord record;
  const PaymentRecord* cached = nullptr;
  Failure failure;
  if (!verify(route, *header, now, record, cached, failure)) {
    write_failure(route, request.host, failure, answer);
    return;
  }
  std::string payment_id;
  if (route.payment_identifier &&
      !check_payment_identifier(*payment::decode_x402_credential(*header),
                                cached != nullptr ? *cached : record, payment_id, answer)) {
    return;
  }
  if (cached != nullptr) {
    // The identical credential again (a retry): the same answer, not a second payment. A
    // retry after /v2/drop gets its answer this way.
    write_success(*cached, answer);
    return;
  }
  if (answer_without_settling(route, request.host, record, answer)) return;
  const std::size_t index = payments_.size();
  payments_.push_back(record);
  if (!payment_id.empty()) by_payment_id_.emplace(payment_id, index);
  by_signature_.emplace(record.transaction, index);
  spent_nonces_.emplace(record.nonce_key, index);
  write_success(record, answer);
  answer.drop = route.settlement == Settlement::settle_and_drop;
  if (route.settlement == Settlement::settle_then_502) {
    // Settled, but the facilitator's answer was lost: a 502 without evidence.
    answer.status = 502;
    answer.headers.clear();
    answer.body = R"({"error":"facilitator error after settlement"})";
  }
}

bool MerchantRoutes::check_payment_identifier(const json& credential, const PaymentRecord& record,
                                              std::string& id, MerchantAnswer& answer) const {
  const json* info = nullptr;
  if (const auto ext = credential.find("extensions"); ext != credential.end() && ext->is_object()) {
    const auto pid = ext->find("payment-identifier");
    if (pid != ext->end() && pid->is_object()) {
      const auto i = pid->find("info");
      if (i != pid->end() && i->is_object()) info = &*i;
    }
  }
  const auto given = info != nullptr ? info->find("id") : json::const_iterator();
  if (info == nullptr || given == info->end() || !given->is_string() ||
      !valid_payment_id(given->get_ref<const std::string&>())) {
    answer.status = 400;
    answer.body =
        R"({"error":"payment-identifier: info.id (16-128 of [A-Za-z0-9_-]) is required"})";
    answer.error_reason = "payment_identifier_required";
    return false;
  }
  id = given->get<std::string>();
  const auto seen = by_payment_id_.find(id);
  if (seen != by_payment_id_.end() && payments_[seen->second].transaction != record.transaction) {
    answer.status = 409;
    answer.body = R"({"error":"payment-identifier: this id belongs to another payment"})";
    answer.error_reason = "payment_identifier_conflict";
    return false;
  }
  return true;
}

bool MerchantRoutes::answer_without_settling(Route& route, std::string_view host,
                                             const PaymentRecord& record, MerchantAnswer& answer) {
  Failure failure;
  failure.payer = payment::evm_address_checksummed(record.payer);
  switch (route.settlement) {
    case Settlement::refuse:
      failure.reason = "settlement_refused";
      write_failure(route, host, failure, answer);
      return true;
    case Settlement::refuse_signature:
      failure.reason = "invalid_exact_evm_payload_signature";
      write_failure(route, host, failure, answer);
      return true;
    case Settlement::pending:
      failure.reason = "settlement_pending";
      write_failure(route, host, failure, answer, payment::to_hex(record.transaction));
      return true;
    case Settlement::deliver_unsettled:
      // The content, and a settlement that "failed": the authorization stays with the merchant.
      write_failure(route, host, failure, answer);
      answer.status = 200;
      answer.headers = "PAYMENT-RESPONSE: " +
                       payment::encode_x402_settlement({{"success", false},
                                                        {"transaction", ""},
                                                        {"network", record.requirement->network},
                                                        {"payer", failure.payer}}) +
                       "\r\n";
      answer.body = route.paid_body;
      answer.error_reason = "unsettled";
      return true;
    case Settlement::settle:
    case Settlement::settle_and_drop:
    case Settlement::settle_then_502:
      return false;
  }
  return false;
}

bool MerchantRoutes::verify(Route& route, const std::string& header, std::int64_t now,
                            PaymentRecord& record, const PaymentRecord*& cached, Failure& failure) {
  const auto credential = payment::decode_x402_credential(header);
  if (!credential) {
    failure.reason = "invalid_payload";
    return false;
  }
  const auto version = credential->find("x402Version");
  if (version == credential->end() || !version->is_number_integer() ||
      version->get<int>() != route.version) {
    failure.reason = "invalid_x402_version";
    return false;
  }
  const Requirement* requirement = route.version == 2 ? match_v2(route, *credential, failure)
                                                      : match_v1(route, *credential, failure);
  if (requirement == nullptr) return false;
  const auto payload = credential->find("payload");
  const auto signature =
      payload != credential->end() && payload->is_object() ? payload->find("signature") : payload;
  if (payload == credential->end() || !payload->is_object() || signature == payload->end() ||
      !signature->is_string()) {
    failure.reason = "invalid_exact_evm_payload";
    return false;
  }
  const auto signature_bytes = payment::from_hex(signature->get_ref<const std::string&>());
  if (!signature_bytes || signature_bytes->size() != 65) {
    failure.reason = "invalid_exact_evm_signature";
    return false;
  }
  const payment::Hash32 transaction = payment::keccak256(*signature_bytes);
  if (const auto seen = by_signature_.find(transaction); seen != by_signature_.end()) {
    const PaymentRecord& earlier = payments_[seen->second];
    if (earlier.route == &route && earlier.requirement == requirement) {
      cached = &earlier;
      return true;
    }
    failure.reason = "invalid_exact_evm_nonce_already_used";
    failure.payer = payment::evm_address_checksummed(earlier.payer);
    return false;
  }
  const payment::ExactEvmCheck check = payment::verify_exact_evm(*payload, requirement->terms, now);
  if (const auto* reason = std::get_if<std::string>(&check)) {
    failure.reason = *reason;
    return false;
  }
  const auto& verified = std::get<payment::ExactEvmVerified>(check);
  record.nonce_key = nonce_key(*requirement, verified);
  if (spent_nonces_.contains(record.nonce_key)) {
    failure.reason = "invalid_exact_evm_nonce_already_used";
    failure.payer = payment::evm_address_checksummed(verified.payer);
    return false;
  }
  record.route = &route;
  record.requirement = requirement;
  record.payer = verified.payer;
  record.amount = verified.amount;
  record.nonce = verified.nonce.nonce;
  record.valid_before = verified.nonce.valid_before;
  record.transaction = transaction;
  return true;
}

const Requirement* MerchantRoutes::match_v2(const Route& route, const json& credential,
                                            Failure& failure) const {
  const auto accepted = credential.find("accepted");
  if (accepted == credential.end() || !accepted->is_object()) {
    failure.reason = "invalid_payload";
    return nullptr;
  }
  for (const auto& r : route.required) {
    if (*accepted == r.json) return &r;
  }
  // Say what differs from the current requirement on the same scheme and network.
  for (const auto& r : route.required) {
    if (!json_string_equals(*accepted, "scheme", r.json) ||
        !json_string_equals(*accepted, "network", r.json)) {
      continue;
    }
    if (!json_string_equals(*accepted, "amount", r.json)) {
      failure.reason = "invalid_exact_evm_authorization_value";
    } else if (payment::ascii_lower(string_field(*accepted, "payTo")) !=
               payment::ascii_lower(string_field(r.json, "payTo"))) {
      failure.reason = "invalid_exact_evm_recipient_mismatch";
    } else {
      failure.reason = "invalid_payment_requirements";
    }
    return nullptr;
  }
  failure.reason =
      string_field(*accepted, "scheme") == "exact" ? "invalid_network" : "unsupported_scheme";
  return nullptr;
}

const Requirement* MerchantRoutes::match_v1(const Route& route, const json& credential,
                                            Failure& failure) const {
  if (string_field(credential, "scheme") != "exact") {
    failure.reason = "unsupported_scheme";
    return nullptr;
  }
  const std::string network = string_field(credential, "network");
  for (const auto& r : route.required) {
    if (r.network == network) return &r;
  }
  failure.reason = "invalid_network";
  return nullptr;
}

void MerchantRoutes::write_challenge(Route& route, std::string_view host, std::string_view error,
                                     bool current_price, MerchantAnswer& answer) {
  answer.status = 402;
  const bool cacheable = error == kPaymentRequired && !current_price;
  std::string* cached = nullptr;
  if (cacheable) {
    auto it = route.challenge_cache.find(std::string(host));
    if (it == route.challenge_cache.end()) {
      if (route.challenge_cache.size() >= kChallengeCacheLimit) route.challenge_cache.clear();
      it = route.challenge_cache.emplace(std::string(host), std::string()).first;
    }
    cached = &it->second;
  }
  std::string built;
  std::string& text = cached != nullptr ? *cached : built;
  if (text.empty()) {
    std::string url = url_prefix_;
    url += host;
    url += route.path;
    const auto& requirements = current_price ? route.required : route.offered;
    json accepts = json::array();
    for (const auto& r : requirements) {
      accepts.push_back(r.json);
      if (route.version == 1) {
        accepts.back()["resource"] = url;
        accepts.back()["description"] = route.description;
        accepts.back()["mimeType"] = "application/json";
      }
    }
    if (route.version == 2) {
      json challenge = {
          {"x402Version", 2},
          {"error", error},
          {"resource",
           {{"url", url}, {"description", route.description}, {"mimeType", "application/json"}}},
          {"accepts", std::move(accepts)}};
      if (route.payment_identifier) challenge["extensions"] = payment_identifier_extension();
      text = "PAYMENT-REQUIRED: " + payment::base64_encode(challenge.dump()) + "\r\n";
    } else {
      const json challenge = {
          {"x402Version", 1}, {"error", error}, {"accepts", std::move(accepts)}};
      text = challenge.dump();
    }
  }
  if (route.version == 2) {
    answer.headers += text;
    answer.body = "{}";
  } else {
    answer.body = text;
  }
}

void MerchantRoutes::write_success(const PaymentRecord& record, MerchantAnswer& answer) const {
  const Route& route = *record.route;
  const std::string payer = payment::evm_address_checksummed(record.payer);
  json settlement = {
      {"success", true},
      {"transaction", payment::to_hex(record.transaction)},
      {"network", record.requirement->network},
      {"payer", payer},
      {"extensions",
       {{"localSettlement", {{"settledBy", "402flow merchant"}, {"onChain", false}}}}}};
  if (route.version == 2) settlement["amount"] = payment::format_atomic(record.amount);
  answer.status = 200;
  answer.headers += route.version == 2 ? "PAYMENT-RESPONSE: " : "X-PAYMENT-RESPONSE: ";
  answer.headers += payment::encode_x402_settlement(settlement);
  answer.headers += "\r\n";
  answer.body = route.paid_body;
  answer.payer = payer;
}

void MerchantRoutes::write_failure(Route& route, std::string_view host, const Failure& failure,
                                   MerchantAnswer& answer, std::string_view transaction) {
  write_challenge(route, host, failure.reason, true, answer);
  json settlement = {{"success", false},
                     {"errorReason", failure.reason},
                     {"transaction", transaction},
                     {"network", route.required.front().network}};
  if (!failure.payer.empty()) settlement["payer"] = failure.payer;
  answer.headers += route.version == 2 ? "PAYMENT-RESPONSE: " : "X-PAYMENT-RESPONSE: ";
  answer.headers += payment::encode_x402_settlement(settlement);
  answer.headers += "\r\n";
  answer.error_reason = failure.reason;
}

void MerchantRoutes::write_payments(MerchantAnswer& answer) const {
  json list = json::array();
  for (const auto& p : payments_) {
    list.push_back({{"route", p.route->path},
                    {"payer", payment::evm_address_checksummed(p.payer)},
                    {"amount", payment::format_atomic(p.amount)},
                    {"network", p.requirement->network},
                    {"asset", payment::evm_address_checksummed(p.requirement->terms.asset)},
                    {"nonce", payment::to_hex(p.nonce)},
                    {"validBefore", std::to_string(p.valid_before)},
                    {"transaction", payment::to_hex(p.transaction)}});
  }
  answer.status = 200;
  answer.headers += "Cache-Control: no-store\r\n";
  answer.body = list.dump();
}

}  // namespace flow::proxy::merchant
