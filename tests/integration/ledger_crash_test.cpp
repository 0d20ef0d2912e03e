// Crash safety of the ledger: a child process runs payment loops through a LedgerWriter and is
// killed with SIGKILL at varying moments (including during the very first open). After each
// kill the parent opens the ledger as its owner and checks that it opens, the receipt chain
// verifies, every step the child was told was committed is still there, nothing is counted
// twice, and the attempts left in flight are listed as unknown.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "flow/storage/ledger_writer.hpp"
#include "support/child_process.hpp"
#include "support/temp_dir.hpp"

using namespace flow::storage;
using flow::payment::Atomic;

namespace {

constexpr int kWorkerThreads = 4;
constexpr Atomic kAmountCap = 3'000;
constexpr std::uint64_t kCountCap = 100'000;
const char* const kAgent = "crash-agent";

std::vector<flow::policy::CapCheck> caps() {
  flow::policy::CapCheck amount;
  amount.counter_key = "agent:crash-agent:total";
  amount.rule = "agents[crash-agent].caps.total";
  amount.reason = flow::policy::ReasonCode::over_agent_cap;
  amount.max_amount = kAmountCap;
  flow::policy::CapCheck count;
  count.counter_key = "org:total:count";
  count.rule = "organization.caps.count";
  count.reason = flow::policy::ReasonCode::over_org_cap;
  count.max_count = kCountCap;
  return {amount, count};
}

PaymentIntent intent(const std::string& key, Atomic amount) {
  PaymentIntent in;
  in.agent = kAgent;
  in.idempotency_key = key;
  in.merchant_origin = "https://api.example.com";
  in.method = "POST";
  in.url = "https://api.example.com/v1/run";
  in.offer.protocol = "x402";
  in.offer.protocol_version = 2;
  in.offer.scheme = "exact";
  in.offer.network = "eip155:8453";
  in.offer.asset = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
  in.offer.amount = amount;
  in.offer.pay_to = "0x209693bc6afc0c5328ba36faf03c514ef312287c";
  in.offer.resource = in.url;
  in.decimals = 6;
  in.rule = "agents[crash-agent]";
  return in;
}

LedgerOptions options(const std::string& path, OpenMode mode) {
  LedgerOptions o;
  o.path = path;
  o.mode = mode;
  o.busy_timeout = std::chrono::milliseconds(30'000);
  return o;
}

// ---- the child ----

// One line per step the writer acknowledged, written with write(2) after the commit, so the
// journal never claims more than the database holds (it may lag by one step per thread).
class Journal {
 public:
  explicit Journal(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) {}
  void line(const std::string& text) const {
    const std::string l = text + "\n";
    if (::write(fd_, l.data(), l.size()) != static_cast<ssize_t>(l.size())) ::_exit(3);
  }

 private:
  int fd_;
};

template <class T>
T must(Result<T> r) {
  if (!r.ok()) {
    std::fprintf(stderr, "worker: %s\n", r.error().describe().c_str());
    ::_exit(4);
  }
  return std::move(r).value();
}

void pay_forever(LedgerWriter& writer, const Journal& journal, std::atomic<int>& next_key,
                 unsigned seed) {
  std::mt19937 rng(seed);
  for (;;) {
    const std::string key = "k" + std::to_string(next_key++);
    const Atomic amount = 1 + rng() % 5;
    const auto reserved = must(writer.call<ReserveOutcome>(
        Durability::durable, [&](Ledger& l) { return l.reserve(intent(key, amount), caps()); }));
    if (reserved.status != ReserveStatus::reserved) {
      journal.line("refused 0 " + key);
      continue;
    }
    const std::int64_t id = reserved.attempt->id;
    const std::string ids = std::to_string(id);
    journal.line("reserved " + ids + " " + key);
    if (rng() % 10 == 0) {
      must(writer.call<Attempt>(Durability::durable, [&](Ledger& l) {
        return l.release(id, flow::payment::Reason::client_closed, "abandoned");
      }));
      journal.line("released " + ids);
      continue;
    }
    const SignedDetails details{"0xpayer", "nonce:" + key, std::string(64, 'c')};
    must(writer.call<Attempt>(Durability::durable,
                              [&](Ledger& l) { return l.mark_signed(id, details); }));
    journal.line("signed " + ids);
    must(
        writer.call<Attempt>(Durability::durable, [&](Ledger& l) { return l.mark_submitted(id); }));
    journal.line("submitted " + ids);
    Outcome outcome;
    const auto pick = rng() % 10;
    outcome.state = pick < 7   ? AttemptState::settled
                    : pick < 9 ? AttemptState::failed
                               : AttemptState::unknown;
    if (outcome.state == AttemptState::failed) {
      outcome.failure_code = flow::payment::Reason::payment_refused;
    } else if (outcome.state == AttemptState::unknown) {
      outcome.failure_code = flow::payment::Reason::payment_outcome_unknown;
    }
    outcome.settlement_ref = "0xtx" + ids;
    outcome.http_status = outcome.state == AttemptState::settled ? 200 : 402;
    must(writer.call<Receipt>(Durability::durable,
                              [&](Ledger& l) { return l.finalize(id, outcome); }));
    journal.line(std::string(attempt_state_name(outcome.state)) + " " + ids);
  }
}

[[noreturn]] void run_worker(const std::string& db, const std::string& journal_path,
                             int first_key) {
  try {
    Journal journal(journal_path);
    LedgerWriter writer(std::make_unique<Ledger>(options(db, OpenMode::owner)));
    journal.line("open 0");
    std::atomic<int> next_key{first_key};
    std::vector<std::thread> threads;
    for (int t = 0; t < kWorkerThreads; ++t) {
      threads.emplace_back(
          [&, t] { pay_forever(writer, journal, next_key, static_cast<unsigned>(first_key + t)); });
    }
    for (auto& t : threads) t.join();  // never: the parent kills us
  } catch (const std::exception& e) {
    std::fprintf(stderr, "worker: %s\n", e.what());
  }
  ::_exit(5);
}

pid_t spawn_worker(const std::string& db, const std::string& journal, int first_key) {
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(6);
    run_worker(db, journal, first_key);
  }
  return pid;
}

// ---- the parent's checks ----

struct Acked {
  std::string state;  // the last step the child was told was committed
  std::string key;
};

std::map<std::int64_t, Acked> read_journal(const std::string& path, bool& opened) {
  std::map<std::int64_t, Acked> acked;
  std::istringstream in(flow::testing::read_file(path));
  std::string op, key;
  std::int64_t id = 0;
  std::string line;
  opened = false;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    fields >> op >> id;
    if (op == "open") opened = true;
    if (id == 0) continue;
    acked[id].state = op;
    if (fields >> key) acked[id].key = key;
  }
  return acked;
}

std::set<std::int64_t> ids_in_state(sqlite3* db, const char* states) {
  std::set<std::int64_t> out;
  const std::string sql = std::string("SELECT id FROM attempts WHERE state IN ") + states;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) return out;
  while (sqlite3_step(stmt) == SQLITE_ROW) out.insert(sqlite3_column_int64(stmt, 0));
  sqlite3_finalize(stmt);
  return out;
}

std::int64_t scalar(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  std::int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    v = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  return v;
}

std::string integrity(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  std::string v;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    v = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  return v;
}

// What the database may say about an attempt whose last acknowledged step was `acked`, after
// recovery. One unacknowledged step per attempt can have committed before the kill.
bool consistent(const std::string& acked, AttemptState now) {
  using S = AttemptState;
  if (acked == "reserved") return now == S::released || now == S::unknown;
  if (acked == "signed") return now == S::unknown;
  if (acked == "submitted") return now == S::unknown || now == S::settled || now == S::failed;
  return acked == attempt_state_name(now);  // settled, failed, unknown, released: durable
}

struct RoundTotals {
  std::size_t acked = 0;
  std::size_t marked_unknown = 0;
  std::size_t released = 0;
  std::int64_t max_id = 0;
};

// `max_id_before`: the highest attempt id when this round's child started.
RoundTotals check_after_kill(const std::string& db_path, const std::string& journal_path,
                             std::int64_t max_id_before) {
  RoundTotals totals;
  bool opened = false;
  const auto acked = read_journal(journal_path, opened);
  totals.acked = acked.size();
  if (!opened && !std::filesystem::exists(db_path)) return totals;  // killed before creating it

  // What the child left in flight, seen before recovery touches it.
  std::set<std::int64_t> in_flight, reserved;
  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    sqlite3_busy_timeout(raw, 10'000);
    if (scalar(raw, "SELECT count(*) FROM sqlite_schema WHERE name = 'attempts'") == 1) {
      in_flight = ids_in_state(raw, "('signed','submitted')");
      reserved = ids_in_state(raw, "('reserved')");
    }
    sqlite3_close_v2(raw);
  }

  Ledger owner(options(db_path, OpenMode::owner));  // must open: no exception
  const RecoveryReport& report = owner.recovery();
  INFO(report.summary());
  std::set<std::int64_t> marked;
  for (const auto& a : report.marked_unknown) marked.insert(a.id);
  CHECK(marked == in_flight);
  CHECK(std::set<std::int64_t>(report.released.begin(), report.released.end()) == reserved);
  totals.marked_unknown = marked.size();
  totals.released = reserved.size();

  const ChainReport chain = owner.verify_chain().value();
  CHECK_MESSAGE(chain.ok, chain.detail);

  // Everything acknowledged survived, and at most one step per attempt is unacknowledged.
  for (const auto& [id, a] : acked) {
    const auto attempt = owner.get_attempt(id).value();
    REQUIRE_MESSAGE(attempt.has_value(), "acknowledged attempt " << id << " is gone");
    CAPTURE(id);
    CAPTURE(a.state);
    CHECK(consistent(a.state, attempt->state));
    if (!a.key.empty()) CHECK(attempt->intent.idempotency_key == a.key);
  }

  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  CHECK(integrity(raw) == "ok");
  CHECK(ids_in_state(raw, "('reserved','signed','submitted')").empty());
  // Attempts the child created but was not told about: at most one per worker thread.
  const std::int64_t created =
      scalar(raw, "SELECT count(*) FROM attempts WHERE id > " + std::to_string(max_id_before));
  CHECK(created >= static_cast<std::int64_t>(acked.size()));
  CHECK(created - static_cast<std::int64_t>(acked.size()) <= kWorkerThreads);
  // One receipt per outcome: settled and failed once each, unknown once (no reconciliation
  // here), released never.
  CHECK(scalar(raw,
               "SELECT count(*) FROM attempts a WHERE state IN ('settled','failed','unknown') "
               "AND (SELECT count(*) FROM receipts r WHERE r.attempt_id = a.id "
               "AND r.state = a.state) <> 1") == 0);
  CHECK(scalar(raw,
               "SELECT count(*) FROM receipts r JOIN attempts a ON a.id = r.attempt_id "
               "WHERE a.state = 'released'") == 0);
  // Held money, independently: amounts are small, so integer SQL is exact here.
  const std::int64_t held_sql =
      scalar(raw,
             "SELECT coalesce(sum(CAST(amount AS INTEGER)), 0) FROM attempts "
             "WHERE state IN ('reserved','signed','submitted','settled','unknown')");
  totals.max_id = scalar(raw, "SELECT coalesce(max(id), 0) FROM attempts");
  const std::int64_t held_rows =
      scalar(raw,
             "SELECT count(*) FROM attempts "
             "WHERE state IN ('reserved','signed','submitted','settled','unknown')");
  sqlite3_close_v2(raw);

  const SpendReport spend = owner.spend().value();
  for (const CounterTotals& c : spend.counters) {
    CAPTURE(c.counter_key);
    const HeldTotals truth = owner.held_in_window(c.counter_key, c.window_start).value();
    CHECK(c.held_amount == truth.amount);  // the cache counts nothing twice
    CHECK(c.held_count == truth.count);
    CHECK(static_cast<std::int64_t>(truth.count) == held_rows);
    if (c.max_amount) {
      CHECK(truth.amount <= *c.max_amount);  // never overshot, crash or not
      CHECK(static_cast<std::int64_t>(truth.amount) == held_sql);
    }
  }

  // A retry of an acknowledged request after the crash finds its attempt: never paid twice.
  int retried = 0;
  for (auto it = acked.rbegin(); it != acked.rend() && retried < 20; ++it) {
    if (it->second.key.empty()) continue;
    const ReserveOutcome again = owner.reserve(intent(it->second.key, 1), caps()).value();
    CHECK(again.status == ReserveStatus::existing);
    REQUIRE(again.attempt.has_value());
    CHECK(again.attempt->id == it->first);
    ++retried;
  }
  return totals;
}

}  // namespace

TEST_CASE(
    "a ledger killed with SIGKILL mid-payment opens, verifies, keeps what was committed, "
    "counts nothing twice and lists what was in flight") {
  flow::testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  // The first delay lands during creation and migration; the others in the payment loops.
  const std::vector<int> delays_ms{2, 10, 40, 120, 250, 450, 700};
  RoundTotals all;
  std::int64_t max_id = 0;
  for (std::size_t round = 0; round < delays_ms.size(); ++round) {
    CAPTURE(round);
    const std::string journal = dir.file("journal-" + std::to_string(round));
    const pid_t child = spawn_worker(db, journal, static_cast<int>(round + 1) * 1'000'000);
    REQUIRE(child > 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(delays_ms[round]));
    REQUIRE(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE_MESSAGE(WIFSIGNALED(status), "the worker exited by itself (status " << status << ")");
    const RoundTotals t = check_after_kill(db, journal, max_id);
    max_id = std::max(max_id, t.max_id);
    MESSAGE("round " << round << " (kill after " << delays_ms[round] << " ms): " << t.acked
                     << " attempts acknowledged, " << t.marked_unknown
                     << " in flight marked unknown, " << t.released << " released");
    all.acked += t.acked;
    all.marked_unknown += t.marked_unknown;
    all.released += t.released;
  }
  // The test is only meaningful if the kills landed in the middle of real work.
  CHECK(all.acked > 50);
  CHECK(all.marked_unknown + all.released > 0);
}

// ---- the operator commands over the same ledger, through the real binary ----

namespace {

std::vector<flow::policy::CapCheck> cli_caps() {
  flow::policy::CapCheck daily;
  daily.counter_key = "agent:crash-agent:day";
  daily.rule = "agents[crash-agent].caps.daily";
  daily.reason = flow::policy::ReasonCode::over_agent_cap;
  daily.max_amount = 5'000'000;  // 5 USDC
  return {daily};
}

void pay_settled(Ledger& ledger, const std::string& key, Atomic amount) {
  const ReserveOutcome r = ledger.reserve(intent(key, amount), cli_caps()).value();
  REQUIRE(r.status == ReserveStatus::reserved);
  const std::int64_t id = r.attempt->id;
  REQUIRE(ledger.mark_signed(id, {"0xpayer", "nonce:" + key, std::string(64, 'c')}).ok());
  REQUIRE(ledger.mark_submitted(id).ok());
  Outcome settled;
  settled.settlement_ref = "0xtx" + key;
  settled.http_status = 200;
  REQUIRE(ledger.finalize(id, settled).ok());
}

flow::testing::CommandResult cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv{FLOW_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return flow::testing::run_command(argv, std::chrono::seconds(20));
}

}  // namespace

TEST_CASE("402flow receipts verify passes an intact chain and names the first edited receipt") {
  flow::testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  {
    Ledger ledger(options(db, OpenMode::shared));
    for (int i = 0; i < 4; ++i) pay_settled(ledger, "r" + std::to_string(i), 10);
  }
  const auto intact = cli({"receipts", "verify", "--db", db});
  CHECK(intact.status.exited);
  CHECK(intact.status.code == 0);
  CHECK(intact.out.find("receipt chain intact: 4 receipt(s)") != std::string::npos);

  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
    REQUIRE(sqlite3_exec(raw,
                         "DROP TRIGGER receipts_no_update; "
                         "UPDATE receipts SET pay_to = '0xattacker' WHERE seq = 2",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }
  const auto broken = cli({"receipts", "verify", "--db", db});
  CHECK(broken.status.exited);
  CHECK(broken.status.code == 1);
  CHECK(broken.out.find("BROKEN at receipt 2 (hash_mismatch)") != std::string::npos);
}

TEST_CASE("402flow receipts filters and prints JSON with every audit field; spend shows caps") {
  flow::testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  {
    Ledger ledger(options(db, OpenMode::shared));
    pay_settled(ledger, "a", 1'500'000);
    pay_settled(ledger, "b", 250'000);
  }
  const auto json = cli({"receipts", "--db", db, "--agent", kAgent, "--json"});
  REQUIRE(json.status.code == 0);
  for (const char* field :
       {"\"receipt_id\"", "\"merchant_origin\"", "\"amount_atomic\": \"1500000\"",
        "\"amount\": \"1.5\"", "\"settlement_ref\": \"0xtxa\"", "\"prev_hash\"",
        "\"idempotency_key\": \"b\"", "\"rule\"", "\"payer\": \"0xpayer\""}) {
    CAPTURE(field);
    CHECK(json.out.find(field) != std::string::npos);
  }
  const auto none = cli({"receipts", "--db", db, "--agent", "nobody", "--csv"});
  REQUIRE(none.status.code == 0);
  CHECK(std::count(none.out.begin(), none.out.end(), '\n') == 1);  // the header only

  const auto spend = cli({"spend", "--db", db});
  REQUIRE(spend.status.code == 0);
  CHECK(spend.out.find("agents[crash-agent].caps.daily") != std::string::npos);
  CHECK(spend.out.find("1.75 USDC  5 USDC") != std::string::npos);  // held 1.75 of a 5 USDC cap

  const auto missing = cli({"spend", "--db", dir.file("absent.db")});
  CHECK(missing.status.code == 2);
  CHECK(missing.err.find("no ledger at") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.file("absent.db")));
}
