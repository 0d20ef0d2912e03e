// The merchant's routes: what each path offers, how a payment for it is verified and settled
// (locally), and the book of payments taken. No sockets: the server hands over a parsed request
// and writes the answer it gets back.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "flow/payment/evm_address.hpp"
#include "flow/payment/evm_key.hpp"
#include "flow/payment/exact_evm.hpp"

namespace flow::proxy::merchant {

struct MerchantRequest {
  std::string_view method;
  std::string_view path;  // without the query
  std::string_view host;  // the Host header, or the listener's address when absent
  const std::string* payment_signature = nullptr;  // PAYMENT-SIGNATURE (v2 routes)
  const std::string* x_payment = nullptr;          // X-PAYMENT (v1 routes)
};

struct MerchantAnswer {
  int status = 0;
  bool drop = false;  // close the connection without answering
  // Complete header lines ("Name: value\r\n") beyond Content-Type and Content-Length.
  std::string headers;
  std::string body;
  // For the log line: the payer of a payment that was accepted, and why one was refused.
  std::string payer;
  std::string error_reason;
  void clear();
};

// One way to pay a route (an accepts[i] entry).
struct Requirement {
  std::string network;  // as the route's protocol version names it: "eip155:8453" or "base"
  payment::ExactEvmTerms terms;
  nlohmann::json json;  // the entry as offered; a v2 credential must echo it exactly
};

enum class RouteKind { free, paid, payments };

// What a paid route does once a payment has verified.
enum class Settlement {
  settle,           // record it and answer 200
  refuse,           // answer 402 settlement_refused, record nothing
  settle_and_drop,  // record it, then close the connection without an answer
  // Hostile or unlucky merchants, for testing what a payer records:
  deliver_unsettled,  // answer 200 with the content and success:false, record nothing
  pending,            // answer 402 success:false settlement_pending with a transaction hash
  settle_then_502,    // record it, then answer 502 as a failed facilitator would
  refuse_signature,   // answer 402 invalid_exact_evm_payload_signature (a true refusal)
};

struct Route {
  std::string path;
  RouteKind kind = RouteKind::paid;
  int version = 2;
  std::string description;
  std::string paid_body;              // the 200 body once paid (or always, for /free)
  std::vector<Requirement> offered;   // in the unpaid challenge
  std::vector<Requirement> required;  // what a payment must match (the current price)
  Settlement settlement = Settlement::settle;
  // Advertises x402's `payment-identifier` extension with `required: true`: a credential must
  // carry `info.id`; the same id with the same credential gets the first answer, with another
  // credential 409.
  bool payment_identifier = false;
  // Challenges for the usual hosts, built once: "Payment required" challenges differ only by
  // the resource URL. Bounded; cleared when full.
  std::unordered_map<std::string, std::string> challenge_cache;
};

struct PaymentRecord {
  const Route* route = nullptr;
  const Requirement* requirement = nullptr;
  payment::EvmAddress payer{};
  payment::Atomic amount = 0;
  payment::Hash32 nonce{};
  std::int64_t valid_before = 0;  // validBefore / Permit2 deadline, as signed
  payment::Hash32 transaction{};  // keccak of the signature: the local settlement's id
  payment::Hash32 nonce_key{};    // see spent_nonces_
};

class MerchantRoutes {
 public:
  // `pay_to` must be an EVM address (checked by the caller). `scheme` ("http" or "https") starts
  // the resource URLs of the challenges: what the listener speaks.
  explicit MerchantRoutes(const payment::EvmAddress& pay_to, std::string_view scheme = "http");
  MerchantRoutes(const MerchantRoutes&) = delete;
  MerchantRoutes& operator=(const MerchantRoutes&) = delete;

  // Answers one request; `now` is unix seconds.
  void handle(const MerchantRequest& request, std::int64_t now, MerchantAnswer& answer);

  const std::vector<PaymentRecord>& payments() const { return payments_; }

 private:
  struct Failure {
    std::string reason;
    std::string payer;  // when known
  };

  Route* find(std::string_view path);
  void answer_paid_route(Route& route, const MerchantRequest& request, std::int64_t now,
                         MerchantAnswer& answer);
  // Verifies a credential; on success fills `record` (and `cached` when it is the identical
  // credential of a payment already taken for this route).
  bool verify(Route& route, const std::string& header, std::int64_t now, PaymentRecord& record,
              const PaymentRecord*& cached, Failure& failure);
  const Requirement* match_v2(const Route& route, const nlohmann::json& credential,
                              Failure& failure) const;
  const Requirement* match_v1(const Route& route, const nlohmann::json& credential,
                              Failure& failure) const;
  void write_challenge(Route& route, std::string_view host, std::string_view error,
                       bool current_price, MerchantAnswer& answer);
  void write_success(const PaymentRecord& record, MerchantAnswer& answer) const;
  void write_failure(Route& route, std::string_view host, const Failure& failure,
                     MerchantAnswer& answer, std::string_view transaction = {});
  // The hostile settlements that take no payment into the book; false for the others.
  bool answer_without_settling(Route& route, std::string_view host, const PaymentRecord& record,
                               MerchantAnswer& answer);
  void write_payments(MerchantAnswer& answer) const;
  // The credential's payment-identifier id, checked; false (with the answer written) when a
  // route that requires one gets none, a malformed one, or one already used by another payment.
  bool check_payment_identifier(const nlohmann::json& credential, const PaymentRecord& record,
                                std::string& id, MerchantAnswer& answer) const;

  std::string url_prefix_;  // "http://" or "https://"
  std::vector<std::unique_ptr<Route>> routes_;
  std::vector<PaymentRecord> payments_;

  struct HashKey {
    std::size_t operator()(const payment::Hash32& h) const;
  };
  // keccak(signature) → index in payments_: an identical credential sent again is one payment.
  std::unordered_map<payment::Hash32, std::size_t, HashKey> by_signature_;
  // payment-identifier id → index in payments_.
  std::unordered_map<std::string, std::size_t> by_payment_id_;
  // keccak(method, chain, asset, payer, nonce) of every spent authorization.
  std::unordered_map<payment::Hash32, std::size_t, HashKey> spent_nonces_;
};

}  // namespace flow::proxy::merchant
