// The /v1/ routes and the endpoints that read (receipts, decisions, spend, merchants, attempts,
// approvals, audit, policy). The operator's actions are in admin_actions.cpp.
#include "admin_v1.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <sstream>
#include <vector>

#include "flow/payment/unix_clock.hpp"
#include "flow/policy/policy_summary.hpp"
#include "flow/policy/verdict.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/policy_reloader.hpp"

namespace flow::proxy {

using storage::Durability;
using storage::Ledger;
using storage::Result;

void answer_json(ServedAnswer& answer, int status, const Json& body) {
  answer.status = status;
  answer.content_type = "application/json";
  answer.body = body.dump();
}

void answer_error(ServedAnswer& answer, int status, std::string_view message) {
  answer.status = status;
  answer.content_type = "application/json";
  answer.body = json_error_body(message);
}

void answer_ledger_error(ServedAnswer& answer, const storage::LedgerError& error) {
  answer_json(answer, admin_json::ledger_error_status(error),
              {{"error", error.describe()}, {"code", storage::ledger_error_name(error.code)}});
}

std::shared_ptr<const policy::AssetTable> assets_of(const AdminSources& sources) {
  static const auto built_ins =
      std::make_shared<const policy::AssetTable>(policy::AssetTable::with_built_ins());
  auto snapshot = sources.policy ? sources.policy->current() : nullptr;
  if (!snapshot) return built_ins;
  const policy::AssetTable* table = &snapshot->assets();
  return {std::move(snapshot), table};  // shares the snapshot's ownership
}

std::int64_t now_ms() {
  return payment::unix_now_ms();
}

namespace {

// The path below /v1/ as segments: "approvals/apr_1/approve" -> {approvals, apr_1, approve}.
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    const auto slash = path.find('/');
    if (slash != 0) out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool method_is(const ServedRequest& request, ServedAnswer& answer, std::string_view method) {
  const std::string& m = request.head.method;
  if (m == method || (method == "GET" && m == "HEAD")) return true;
  answer_error(answer, 405, "method not allowed: use " + std::string(method));
  answer.headers =
      method == "GET" ? "Allow: GET, HEAD\r\n" : "Allow: " + std::string(method) + "\r\n";
  return false;
}

// The paid path and its ledger, or a 503 saying there is none.
PaymentServices* ledger_or_503(const AdminCall& call, ServedAnswer& answer) {
  if (call.sources.payments != nullptr) return call.sources.payments;
  answer_error(answer, 503, "the ledger is not open: no wallet is configured");
  return nullptr;
}

std::optional<admin_json::Page> page_or_400(std::string_view query, ServedAnswer& answer) {
  std::string error;
  auto page = admin_json::read_page(query, error);
  if (!page) answer_error(answer, 400, error);
  return page;
}

// --- receipts ---

// A page of receipts, and the latest receipt of each of their attempts (superseded_by).
struct ReceiptPage {
  std::vector<storage::Receipt> receipts;
  std::map<std::int64_t, std::string> latest;
};

Result<ReceiptPage> read_receipt_page(Ledger& ledger, const storage::ReceiptFilter& filter) {
  auto receipts = ledger.receipts(filter);
  if (!receipts.ok()) return receipts.error();
  std::vector<std::int64_t> attempts;
  for (const auto& r : receipts.value()) attempts.push_back(r.attempt.id);
  auto latest = ledger.latest_receipt_ids(attempts);
  if (!latest.ok()) return latest.error();
  return ReceiptPage{std::move(receipts).value(), std::move(latest).value()};
}

Json listed_json(const storage::Receipt& r, const ReceiptPage& page,
                 const policy::AssetTable& assets) {
  const auto latest = page.latest.find(r.attempt.id);
  const std::string superseded_by =
      latest != page.latest.end() && latest->second != r.receipt_id ? latest->second : "";
  const auto& offer = r.attempt.intent.offer;
  return receipt_json({&r, symbol_of(assets, offer.network, offer.asset), superseded_by});
}

// The filter of GET /v1/receipts, paged by seq (the cursor), newest first; nothing (and the
// answer written) when a parameter is bad.
std::optional<storage::ReceiptFilter> receipt_filter(std::string_view query, ServedAnswer& answer) {
  auto page = page_or_400(query, answer);
  if (!page) return std::nullopt;
  storage::ReceiptFilter f;
  f.agent = admin_json::query_param(query, "agent");
  f.merchant = admin_json::query_param(query, "merchant");
  if (auto state = admin_json::query_param(query, "state")) {
    f.state = storage::attempt_state_from_name(*state);
    if (!f.state) {
      answer_error(answer, 400, "state: not an attempt state: " + *state);
      return std::nullopt;
    }
  }
  for (auto [name, out] : {std::pair{"since", &f.since_ms}, {"until", &f.until_ms}}) {
    if (auto text = admin_json::query_param(query, name)) {
      auto ms = admin_json::parse_time_ms(*text);
      if (!ms) {
        answer_error(answer, 400,
                     std::string(name) + ": expected unix milliseconds or 2026-01-31[T12:00:00Z]");
        return std::nullopt;
      }
      *out = *ms;
    }
  }
  if (!page->after.empty()) {
    std::int64_t seq = 0;
    const auto [end, ec] =
        std::from_chars(page->after.data(), page->after.data() + page->after.size(), seq);
    if (ec != std::errc() || end != page->after.data() + page->after.size() || seq <= 0) {
      answer_error(answer, 400, "after: a receipt's seq, from the previous page's next");
      return std::nullopt;
    }
    f.before_seq = seq;
  }
  f.limit = page->limit + 1;  // one more: is there a next page?
  f.newest_first = true;
  return f;
}

void list_receipts(const AdminCall& call, PaymentServices& pay, std::string_view query,
                   ServedAnswer& answer) {
  auto filter = receipt_filter(query, answer);
  if (!filter) return;
  AdminSources* sources = &call.sources;
  on_ledger<ReceiptPage>(
      pay, Durability::batched, answer.defer(),
      [filter = *filter](Ledger& ledger) { return read_receipt_page(ledger, filter); },
      [sources, limit = filter->limit - 1](Result<ReceiptPage>& result, ServedAnswer& out) {
        if (!result.ok()) return answer_ledger_error(out, result.error());
        ReceiptPage& page = result.value();
        const bool more = page.receipts.size() > limit;
        if (more) page.receipts.resize(limit);
        Json body = {{"items", Json::array()}};
        for (const auto& r : page.receipts) {
          body["items"].push_back(listed_json(r, page, *assets_of(*sources)));
        }
        body["next"] = more ? Json(std::to_string(page.receipts.back().seq)) : Json(nullptr);
        answer_json(out, 200, body);
      });
}

Result<ReceiptPage> read_one_receipt(Ledger& ledger, const std::string& id) {
  auto found = ledger.get_receipt(id);
  if (!found.ok()) return found.error();
  if (!found.value()) return ReceiptPage{};
  auto latest = ledger.latest_receipt_ids({found.value()->attempt.id});
  if (!latest.ok()) return latest.error();
  return ReceiptPage{{std::move(*found.value())}, std::move(latest).value()};
}

void one_receipt(const AdminCall& call, PaymentServices& pay, std::string id,
                 ServedAnswer& answer) {
  AdminSources* sources = &call.sources;
  on_ledger<ReceiptPage>(
      pay, Durability::batched, answer.defer(),
      [id](Ledger& ledger) { return read_one_receipt(ledger, id); },
      [sources, id](Result<ReceiptPage>& result, ServedAnswer& out) {
        if (!result.ok()) return answer_ledger_error(out, result.error());
        const ReceiptPage& page = result.value();
        if (page.receipts.empty()) return answer_error(out, 404, "no receipt " + id);
        answer_json(out, 200, listed_json(page.receipts.front(), page, *assets_of(*sources)));
      });
}

// --- decisions, spend, merchants, attempts ---

void list_decisions(const AdminCall& call, PaymentServices& pay, std::string_view query,
                    ServedAnswer& answer) {
  auto page = page_or_400(query, answer);
  if (!page) return;
  storage::DecisionFilter filter;
  filter.agent = admin_json::query_param(query, "agent");
  filter.merchant = admin_json::query_param(query, "merchant");
  if (auto outcome = admin_json::query_param(query, "outcome")) {
    filter.outcome = policy::verdict_from_name(*outcome);
    if (!filter.outcome) return answer_error(answer, 400, "outcome: allow, deny or review");
  }
  filter.before_id = page->after;
  filter.limit = page->limit + 1;  // one more: is there a next page?
  AdminSources* sources = &call.sources;
  on_ledger<std::vector<storage::DecisionRecord>>(
      pay, Durability::batched, answer.defer(),
      [filter](Ledger& ledger) { return ledger.decisions(filter); },
      [sources, limit = page->limit](Result<std::vector<storage::DecisionRecord>>& result,
                                     ServedAnswer& out) {
        if (!result.ok()) return answer_ledger_error(out, result.error());
        auto& rows = result.value();
        const bool more = rows.size() > limit;
        if (more) rows.resize(limit);
        Json body = {{"items", Json::array()}};
        for (const auto& d : rows) {
          body["items"].push_back(admin_json::decision_json(d, *assets_of(*sources)));
        }
        body["next"] = more ? Json(rows.back().id) : Json(nullptr);
        answer_json(out, 200, body);
      });
}

// The caps (a few counter rows); with totals=1 also the lifetime totals by agent and merchant,
// as `402flow spend --json` prints them, which read every attempt that holds or held money.
void show_spend(const AdminCall& call, PaymentServices& pay, std::string_view query,
                ServedAnswer& answer) {
  const std::string totals = admin_json::query_param(query, "totals").value_or("0");
  if (totals != "0" && totals != "1") return answer_error(answer, 400, "totals: 0 or 1");
  const bool with_totals = totals == "1";
  AdminSources* sources = &call.sources;
  on_ledger<storage::SpendReport>(
      pay, Durability::batched, answer.defer(),
      [with_totals](Ledger& ledger) { return ledger.spend(with_totals); },
      [sources, with_totals](Result<storage::SpendReport>& result, ServedAnswer& out) {
        if (!result.ok()) return answer_ledger_error(out, result.error());
        auto body = spend_json(result.value(), *assets_of(*sources));
        if (!with_totals) {
          body.erase("by_agent");
          body.erase("by_merchant");
        }
        answer_json(out, 200, body);
      });
}

void list_merchants(const AdminCall& call, PaymentServices& pay, std::string_view query,
                    ServedAnswer& answer) {
  auto page = page_or_400(query, answer);
  if (!page) return;
  AdminSources* sources = &call.sources;
  on_ledger<std::vector<storage::ObservedMerchant>>(
      pay, Durability::batched, answer.defer(),
      [](Ledger& ledger) { return ledger.observed_merchants(); },
      [sources, page = *page](Result<std::vector<storage::ObservedMerchant>>& result,
                              ServedAnswer& out) {
        if (!result.ok()) return answer_ledger_error(out, result.error());
        answer_json(
            out, 200,
            admin_json::paged(
                result.value(), page, [](const storage::ObservedMerchant& m) { return m.origin; },
                [sources](const storage::ObservedMerchant& m) {
                  return admin_json::merchant_json(m, *assets_of(*sources));
                }));
      });
}

void list_attempts(const AdminCall& call, PaymentServices& pay, std::string_view query,
                   ServedAnswer& answer) {
  auto page = page_or_400(query, answer);
  if (!page) return;
  const std::string state_name = admin_json::query_param(query, "state").value_or("unknown");
  const auto state = storage::attempt_state_from_name(state_name);
  if (!state) return answer_error(answer, 400, "state: not an attempt state: " + state_name);
  AdminSources* sources = &call.sources;
  on_ledger<std::vector<storage::Attempt>>(
      pay, Durability::batched, answer.defer(),
      [state = *state](Ledger& ledger) { return ledger.attempts_in_state(state); },
      [sources, page = *page](Result<std::vector<storage::Attempt>>& result, ServedAnswer& out) {
        if (!result.ok()) return answer_ledger_error(out, result.error());
        auto& rows = result.value();
        std::sort(rows.begin(), rows.end(),
                  [](const auto& a, const auto& b) { return a.id > b.id; });  // newest first
        answer_json(out, 200,
                    admin_json::paged(
                        rows, page, [](const storage::Attempt& a) { return std::to_string(a.id); },
                        [sources](const storage::Attempt& a) {
                          return admin_json::attempt_json(a, *assets_of(*sources));
                        }));
      });
}

// --- approvals ---

void list_approvals(const AdminCall& call, PaymentServices& pay, std::string_view query,
                    ServedAnswer& answer) {
  auto page = page_or_400(query, answer);
  if (!page) return;
  const std::string state = admin_json::query_param(query, "state").value_or("pending");
  storage::ApprovalFilter filter;
  if (state != "all") {
    filter.state = storage::approval_state_from_name(state);
    if (!filter.state) {
      return answer_error(answer, 400,
                          "state: pending, approved, denied, expired, used or all, not " + state);
    }
  }
  // One more than asked: whether a next page exists.
  filter.limit = page->limit + 1;
  filter.before = page->after;
  AdminSources* sources = &call.sources;
  on_ledger<std::vector<storage::Approval>>(
      pay, Durability::batched, answer.defer(),
      [filter](Ledger& ledger) { return ledger.approvals(filter); },
      [sources, limit = page->limit](Result<std::vector<storage::Approval>>& result,
                                     ServedAnswer& out) {
        if (!result.ok()) return answer_ledger_error(out, result.error());
        auto& rows = result.value();
        const bool more = rows.size() > limit;
        if (more) rows.resize(limit);
        const std::int64_t now = now_ms();
        Json body = {{"items", Json::array()}};
        for (const auto& a : rows) {
          body["items"].push_back(admin_json::approval_json(
              a, sources->payments->approvals().held_for(a.id), now, *assets_of(*sources)));
        }
        body["next"] = more ? Json(rows.back().id) : Json(nullptr);
        answer_json(out, 200, body);
      });
}

void one_approval(const AdminCall& call, PaymentServices& pay, std::string id,
                  ServedAnswer& answer) {
  AdminSources* sources = &call.sources;
  on_ledger<std::optional<storage::Approval>>(
      pay, Durability::batched, answer.defer(),
      [id](Ledger& ledger) { return ledger.get_approval(id); },
      [sources, id](Result<std::optional<storage::Approval>>& result, ServedAnswer& out) {
        if (!result.ok()) return answer_ledger_error(out, result.error());
        if (!result.value()) return answer_error(out, 404, "no approval " + id);
        const storage::Approval& a = *result.value();
        answer_json(out, 200,
                    admin_json::approval_json(a, sources->payments->approvals().held_for(a.id),
                                              now_ms(), *assets_of(*sources)));
      });
}

// --- audit, policy ---

struct AuditView {
  std::vector<storage::AuditRecord> records;
  storage::ChainReport chain;
};

void list_audit(PaymentServices& pay, std::string_view query, ServedAnswer& answer) {
  auto page = page_or_400(query, answer);
  if (!page) return;
  storage::AuditFilter filter;
  filter.action = admin_json::query_param(query, "action");
  filter.limit = page->limit + 1;
  if (!page->after.empty()) {
    const auto seq = admin_json::parse_integer(page->after);
    if (!seq) {
      return answer_error(answer, 400, "after: an audit record's seq");
    }
    filter.before_seq = *seq;
  }
  on_ledger<AuditView>(
      pay, Durability::batched, answer.defer(),
      [filter](Ledger& ledger) -> Result<AuditView> {
        auto records = ledger.audit(filter);
        if (!records.ok()) return records.error();
        auto chain = ledger.verify_audit_chain();
        if (!chain.ok()) return chain.error();
        return AuditView{std::move(records).value(), std::move(chain).value()};
      },
      [limit = page->limit](Result<AuditView>& result, ServedAnswer& out) {
        if (!result.ok()) return answer_ledger_error(out, result.error());
        auto& rows = result.value().records;
        const bool more = rows.size() > limit;
        if (more) rows.resize(limit);
        Json body = {{"items", Json::array()}};
        for (const auto& r : rows) body["items"].push_back(admin_json::audit_json(r));
        body["next"] = more ? Json(std::to_string(rows.back().seq)) : Json(nullptr);
        body["chain"] = admin_json::chain_json(result.value().chain);
        answer_json(out, 200, body);
      });
}

void show_policy(const AdminCall& call, ServedAnswer& answer) {
  const PolicyReloader* reloader = call.sources.reloader;
  if (reloader == nullptr) {
    return answer_error(answer, 503, "the proxy runs without a configuration file");
  }
  std::ostringstream text;
  policy::write_config_summary(text, *reloader->in_force(), reloader->path());
  Json lines = Json::array();
  std::istringstream in(text.str());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  answer_json(answer, 200,
              {{"path", reloader->path()},
               {"generation", call.sources.policy ? call.sources.policy->generation() : 0},
               {"summary", std::move(lines)}});
}

void route_approvals(const AdminCall& call, const ServedRequest& request,
                     const std::vector<std::string_view>& s, ServedAnswer& answer) {
  if (s.size() == 1) {
    if (!method_is(request, answer, "GET")) return;
    if (auto* pay = ledger_or_503(call, answer)) list_approvals(call, *pay, request.query, answer);
  } else if (s.size() == 2) {
    if (!method_is(request, answer, "GET")) return;
    if (auto* pay = ledger_or_503(call, answer)) {
      one_approval(call, *pay, std::string(s[1]), answer);
    }
  } else if (s.size() == 3 && (s[2] == "approve" || s[2] == "deny")) {
    if (!method_is(request, answer, "POST")) return;
    if (ledger_or_503(call, answer) != nullptr) {
      decide_approval(call, std::string(s[1]), s[2] == "approve", request.body, answer);
    }
  } else {
    answer_error(answer, 404, "no such admin endpoint");
  }
}

void route_attempts(const AdminCall& call, const ServedRequest& request,
                    const std::vector<std::string_view>& s, ServedAnswer& answer) {
  if (s.size() == 1) {
    if (!method_is(request, answer, "GET")) return;
    if (auto* pay = ledger_or_503(call, answer)) list_attempts(call, *pay, request.query, answer);
  } else if (s.size() == 3 && s[2] == "reconcile") {
    if (!method_is(request, answer, "POST")) return;
    if (ledger_or_503(call, answer) != nullptr) {
      reconcile_attempt(call, s[1], request.body, answer);
    }
  } else {
    answer_error(answer, 404, "no such admin endpoint");
  }
}

// GET endpoints that read the ledger: receipts (one or a list), decisions, spend,
// merchants/observed, audit. False when `s` is none of them.
bool route_reads(const AdminCall& call, const ServedRequest& request,
                 const std::vector<std::string_view>& s, ServedAnswer& answer) {
  const std::string_view what = s[0];
  const bool known =
      (what == "receipts" && s.size() <= 2) ||
      ((what == "decisions" || what == "spend" || what == "audit") && s.size() == 1) ||
      (what == "merchants" && s.size() == 2 && s[1] == "observed");
  if (!known) return false;
  if (!method_is(request, answer, "GET")) return true;
  PaymentServices* pay = ledger_or_503(call, answer);
  if (pay == nullptr) return true;
  if (what == "receipts") {
    if (s.size() == 2) {
      one_receipt(call, *pay, std::string(s[1]), answer);
    } else {
      list_receipts(call, *pay, request.query, answer);
    }
  } else if (what == "decisions") {
    list_decisions(call, *pay, request.query, answer);
  } else if (what == "spend") {
    show_spend(call, *pay, request.query, answer);
  } else if (what == "audit") {
    list_audit(*pay, request.query, answer);
  } else {
    list_merchants(call, *pay, request.query, answer);
  }
  return true;
}

}  // namespace

void serve_v1(const AdminCall& call, const ServedRequest& request, ServedAnswer& answer) {
  const auto s = segments(request.path.substr(std::string_view("/v1/").size()));
  if (s.empty()) return answer_error(answer, 404, "no such admin endpoint");
  if (s[0] == "approvals") return route_approvals(call, request, s, answer);
  if (s[0] == "attempts") return route_attempts(call, request, s, answer);
  if (s[0] == "policy" && s.size() == 1) {
    if (method_is(request, answer, "GET")) show_policy(call, answer);
    return;
  }
  if (s[0] == "policy" && s.size() == 2 && s[1] == "reload") {
    if (method_is(request, answer, "POST") && ledger_or_503(call, answer) != nullptr) {
      reload_policy(call, answer);
    }
    return;
  }
  if (!route_reads(call, request, s, answer)) answer_error(answer, 404, "no such admin endpoint");
}

}  // namespace flow::proxy
