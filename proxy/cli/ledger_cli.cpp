#include "cli/ledger_cli.hpp"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flow/payment/amount.hpp"
#include "flow/payment/unix_clock.hpp"
#include "flow/policy/duration.hpp"
#include "flow/storage/ledger.hpp"

namespace flow::proxy {

using storage::Receipt;

struct LedgerCommands::Flags {
  std::string db = "402flow.db";
  std::string agent;
  std::string merchant;
  std::string since;
  bool json = false;
  bool csv = false;
  bool spend_json = false;
};

namespace {

constexpr int kExitTampered = 1;
constexpr int kExitError = 2;

// "2026-01-01T00:00:00Z"; "-" for 0 (a step that was never reached).
std::string iso_time(std::int64_t ms) {
  if (ms == 0) return "-";
  const time_t seconds = static_cast<time_t>(ms / 1000);
  struct tm utc {};
  gmtime_r(&seconds, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// --since: unix seconds ("1767225600"), a UTC date or time ("2026-01-01",
// "2026-01-01T12:00:00Z"), or an age ("7d", "24h", "30m", "90s").
std::optional<std::int64_t> parse_since_ms(std::string_view text, std::int64_t now) {
  if (all_digits(text)) {
    auto s = parse_int(text);
    if (!s || *s > std::numeric_limits<std::int64_t>::max() / 1000) return std::nullopt;
    return *s * 1000;
  }
  if (text.size() > 1 && text.back() == 'd' && all_digits(text.substr(0, text.size() - 1))) {
    auto days = parse_int(text.substr(0, text.size() - 1));
    if (!days || *days > 365 * 1000) return std::nullopt;
    return now - *days * 86'400'000;
  }
  if (auto age = policy::parse_duration(text)) return now - age->count();
  struct tm t {};
  const std::string s(text);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &t);
  if (end == nullptr) {
    t = {};
    end = strptime(s.c_str(), "%Y-%m-%d", &t);
  }
  if (end == nullptr || !(*end == '\0' || (end[0] == 'Z' && end[1] == '\0'))) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(timegm(&t)) * 1000;
}

// "0x8335…2913" for long addresses in tables; JSON and CSV carry the full value.
std::string short_id(const std::string& s) {
  if (s.size() <= 14) return s;
  return s.substr(0, 6) + "..." + s.substr(s.size() - 4);
}

std::string decimal(payment::Atomic amount, unsigned decimals) {
  return payment::format_decimal(amount, decimals);
}

// Columns sized to their widest cell, two spaces apart.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out) const {
    std::vector<std::size_t> width(rows_.front().size(), 0);
    for (const auto& row : rows_) {
      for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) {
        width[i] = std::max(width[i], row[i].size());
      }
    }
    for (const auto& row : rows_) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
      }
      out << line << '\n';
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// RFC 4180: quote a field that holds a comma, a quote or a line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Every receipt field an auditor needs, flat, in one order for JSON and CSV.
std::vector<std::pair<std::string, std::string>> receipt_fields(const Receipt& r) {
  const auto& a = r.attempt;
  const auto& in = a.intent;
  const auto& o = in.offer;
  return {
      {"seq", std::to_string(r.seq)},
      {"receipt_id", r.receipt_id},
      {"recorded_at", iso_time(r.recorded_at_ms)},
      {"recorded_at_ms", std::to_string(r.recorded_at_ms)},
      {"attempt_id", std::to_string(a.id)},
      {"state", std::string(storage::attempt_state_name(a.state))},
      {"agent", in.agent},
      {"idempotency_key", in.idempotency_key},
      {"merchant_origin", in.merchant_origin},
      {"method", in.method},
      {"url", in.url},
      {"protocol", o.protocol},
      {"protocol_version", std::to_string(o.protocol_version)},
      {"scheme", o.scheme},
      {"network", o.network},
      {"asset", o.asset},
      {"amount_atomic", payment::format_atomic(o.amount)},
      {"decimals", std::to_string(in.decimals)},
      {"amount", decimal(o.amount, in.decimals)},
      {"pay_to", o.pay_to},
      {"resource", o.resource},
      {"payer", a.payer},
      {"decision_id", in.decision_id},
      {"rule", in.rule},
      {"approval_id", in.approval_id},
      {"credential_ref", a.credential_ref},
      {"credential_sha256", a.credential_sha256},
      {"settlement_ref", a.settlement_ref},
      {"evidence", a.evidence},
      {"http_status", std::to_string(a.http_status)},
      {"failure_code",
       a.failure_code ? std::string(payment::reason_name(*a.failure_code)) : std::string()},
      {"failure_reason", a.failure_reason},
      {"reserved_at_ms", std::to_string(a.times.reserved_at_ms)},
      {"signed_at_ms", std::to_string(a.times.signed_at_ms)},
      {"submitted_at_ms", std::to_string(a.times.submitted_at_ms)},
      {"finished_at_ms", std::to_string(a.times.finished_at_ms)},
      {"prev_hash", r.prev_hash},
      {"hash", r.hash},
      {"encoding", std::to_string(r.encoding)},
  };
}

// Numbers stay numbers in JSON, except amounts: 128-bit values do not fit a JSON number
// that every reader parses exactly, so amounts are strings.
bool numeric_field(const std::string& name) {
  return name == "seq" || name == "recorded_at_ms" || name == "attempt_id" ||
         name == "protocol_version" || name == "decimals" || name == "http_status" ||
         name == "encoding" || name.ends_with("_at_ms");
}

void print_receipts_json(const std::vector<Receipt>& receipts) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& r : receipts) {
    nlohmann::ordered_json row = nlohmann::ordered_json::object();
    for (const auto& [name, value] : receipt_fields(r)) {
      if (numeric_field(name)) {
        row[name] = parse_int(value).value_or(0);
      } else {
        row[name] = value;
      }
    }
    out.push_back(std::move(row));
  }
  std::cout << out.dump(2) << '\n';
}

void print_receipts_csv(const std::vector<Receipt>& receipts) {
  Receipt none;
  std::string line;
  for (const auto& [name, value] : receipt_fields(none)) line += (line.empty() ? "" : ",") + name;
  std::cout << line << "\r\n";
  for (const auto& r : receipts) {
    line.clear();
    bool first = true;
    for (const auto& [name, value] : receipt_fields(r)) {
      if (!first) line += ',';
      line += csv_field(value);
      first = false;
    }
    std::cout << line << "\r\n";
  }
}

void print_receipts_table(const std::vector<Receipt>& receipts) {
  TextTable table({"SEQ", "TIME", "AGENT", "MERCHANT", "AMOUNT", "ASSET", "STATE", "RULE",
                   "SETTLEMENT", "RECEIPT"});
  for (const auto& r : receipts) {
    const auto& a = r.attempt;
    table.add({std::to_string(r.seq), iso_time(r.recorded_at_ms), a.intent.agent,
               a.intent.merchant_origin, decimal(a.intent.offer.amount, a.intent.decimals),
               short_id(a.intent.offer.asset), std::string(storage::attempt_state_name(a.state)),
               a.intent.rule, short_id(a.settlement_ref), r.receipt_id});
  }
  table.print(std::cout);
  std::cout << receipts.size() << " receipt(s)\n";
}

std::unique_ptr<storage::Ledger> open_ledger(const std::string& path) {
  storage::LedgerOptions options;
  options.path = path;
  options.mode = storage::OpenMode::shared;
  options.create_if_missing = false;
  return std::make_unique<storage::Ledger>(options);
}

int fail(const storage::LedgerError& e) {
  std::fprintf(stderr, "402flow: reading the ledger: %s\n", e.describe().c_str());
  return kExitError;
}

int run_receipts(const LedgerCommands::Flags& f) {
  storage::ReceiptFilter filter;
  if (!f.agent.empty()) filter.agent = f.agent;
  if (!f.merchant.empty()) filter.merchant = f.merchant;
  if (!f.since.empty()) {
    auto since = parse_since_ms(f.since, payment::unix_now_ms());
    if (!since) {
      std::fprintf(stderr,
                   "402flow: --since: expected unix seconds, 2026-01-31, 2026-01-31T12:00:00Z "
                   "or an age like 7d or 24h, got '%s'\n",
                   f.since.c_str());
      return kExitError;
    }
    filter.since_ms = *since;
  }
  auto ledger = open_ledger(f.db);
  auto receipts = ledger->receipts(filter);
  if (!receipts.ok()) return fail(receipts.error());
  if (f.json) {
    print_receipts_json(receipts.value());
  } else if (f.csv) {
    print_receipts_csv(receipts.value());
  } else {
    print_receipts_table(receipts.value());
  }
  return 0;
}

int run_verify(const LedgerCommands::Flags& f) {
  auto ledger = open_ledger(f.db);
  auto report = ledger->verify_chain();
  if (!report.ok()) return fail(report.error());
  const storage::ChainReport& r = report.value();
  if (r.ok) {
    std::printf("receipt chain intact: %llu receipt(s); head %lld %s\n",
                static_cast<unsigned long long>(r.rows_checked), static_cast<long long>(r.head_seq),
                r.head_hash.c_str());
    std::printf("keep the head hash elsewhere to detect a rewrite of the whole chain\n");
    return 0;
  }
  std::printf("receipt chain BROKEN at receipt %lld (%s): %s\n",
              static_cast<long long>(r.first_bad_seq),
              std::string(storage::chain_problem_name(r.problem)).c_str(), r.detail.c_str());
  std::printf("%llu receipt(s) before it verified\n",
              static_cast<unsigned long long>(r.rows_checked));
  return kExitTampered;
}

std::string cap_text(const std::optional<payment::Atomic>& max, unsigned decimals) {
  return max ? decimal(*max, decimals) : "-";
}

void print_spend_table(const storage::SpendReport& report) {
  std::cout << "Caps (limits as last checked; held = money in the window)\n";
  TextTable caps({"COUNTER", "RULE", "WINDOW START", "HELD", "CAP", "PAYMENTS", "MAX", "ASSET"});
  for (const auto& c : report.counters) {
    caps.add({c.counter_key, c.rule, iso_time(c.window_start * 1000),
              decimal(c.held_amount, c.decimals), cap_text(c.max_amount, c.decimals),
              std::to_string(c.held_count), c.max_count ? std::to_string(*c.max_count) : "-",
              short_id(c.asset)});
  }
  caps.print(std::cout);
  for (const auto& [title, rows] :
       {std::pair{"\nBy agent\n", &report.by_agent}, {"\nBy merchant\n", &report.by_merchant}}) {
    std::cout << title;
    TextTable t({"SUBJECT", "NETWORK", "ASSET", "SETTLED", "IN FLIGHT", "UNKNOWN", "PAYMENTS"});
    for (const auto& s : *rows) {
      t.add({s.subject, s.network, short_id(s.asset), decimal(s.settled, s.decimals),
             decimal(s.in_flight, s.decimals), decimal(s.unknown, s.decimals),
             std::to_string(s.payments)});
    }
    t.print(std::cout);
  }
}

nlohmann::ordered_json spend_json(const storage::SpendReport& report) {
  nlohmann::ordered_json out;
  out["caps"] = nlohmann::ordered_json::array();
  for (const auto& c : report.counters) {
    out["caps"].push_back({
        {"counter_key", c.counter_key},
        {"rule", c.rule},
        {"reason", c.reason},
        {"network", c.network},
        {"asset", c.asset},
        {"decimals", c.decimals},
        {"window_start", c.window_start},
        {"held_amount", payment::format_atomic(c.held_amount)},
        {"held_count", c.held_count},
        {"max_amount", c.max_amount ? nlohmann::ordered_json(payment::format_atomic(*c.max_amount))
                                    : nlohmann::ordered_json(nullptr)},
        {"max_count",
         c.max_count ? nlohmann::ordered_json(*c.max_count) : nlohmann::ordered_json(nullptr)},
    });
  }
  for (const auto& [name, rows] :
       {std::pair{"by_agent", &report.by_agent}, std::pair{"by_merchant", &report.by_merchant}}) {
    out[name] = nlohmann::ordered_json::array();
    for (const auto& s : *rows) {
      out[name].push_back({
          {"subject", s.subject},
          {"network", s.network},
          {"asset", s.asset},
          {"decimals", s.decimals},
          {"settled", payment::format_atomic(s.settled)},
          {"in_flight", payment::format_atomic(s.in_flight)},
          {"unknown", payment::format_atomic(s.unknown)},
          {"payments", s.payments},
      });
    }
  }
  return out;
}

int run_spend(const LedgerCommands::Flags& f) {
  auto ledger = open_ledger(f.db);
  auto report = ledger->spend();
  if (!report.ok()) return fail(report.error());
  if (f.spend_json) {
    std::cout << spend_json(report.value()).dump(2) << '\n';
  } else {
    print_spend_table(report.value());
  }
  return 0;
}

}  // namespace

LedgerCommands::LedgerCommands(CLI::App& app) : flags_(std::make_unique<Flags>()) {
  Flags& f = *flags_;
  receipts_ = app.add_subcommand("receipts", "list payment receipts from the ledger");
  receipts_->add_option("--db", f.db, "ledger file (default 402flow.db)");
  receipts_->add_option("--agent", f.agent, "only this agent");
  receipts_->add_option("--merchant", f.merchant, "only this merchant (origin or host)");
  receipts_->add_option("--since", f.since,
                        "recorded at or after: unix seconds, 2026-01-31[T12:00:00Z], or an age "
                        "like 7d, 24h");
  auto* json = receipts_->add_flag("--json", f.json, "JSON array instead of a table");
  receipts_->add_flag("--csv", f.csv, "CSV instead of a table")->excludes(json);

  verify_ = receipts_->add_subcommand(
      "verify", "check the receipt hash chain; exit 1 naming the first bad receipt");
  verify_->add_option("--db", f.db, "ledger file (default 402flow.db)");

  spend_ = app.add_subcommand("spend", "money held per cap, agent and merchant");
  spend_->add_option("--db", f.db, "ledger file (default 402flow.db)");
  spend_->add_flag("--json", f.spend_json, "JSON instead of tables");
}

LedgerCommands::~LedgerCommands() = default;

bool LedgerCommands::selected() const {
  return receipts_->parsed() || spend_->parsed();
}

int LedgerCommands::run() const {
  try {
    if (verify_->parsed()) return run_verify(*flags_);
    if (receipts_->parsed()) return run_receipts(*flags_);
    if (spend_->parsed()) return run_spend(*flags_);
  } catch (const storage::LedgerOpenError& e) {
    std::fprintf(stderr, "402flow: %s\n", e.what());
    return kExitError;
  }
  return kExitError;
}

}  // namespace flow::proxy
