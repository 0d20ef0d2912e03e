// The paid path of an Exchange: DESIGN.md's lifecycle from "402" to "finalize receipt".
//
//   on_head(402) ─► read challenge ─► (request complete?) ─► parse ─► decide+reserve (writer)
//     ─► sign ─► mark_signed (durable, writer) ─► paid retry ─► on_paid_head ─► finalize (writer)
//     ─► relay the merchant's answer with X-402flow-Receipt / X-402flow-Paid
//
// Every protocol step goes through the payment::PaymentRail that read the 402 (x402 today). A
// rail that signs in the transaction signs inside decide+reserve; one that settles through I/O
// makes its credential on the loop after the reservation commits (settle_reserved).
//
// Every ledger completion comes back through the loop mailbox and finds the exchange through a
// PaymentToken, which the exchange clears when it ends; an orphaned completion cleans up after
// itself so nothing stays reserved or signed without an outcome.
#include <chrono>
#include <functional>
#include <memory>
#include <utility>

#include "flow/payment/payment_rail.hpp"
#include "flow/payment/payment_rails.hpp"
#include "flow/proxy/exchange/downstream.hpp"
#include "flow/proxy/exchange/exchange.hpp"
#include "flow/proxy/paid/control_headers.hpp"
#include "flow/proxy/paid/payment_answer.hpp"
#include "flow/proxy/paid/payment_decision.hpp"
#include "flow/proxy/paid/payment_services.hpp"
#include "flow/proxy/server.hpp"
#include "flow/storage/decision.hpp"
#include "flow/storage/url_redaction.hpp"

namespace flow::proxy {
namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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
  o.failure_reason = std::move(judged.reason);
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
                     std::shared_ptr<Exchange::PaymentToken> token,
                     std::function<void(payment::Credential)> send,
                     std::function<void(std::string)> refuse) {
  PaymentServices* services = &pay;
  auto give_up = [services, attempt, token, refuse](std::string why) {
    (void)services->ledger().release(attempt, why + "; nothing was sent", {});
    if (token->exchange != nullptr) refuse(std::move(why));
  };
  (void)rail.settle(std::move(request), [services, attempt, token, send,
                                         give_up](payment::SettleResult made) {
    if (auto* error = std::get_if<payment::RailError>(&made)) {
      give_up("the payment rail could not make the credential (" + error->code +
              "): " + error->detail);
      return;
    }
    if (token->exchange == nullptr) {
      give_up("the agent disconnected before the payment was made");
      return;
    }
    auto credential = std::make_shared<payment::Credential>(std::get<payment::Credential>(made));
    auto recorded = services->mailbox().on_loop<storage::Result<storage::Attempt>>(
        [services, attempt, token, send, give_up,
         credential](storage::Result<storage::Attempt> marked) {
          if (!marked.ok()) {
            give_up("recording the credential failed: " + marked.error().describe());
          } else if (token->exchange == nullptr) {
            storage::Outcome o;
            o.state = storage::AttemptState::failed;
            o.failure_reason = "the agent disconnected before the signed payment was sent";
            (void)services->ledger().finalize(attempt, std::move(o), {});
          } else {
            send(std::move(*credential));
          }
        });
    auto queued =
        services->ledger().mark_signed(attempt,
                                       {credential->payer, credential->credential_ref,
                                        credential->credential_sha256, credential->valid_until},
                                       std::move(recorded));
    if (!queued.ok()) give_up("recording the credential failed: " + queued.error().describe());
  });
}

}  // namespace

std::string_view pay_stage_name(Exchange::PayStage stage) {
  switch (stage) {
    case Exchange::PayStage::none:
      return "none";
    case Exchange::PayStage::reading_challenge:
      return "reading_challenge";
    case Exchange::PayStage::waiting_request:
      return "waiting_request";
    case Exchange::PayStage::deciding:
      return "deciding";
    case Exchange::PayStage::retrying:
      return "retrying";
    case Exchange::PayStage::recording:
      return "recording";
    case Exchange::PayStage::answered:
      return "answered";
  }
  return "none";
}

bool Exchange::payments_enabled() const {
  // HEAD cannot carry the paid content back, so a HEAD request's 402 is relayed as it is.
  return server_.payments() != nullptr && request_.method != "HEAD";
}

bool Exchange::read_controls() {
  agent_ = client_.agent();
  record_.agent = agent_;
  // Validated on arrival, 402 or not: a control the proxy cannot read is refused, never ignored.
  const auto policy = server_.payments() ? server_.payments()->policy() : server_.policy();
  auto read = read_control_headers(request_.headers, *policy);
  if (auto* problem = std::get_if<ControlProblem>(&read)) {
    answer(problem_response(400, problem->code, problem->detail, {{"header", problem->header}}, {},
                            false),
           400);
    return false;
  }
  AgentControls& agent = std::get<AgentControls>(read);
  controls_.prepare = agent.prepare;
  controls_.prepared_id = std::move(agent.prepared_id);
  controls_.max_amount = std::move(agent.max_amount);
  controls_.idempotency_key = std::move(agent.idempotency_key);
  keeps_replay_copy_ = payments_enabled();
  return true;
}

void Exchange::keep_for_replay(const uv_buf_t* bufs, unsigned count) {
  if (!replayable_) return;
  std::size_t size = 0;
  for (unsigned i = 0; i < count; ++i) size += bufs[i].len;
  if (replay_body_.size() + size > server_.settings().replay_limit) {
    replayable_ = false;
    replay_body_.clear();
    replay_body_.shrink_to_fit();
    return;
  }
  for (unsigned i = 0; i < count; ++i) replay_body_.append(bufs[i].base, bufs[i].len);
}

MessageSink::HeadAction Exchange::start_reading_challenge() {
  ResponseHead& head = upstream_->parser.response();
  record_.ttfb_us = elapsed_us();
  pay_started_ns_ = uv_hrtime();
  ++server_.payments()->counters().challenges;
  pay_ = PayStage::reading_challenge;
  // Made only now: exchanges that never meet a 402 allocate nothing for the paid path.
  pay_token_ = std::make_shared<PaymentToken>();
  pay_token_->exchange = this;
  challenge_head_ = std::move(head);
  challenge_deadline_.arm(server_.settings().timeouts.challenge);
  return request_.method == "HEAD" ? HeadAction::skip_body : HeadAction::proceed;
}

void Exchange::on_challenge_body(std::string_view data) {
  if (challenge_body_.size() + data.size() <= server_.settings().challenge_max_bytes) {
    challenge_body_.append(data);
    return;
  }
  // Too large to be a challenge worth reading: relay the 402 as it streams, unpaid.
  challenge_deadline_.disarm();
  pay_ = PayStage::answered;
  ++server_.payments()->counters().not_payable;
  record_.response_body_bytes += challenge_body_.size() + data.size();
  HeaderList explain = {
      {"X-402flow-Error", "challenge_too_large"},
      {"X-402flow-Detail", "the 402 body exceeds proxy.challenge_max_bytes (" +
                               std::to_string(server_.settings().challenge_max_bytes) +
                               " bytes); not paid"}};
  write_response_head(challenge_head_, explain);
  write_client_body(challenge_body_);
  write_client_body(data);
  challenge_body_.clear();
}

void Exchange::challenge_complete() {
  challenge_deadline_.disarm();
  // The 402 was read in full: the connection can serve the paid retry (through the pool).
  if (!upstream_->parser.keep_alive() || !request_done_) upstream_reusable_ = false;
  upstream_->stream->set_handler(nullptr);
  upstream_->parser.set_sink(nullptr);
  if (upstream_reusable_ && request_done_) {
    server_.pool().put(std::move(upstream_));
  } else {
    server_.reaper().retire(std::move(upstream_));
  }
  response_done_ = false;
  got_upstream_bytes_ = false;
  upstream_reusable_ = true;
  if (!request_done_ && replayable_) {
    pay_ = PayStage::waiting_request;
    stage_ = Stage::connecting;  // no upstream: the request body goes to the replay copy only
    client_.update_reading();
    return;
  }
  begin_payment();
}

void Exchange::begin_payment() {
  PaymentServices& pay = *server_.payments();
  if (!replayable_) {
    ++pay.counters().not_payable;
    relay_challenge("request_not_replayable",
                    "the request body is larger than proxy.replay_limit (" +
                        std::to_string(server_.settings().replay_limit) +
                        " bytes), so it cannot be sent again with a payment; not paid");
    return;
  }
  const auto headers = header_fields(challenge_head_.headers);
  auto read = pay.rails().read_challenge(
      {challenge_head_.status, headers, challenge_body_, request_.target});
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
  const std::int64_t now = unix_now();
  if (!controls_.prepared_id.empty()) {
    prepared = pay.take_prepared(controls_.prepared_id, now);
    if (!prepared || prepared->agent != agent_ || prepared->url != request_.target ||
        prepared->method != request_.method) {
      answer(problem_response(409, "prepared_offer_unknown",
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
    candidate_accepts_.push_back(i);
  }
  if (in.offers.empty()) {
    if (prepared) {
      answer(problem_response(
                 409, "prepared_offer_changed",
                 "the merchant no longer offers the prepared terms at the prepared price or lower; "
                 "not paid",
                 {{"prepared", offer_json(prepared->offer, "", 0)}}, {}, false),
             409);
      return;
    }
    ++pay.counters().not_payable;
    relay_challenge("no_payable_offer", "no offer this proxy can sign: " + problems);
    return;
  }
  if (!controls_.max_amount.empty()) {
    for (const auto& text : split_amounts(controls_.max_amount)) {
      auto parsed_max = in.policy->parse_amount(text);
      if (auto* error = std::get_if<std::string>(&parsed_max)) {
        answer(problem_response(400, "bad_max_amount",
                                "X-402flow-Max-Amount: " + *error +
                                    " (write e.g. \"0.05 USDC\" or \"0.05 USDC, 20000 msat\")",
                                nlohmann::json::object(), {}, false),
               400);
        return;
      }
      in.agent_max.push_back(std::get<policy::UnitAmount>(std::move(parsed_max)));
    }
  }
  in.agent = agent_;
  in.host = target_.host;
  in.path = target_.path.substr(0, target_.path.find('?'));
  in.method = request_.method;
  in.merchant_origin = origin_of(target_);
  in.url = request_.target;
  in.offers_seen = static_cast<int>(accepts.size());
  in.protocols_offered = std::string(rail->name());
  in.now = now;
  in.prepare_only = controls_.prepare;
  // Prepare mode only looks: it never picks up (and so never resends) an earlier attempt.
  in.agent_chose_key = !controls_.idempotency_key.empty() && !controls_.prepare;
  in.idempotency_key =
      in.agent_chose_key ? controls_.idempotency_key : storage::new_record_id("auto_");

  pay_ = PayStage::deciding;
  auto token = pay_token_;
  const LoopMailbox& mailbox = pay.mailbox();
  PaymentServices* services = &pay;
  const bool prepare_only = in.prepare_only;
  auto done = mailbox.on_loop<storage::Result<DecideOutcome>>(
      [token, services](storage::Result<DecideOutcome> result) {
        if (token->exchange != nullptr) {
          if (!result.ok()) {
            token->exchange->answer(
                problem_response(503, "ledger_unavailable",
                                 "the ledger could not record the decision, so nothing was paid: " +
                                     result.error().describe(),
                                 nlohmann::json::object(), {}, false),
                503);
            return;
          }
          token->exchange->on_decided(std::move(result).value());
          return;
        }
        // The agent went away while policy ran: the signed credential never left the process.
        if (!result.ok() || !result.value().reserve) return;
        const storage::ReserveOutcome& reserve = *result.value().reserve;
        if (result.value().credential) {
          storage::Outcome o;
          o.state = storage::AttemptState::failed;
          o.failure_reason = "the agent disconnected before the signed payment was sent";
          (void)services->ledger().finalize(reserve.attempt->id, std::move(o), {});
        } else if (reserve.status == storage::ReserveStatus::reserved) {
          // A rail that settles through I/O had not started: nothing was made or sent.
          (void)services->ledger().release(
              reserve.attempt->id, "the agent disconnected before the payment was made", {});
        }
      });
  // Policy, reservation, signature and mark_signed in one job and one durable commit: one trip
  // to the writer per payment before the credential may leave. The rail declares that it signs
  // in the transaction (x402: the signer only reads the wallet's immutable key, and secp256k1
  // signing is thread-safe).
  auto job = [in = std::move(in), challenge = challenge_, accepts = candidate_accepts_, rail,
              prepare_only](storage::Ledger& ledger) -> storage::Result<DecideOutcome> {
    auto decided = decide_and_reserve(ledger, in);
    if (!decided.ok() || prepare_only) return decided;
    DecideOutcome& out = decided.value();
    if (!out.reserve || out.reserve->status != storage::ReserveStatus::reserved) return decided;
    // A rail that settles through I/O makes its credential after this commit, off the writer.
    if (!rail->signs_in_transaction()) return decided;
    const std::int64_t attempt = out.reserve->attempt->id;
    payment::SettleResult made =
        rail->credential_now({challenge,
                              accepts.at(*out.decision.offer_index),
                              in.now,
                              in.policy->definition().payment.max_validity.count(),
                              {}});
    if (auto* error = std::get_if<payment::RailError>(&made)) {
      (void)ledger.release(attempt, "making the credential failed; nothing was sent");
      return storage::ledger_error(storage::LedgerErrorCode::invalid_argument,
                                   error->code + ": " + error->detail);
    }
    payment::Credential& credential = std::get<payment::Credential>(made);
    auto marked =
        ledger.mark_signed(attempt, {credential.payer, credential.credential_ref,
                                     credential.credential_sha256, credential.valid_until});
    if (!marked.ok()) {
      (void)ledger.release(attempt, "recording the signature failed; nothing was sent");
      return marked.error();
    }
    out.credential = std::move(credential);
    stop_here_for_test("reserved");  // reserved and signed, not yet committed
    return decided;
  };
  auto queued = pay.ledger().submit<DecideOutcome>(storage::Durability::durable, std::move(job),
                                                   std::move(done));
  if (!queued.ok()) {
    answer(problem_response(503, "ledger_unavailable",
                            "the ledger is not accepting work (" + queued.error().describe() +
                                "); nothing was paid",
                            nlohmann::json::object(), {}, false),
           503);
  }
}

void Exchange::relay_challenge(std::string_view code, std::string_view detail) {
  // The merchant's 402, exactly as read, with the reason it was not paid. (A HEAD request's 402
  // never comes here: payments_enabled() leaves it to be relayed as it is.)
  pay_ = PayStage::answered;
  ProxyAnswer relayed;
  relayed.status = 402;
  relayed.phrase = challenge_head_.reason;
  relayed.headers = challenge_head_.headers;
  strip_hop_by_hop(relayed.headers);
  append_via(relayed.headers, challenge_head_.version);
  relayed.headers.push_back({"X-402flow-Error", std::string(code)});
  relayed.headers.push_back({"X-402flow-Detail", std::string(detail)});
  relayed.body = challenge_body_;
  relayed.code = std::string(code);
  answer(std::move(relayed), 402);
}

void Exchange::answer(ProxyAnswer response, int status) {
  if (stage_ == Stage::done) return;
  if (pay_ != PayStage::answered) pay_ = PayStage::answered;
  response.status = status;
  write_own_answer(response);
  response_done_ = true;
  finish(ProxyError::none);
}

void Exchange::on_decided(DecideOutcome outcome) {
  PaymentServices& pay = *server_.payments();
  if (outcome.existing) {
    answer_existing(outcome);
    return;
  }
  const policy::Decision& d = outcome.decision;
  nlohmann::json extra = {{"decision_id", outcome.decision_id},
                          {"rule", d.rule},
                          {"reason", std::string(policy::reason_code_name(d.reason))}};
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
    for (std::size_t i = 0; i < judged.size() && i < candidate_accepts_.size(); ++i) {
      judged[i]["index"] = candidate_accepts_[i];
    }
    nlohmann::json offers = nlohmann::json::array();
    for (const auto& r : challenge_->offers()) offers.push_back(offer_json(r.offer, "", 0));
    body["offers"] = std::move(offers);
    HeaderList headers;
    if (d.verdict == policy::Verdict::allow && d.offer) {
      PreparedOffer p;
      p.agent = agent_;
      p.method = request_.method;
      p.url = request_.target;
      p.offer = *d.offer;
      const std::string id = pay.add_prepared(std::move(p), unix_now());
      body["prepared_id"] = id;
      body["expires_in"] = PaymentServices::kPreparedTtl;
      body["how"] = "send the same request again with X-402flow-Prepared: " + id;
      headers.push_back({"X-402flow-Prepared", id});
    }
    if (!outcome.approval_id.empty()) body["approval_id"] = outcome.approval_id;
    ProxyAnswer looked = json_response(402, body, headers, false);
    looked.code = std::string(policy::reason_code_name(d.reason));  // for the access log
    answer(std::move(looked), 402);
    return;
  }
  if (d.verdict == policy::Verdict::deny) {
    ++pay.counters().denied;
    answer(problem_response(403, policy::reason_code_name(d.reason),
                            "the payment policy refused to pay this merchant: " +
                                std::string(policy::reason_code_name(d.reason)) + " (rule " +
                                (d.rule.empty() ? std::string("-") : d.rule) + ")",
                            extra, {}, false),
           403);
    return;
  }
  if (d.verdict == policy::Verdict::review) {
    ++pay.counters().reviews;
    extra["approval_id"] = outcome.approval_id;
    HeaderList headers = {{"X-402flow-Approval", outcome.approval_id}};
    answer(problem_response(403, "review_required",
                            "this payment needs a human's approval (" + outcome.approval_id +
                                "); it was not paid",
                            extra, headers, false),
           403);
    return;
  }
  const storage::ReserveOutcome& reserve = *outcome.reserve;
  if (reserve.status == storage::ReserveStatus::refused) {
    ++pay.counters().denied;
    const auto& refusal = *reserve.refusal;
    extra["reason"] = std::string(policy::reason_code_name(refusal.reason));
    extra["rule"] = refusal.rule;
    answer(problem_response(403, policy::reason_code_name(refusal.reason),
                            "this payment would exceed a budget (" + refusal.rule + "); not paid",
                            extra, {}, false),
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
    auto token = pay_token_;
    settle_reserved(
        pay, pay.rail_for(*challenge_),
        {challenge_,
         candidate_accepts_.at(*d.offer_index),
         unix_now(),
         pay.policy()->definition().payment.max_validity.count(),
         {}},
        attempt_id_, token,
        [token](payment::Credential credential) {
          token->exchange->credential_name_ = std::move(credential.header_name);
          token->exchange->credential_value_ = std::move(credential.header_value);
          token->exchange->send_paid_retry();
        },
        [token](std::string why) {
          token->exchange->answer(problem_response(502, "payment_rail_failed", why + "; not paid",
                                                   nlohmann::json::object(), {}, false),
                                  502);
        });
    return;
  }
  credential_name_ = outcome.credential->header_name;
  credential_value_ = std::move(outcome.credential->header_value);
  send_paid_retry();
}

void Exchange::answer_existing(const DecideOutcome& outcome) {
  PaymentServices& pay = *server_.payments();
  const storage::Attempt& a = *outcome.existing;
  ++pay.counters().idempotent_replays;
  nlohmann::json extra = {{"attempt_state", std::string(storage::attempt_state_name(a.state))},
                          {"idempotency_key", controls_.idempotency_key}};
  // A key names one logical request: the same key on another method or URL is a mistake, and
  // answering it with the first request's payment (or credential) would be wrong either way.
  if (a.intent.method != request_.method ||
      a.intent.url != storage::redact_url_query(request_.target, pay.url_query())) {
    answer(problem_response(409, "idempotency_conflict",
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
      answer(problem_response(409, "already_paid",
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
      answer(problem_response(409, "idempotency_conflict",
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
          problem_response(409, "payment_in_progress",
                           "a payment with this Idempotency-Key is in progress", extra, {}, false),
          409);
      return;
    case storage::AttemptState::failed:
    case storage::AttemptState::released:
      extra["failure_reason"] = a.failure_reason;
      answer(problem_response(409, "idempotency_key_used",
                              "this Idempotency-Key belongs to a payment that did not happen (" +
                                  std::string(storage::attempt_state_name(a.state)) +
                                  "); use a new key to pay again",
                              extra, {}, false),
             409);
      return;
  }
}

void Exchange::resend_credential(std::size_t accepts_index, std::int64_t attempt_id,
                                 const std::string& credential_ref) {
  // The same nonce and terms rebuild the identical signature: whatever the first try did, the
  // merchant can settle it at most once.
  attempt_id_ = attempt_id;
  auto send_rebuilt = [](Exchange& self, payment::SettleResult rebuilt) {
    if (auto* error = std::get_if<payment::RailError>(&rebuilt)) {
      self.answer(problem_response(409, "idempotency_conflict", error->detail + "; not paid again",
                                   nlohmann::json::object(), {}, false),
                  409);
      return;
    }
    payment::Credential& p = std::get<payment::Credential>(rebuilt);
    self.credential_name_ = std::move(p.header_name);
    self.credential_value_ = std::move(p.header_value);
    self.send_paid_retry();
  };
  payment::PaymentRail& rail = server_.payments()->rail_for(*challenge_);
  payment::SettleRequest request{challenge_, accepts_index, unix_now(), 0, credential_ref};
  if (rail.signs_in_transaction()) {
    send_rebuilt(*this, rail.credential_now(request));
    return;
  }
  // The attempt is already signed (its credential_ref is durable): only the bytes are rebuilt.
  auto token = pay_token_;
  (void)rail.settle(std::move(request), [token, send_rebuilt](payment::SettleResult rebuilt) {
    if (token->exchange != nullptr) send_rebuilt(*token->exchange, std::move(rebuilt));
  });
}

void Exchange::send_paid_retry() {
  stop_here_for_test("signed");
  PaymentServices& pay = *server_.payments();
  ++pay.counters().credentials_sent;
  pay_ = PayStage::retrying;
  // The original head with the credential added, then the kept body.
  const auto end = upstream_head_.rfind("\r\n\r\n");
  upstream_head_.insert(end + 2, credential_name_ + ": " + credential_value_ + "\r\n");
  pending_body_ = replay_body_;
  response_started_ = false;
  response_done_ = false;
  got_upstream_bytes_ = false;
  retried_ = false;
  acquire_upstream();
}

MessageSink::HeadAction Exchange::on_paid_head() {
  stop_here_for_test("answered");
  PaymentServices& pay = *server_.payments();
  held_head_ = std::move(upstream_->parser.response());
  const auto headers = header_fields(held_head_.headers);
  storage::Outcome outcome = outcome_of(
      held_head_.status, pay.rail_for(*challenge_).judge_answer(held_head_.status, headers));
  if (attempt_was_signed_ && outcome.state == storage::AttemptState::failed) {
    // A refusal of a resent credential says nothing about the first try of the same credential
    // (it may have settled; the resend may be refused as spent or expired because of it). Only
    // a settlement settles it; anything else leaves it unknown, its budget held, to reconcile.
    outcome.state = storage::AttemptState::unknown;
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
      held_extra_.push_back({"X-402flow-Error", "payment_refused"});
      held_extra_.push_back({"X-402flow-Detail", outcome.failure_reason});
      break;
    default:
      ++pay.counters().unknown;
      held_extra_.push_back({"X-402flow-Error", "payment_outcome_unknown"});
      held_extra_.push_back({"X-402flow-Detail", outcome.failure_reason});
      break;
  }
  held_extra_.push_back(
      {"X-402flow-Payment-State", std::string(storage::attempt_state_name(outcome.state))});
  pay_ = PayStage::recording;
  auto token = pay_token_;
  auto done = pay.mailbox().on_loop<storage::Result<storage::Receipt>>(
      [token](storage::Result<storage::Receipt> result) {
        if (token->exchange == nullptr) return;  // recorded; nobody left to tell
        if (result.ok()) {
          token->exchange->on_finalized(result.value().receipt_id, true);
        } else {
          token->exchange->on_finalized({}, false);
        }
      });
  auto queued = record_outcome(std::move(outcome), std::move(done));
  if (!queued.ok()) on_finalized({}, false);
  return HeadAction::pause;
}

storage::Result<void> Exchange::record_outcome(storage::Outcome outcome,
                                               storage::LedgerWriter::Done<storage::Receipt> done) {
  // `submitted` is recorded together with the outcome, in one durable commit: a crash between
  // sending and recording leaves the attempt `signed`, which start-up recovery treats exactly
  // like `submitted` (outcome unknown, budget held), so nothing is lost by not committing the
  // send separately.
  const std::int64_t id = attempt_id_;
  const bool needs_submitted = !attempt_was_signed_;
  return server_.payments()->ledger().submit<storage::Receipt>(
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

HeaderList Exchange::receipt_headers(std::string_view receipt_id, bool settled) const {
  HeaderList h;
  if (!receipt_id.empty()) h.push_back({"X-402flow-Receipt", std::string(receipt_id)});
  // Only a settled payment is "paid"; failed and unknown ones are named by X-402flow-Error.
  if (settled) {
    h.push_back({"X-402flow-Paid", paid_header_value(paid_offer_, paid_symbol_, paid_decimals_)});
  }
  return h;
}

void Exchange::on_finalized(std::string receipt_id, bool recorded) {
  if (stage_ == Stage::done || pay_ != PayStage::recording) return;
  pay_ = PayStage::answered;
  record_.receipt = receipt_id;
  HeaderList extra = receipt_headers(receipt_id, settled_);
  if (!recorded) {
    // The merchant's answer still goes to the agent; the attempt stays in its last durable state
    // (signed/submitted), which start-up recovery reports as unknown.
    extra.push_back({"X-402flow-Warning", "the receipt could not be written to the ledger"});
    server_.log().error("finalizing a payment failed",
                        "\"attempt\":" + std::to_string(attempt_id_));
  }
  extra.insert(extra.end(), held_extra_.begin(), held_extra_.end());
  write_response_head(held_head_, extra);
  resume_held_response();
}

void Exchange::resume_held_response() {
  upstream_->parser.resume();
  std::string bytes = std::move(held_bytes_);
  held_bytes_.clear();
  upstream_->stream->start_reading();
  upstream_deadline_.arm(server_.settings().timeouts.upstream);
  if (!bytes.empty()) {
    feed_response(bytes.data(), bytes.size());
    return;
  }
  // An answer without a body (Content-Length: 0, 204, 304) completes without another byte.
  const HttpParser::Result r = upstream_->parser.feed("", 0);
  if (r.status == HttpParser::Status::paused_end) {
    response_complete();
  } else if (r.status == HttpParser::Status::error) {
    fail(ProxyError::upstream_protocol,
         "the merchant's answer to the paid request is not valid HTTP");
  }
}

void Exchange::paid_without_answer(ProxyError error, std::string_view message) {
  // The credential left the proxy and no verdict came back: the payment may or may not have
  // settled. The attempt becomes unknown (its budget stays held); the agent's retry with the
  // same Idempotency-Key resends the identical credential, never a new one.
  PaymentServices& pay = *server_.payments();
  ++pay.counters().unknown;
  pay_ = PayStage::recording;
  upstream_reusable_ = false;
  if (upstream_) {
    upstream_->stream->set_handler(nullptr);
    upstream_->parser.set_sink(nullptr);
    server_.reaper().retire(std::move(upstream_));
  }
  storage::Outcome o;
  o.state = storage::AttemptState::unknown;
  o.failure_reason = std::string(message);
  auto token = pay_token_;
  const int status = proxy_error_status(error);
  const std::string name(proxy_error_name(error));
  const std::string text(message);
  auto done = pay.mailbox().on_loop<storage::Result<storage::Receipt>>(
      [token, status, name, text](storage::Result<storage::Receipt> result) {
        Exchange* self = token->exchange;
        if (self == nullptr) return;
        const std::string receipt = result.ok() ? result.value().receipt_id : std::string();
        HeaderList headers = self->receipt_headers(receipt, false);
        self->record_.receipt = receipt;
        headers.push_back({"X-402flow-Payment-State", "unknown"});
        self->close_client_after_ = true;
        self->answer(
            problem_response(status, "payment_outcome_unknown",
                             text + "; the payment's outcome is unknown and its budget "
                                    "stays reserved. Retrying with the same "
                                    "Idempotency-Key sends the same credential again",
                             {{"receipt_id", receipt}, {"upstream_error", name}}, headers, true),
            status);
      });
  auto queued = record_outcome(std::move(o), std::move(done));
  if (!queued.ok()) {
    close_client_after_ = true;
    answer(error_answer(error, message), status);
  }
}

void Exchange::abandon_payment() {
  if (!pay_token_) return;
  pay_token_->exchange = nullptr;
  if (pay_ == PayStage::retrying && attempt_id_ != 0) {
    // The agent or the merchant went away while the credential was out: outcome unknown.
    PaymentServices& pay = *server_.payments();
    ++pay.counters().unknown;
    storage::Outcome o;
    o.state = storage::AttemptState::unknown;
    o.failure_reason = "the exchange ended before the merchant answered the paid request";
    (void)record_outcome(std::move(o), {});
  }
  if (pay_started_ns_ != 0) {
    record_.payment = std::string(pay_stage_name(pay_));
    record_.payment_us = (uv_hrtime() - pay_started_ns_) / 1000;
  }
}

}  // namespace flow::proxy
