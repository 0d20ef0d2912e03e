#include "flow/payment/x402_rail.hpp"

#include <utility>

#include "flow/payment/exact_evm.hpp"
#include "flow/payment/x402_payer.hpp"
#include "flow/payment/x402_settlement.hpp"
#include "flow/payment/x402_settlement_verdict.hpp"

namespace flow::payment {
namespace {

// The x402 challenge a request names, or null when another rail read it.
const X402Challenge* x402_of(const RailChallenge* challenge) {
  const auto* own = dynamic_cast<const X402RailChallenge*>(challenge);
  return own ? &own->x402() : nullptr;
}

}  // namespace

X402RailChallenge::X402RailChallenge(X402Challenge challenge) : challenge_(std::move(challenge)) {
  offers_.reserve(challenge_.accepts.size());
  for (const auto& r : challenge_.accepts) offers_.push_back({r.offer, r.amount_error});
}

std::string_view X402RailChallenge::rail() const {
  return X402Rail::kName;
}

X402Rail::X402Rail(const SignerRegistry& signers, Post post)
    : signers_(signers), post_(std::move(post)) {}

ChallengeRead X402Rail::read_challenge(const RailAnswer& answer) const {
  ChallengeParse parsed = parse_x402_challenge(answer.headers, answer.body, answer.request_url);
  if (parsed.error != ChallengeError::none || !parsed.challenge) {
    return rail_error(reason_of(parsed.error).value_or(Reason::not_x402),
                      parsed.detail.empty()
                          ? "the 402 carries no x402 challenge this proxy can read"
                          : std::move(parsed.detail));
  }
  return std::make_shared<const X402RailChallenge>(std::move(*parsed.challenge));
}

std::string X402Rail::unpayable_reason(const RailChallenge& challenge, std::size_t offer) const {
  const X402Challenge* c = x402_of(&challenge);
  const auto because = [](Reason reason) { return std::string(reason_name(reason)); };
  if (c == nullptr || offer >= c->accepts.size()) return because(Reason::unsupported_scheme);
  const X402Requirement& r = c->accepts[offer];
  if (r.amount_error != AmountError::none) return because(Reason::bad_amount);
  if (auto problem = reason_of(r.problem)) return because(*problem);
  if (!exact_evm_terms(r)) return because(Reason::unsupported_scheme);
  if (signers_.find(kName, r.offer.network) == nullptr) {
    return because(Reason::no_wallet_for_network);
  }
  return {};
}

SettleResult X402Rail::credential_now(const SettleRequest& request) const {
  const X402Challenge* c = x402_of(request.challenge.get());
  if (c == nullptr || request.offer >= c->accepts.size()) {
    return rail_error(Reason::unsupported_scheme, "not an offer of an x402 challenge");
  }
  const X402Requirement& r = c->accepts[request.offer];
  const auto* signer = signers_.find_as<EvmSigner>(kName, r.offer.network);
  if (!exact_evm_terms(r) || signer == nullptr) {
    return rail_error(Reason::unsupported_scheme, "no wallet can sign this offer");
  }
  ExactEvmNonce nonce;
  if (request.rebuild_ref.empty()) {
    nonce = fresh_exact_evm_nonce(r, request.now, request.max_validity);
  } else {
    const auto decoded = decode_credential_ref(request.rebuild_ref);
    if (!decoded) {
      return rail_error(Reason::credential_not_rebuildable,
                        "the earlier attempt's credential cannot be rebuilt");
    }
    nonce = decoded->second;
  }
  X402Payment p = pay_x402(*c, request.offer, signer->key(), nonce);
  return Credential{std::move(p.credential.header_name),
                    std::move(p.credential.header_value),
                    std::move(p.payer),
                    std::move(p.credential_ref),
                    std::move(p.credential_sha256),
                    nonce.valid_before};
}

CancelHandle X402Rail::settle(SettleRequest request, SettleDone done) {
  // Signing takes microseconds: it happens now; only the delivery is deferred, so callers see
  // the same asynchronous contract as a rail that waits on the network.
  SettleCompletion completion(std::move(done));
  CancelHandle handle = completion.handle();
  post_([completion, result = credential_now(request)]() mutable {
    completion.complete(std::move(result));
  });
  return handle;
}

bool X402Rail::resends_credential_safely(const RailChallenge& challenge) const {
  const X402Challenge* c = x402_of(&challenge);
  return c != nullptr && advertises_payment_identifier(*c);
}

AnswerJudgement X402Rail::judge_answer(int status, std::span<const HeaderField> headers) const {
  const SettlementParse evidence = parse_x402_settlement(headers);
  // A fresh challenge in a 402 without evidence may say why the payment was refused.
  std::string refusal_text;
  if (status == 402 && !evidence.settlement) {
    const ChallengeParse again = parse_x402_challenge(headers, {}, {});
    if (again.challenge) refusal_text = again.challenge->error;
  }
  SettlementJudgement judged = judge_x402_settlement(status, evidence, refusal_text);
  AnswerJudgement out;
  out.verdict = judged.verdict;
  out.reason = std::move(judged.reason);
  if (evidence.settlement) {
    out.evidence = evidence.settlement->raw_json;
    out.settlement_ref = evidence.settlement->transaction;
  }
  return out;
}

}  // namespace flow::payment
