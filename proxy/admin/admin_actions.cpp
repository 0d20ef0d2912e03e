// The operator's actions through the admin API: approve, deny, reconcile, reload. Each is one
// ledger job that does the action and appends its audit record in one transaction (a reload:
// the reload on the thread pool, then its audit record), and answers once that is durable.
#include <charconv>

#include "admin_v1.hpp"
#include "flow/payment/reason.hpp"
#include "flow/proxy/policy_reloader.hpp"

namespace flow::proxy {

using storage::Durability;
using storage::Ledger;
using storage::Result;

namespace {

// The request body as a JSON object ({} when empty); nothing (and a 400) otherwise.
std::optional<Json> body_object(std::string_view body, ServedAnswer& answer) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return Json::object();
  Json parsed = Json::parse(body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    answer_error(answer, 400, "the body must be a JSON object");
    return std::nullopt;
  }
  return parsed;
}

// An optional string member; nothing (and a 400 naming it) when present but not a string.
std::optional<std::string> string_member(const Json& object, const char* name,
                                         ServedAnswer& answer) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    answer_error(answer, 400, std::string(name) + " must be a string");
    return std::nullopt;
  }
  return it->get<std::string>();
}

storage::AuditEntry audit_entry(const AdminCall& call, std::string action, std::string subject,
                                const Json& detail) {
  return {call.actor, std::move(action), std::move(subject), detail.dump()};
}

// --- approve, deny ---

// The approval after the action; `changed` false when its state forbade the action (then
// `refusal` says why).
struct Decided {
  storage::Approval approval;
  bool changed = false;
  std::string refusal;
};

Result<Decided> decide_in_ledger(Ledger& ledger, const std::string& id, storage::ApprovalState to,
                                 const std::string& note, const storage::AuditEntry& audit) {
  auto resolved = ledger.resolve_approval_audited(id, to, note, audit);
  if (resolved.ok()) return Decided{std::move(resolved).value(), true, {}};
  if (resolved.error().code != storage::LedgerErrorCode::illegal_transition) {
    return resolved.error();
  }
  auto current = ledger.get_approval(id);
  if (!current.ok()) return current.error();
  if (!current.value()) return ledger_error(storage::LedgerErrorCode::not_found, "approval " + id);
  return Decided{std::move(*current.value()), false, resolved.error().detail};
}

void answer_decided(AdminSources& sources, Result<Decided>& result, ServedAnswer& out) {
  if (!result.ok()) return answer_ledger_error(out, result.error());
  const Decided& d = result.value();
  ApprovalDesk& desk = sources.payments->approvals();
  if (!d.changed) {
    const std::string state = admin_json::approval_state_now(d.approval, now_ms());
    return answer_json(
        out, 409,
        {{"error", "approval " + d.approval.id + " is " + state + ": " + d.refusal},
         {"state", state},
         {"approval", admin_json::approval_json(d.approval, desk.held_for(d.approval.id), now_ms(),
                                                *assets_of(sources))}});
  }
  const std::size_t held = desk.held_for(d.approval.id);
  desk.decided(d.approval);  // held requests continue (or get approval_denied)
  answer_json(out, 200, admin_json::approval_json(d.approval, held, now_ms(), *assets_of(sources)));
}

// --- reconcile ---

struct Reconciled {
  std::optional<storage::Receipt> receipt;
  std::string state;  // the attempt's state when it could not be reconciled
  std::string refusal;
};

Result<Reconciled> reconcile_in_ledger(Ledger& ledger, std::int64_t id,
                                       const storage::Outcome& outcome,
                                       const storage::AuditEntry& audit) {
  auto receipt = ledger.reconcile_attempt(id, outcome, audit);
  if (receipt.ok()) return Reconciled{std::move(receipt).value(), {}, {}};
  if (receipt.error().code != storage::LedgerErrorCode::illegal_transition) {
    return receipt.error();
  }
  auto current = ledger.get_attempt(id);
  if (!current.ok()) return current.error();
  if (!current.value()) {
    return ledger_error(storage::LedgerErrorCode::not_found, "attempt " + std::to_string(id));
  }
  return Reconciled{std::nullopt, std::string(storage::attempt_state_name(current.value()->state)),
                    receipt.error().detail};
}

// The outcome a reconcile body asks for; nothing (and a 400) when it asks for none.
std::optional<storage::Outcome> requested_outcome(const Json& body, ServedAnswer& answer,
                                                  Json& detail) {
  const auto outcome = string_member(body, "outcome", answer);
  if (!outcome) return std::nullopt;
  storage::Outcome o;
  if (*outcome == "settled") {
    const auto evidence = string_member(body, "evidence", answer);
    const auto settlement = evidence ? string_member(body, "settlement_ref", answer) : std::nullopt;
    if (!evidence || !settlement) return std::nullopt;
    if (evidence->empty()) {
      answer_error(answer, 400, "evidence: a settled reconciliation says what proves it");
      return std::nullopt;
    }
    o.state = storage::AttemptState::settled;
    o.evidence = *evidence;
    o.settlement_ref = *settlement;
    detail = {{"outcome", "settled"}, {"evidence", *evidence}, {"settlement_ref", *settlement}};
    return o;
  }
  if (*outcome == "failed") {
    const auto reason = string_member(body, "reason", answer);
    if (!reason) return std::nullopt;
    if (reason->empty()) {
      answer_error(answer, 400, "reason: a failed reconciliation says why");
      return std::nullopt;
    }
    o.state = storage::AttemptState::failed;
    o.failure_code = payment::Reason::reconciled_failed;
    o.failure_reason = *reason;
    detail = {{"outcome", "failed"}, {"reason", *reason}};
    return o;
  }
  answer_error(answer, 400, "outcome: settled or failed");
  return std::nullopt;
}

std::optional<std::int64_t> attempt_id(std::string_view text) {
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

}  // namespace

void decide_approval(const AdminCall& call, const std::string& id, bool approve,
                     std::string_view body, ServedAnswer& answer) {
  const auto object = body_object(body, answer);
  if (!object) return;
  const auto note = string_member(*object, approve ? "note" : "reason", answer);
  if (!note) return;
  const auto entry =
      audit_entry(call, approve ? "approve" : "deny", id, {{approve ? "note" : "reason", *note}});
  const auto to = approve ? storage::ApprovalState::approved : storage::ApprovalState::denied;
  AdminSources* sources = &call.sources;
  on_ledger<Decided>(
      *sources->payments, Durability::durable, answer.defer(),
      [id, to, note = *note, entry](Ledger& ledger) {
        return decide_in_ledger(ledger, id, to, note, entry);
      },
      [sources](Result<Decided>& result, ServedAnswer& out) {
        answer_decided(*sources, result, out);
      });
}

void reconcile_attempt(const AdminCall& call, std::string_view id_text, std::string_view body,
                       ServedAnswer& answer) {
  const auto id = attempt_id(id_text);
  if (!id) return answer_error(answer, 404, "no attempt " + std::string(id_text));
  const auto object = body_object(body, answer);
  if (!object) return;
  Json detail;
  const auto outcome = requested_outcome(*object, answer, detail);
  if (!outcome) return;
  const auto entry = audit_entry(call, "reconcile", std::to_string(*id), detail);
  AdminSources* sources = &call.sources;
  on_ledger<Reconciled>(
      *sources->payments, Durability::durable, answer.defer(),
      [id = *id, outcome = *outcome, entry](Ledger& ledger) {
        return reconcile_in_ledger(ledger, id, outcome, entry);
      },
      [sources, id = *id](Result<Reconciled>& result, ServedAnswer& out) {
        if (!result.ok()) return answer_ledger_error(out, result.error());
        const Reconciled& r = result.value();
        if (!r.receipt) {
          return answer_json(out, 409,
                             {{"error", r.refusal}, {"state", r.state}, {"attempt_id", id}});
        }
        const std::vector<storage::Receipt> one{*r.receipt};
        answer_json(out, 200, receipt_json(listed_receipts(one, *assets_of(*sources)).front()));
      });
}

void reload_policy(const AdminCall& call, ServedAnswer& answer) {
  PolicyReloader* reloader = call.sources.reloader;
  if (reloader == nullptr) {
    return answer_error(answer, 503, "the proxy runs without a configuration file");
  }
  auto responder = answer.defer();
  PaymentServices* payments = call.sources.payments;
  reloader->request("admin API", [call = AdminCall{call.sources, call.actor}, payments, responder,
                                  path = reloader->path()](const PolicyReloader::Result& r) {
    const Json result = {{"applied", r.applied},
                         {"errors", r.errors},
                         {"warnings", r.warnings},
                         {"generation", r.generation}};
    on_ledger<storage::AuditRecord>(
        *payments, Durability::durable, responder,
        [entry = audit_entry(call, "policy_reload", path, result)](Ledger& ledger) {
          return ledger.append_audit(entry);
        },
        [result](Result<storage::AuditRecord>& recorded, ServedAnswer& out) {
          if (!recorded.ok()) {
            return answer_json(
                out, 503,
                {{"error", "the reload was not audited: " + recorded.error().describe()},
                 {"reload", result}});
          }
          answer_json(out, 200, result);
        });
  });
}

}  // namespace flow::proxy
