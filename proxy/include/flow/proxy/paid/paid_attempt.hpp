#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "flow/payment/payment_rail.hpp"
#include "flow/proxy/exchange/exchange.hpp"
#include "flow/proxy/exchange/exchange_hooks.hpp"
#include "flow/proxy/network/timer.hpp"
#include "flow/proxy/paid/approval_desk.hpp"
#include "flow/proxy/paid/control_headers.hpp"
#include "flow/proxy/paid/payment_decision.hpp"
#include "flow/storage/ledger_writer.hpp"

namespace flow::proxy {

class PaymentServices;

// The paid path of one exchange, DESIGN.md's lifecycle from "402" to "finalize receipt", hooked
// into the forwarding exchange at its named stages (ExchangeHooks). It owns everything the
// payment needs: the agent's controls, the replay copy of the request body, the challenge and
// the rail that read it, the credential, the held answer head, and the handle its pending jobs
// find it through. The Exchange holds none of it.
//
//   on_response_head(402) ─► take over: read the challenge ─► (request complete?)
//     ─► parse_challenge ─► decide (policy + reservation [+ in-transaction signature], writer)
//     ─► settle (a rail that makes its credential through I/O) ─► retry (replay with the
//     credential) ─► on_response_head: hold ─► finalize (outcome + receipt, writer)
//     ─► release the held head with X-402flow-Receipt / X-402flow-Paid
//
// Made with every exchange when the paid path is configured (the control headers are checked
// on arrival, 402 or not; the replay copy is kept while the body streams). With no payment
// services (no wallet) it only checks the control headers and every 402 is relayed unpaid.
class PaidAttempt final : public ExchangeHooks {
 public:
  enum class State {
    watching,           // forwarding; no 402 (yet)
    reading_challenge,  // the origin answered 402: its body is read, nothing goes to the agent
    waiting_request,    // the challenge is read; the agent's request body is still arriving
    deciding,           // policy and the reservation (and an in-transaction signature) run on
                        // the ledger's writer
    awaiting_approval,  // parked until a human decides, the approval expires or review.hold
                        // passes (review.hold > 0; with 0, review answers 403 at once)
    settling,           // a rail that makes its credential through I/O is making it
    retrying,           // the credential has left the proxy; no answer yet
    recording,          // the merchant answered; its head is held until the receipt is durable
    answered,           // the agent has (or is being sent) its answer
  };

  // A pending job's way back to its attempt. cancel() (when the exchange ends) leaves it
  // pointing nowhere: a late completion then cleans up after itself (releases or finalizes
  // what it reserved), so nothing stays reserved or signed without an outcome.
  class Link {
   public:
    explicit Link(PaidAttempt* attempt) : attempt_(attempt) {}
    PaidAttempt* get() const { return attempt_; }
    void cancel() { attempt_ = nullptr; }

   private:
    PaidAttempt* attempt_;
  };

  // `services`: null when no wallet is configured.
  PaidAttempt(Exchange& exchange, PaymentServices* services);
  ~PaidAttempt() override;
  PaidAttempt(const PaidAttempt&) = delete;
  PaidAttempt& operator=(const PaidAttempt&) = delete;

  State state() const { return state_; }

  // ExchangeHooks
  bool on_request() override;
  void on_request_body(const uv_buf_t* bufs, unsigned count) override;
  bool holds_request_body() const override;
  bool on_request_end() override;
  void on_request_sent() override;
  HeadVerdict on_response_head(ResponseHead& head) override;
  bool on_taken_body(std::string_view data) override;
  void on_taken_complete() override;
  bool on_upstream_failure(payment::Reason error, std::string_view why) override;
  void on_end(AccessRecord& record) override;
  bool ends_on_client_eof() const override { return state_ == State::awaiting_approval; }

 private:
  // DESIGN.md's stages, one function each.
  void parse_challenge();  // the 402 read in full: rail, offers, what is payable
  // policy + reservation (+ in-transaction signature), on the ledger's writer
  void decide(DecideInput in, payment::PaymentRail* rail);
  void on_decided(DecideOutcome outcome);
  void settle(std::size_t offer_index);  // a rail whose credential is made through I/O
  void retry();                          // the request again, with the credential
  HeadVerdict on_paid_answer(ResponseHead& head);
  void finalize(storage::Outcome outcome);  // outcome and receipt, durable
  void on_finalized(std::string receipt_id, bool recorded);
  // Review: hold for the decision (review.hold > 0), or answer review_required now.
  void review(const DecideOutcome& outcome, nlohmann::json extra);
  void hold_for_approval(const storage::Approval& approval, nlohmann::json extra);
  void on_approval_decided(const storage::Approval& approval);
  void on_hold_deadline();
  void answer_review_required(const storage::Approval& approval, nlohmann::json extra);
  void refuse_approval(payment::Reason reason, const std::optional<storage::Approval>& approval);

  bool payments_enabled() const;
  void on_challenge_deadline();
  void enter(State state);
  void answer(ProxyAnswer response, int status);
  void relay_challenge(payment::Reason code, std::string_view detail);
  void answer_existing(const DecideOutcome& outcome);
  void resend_credential(std::size_t offer_index, std::int64_t attempt_id,
                         const std::string& credential_ref);
  void use_credential(payment::Credential credential);
  void paid_without_answer(payment::Reason error, std::string_view message);
  // The paid retry went unanswered: send the identical credential once more, where the rail
  // says the merchant deduplicates it. False when it may not (then the outcome is unknown).
  bool resend_credential_once(std::string_view why);
  HeaderList receipt_headers(std::string_view receipt_id, bool settled) const;
  storage::Result<void> record_outcome(storage::Outcome outcome,
                                       storage::LedgerWriter::Done<storage::Receipt> done);

  Exchange& ex_;
  PaymentServices* pay_;
  State state_ = State::watching;
  bool ended_ = false;          // the exchange has ended (on_end ran)
  std::shared_ptr<Link> link_;  // made on a 402: exchanges that never meet one allocate nothing
  AgentControls controls_;
  std::string replay_body_;  // the framed request body as sent upstream, for the paid retry
  bool keeps_replay_copy_ = false;
  bool replayable_ = true;
  ResponseHead challenge_head_;
  std::string challenge_body_;
  std::shared_ptr<const payment::RailChallenge> challenge_;  // shared with the ledger job
  std::vector<std::size_t> candidate_offers_;  // policy's offer i is challenge_->offers()[...]
  std::int64_t attempt_id_ = 0;
  bool attempt_was_signed_ = false;  // this is a resend of an existing attempt's credential
  bool settled_ = false;             // the merchant's answer settled the payment
  bool credential_resent_ = false;   // the identical credential went out a second time
  payment::Offer paid_offer_;
  std::string paid_symbol_;
  unsigned paid_decimals_ = 0;
  HeaderList credential_;   // the credential header for the paid retry
  ResponseHead held_head_;  // the paid answer's head while the receipt is written
  HeaderList held_extra_;
  ReasonField held_reason_;  // the X-402flow-Error of held_extra_, for the access log
  std::optional<Deadline> challenge_deadline_;  // armed while the 402's body is read
  // What the decision was asked, kept to ask again when a held approval is approved.
  std::shared_ptr<const DecideInput> decided_on_;
  payment::PaymentRail* rail_ = nullptr;
  ApprovalDesk::Ticket held_ticket_;       // while awaiting_approval
  std::optional<Deadline> hold_deadline_;  // review.hold (or the approval's expiry) passing
  storage::Approval held_approval_;        // the approval waited on
  nlohmann::json held_review_extra_;       // the review answer's fields, for a timed-out hold
  std::uint64_t started_ns_ = 0;
};

std::string_view paid_state_name(PaidAttempt::State state);

// Crash tests: when FLOW402_TEST_STOP_AT names `stage`, the process stops itself (SIGSTOP) there,
// so a test can SIGKILL it at exactly that point: reserved (reserved and signed, the commit not
// yet made), signed (committed, nothing sent), sent (the paid retry written to the merchant),
// answered (the merchant's answer read, its outcome not yet recorded). Compiled only into test
// builds (FLOW_TEST_HOOKS); elsewhere it does nothing and reads no environment.
#ifdef FLOW_TEST_HOOKS
void stop_here_for_test(std::string_view stage);
#else
inline void stop_here_for_test(std::string_view /*stage*/) {}
#endif

}  // namespace flow::proxy
