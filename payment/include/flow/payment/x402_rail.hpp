#pragma once
#include <span>
#include <string_view>
#include <vector>

#include "flow/payment/payment_rail.hpp"
#include "flow/payment/signer_registry.hpp"
#include "flow/payment/x402_challenge.hpp"

namespace flow::payment {

// An x402 challenge (v1 body, v2 PAYMENT-REQUIRED, WWW-Authenticate, h402) as the rail read it.
class X402RailChallenge final : public RailChallenge {
 public:
  explicit X402RailChallenge(X402Challenge challenge);
  std::string_view rail() const override;
  const std::vector<RailOffer>& offers() const override { return offers_; }
  std::string_view merchant_error() const override { return challenge_.error; }
  const X402Challenge& x402() const { return challenge_; }

 private:
  X402Challenge challenge_;
  std::vector<RailOffer> offers_;
};

// x402 "exact" on EVM chains over the free functions of x402_challenge, x402_payer, exact_evm
// and x402_settlement(_verdict). Signs in microseconds with no I/O: it declares
// signs_in_transaction(), and settle() signs at once and delivers through `post`.
class X402Rail final : public PaymentRail {
 public:
  static constexpr std::string_view kName = "x402";

  // `signers` must outlive the rail.
  X402Rail(const SignerRegistry& signers, Post post);

  std::string_view name() const override { return kName; }
  ChallengeRead read_challenge(const RailAnswer& answer) const override;
  std::string unpayable_reason(const RailChallenge& challenge, std::size_t offer) const override;
  bool signs_in_transaction() const override { return true; }
  SettleResult credential_now(const SettleRequest& request) const override;
  CancelHandle settle(SettleRequest request, SettleDone done) override;
  // When the merchant advertises `payment-identifier`: every credential carries its id.
  bool resends_credential_safely(const RailChallenge& challenge) const override;
  AnswerJudgement judge_answer(int status, std::span<const HeaderField> headers) const override;

 private:
  const SignerRegistry& signers_;
  Post post_;
};

}  // namespace flow::payment
