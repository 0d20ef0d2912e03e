#include "cli/ledger_cli.hpp"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/text_table.hpp"
#include "flow/payment/amount.hpp"
#include "flow/payment/unix_clock.hpp"
#include "flow/policy/asset_table.hpp"
#include "flow/policy/budget_window.hpp"
#include "flow/policy/duration.hpp"
#include "flow/policy/flow_config.hpp"
#include "flow/proxy/admin/ledger_json.hpp"
#include "flow/storage/ledger.hpp"

namespace flow::proxy {

using storage::Receipt;

struct LedgerCommands::Flags {
  std::string db;      // empty: ledger.path of --config, else 402flow.db
  std::string config;  // flow.yaml: its asset table names the amounts, its ledger.path is the db
  std::string agent;
  std::string merchant;
  std::string since;
  bool json = false;
  bool csv = false;
  bool all = false;  // every receipt, also those a later receipt of the same attempt superseded
  bool spend_json = false;
};

namespace {

constexpr int kExitTampered = 1;
constexpr int kExitError = 2;

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
  return payment::parse_utc_ms(text);
}

// "0x8335…2913" for long addresses in tables; JSON and CSV carry the full value.
std::string short_id(const std::string& s) {
  if (s.size() <= 14) return s;
  return s.substr(0, 6) + "..." + s.substr(s.size() - 4);
}

std::string decimal(payment::Atomic amount, unsigned decimals) {
  return payment::format_decimal(amount, decimals);
}

// "0.01 USDC"; for an asset the table does not know, the amount and the (shortened) address.
std::string amount_text(payment::Atomic amount, unsigned decimals, const std::string& symbol,
                        const std::string& asset) {
  if (!symbol.empty()) return payment::format_display(amount, decimals, symbol);
  return decimal(amount, decimals) + " " + short_id(asset);
}

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

void print_receipts_csv(const std::vector<ListedReceipt>& receipts) {
  const Receipt none;
  std::string line;
  for (const auto& [name, value] : receipt_fields({&none, "", ""})) {
    line += (line.empty() ? "" : ",") + name;
  }
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

// "payment_refused: the merchant refused the credential"; "-" for none.
std::string failure_text(const storage::Attempt& a) {
  std::string text = a.failure_code ? std::string(payment::reason_name(*a.failure_code)) : "";
  if (!a.failure_reason.empty()) text += (text.empty() ? "" : ": ") + a.failure_reason;
  return text.empty() ? "-" : text;
}

// One line per attempt (its latest receipt), or with `all` every receipt, superseded ones
// marked: an unknown outcome later settled is one payment, not two.
void print_receipts_table(const std::vector<ListedReceipt>& receipts, bool all) {
  TextTable table({"SEQ", "TIME", "AGENT", "MERCHANT", "AMOUNT", "STATE", "ATTEMPT", "RULE",
                   "SETTLEMENT", "RECEIPT", "FAILURE"});
  std::size_t shown = 0;
  for (const auto& listed : receipts) {
    if (!all && !listed.superseded_by.empty()) continue;
    const Receipt& r = *listed.receipt;
    const auto& a = r.attempt;
    std::string state(storage::attempt_state_name(a.state));
    if (!listed.superseded_by.empty()) state += " (superseded)";
    table.add(
        {std::to_string(r.seq), iso_time(r.recorded_at_ms), a.intent.agent,
         a.intent.merchant_origin,
         amount_text(a.intent.offer.amount, a.intent.decimals, listed.symbol, a.intent.offer.asset),
         state, std::to_string(a.id), a.intent.rule, short_id(a.settlement_ref), r.receipt_id,
         failure_text(a)});
    ++shown;
  }
  table.print(std::cout);
  std::cout << shown << " receipt(s)";
  if (shown < receipts.size()) {
    std::cout << "; " << receipts.size() - shown
              << " earlier receipt(s) of the same attempts not shown (--all shows them)";
  }
  std::cout << '\n';
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

// The asset table of --config (its `assets:` over the built-ins), or the built-ins alone.
policy::AssetTable asset_table(const LedgerCommands::Flags& f) {
  if (f.config.empty()) return policy::AssetTable::with_built_ins();
  return policy::load_flow_config(f.config).policy->assets();
}

// --db, else ledger.path of --config, else 402flow.db.
std::string db_path(const LedgerCommands::Flags& f) {
  if (!f.db.empty()) return f.db;
  if (!f.config.empty()) return policy::load_flow_config(f.config).ledger.path;
  return "402flow.db";
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
  const policy::AssetTable assets = asset_table(f);
  auto ledger = open_ledger(db_path(f));
  auto receipts = ledger->receipts(filter);
  if (!receipts.ok()) return fail(receipts.error());
  const auto listed = listed_receipts(receipts.value(), assets);
  if (f.json) {
    std::cout << receipts_json(listed).dump(2) << '\n';
  } else if (f.csv) {
    print_receipts_csv(listed);
  } else {
    print_receipts_table(listed, f.all);
  }
  return 0;
}

int run_verify(const LedgerCommands::Flags& f) {
  auto ledger = open_ledger(db_path(f));
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

// "at 2026-01-02T00:00:00Z"; "rolling 1h" (money leaves as it ages); "-" for an unknown key.
std::string resets_text(const CapWindow& w) {
  if (w.resets_at) return iso_time(*w.resets_at * 1000);
  if (auto window = policy::parse_window_key(w.key)) {
    return "rolling " + policy::human_duration(window->rolling_seconds);
  }
  return "-";
}

std::string payments_text(std::uint64_t n) {
  return std::to_string(n) + (n == 1 ? " payment" : " payments");
}

void print_caps_table(const storage::SpendReport& report, const policy::AssetTable& assets) {
  std::cout << "Caps (limits as last checked; held = money or payments in the window)\n";
  TextTable caps({"COUNTER", "RULE", "WINDOW", "START", "END", "RESETS", "HELD", "CAP"});
  for (const auto& c : report.counters) {
    const CapWindow w = cap_window(c);
    std::string held, cap;
    if (counts_payments(c)) {
      held = payments_text(c.held_count);
      cap = payments_text(*c.max_count);
    } else {
      const std::string symbol = symbol_of(assets, c.network, c.asset);
      held = amount_text(c.held_amount, c.decimals, symbol, c.asset);
      cap = c.max_amount ? amount_text(*c.max_amount, c.decimals, symbol, c.asset) : "-";
    }
    caps.add({c.counter_key, c.rule, w.key.empty() ? "-" : w.key, iso_time(c.window_start * 1000),
              w.end ? iso_time(*w.end * 1000) : "-", resets_text(w), held, cap});
  }
  caps.print(std::cout);
}

void print_spend_table(const storage::SpendReport& report, const policy::AssetTable& assets) {
  print_caps_table(report, assets);
  for (const auto& [title, rows] :
       {std::pair{"\nBy agent\n", &report.by_agent}, {"\nBy merchant\n", &report.by_merchant}}) {
    std::cout << title;
    TextTable t({"SUBJECT", "NETWORK", "SETTLED", "IN FLIGHT", "UNKNOWN", "PAYMENTS"});
    for (const auto& s : *rows) {
      const std::string symbol = symbol_of(assets, s.network, s.asset);
      t.add({s.subject, s.network, amount_text(s.settled, s.decimals, symbol, s.asset),
             amount_text(s.in_flight, s.decimals, symbol, s.asset),
             amount_text(s.unknown, s.decimals, symbol, s.asset), std::to_string(s.payments)});
    }
    t.print(std::cout);
  }
}

int run_spend(const LedgerCommands::Flags& f) {
  const policy::AssetTable assets = asset_table(f);
  auto ledger = open_ledger(db_path(f));
  auto report = ledger->spend();
  if (!report.ok()) return fail(report.error());
  if (f.spend_json) {
    std::cout << spend_json(report.value(), assets).dump(2) << '\n';
  } else {
    print_spend_table(report.value(), assets);
  }
  return 0;
}

}  // namespace

LedgerCommands::LedgerCommands(CLI::App& app) : flags_(std::make_unique<Flags>()) {
  Flags& f = *flags_;
  const auto add_source = [&f](CLI::App& command) {
    command.add_option("--db", f.db,
                       "ledger file (default: ledger.path of --config, or 402flow.db)");
    command
        .add_option("-c,--config", f.config,
                    "flow.yaml: its assets name the amounts (0.01 USDC), its ledger.path is "
                    "the default --db")
        ->check(CLI::ExistingFile);
  };
  receipts_ = app.add_subcommand("receipts", "list payment receipts from the ledger");
  add_source(*receipts_);
  receipts_->add_option("--agent", f.agent, "only this agent");
  receipts_->add_option("--merchant", f.merchant,
                        "only this merchant: an origin, or a host[:port] (a host alone: any port)");
  receipts_->add_option("--since", f.since,
                        "recorded at or after: unix seconds, 2026-01-31[T12:00:00Z], or an age "
                        "like 7d, 24h");
  auto* json = receipts_->add_flag("--json", f.json,
                                   "JSON array of every receipt (superseded_by names the later "
                                   "receipt of the same attempt)");
  receipts_->add_flag("--csv", f.csv, "CSV instead of a table")->excludes(json);
  receipts_->add_flag("--all", f.all,
                      "every receipt in the table, also those a later receipt of the same "
                      "attempt superseded (default: the latest per attempt)");

  verify_ = receipts_->add_subcommand(
      "verify", "check the receipt hash chain; exit 1 naming the first bad receipt");
  verify_->add_option("--db", f.db,
                      "ledger file (default: ledger.path of --config, or 402flow.db)");
  verify_->add_option("-c,--config", f.config, "flow.yaml whose ledger.path is the default --db")
      ->check(CLI::ExistingFile);

  spend_ = app.add_subcommand("spend", "money held per cap, agent and merchant");
  add_source(*spend_);
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
  } catch (const policy::ConfigError& e) {
    std::fprintf(stderr, "402flow: %s\n", e.what());
    return kExitError;
  }
  return kExitError;
}

}  // namespace flow::proxy
