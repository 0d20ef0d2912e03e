#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "flow/payment/amount.hpp"
#include "flow/payment/header_field.hpp"
#include "flow/payment/offer.hpp"
#include "flow/payment/reason.hpp"
#include "flow/payment/settlement_verdict.hpp"

// A payment rail: one protocol's way through DESIGN.md's lifecycle (parse the 402, say what the
// wallets can pay, make the credential, judge the merchant's answer). The proxy speaks only this
// interface; a new rail is a new implementation registered in payment_rails.hpp, nothing in
// proxy/ changes.
namespace flow::payment {

// The merchant's answer as the proxy read it. Views: valid for the call only.
struct RailAnswer {
  int status = 0;
  std::span<const HeaderField> headers;
  std::string_view body;
  std::string_view request_url;  // fills Offer::resource when the challenge names none
};

// One offer of a challenge, normalized, and whether it is well-formed enough to be paid at all.
struct RailOffer {
  Offer offer;
  AmountError amount_error = AmountError::none;
};

// A rail's reading of a 402. The proxy sees the normalized offers; what the rail needs to pay
// them (the challenge exactly as sent) stays inside the rail's own subclass.
class RailChallenge {
 public:
  virtual ~RailChallenge() = default;
  virtual std::string_view rail() const = 0;  // the rail that read it ("x402")
  // In the challenge's order: offers()[i].offer.index == i.
  virtual const std::vector<RailOffer>& offers() const = 0;
  // The merchant's own error text, if any (shown, never trusted).
  virtual std::string_view merchant_error() const = 0;
};

// Why a rail could not read a 402 or make a credential: a reason of the one taxonomy (named in
// the explanation header), and detail.
struct RailError {
  Reason code = Reason::not_supported;
  std::string detail;  // no secrets, ever
};
RailError rail_error(Reason reason, std::string detail);

using ChallengeRead = std::variant<std::shared_ptr<const RailChallenge>, RailError>;

// The retry header that carries a payment, and what the ledger records about it.
struct Credential {
  std::string header_name;
  std::string header_value;
  std::string payer;              // who pays (an address), lower-case for EVM
  std::string credential_ref;     // rebuilds this exact credential (same nonce)
  std::string credential_sha256;  // lower-case hex SHA-256 of header_value
  std::int64_t valid_until = 0;   // unix seconds the credential can be used until (validBefore)
};

// What settle() is asked to pay: an offer of a challenge this rail read.
struct SettleRequest {
  std::shared_ptr<const RailChallenge> challenge;
  std::size_t offer = 0;          // index into challenge->offers()
  std::int64_t now = 0;           // unix seconds
  std::int64_t max_validity = 0;  // payment.max_validity, seconds (0: the rail's default)
  std::string rebuild_ref;        // non-empty: rebuild this credential_ref, never a new one
};

using SettleResult = std::variant<Credential, RailError>;
using SettleDone = std::function<void(SettleResult)>;

// Runs a function later on the owner's thread (the proxy: its loop, through the mailbox).
using Post = std::function<void(std::function<void()>)>;

// A pending settle(). cancel() is called on the owner's thread; after it, `done` is never called
// and the rail may abort its I/O. An empty handle has nothing pending. Copies share the state.
class CancelHandle {
 public:
  CancelHandle() = default;
  void cancel();
  bool cancelled() const;

 private:
  friend class SettleCompletion;
  struct State {
    bool cancelled = false;
    bool finished = false;
    std::function<void()> abort;
  };
  explicit CancelHandle(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

// What a rail keeps for one settle(): `done`, guarded by the handle. complete() runs on the
// owner's thread (a rail posts it there); it calls `done` once, and not at all after cancel().
class SettleCompletion {
 public:
  explicit SettleCompletion(SettleDone done);
  // `abort` (optional): what cancel() should do to the rail's I/O in flight.
  CancelHandle handle(std::function<void()> abort = {}) const;
  void complete(SettleResult result) const;

 private:
  std::shared_ptr<CancelHandle::State> state_;
  std::shared_ptr<SettleDone> done_;
};

// What the merchant's answer to the paid retry proves, with its evidence for the receipt.
struct AnswerJudgement {
  SettlementVerdict verdict = SettlementVerdict::unknown;
  std::string reason;          // failed and unknown: why
  std::string evidence;        // the settlement evidence exactly as sent (empty when none)
  std::string settlement_ref;  // the transaction / preimage hash the evidence names
};

class PaymentRail {
 public:
  virtual ~PaymentRail() = default;
  virtual std::string_view name() const = 0;  // "x402"; also the decision's protocols_offered

  // Reads a 402 into the rail's challenge, or why it cannot. Pure; never throws.
  virtual ChallengeRead read_challenge(const RailAnswer& answer) const = 0;

  // Empty when this rail can pay challenge.offers()[offer] with the configured signers;
  // otherwise the reason's name (bad_amount, an offer problem, unsupported_scheme,
  // no_wallet_for_network).
  virtual std::string unpayable_reason(const RailChallenge& challenge, std::size_t offer) const = 0;

  // Capability: credential_now() makes a credential synchronously, in microseconds, with no
  // I/O and from any thread, so the caller may make it inside the reservation's ledger
  // transaction (reservation and signature in one commit). A rail without it (its settlement is
  // network I/O: an lnd node, a Solana RPC) is paid through settle() only.
  virtual bool signs_in_transaction() const { return false; }
  virtual SettleResult credential_now(const SettleRequest& request) const;

  // Makes the credential for `request`. `done` runs later on the owner's thread (through the
  // rail's Post), never inside this call, and not at all once the handle is cancelled.
  virtual CancelHandle settle(SettleRequest request, SettleDone done) = 0;

  // Capability: the merchant deduplicates this challenge's credential (x402's
  // `payment-identifier`), so after a paid retry went unanswered (timeout, connection lost
  // before any response) the identical credential may be sent once more: the merchant answers
  // with its first result, never a second charge.
  virtual bool resends_credential_safely(const RailChallenge& /*challenge*/) const { return false; }

  // Judges the merchant's answer to the paid retry: settled, failed (nothing moved) or unknown.
  virtual AnswerJudgement judge_answer(int status, std::span<const HeaderField> headers) const = 0;
};

// The indices of the offers `rail` can pay, in the challenge's order.
std::vector<std::size_t> payable_offers(const PaymentRail& rail, const RailChallenge& challenge);

}  // namespace flow::payment
