// The paid path of one exchange (PaidAttempt): DESIGN.md's lifecycle from "402" to "finalize
// receipt", one function per stage — parse_challenge, decide, settle, retry, finalize — hooked
// into the forwarding exchange at its named stages (ExchangeHooks).
//
// Every protocol step goes through the payment::PaymentRail that read the 402 (x402 today). A
// rail that signs in the transaction signs inside decide; one that settles through I/O makes its
// credential on the loop after the reservation commits (settle).
//
// Every ledger or rail completion comes back through the loop and finds its attempt through a
// Link, which the attempt cancels when the exchange ends; an orphaned completion cleans up after
// itself so nothing stays reserved or signed without an outcome.
#include "flow/proxy/paid/paid_attempt.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <iterator>
#include <memory>
#include <utility>

#include "flow/payment/payment_rail.hpp"
#include "flow/payment/payment_rails.hpp"
#include "flow/payment/reason.hpp"
#include "flow/payment/unix_clock.hpp"
#include "flow/proxy/exchange/downstream.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/paid/control_headers.hpp"
#include "flow/proxy/paid/payment_answer.hpp"
#include "flow/proxy/paid/payment_decision.hpp"
#include "flow/proxy/paid/payment_services.hpp"
#include "flow/proxy/server.hpp"
#include "flow/storage/decision.hpp"
#include "flow/storage/url_redaction.hpp"

namespace flow::proxy {
namespace {

std::vector<payment::HeaderField> header_fields(const HeaderList& headers) {
  std::vector<payment::HeaderField> fields;
  fields.reserve(headers.size());
  for (const auto& h : headers) fields.push_back({h.name, h.value});
  return fields;
}

bool same_terms(const payment::Offer& a, const payment::Offer& b) {
  return a.protocol == b.protocol && a.scheme == b.scheme && a.network == b.network &&
         a.asset == b.asset && a.pay_to == b.pay_to;
}

std::string origin_of(const Target& t) {
  std::string origin = t.scheme + "://" + t.host;
  if (t.port != (t.scheme == "https" ? 443 : 80)) origin += ":" + std::to_string(t.port);
  return origin;
}

// Splits "0.10 USDC, 20000 msat".
std::vector<std::string> split_amounts(std::string_view text) {
  std::vector<std::string> parts;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    parts.emplace_back(part);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return parts;
}

// The ledger's outcome for the merchant's answer to a paid request, as the rail judged it (only
// a refusal that proves nothing moved is failed; anything else but a settlement is unknown).
storage::Outcome outcome_of(int status, payment::AnswerJudgement judged) {
  storage::Outcome o;
  o.http_status = status;
  o.evidence = std::move(judged.evidence);
  o.settlement_ref = std::move(judged.settlement_ref);
  switch (judged.verdict) {
    case payment::SettlementVerdict::settled:
      o.state = storage::AttemptState::settled;
      break;
    case payment::SettlementVerdict::failed:
      o.state = storage::AttemptState::failed;
      break;
    case payment::SettlementVerdict::unknown:
      o.state = storage::AttemptState::unknown;
      break;
  }
  if (o.state != storage::AttemptState::settled) {
    o.failure_code = o.state == storage::AttemptState::failed
                         ? payment::Reason::payment_refused
                         : payment::Reason::payment_outcome_unknown;
  }
  o.failure_reason = std::move(judged.reason);
  return o;
}

// How long past an approval's expiry a held request waits for the ledger's expiry sweep to
// wake it, before answering approval_expired by itself.
constexpr std::int64_t kExpiryGraceMs = 1'000;

// "2026-01-01T00:00:00Z"; null for 0 (never).
nlohmann::json utc_iso8601(std::int64_t ms) {
  if (ms == 0) return nullptr;
  return payment::format_utc(ms / 1000);
}

// A signed credential that never left the process because the agent went away: nothing can
// have moved, the attempt is failed.
storage::Outcome never_sent() {
  storage::Outcome o;
  o.state = storage::AttemptState::failed;
  o.failure_code = payment::Reason::client_closed;
  o.failure_reason = "the agent disconnected before the signed payment was sent";
  return o;
}

// For a rail that settles through I/O (it does not sign inside the reservation's transaction):
// the reservation is durable already. The rail makes the credential on its own I/O, completing
// on the loop (never on the ledger's writer); the credential is recorded (mark_signed, durable)
// before it may leave, then handed to `send`. If the rail fails, or the exchange ended
// meanwhile, the credential never leaves: the reservation is released (or, once signed, the
// attempt failed) and `refuse` hears why when someone is left to tell.
void settle_reserved(PaymentServices& pay, payment::PaymentRail& rail,
                     payment::SettleRequest request, std::int64_t attempt,
                     std::shared_ptr<PaidAttempt::Link> token,
                     std::function<void(payment::Credential)> send,
                     std::function<void(std::string)> refuse) {
  PaymentServices* services = &pay;
  auto give_up = [services, attempt, token, refuse](payment::Reason code, std::string why) {
    (void)services->ledger().release(attempt, code, why + "; nothing was sent", {});
    if (token->get() != nullptr) refuse(std::move(why));
  };
  (void)rail.settle(std::move(request), [services, attempt, token, send,
                                         give_up](payment::SettleResult made) {
    if (auto* error = std::get_if<payment::RailError>(&made)) {
      give_up(payment::Reason::payment_rail_failed,
              "the payment rail could not make the credential (" +
                  std::string(payment::reason_name(error->code)) + "): " + error->detail);
      return;
    }
    if (token->get() == nullptr) {
      give_up(payment::Reason::client_closed, "the agent disconnected before the payment was made");
      return;
    }
    auto credential = std::make_shared<payment::Credential>(std::get<payment::Credential>(made));
    auto recorded = services->mailbox().on_loop<storage::Result<storage::Attempt>>(
        [services, attempt, token, send, give_up,
         credential](storage::Result<storage::Attempt> marked) {
          if (!marked.ok()) {
            give_up(payment::Reason::ledger_unavailable,
                    "recording the credential failed: " + marked.error().describe());
          } else if (token->get() == nullptr) {
            (void)services->ledger().finalize(attempt, never_sent(), {});
          } else {
            send(std::move(*credential));
          }
        });
    auto queued =
        services->ledger().mark_signed(attempt,
                                       {credential->payer, credential->credential_ref,
                                        credential->credential_sha256, credential->valid_until},
                                       std::move(recorded));
    if (!queued.ok()) {
      give_up(payment::Reason::ledger_unavailable,
              "recording the credential failed: " + queued.error().describe());
    }
  });
}

// What a refusal's answer names besides the decision: who asked, the host, the agent's maximum.
RefusalContext refusal_context(Exchange& ex, const AgentControls& controls, nlohmann::json extra) {
  return {std::move(extra), ex.record().agent, ex.target().host, controls.max_amount,
          payment::unix_now()};
}

}  // namespace

std::string_view paid_state_name(PaidAttempt::State state) {
  // In the enum's order; `watching` is "none" in the access log (no 402 was met).
  static constexpr std::string_view kNames[] = {"none",     "reading_challenge", "waiting_request",
                                                "deciding", "awaiting_approval", "settling",
                                                "retrying", "recording",         "answered"};
  static_assert(std::size(kNames) == static_cast<std::size_t>(PaidAttempt::State::answered) + 1);
  return kNames[static_cast<std::size_t>(state)];
}

PaidAttempt::PaidAttempt(Exchange& exchange, PaymentServices* services)
    : ex_(exchange), pay_(services) {}

PaidAttempt::~PaidAttempt() {
  if (link_) link_->cancel();
}

void PaidAttempt::enter(State state) {
  state_ = state;
  // Waiting on the ledger, a rail or a human is not an idle origin: no transport timer may end
  // the exchange meanwhile.
  const bool waiting =
      state == State::deciding || state == State::awaiting_approval || state == State::settling;
  if (waiting && !ex_.parked()) ex_.park();
  if (!waiting && ex_.parked()) ex_.unpark();
}

bool PaidAttempt::payments_enabled() const {
  // HEAD cannot carry the paid content back, so a HEAD request's 402 is relayed as it is.
  return pay_ != nullptr && ex_.request().method != "HEAD";
}

bool PaidAttempt::on_request() {
  // Validated on arrival, 402 or not: a control the proxy cannot read is refused, never ignored.
  const auto policy = pay_ ? pay_->policy() : ex_.server().policy();
  auto read = read_control_headers(ex_.request().headers, *policy);
  if (auto* problem = std::get_if<ControlProblem>(&read)) {
    answer(problem_response(400, problem->code, problem->detail, {{"header", problem->header}}, {},
                            false),
           400);
    return false;
  }
  controls_ = std::move(std::get<AgentControls>(read));
  keeps_replay_copy_ = payments_enabled();
  return true;
}

void PaidAttempt::on_request_body(const uv_buf_t* bufs, unsigned count) {
  if (!keeps_replay_copy_ || !replayable_) return;
  std::size_t size = 0;
  for (unsigned i = 0; i < count; ++i) size += bufs[i].len;
  if (replay_body_.size() + size > ex_.server().settings().replay_limit) {
    replayable_ = false;
    replay_body_.clear();
    replay_body_.shrink_to_fit();
    return;
  }
  for (unsigned i = 0; i < count; ++i) replay_body_.append(bufs[i].base, bufs[i].len);
}

bool PaidAttempt::holds_request_body() const {
  // The origin has answered 402: the rest of the body is kept for the paid retry only.
  return state_ == State::waiting_request || state_ == State::deciding;
}

bool PaidAttempt::on_request_end() {
  if (state_ != State::waiting_request) return false;
  parse_challenge();
  return true;
}

void PaidAttempt::on_request_sent() {
  if (state_ == State::retrying) stop_here_for_test("sent");
}

ExchangeHooks::HeadVerdict PaidAttempt::on_response_head(ResponseHead& head) {
  if (state_ == State::retrying) return on_paid_answer(head);
  if (head.status != 402 || state_ != State::watching || !payments_enabled()) {
    return HeadVerdict::proceed;
  }
  started_ns_ = uv_hrtime();
  ++pay_->counters().challenges;
  enter(State::reading_challenge);
  // Made only now: exchanges that never meet a 402 allocate nothing more for the paid path.
  link_ = std::make_shared<Link>(this);
  challenge_head_ = std::move(head);
  // Made only on a 402: a timer per exchange would cost every pass-through request.
  challenge_deadline_.emplace(ex_.server().loop(), [this] { on_challenge_deadline(); });
  challenge_deadline_->arm(ex_.server().settings().timeouts.challenge);
  return HeadVerdict::take_over;
}

void PaidAttempt::on_challenge_deadline() {
  if (state_ != State::reading_challenge) return;
  ex_.fail(payment::Reason::upstream_timeout,
           "the merchant's 402 challenge did not arrive within " +
               std::to_string(ex_.server().settings().timeouts.challenge.count()) + " ms");
}

bool PaidAttempt::on_upstream_failure(payment::Reason error, std::string_view why) {
  if (state_ == State::reading_challenge && error == payment::Reason::upstream_timeout) {
    on_challenge_deadline();
    return true;
  }
  if (state_ != State::retrying) return false;
  if (resend_credential_once(why)) return true;
  if (error == payment::Reason::upstream_timeout) {
    paid_without_answer(
        error, "the merchant did not answer the paid request within " +
                   std::to_string(ex_.server().settings().timeouts.upstream.count()) + " ms");
  } else {
    paid_without_answer(error, std::string(why) + " after the payment was sent");
  }
  return true;
}

bool PaidAttempt::resend_credential_once(std::string_view why) {
  // Only where the merchant deduplicates the credential (x402's payment-identifier): it then
  // answers the identical credential with its first result. Anywhere else a resend could meet a
  // merchant that refuses the spent nonce, turning a payment that may have settled into
  // "failed"; the outcome stays unknown for the agent's retry or the operator instead.
  if (credential_resent_ || !pay_->rail_for(*challenge_).resends_credential_safely(*challenge_)) {
    return false;
  }
  credential_resent_ = true;
  ++pay_->counters().credentials_resent;
  std::string fields = "\"attempt\":" + std::to_string(attempt_id_) + ",\"why\":";
  append_json_string(fields, why);
  ex_.server().log().info("paid request unanswered; resending the identical credential", fields);
  ex_.drop_upstream();
  ex_.replay_with(credential_, replay_body_);
  return true;
}

bool PaidAttempt::on_taken_body(std::string_view data) {
  if (challenge_body_.size() + data.size() <= ex_.server().settings().challenge_max_bytes) {
    challenge_body_.append(data);
    return true;
  }
  // Too large to be a challenge worth reading: relay the 402 as it streams, unpaid.
  if (challenge_deadline_) challenge_deadline_->disarm();
  enter(State::answered);
  ++pay_->counters().not_payable;
  const HeaderList explain = error_headers(
      payment::Reason::challenge_too_large,
      "the 402 body exceeds proxy.challenge_max_bytes (" +
          std::to_string(ex_.server().settings().challenge_max_bytes) + " bytes); not paid");
  ex_.relay_head(challenge_head_, explain, payment::Reason::challenge_too_large);
  ex_.relay_body(challenge_body_);
  ex_.relay_body(data);
  challenge_body_.clear();
  return false;
}

void PaidAttempt::on_taken_complete() {
  if (challenge_deadline_) challenge_deadline_->disarm();
  if (!ex_.request_complete() && replayable_) {
    enter(State::waiting_request);
    ex_.wait_for_request_body();
    return;
  }
  parse_challenge();
}

void PaidAttempt::parse_challenge() {
  PaymentServices& pay = *pay_;
  if (!replayable_) {
    ++pay.counters().not_payable;
    relay_challenge(payment::Reason::request_not_replayable,
                    "the request body is larger than proxy.replay_limit (" +
                        std::to_string(ex_.server().settings().replay_limit) +
                        " bytes), so it cannot be sent again with a payment; not paid");
    return;
  }
  const auto headers = header_fields(challenge_head_.headers);
  auto read =
      pay.rails().read_challenge({challenge_head_.status, headers, challenge_body_, ex_.url()});
  if (auto* error = std::get_if<payment::RailError>(&read)) {
    ++pay.counters().not_payable;
    relay_challenge(error->code, error->detail);
    return;
  }
  payment::PaymentRail* rail = std::get<payment::RailChallengeRead>(read).rail;
  challenge_ = std::move(std::get<payment::RailChallengeRead>(read).challenge);

  DecideInput in;
  in.policy = pay.policy();
  const auto& accepts = challenge_->offers();
  std::string problems;
  std::optional<PreparedOffer> prepared;
  const std::int64_t now = payment::unix_now();
  if (!controls_.prepared_id.empty()) {
    prepared = pay.take_prepared(controls_.prepared_id, now);
    if (!prepared || prepared->agent != ex_.record().agent || prepared->url != ex_.url() ||
        prepared->method != ex_.request().method) {
      answer(problem_response(payment::Reason::prepared_offer_unknown,
                              "no prepared offer '" + controls_.prepared_id +
                                  "' for this agent and request (prepared offers are used once "
                                  "and expire after " +
                                  std::to_string(PaymentServices::kPreparedTtl) + " s)",
                              nlohmann::json::object(), {}, false),
             409);
      return;
    }
  }
  for (std::size_t i = 0; i < accepts.size(); ++i) {
    const auto& r = accepts[i];
    const std::string why = rail->unpayable_reason(*challenge_, i);
    if (!why.empty()) {
      problems +=
          (problems.empty() ? "" : "; ") + std::string("offer ") + std::to_string(i) + ": " + why;
      continue;
    }
    if (prepared &&
        !(same_terms(r.offer, prepared->offer) && r.offer.amount <= prepared->offer.amount)) {
      continue;
    }
    in.offers.push_back({r.offer, r.amount_error});
    candidate_offers_.push_back(i);
  }
  if (in.offers.empty()) {
    if (prepared) {
      answer(problem_response(
                 payment::Reason::prepared_offer_changed,
                 "the merchant no longer offers the prepared terms at the prepared price or lower; "
                 "not paid",
                 {{"prepared", offer_json(prepared->offer, "", 0)}}, {}, false),
             409);
      return;
    }
    ++pay.counters().not_payable;
    relay_challenge(payment::Reason::no_payable_offer, "no offer this proxy can sign: " + problems);
    return;
  }
  if (!controls_.max_amount.empty()) {
    for (const auto& text : split_amounts(controls_.max_amount)) {
      auto parsed_max = in.policy->parse_amount(text);
      if (auto* error = std::get_if<std::string>(&parsed_max)) {
        answer(problem_response(payment::Reason::bad_max_amount,
                                "X-402flow-Max-Amount: " + *error +
                                    " (write e.g. \"0.05 USDC\" or \"0.05 USDC, 20000 msat\")",
                                nlohmann::json::object(), {}, false),
               400);
        return;
      }
      in.agent_max.push_back(std::get<policy::UnitAmount>(std::move(parsed_max)));
    }
  }
  in.agent = ex_.record().agent;
  in.host = ex_.target().host;
  in.path = ex_.target().path.substr(0, ex_.target().path.find('?'));
  in.method = ex_.request().method;
  in.merchant_origin = origin_of(ex_.target());
  in.url = ex_.url();
  in.offers_seen = static_cast<int>(accepts.size());
  in.protocols_offered = std::string(rail->name());
  in.now = now;
  in.prepare_only = controls_.prepare;
  in.approval_id = controls_.approval_id;
  // Prepare mode only looks: it never picks up (and so never resends) an earlier attempt.
  in.agent_chose_key = !controls_.idempotency_key.empty() && !controls_.prepare;
  in.idempotency_key =
      in.agent_chose_key ? controls_.idempotency_key : storage::new_record_id("auto_");

  decide(std::move(in), rail);
}

void PaidAttempt::decide(DecideInput in, payment::PaymentRail* rail) {
  PaymentServices& pay = *pay_;
  enter(State::deciding);
  // Shared with the writer's job, not copied: kept to be asked again, with the approval, if a
  // held review is approved.
  auto input = std::make_shared<const DecideInput>(std::move(in));
  if (!decided_on_) {
    decided_on_ = input;
    rail_ = rail;
  }
  auto token = link_;
  const LoopMailbox& mailbox = pay.mailbox();
  PaymentServices* services = &pay;
  const bool prepare_only = input->prepare_only;
  auto done = mailbox.on_loop<storage::Result<DecideOutcome>>(
      [token, services](storage::Result<DecideOutcome> result) {
        if (token->get() != nullptr) {
          if (!result.ok()) {
            token->get()->answer(
                problem_response(payment::Reason::ledger_unavailable,
                                 "the ledger could not record the decision, so nothing was paid: " +
                                     result.error().describe(),
                                 nlohmann::json::object(), {}, false),
                503);
            return;
          }
          token->get()->on_decided(std::move(result).value());
          return;
        }
        // The agent went away while policy ran. An approval it opened is still one to decide.
        if (result.ok() && result.value().approval_new && result.value().approval) {
          ++services->counters().approvals_opened;
          services->expire_at(result.value().approval->request.expires_at_ms);
          services->approvals().opened(*result.value().approval);
        }
        // The signed credential never left the process.
        if (!result.ok() || !result.value().reserve) return;
        const storage::ReserveOutcome& reserve = *result.value().reserve;
        if (result.value().credential) {
          (void)services->ledger().finalize(reserve.attempt->id, never_sent(), {});
        } else if (reserve.status == storage::ReserveStatus::reserved) {
          // A rail that settles through I/O had not started: nothing was made or sent.
          (void)services->ledger().release(reserve.attempt->id, payment::Reason::client_closed,
                                           "the agent disconnected before the payment was made",
                                           {});
        }
      });
  // Policy, reservation, signature and mark_signed in one job and one durable commit: one trip
  // to the writer per payment before the credential may leave. The rail declares that it signs
  // in the transaction (x402: the signer only reads the wallet's immutable key, and secp256k1
  // signing is thread-safe).
  auto job = [input, challenge = challenge_, accepts = candidate_offers_, rail,
              prepare_only](storage::Ledger& ledger) -> storage::Result<DecideOutcome> {
    auto decided = decide_and_reserve(ledger, *input);
    if (!decided.ok() || prepare_only) return decided;
    DecideOutcome& out = decided.value();
    if (!out.reserve || out.reserve->status != storage::ReserveStatus::reserved) return decided;
    // A rail that settles through I/O makes its credential after this commit, off the writer.
    if (!rail->signs_in_transaction()) return decided;
    const std::int64_t attempt = out.reserve->attempt->id;
    payment::SettleResult made =
        rail->credential_now({challenge,
                              accepts.at(*out.decision.offer_index),
                              input->now,
                              input->policy->definition().payment.max_validity.count(),
                              {}});
    if (auto* error = std::get_if<payment::RailError>(&made)) {
      (void)ledger.release(attempt, payment::Reason::payment_rail_failed,
                           "making the credential failed; nothing was sent");
      return storage::ledger_error(
          storage::LedgerErrorCode::invalid_argument,
          std::string(payment::reason_name(error->code)) + ": " + error->detail);
    }
    payment::Credential& credential = std::get<payment::Credential>(made);
    auto marked =
        ledger.mark_signed(attempt, {credential.payer, credential.credential_ref,
                                     credential.credential_sha256, credential.valid_until});
    if (!marked.ok()) {
      (void)ledger.release(attempt, payment::Reason::ledger_unavailable,
                           "recording the signature failed; nothing was sent");
      return marked.error();
    }
    out.credential = std::move(credential);
    stop_here_for_test("reserved");  // reserved and signed, not yet committed
    return decided;
  };
  auto queued = pay.ledger().submit<DecideOutcome>(storage::Durability::durable, std::move(job),
                                                   std::move(done));
  if (!queued.ok()) {
    answer(problem_response(payment::Reason::ledger_unavailable,
                            "the ledger is not accepting work (" + queued.error().describe() +
                                "); nothing was paid",
                            nlohmann::json::object(), {}, false),
           503);
  }
}

void PaidAttempt::relay_challenge(payment::Reason code, std::string_view detail) {
  // The merchant's 402, exactly as read, with the reason it was not paid. (A HEAD request's 402
  // never comes here: payments_enabled() leaves it to be relayed as it is.)
  enter(State::answered);
  ProxyAnswer relayed;
  relayed.status = 402;
  relayed.phrase = challenge_head_.reason;
  relayed.headers = challenge_head_.headers;
  strip_hop_by_hop(relayed.headers);
  append_via(relayed.headers, challenge_head_.version);
  const HeaderList explain = error_headers(code, std::string(detail));
  relayed.headers.insert(relayed.headers.end(), explain.begin(), explain.end());
  relayed.body = challenge_body_;
  relayed.code = code;
  answer(std::move(relayed), 402);
}

void PaidAttempt::answer(ProxyAnswer response, int status) {
  enter(State::answered);
  response.status = status;
  ex_.answer(response);
}

void PaidAttempt::on_decided(DecideOutcome outcome) {
  PaymentServices& pay = *pay_;
  if (outcome.existing) {
    answer_existing(outcome);
    return;
  }
  if (outcome.approval_refusal) {
    refuse_approval(*outcome.approval_refusal, outcome.approval);
    return;
  }
  if (outcome.approval_new && outcome.approval) {
    ++pay.counters().approvals_opened;
    pay.expire_at(outcome.approval->request.expires_at_ms);
    pay.approvals().opened(*outcome.approval);
  }
  const policy::Decision& d = outcome.decision;
  nlohmann::json extra = {{"decision_id", outcome.decision_id},
                          {"rule", d.rule},
                          {"reason", std::string(payment::reason_name(d.reason))}};
  if (d.offer) {
    nlohmann::json offer = offer_json(*d.offer, d.symbol, d.decimals);
    if (!d.merchant.empty()) offer["merchant"] = d.merchant;
    extra["offer"] = std::move(offer);
  }
  if (controls_.prepare) {
    ++pay.counters().prepared;
    nlohmann::json body = {{"decision", decision_json(d)}, {"decision_id", outcome.decision_id}};
    // Policy judged only the offers this proxy can sign: name each by its place in `offers`.
    auto& judged = body["decision"]["offers"];
    for (std::size_t i = 0; i < judged.size() && i < candidate_offers_.size(); ++i) {
      judged[i]["index"] = candidate_offers_[i];
    }
    nlohmann::json offers = nlohmann::json::array();
    for (const auto& r : challenge_->offers()) offers.push_back(offer_json(r.offer, "", 0));
    body["offers"] = std::move(offers);
    HeaderList headers;
    if (d.verdict == policy::Verdict::allow && d.offer) {
      PreparedOffer p;
      p.agent = ex_.record().agent;
      p.method = ex_.request().method;
      p.url = ex_.url();
      p.offer = *d.offer;
      const std::string id = pay.add_prepared(std::move(p), payment::unix_now());
      body["prepared_id"] = id;
      body["expires_in"] = PaymentServices::kPreparedTtl;
      body["how"] = "send the same request again with X-402flow-Prepared: " + id;
      headers.push_back({"X-402flow-Prepared", id});
    }
    if (!outcome.approval_id.empty()) body["approval_id"] = outcome.approval_id;
    ProxyAnswer looked = json_response(402, body, headers, false);
    looked.code = d.reason;  // for the access log
    answer(std::move(looked), 402);
    return;
  }
  if (d.verdict == policy::Verdict::deny) {
    ++pay.counters().denied;
    answer(policy_refusal(d, refusal_context(ex_, controls_, std::move(extra))), 403);
    return;
  }
  if (d.verdict == policy::Verdict::review) {
    ++pay.counters().reviews;
    review(outcome, std::move(extra));
    return;
  }
  const storage::ReserveOutcome& reserve = *outcome.reserve;
  if (reserve.status == storage::ReserveStatus::refused) {
    ++pay.counters().denied;
    answer(
        reservation_refusal(*reserve.refusal, d, refusal_context(ex_, controls_, std::move(extra))),
        403);
    return;
  }
  if (reserve.status == storage::ReserveStatus::existing) {
    outcome.existing = reserve.attempt;
    answer_existing(outcome);
    return;
  }
  paid_offer_ = *d.offer;
  paid_symbol_ = d.symbol;
  paid_decimals_ = d.decimals;
  attempt_id_ = reserve.attempt->id;
  if (!outcome.credential) {
    settle(*d.offer_index);
    return;
  }
  use_credential(std::move(*outcome.credential));
}

void PaidAttempt::review(const DecideOutcome& outcome, nlohmann::json extra) {
  if (!outcome.approval) {  // a review always names its offer, so it always has an approval
    answer(problem_response(payment::Reason::review_required,
                            "this payment needs a human's approval; it was not paid", extra, {},
                            false),
           403);
    return;
  }
  const storage::Approval& approval = *outcome.approval;
  const auto hold = pay_->policy()->definition().review.hold;
  if (hold.count() > 0) {
    hold_for_approval(approval, std::move(extra));
    return;
  }
  answer_review_required(approval, std::move(extra));
}

void PaidAttempt::hold_for_approval(const storage::Approval& approval, nlohmann::json extra) {
  if (ex_.downstream().ended()) {
    // The agent closed its side while policy ran: it is gone, nothing is held for it (as an EOF
    // during the hold would end it: ends_on_client_eof). The approval stays open.
    ex_.on_client_gone(true);
    return;
  }
  PaymentServices& pay = *pay_;
  enter(State::awaiting_approval);
  held_approval_ = approval;
  held_review_extra_ = std::move(extra);
  held_ticket_ = pay.approvals().wait(
      approval.id, [this](const storage::Approval& decided) { on_approval_decided(decided); });
  pay.expire_at(approval.request.expires_at_ms);
  // The hold, or a little past the approval's expiry should the ledger's sweep not wake us.
  auto limit =
      std::chrono::duration_cast<std::chrono::milliseconds>(pay.policy()->definition().review.hold);
  if (approval.request.expires_at_ms != 0) {
    const auto to_expiry = std::chrono::milliseconds(approval.request.expires_at_ms -
                                                     payment::unix_now_ms() + kExpiryGraceMs);
    limit = std::max(std::chrono::milliseconds(1), std::min(limit, to_expiry));
  }
  hold_deadline_.emplace(ex_.server().loop(), [this] { on_hold_deadline(); });
  hold_deadline_->arm(limit);
}

void PaidAttempt::on_approval_decided(const storage::Approval& approval) {
  if (ended_ || state_ != State::awaiting_approval) return;
  PaymentServices& pay = *pay_;
  held_ticket_.reset();
  if (hold_deadline_) hold_deadline_->disarm();
  held_approval_ = approval;
  switch (approval.state) {
    case storage::ApprovalState::approved: {
      ++pay.counters().held_approved;
      // Policy is evaluated again now, with the approval in hand: a cap exhausted meanwhile
      // still refuses.
      DecideInput in = *decided_on_;
      in.policy = pay.policy();
      in.now = payment::unix_now();
      in.approval_id = approval.id;
      decide(std::move(in), rail_);
      return;
    }
    case storage::ApprovalState::denied:
      ++pay.counters().held_denied;
      refuse_approval(payment::Reason::approval_denied, approval);
      return;
    case storage::ApprovalState::expired:
      ++pay.counters().held_expired;
      refuse_approval(payment::Reason::approval_expired, approval);
      return;
    case storage::ApprovalState::used:
      refuse_approval(payment::Reason::approval_used, approval);
      return;
    case storage::ApprovalState::pending:
      answer_review_required(approval, std::move(held_review_extra_));
      return;
  }
}

void PaidAttempt::on_hold_deadline() {
  if (ended_ || state_ != State::awaiting_approval) return;
  held_ticket_.reset();
  const std::int64_t expires = held_approval_.request.expires_at_ms;
  if (expires != 0 && payment::unix_now_ms() >= expires) {
    // Past its expiry and not yet swept: expired, whatever the ledger still says.
    ++pay_->counters().held_expired;
    held_approval_.state = storage::ApprovalState::expired;
    refuse_approval(payment::Reason::approval_expired, held_approval_);
    return;
  }
  ++pay_->counters().held_timed_out;
  answer_review_required(held_approval_, std::move(held_review_extra_));
}

void PaidAttempt::answer_review_required(const storage::Approval& approval, nlohmann::json extra) {
  const std::string& id = approval.id;
  extra["approval_id"] = id;
  extra["approval_state"] = std::string(storage::approval_state_name(approval.state));
  extra["expires_at"] = utc_iso8601(approval.request.expires_at_ms);
  extra["expires_at_ms"] = approval.request.expires_at_ms;
  extra["poll"] = "/v1/approvals/" + id;
  extra["retry_with"] = "X-402flow-Approval: " + id;
  HeaderList headers = {{"X-402flow-Approval", id}};
  answer(problem_response(payment::Reason::review_required,
                          "this payment needs a human's approval (" + id +
                              "); it was not paid. Send the request again with "
                              "X-402flow-Approval: " +
                              id + " once it is approved",
                          extra, headers, false),
         403);
}

void PaidAttempt::refuse_approval(payment::Reason reason,
                                  const std::optional<storage::Approval>& approval) {
  const std::string id = approval ? approval->id : controls_.approval_id;
  nlohmann::json extra = {{"approval_id", id}};
  std::string message;
  if (approval) {
    extra["approval_state"] = std::string(storage::approval_state_name(approval->state));
  }
  switch (reason) {
    case payment::Reason::approval_denied:
      extra["note"] = approval ? approval->note : std::string();
      message = "the approval " + id + " was denied" +
                (approval && !approval->note.empty() ? ": " + approval->note : std::string()) +
                "; not paid";
      break;
    case payment::Reason::approval_expired:
      message = "the approval " + id + " expired before it was used; not paid";
      break;
    case payment::Reason::approval_used:
      extra["attempt_id"] = approval ? approval->attempt_id : 0;
      message = "the approval " + id + " was already used by payment attempt " +
                std::to_string(approval ? approval->attempt_id : 0) +
                "; an approval pays once. Not paid again";
      break;
    default:
      message = "no approval " + id +
                " for this request (agent, method, URL and the offer's terms and amount); not "
                "paid";
      break;
  }
  answer(problem_response(reason, message, extra, {}, false), payment::reason_status(reason));
}

void PaidAttempt::settle(std::size_t offer_index) {
  PaymentServices& pay = *pay_;
  enter(State::settling);
  auto token = link_;
  settle_reserved(
      pay, pay.rail_for(*challenge_),
      {challenge_,
       candidate_offers_.at(offer_index),
       payment::unix_now(),
       pay.policy()->definition().payment.max_validity.count(),
       {}},
      attempt_id_, token,
      [token](payment::Credential credential) {
        token->get()->use_credential(std::move(credential));
      },
      [token](std::string why) {
        token->get()->answer(
            problem_response(payment::Reason::payment_rail_failed, why + "; not paid",
                             nlohmann::json::object(), {}, false),
            502);
      });
}

void PaidAttempt::use_credential(payment::Credential credential) {
  credential_ = {{std::move(credential.header_name), std::move(credential.header_value)}};
  retry();
}

void PaidAttempt::answer_existing(const DecideOutcome& outcome) {
  PaymentServices& pay = *pay_;
  const storage::Attempt& a = *outcome.existing;
  ++pay.counters().idempotent_replays;
  nlohmann::json extra = {{"attempt_state", std::string(storage::attempt_state_name(a.state))},
                          {"idempotency_key", controls_.idempotency_key}};
  // A key names one logical request: the same key on another method or URL is a mistake, and
  // answering it with the first request's payment (or credential) would be wrong either way.
  if (a.intent.method != ex_.request().method ||
      a.intent.url != storage::redact_url_query(ex_.url(), pay.url_query())) {
    answer(problem_response(payment::Reason::idempotency_conflict,
                            "this Idempotency-Key belongs to another request (" + a.intent.method +
                                " " + a.intent.url + "); not paid",
                            extra, {}, false),
           409);
    return;
  }
  switch (a.state) {
    case storage::AttemptState::settled: {
      HeaderList headers;
      if (outcome.existing_receipt) {
        extra["receipt_id"] = outcome.existing_receipt->receipt_id;
        headers.push_back({"X-402flow-Receipt", outcome.existing_receipt->receipt_id});
      }
      answer(problem_response(payment::Reason::already_paid,
                              "a request with this Idempotency-Key was already paid; it is not "
                              "paid again",
                              extra, headers, false),
             409);
      return;
    }
    case storage::AttemptState::unknown: {
      // The first try's outcome is not known: send the very same credential again (same nonce),
      // which can settle at most once. Only if the merchant still asks for the same terms.
      const payment::PaymentRail& rail = pay.rail_for(*challenge_);
      for (std::size_t i = 0; i < challenge_->offers().size(); ++i) {
        const auto& r = challenge_->offers()[i];
        if (same_terms(r.offer, a.intent.offer) && r.offer.amount == a.intent.offer.amount &&
            rail.unpayable_reason(*challenge_, i).empty()) {
          paid_offer_ = a.intent.offer;
          paid_decimals_ = a.intent.decimals;
          const policy::AssetEntry* asset =
              pay.policy()->assets().find(a.intent.offer.network, a.intent.offer.asset);
          paid_symbol_ = asset ? asset->symbol : "";
          attempt_was_signed_ = a.state != storage::AttemptState::signed_;
          resend_credential(i, a.id, a.credential_ref);
          return;
        }
      }
      answer(problem_response(payment::Reason::idempotency_conflict,
                              "the merchant's terms changed since the first try with this "
                              "Idempotency-Key, whose outcome is not known; not paid again",
                              extra, {}, false),
             409);
      return;
    }
    case storage::AttemptState::reserved:
    case storage::AttemptState::signed_:
    case storage::AttemptState::submitted:
      // Another exchange of this process holds the attempt (start-up recovery turns signed and
      // submitted attempts of a dead process into unknown). Sending its credential again now
      // would race the first try: a merchant refusing the spent nonce would make it "failed".
      answer(
          problem_response(payment::Reason::payment_in_progress,
                           "a payment with this Idempotency-Key is in progress", extra, {}, false),
          409);
      return;
    case storage::AttemptState::failed:
    case storage::AttemptState::released:
      extra["failure_reason"] = a.failure_reason;
      if (a.failure_code) extra["failure_code"] = payment::reason_name(*a.failure_code);
      answer(problem_response(payment::Reason::idempotency_key_used,
                              "this Idempotency-Key belongs to a payment that did not happen (" +
                                  std::string(storage::attempt_state_name(a.state)) +
                                  "); use a new key to pay again",
                              extra, {}, false),
             409);
      return;
  }
}

void PaidAttempt::resend_credential(std::size_t offer_index, std::int64_t attempt_id,
                                    const std::string& credential_ref) {
  // The same nonce and terms rebuild the identical signature: whatever the first try did, the
  // merchant can settle it at most once.
  attempt_id_ = attempt_id;
  auto send_rebuilt = [](PaidAttempt& self, payment::SettleResult rebuilt) {
    if (auto* error = std::get_if<payment::RailError>(&rebuilt)) {
      self.answer(
          problem_response(payment::Reason::idempotency_conflict,
                           error->detail + "; not paid again", nlohmann::json::object(), {}, false),
          409);
      return;
    }
    self.use_credential(std::move(std::get<payment::Credential>(rebuilt)));
  };
  payment::PaymentRail& rail = pay_->rail_for(*challenge_);
  payment::SettleRequest request{challenge_, offer_index, payment::unix_now(), 0, credential_ref};
  if (rail.signs_in_transaction()) {
    send_rebuilt(*this, rail.credential_now(request));
    return;
  }
  // The attempt is already signed (its credential_ref is durable): only the bytes are rebuilt.
  auto token = link_;
  (void)rail.settle(std::move(request), [token, send_rebuilt](payment::SettleResult rebuilt) {
    if (token->get() != nullptr) send_rebuilt(*token->get(), std::move(rebuilt));
  });
}

void PaidAttempt::retry() {
  stop_here_for_test("signed");
  ++pay_->counters().credentials_sent;
  enter(State::retrying);
  // The request as the agent sent it, with the credential header added, and the kept body.
  ex_.replay_with(credential_, replay_body_);
}

ExchangeHooks::HeadVerdict PaidAttempt::on_paid_answer(ResponseHead& head) {
  stop_here_for_test("answered");
  PaymentServices& pay = *pay_;
  held_head_ = std::move(head);
  const auto headers = header_fields(held_head_.headers);
  storage::Outcome outcome = outcome_of(
      held_head_.status, pay.rail_for(*challenge_).judge_answer(held_head_.status, headers));
  if ((attempt_was_signed_ || credential_resent_) &&
      outcome.state == storage::AttemptState::failed) {
    // A refusal of a resent credential says nothing about the first try of the same credential
    // (it may have settled; the resend may be refused as spent or expired because of it). Only
    // a settlement settles it; anything else leaves it unknown, its budget held, to reconcile.
    outcome.state = storage::AttemptState::unknown;
    outcome.failure_code = payment::Reason::payment_outcome_unknown;
    outcome.failure_reason = "the merchant refused the resent credential (" +
                             outcome.failure_reason +
                             "); whether the first try settled is not known";
  }
  switch (outcome.state) {
    case storage::AttemptState::settled:
      ++pay.counters().settled;
      settled_ = true;
      break;
    case storage::AttemptState::failed:
      ++pay.counters().failed;
      held_reason_ = payment::Reason::payment_refused;
      held_extra_ = error_headers(payment::Reason::payment_refused, outcome.failure_reason);
      break;
    default:
      ++pay.counters().unknown;
      held_reason_ = payment::Reason::payment_outcome_unknown;
      held_extra_ = error_headers(payment::Reason::payment_outcome_unknown, outcome.failure_reason);
      break;
  }
  held_extra_.push_back(
      {"X-402flow-Payment-State", std::string(storage::attempt_state_name(outcome.state))});
  finalize(std::move(outcome));
  return HeadVerdict::hold;
}

void PaidAttempt::finalize(storage::Outcome outcome) {
  PaymentServices& pay = *pay_;
  enter(State::recording);
  auto token = link_;
  auto done = pay.mailbox().on_loop<storage::Result<storage::Receipt>>(
      [token](storage::Result<storage::Receipt> result) {
        if (token->get() == nullptr) return;  // recorded; nobody left to tell
        if (result.ok()) {
          token->get()->on_finalized(result.value().receipt_id, true);
        } else {
          token->get()->on_finalized({}, false);
        }
      });
  auto queued = record_outcome(std::move(outcome), std::move(done));
  if (!queued.ok()) on_finalized({}, false);
}

storage::Result<void> PaidAttempt::record_outcome(
    storage::Outcome outcome, storage::LedgerWriter::Done<storage::Receipt> done) {
  // `submitted` is recorded together with the outcome, in one durable commit: a crash between
  // sending and recording leaves the attempt `signed`, which start-up recovery treats exactly
  // like `submitted` (outcome unknown, budget held), so nothing is lost by not committing the
  // send separately.
  const std::int64_t id = attempt_id_;
  const bool needs_submitted = !attempt_was_signed_;
  return pay_->ledger().submit<storage::Receipt>(
      storage::Durability::durable,
      [id, needs_submitted,
       outcome = std::move(outcome)](storage::Ledger& ledger) -> storage::Result<storage::Receipt> {
        if (needs_submitted) {
          auto submitted = ledger.mark_submitted(id);
          if (!submitted.ok()) return submitted.error();
        }
        return ledger.finalize(id, outcome);
      },
      std::move(done));
}

HeaderList PaidAttempt::receipt_headers(std::string_view receipt_id, bool settled) const {
  HeaderList h;
  if (!receipt_id.empty()) h.push_back({"X-402flow-Receipt", std::string(receipt_id)});
  // Only a settled payment is "paid"; failed and unknown ones are named by X-402flow-Error.
  if (settled) {
    h.push_back({"X-402flow-Paid", paid_header_value(paid_offer_, paid_symbol_, paid_decimals_)});
  }
  return h;
}

void PaidAttempt::on_finalized(std::string receipt_id, bool recorded) {
  if (ended_ || state_ != State::recording) return;
  enter(State::answered);
  ex_.record().receipt = receipt_id;
  HeaderList extra = receipt_headers(receipt_id, settled_);
  if (!recorded) {
    // The merchant's answer still goes to the agent; the attempt stays in its last durable state
    // (signed/submitted), which start-up recovery reports as unknown.
    extra.push_back({"X-402flow-Warning", "the receipt could not be written to the ledger"});
    ex_.server().log().error("finalizing a payment failed",
                             "\"attempt\":" + std::to_string(attempt_id_));
  }
  extra.insert(extra.end(), held_extra_.begin(), held_extra_.end());
  ex_.release_held_head(held_head_, extra, held_reason_);
}

void PaidAttempt::paid_without_answer(payment::Reason error, std::string_view message) {
  // The credential left the proxy and no verdict came back: the payment may or may not have
  // settled. The attempt becomes unknown (its budget stays held); the agent's retry with the
  // same Idempotency-Key resends the identical credential, never a new one.
  PaymentServices& pay = *pay_;
  ++pay.counters().unknown;
  enter(State::recording);
  ex_.drop_upstream();
  storage::Outcome o;
  o.state = storage::AttemptState::unknown;
  o.failure_code = error;
  o.failure_reason = std::string(message);
  auto token = link_;
  const int status = payment::reason_status(error);
  const std::string name(payment::reason_name(error));
  const std::string text(message);
  auto done = pay.mailbox().on_loop<storage::Result<storage::Receipt>>(
      [token, status, name, text](storage::Result<storage::Receipt> result) {
        PaidAttempt* self = token->get();
        if (self == nullptr) return;
        const std::string receipt = result.ok() ? result.value().receipt_id : std::string();
        HeaderList headers = self->receipt_headers(receipt, false);
        self->ex_.record().receipt = receipt;
        headers.push_back({"X-402flow-Payment-State", "unknown"});
        self->ex_.close_client_after();
        self->answer(
            problem_response(status, payment::Reason::payment_outcome_unknown,
                             text + "; the payment's outcome is unknown and its budget "
                                    "stays reserved. Retrying with the same "
                                    "Idempotency-Key sends the same credential again",
                             {{"receipt_id", receipt}, {"upstream_error", name}}, headers, true),
            status);
      });
  auto queued = record_outcome(std::move(o), std::move(done));
  if (!queued.ok()) {
    ex_.close_client_after();
    answer(error_answer(error, message), status);
  }
}

void PaidAttempt::on_end(AccessRecord& record) {
  ended_ = true;
  if (challenge_deadline_) challenge_deadline_->disarm();
  // Held on an approval: stop waiting. Nothing was reserved; the approval stays as it is.
  held_ticket_.reset();
  if (hold_deadline_) hold_deadline_->disarm();
  if (!link_) return;
  link_->cancel();
  if (state_ == State::retrying && attempt_id_ != 0) {
    // The agent or the merchant went away while the credential was out: outcome unknown.
    ++pay_->counters().unknown;
    storage::Outcome o;
    o.state = storage::AttemptState::unknown;
    o.failure_code = payment::Reason::payment_outcome_unknown;
    o.failure_reason = "the exchange ended before the merchant answered the paid request";
    (void)record_outcome(std::move(o), {});
  }
  record.payment = std::string(paid_state_name(state_));
  record.payment_us = (uv_hrtime() - started_ns_) / 1000;
}

}  // namespace flow::proxy
