#include <doctest/doctest.h>

#include "ledger_fixture.hpp"

using namespace flow::storage;
using namespace flow::storage::testing;

namespace {

// Five receipts: settled, failed, settled, unknown, settled.
void write_five_receipts(Ledger& ledger) {
  for (int i = 0; i < 5; ++i) {
    const Attempt a = reserve_new(ledger, make_intent("k" + std::to_string(i), 100 + i));
    ok(ledger.mark_signed(a.id, signed_details()));
    ok(ledger.mark_submitted(a.id));
    const AttemptState end = i == 1   ? AttemptState::failed
                             : i == 3 ? AttemptState::unknown
                                      : AttemptState::settled;
    ok(ledger.finalize(a.id, end == AttemptState::settled ? settled_outcome() : outcome_of(end)));
  }
}

ChainReport verify_at(const std::string& path) {
  Ledger ledger(options_for(path));
  return ok(ledger.verify_chain());
}

// The chain at `path` fails first at `seq`, for `problem`.
void check_broken_at(const std::string& path, std::int64_t seq, ChainProblem problem) {
  const ChainReport report = verify_at(path);
  CHECK_FALSE(report.ok);
  CHECK(report.first_bad_seq == seq);
  CHECK(report.problem == problem);
}

void drop_guards(RawDb& raw) {
  raw.must("DROP TRIGGER receipts_no_update; DROP TRIGGER receipts_no_delete;");
}

// A ledger of five receipts in `dir`, then `sql` run on it with the append-only guards dropped
// (as someone with write access to the file could); its path.
std::string five_receipts_then(const TempDir& dir, const std::string& sql) {
  const auto path = dir.file("l.db");
  {
    Ledger ledger(options_for(path));
    write_five_receipts(ledger);
  }
  RawDb raw(path);
  drop_guards(raw);
  raw.must(sql);
  return path;
}

}  // namespace

TEST_CASE("every outcome appends a receipt chained to the one before, and the chain verifies") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  write_five_receipts(ledger);
  const auto receipts = ok(ledger.receipts({}));
  REQUIRE(receipts.size() == 5);
  CHECK(receipts[0].prev_hash == kGenesisHash);
  for (std::size_t i = 0; i < receipts.size(); ++i) {
    CAPTURE(i);
    CHECK(receipts[i].seq == static_cast<std::int64_t>(i + 1));
    CHECK(receipts[i].hash == receipt_hash(receipts[i]));
    CHECK(receipts[i].receipt_id == make_receipt_id(receipts[i].seq, receipts[i].hash));
    if (i > 0) CHECK(receipts[i].prev_hash == receipts[i - 1].hash);
  }
  const ChainReport report = ok(ledger.verify_chain());
  CHECK(report.ok);
  CHECK(report.rows_checked == 5);
  CHECK(report.head_seq == 5);
  CHECK(report.head_hash == receipts.back().hash);
}

TEST_CASE("an empty chain verifies") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const ChainReport report = ok(ledger.verify_chain());
  CHECK(report.ok);
  CHECK(report.rows_checked == 0);
  CHECK(report.head_hash == kGenesisHash);
}

TEST_CASE("the canonical form is unambiguous: moving bytes between fields changes the hash") {
  Receipt a;
  a.seq = 1;
  a.prev_hash = std::string(kGenesisHash);
  a.attempt.intent.agent = "ab";
  a.attempt.intent.idempotency_key = "c";
  Receipt b = a;
  b.attempt.intent.agent = "a";
  b.attempt.intent.idempotency_key = "bc";
  CHECK(receipt_hash(a) != receipt_hash(b));
  Receipt c = a;
  c.attempt.intent.agent = "ab\nidempotency_key=1:c";  // a value that mimics the next field
  CHECK(receipt_hash(a) != receipt_hash(c));
}

TEST_CASE("receipts refuse UPDATE and DELETE through plain SQL") {
  TempDir dir;
  const auto path = dir.file("l.db");
  {
    Ledger ledger(options_for(path));
    write_five_receipts(ledger);
  }
  RawDb raw(path);
  CHECK(raw.exec("UPDATE receipts SET amount = '1' WHERE seq = 2") != SQLITE_OK);
  CHECK(raw.last_error().find("append-only") != std::string::npos);
  CHECK(raw.exec("DELETE FROM receipts WHERE seq = 2") != SQLITE_OK);
  CHECK(raw.integer("SELECT count(*) FROM receipts") == 5);
}

TEST_CASE("verify names an edited row as the first bad one") {
  TempDir dir;
  const std::string path =
      five_receipts_then(dir, "UPDATE receipts SET amount = '1' WHERE seq = 3");
  const ChainReport report = verify_at(path);
  CHECK_FALSE(report.ok);
  CHECK(report.first_bad_seq == 3);
  CHECK(report.problem == ChainProblem::hash_mismatch);
  CHECK(report.rows_checked == 2);
}

TEST_CASE("verify names a deleted row") {
  TempDir dir;
  const std::string path = five_receipts_then(dir, "DELETE FROM receipts WHERE seq = 2");
  check_broken_at(path, 2, ChainProblem::missing_row);
}

TEST_CASE("verify names the first of two reordered rows") {
  TempDir dir;
  const auto path = dir.file("l.db");
  {
    Ledger ledger(options_for(path));
    write_five_receipts(ledger);
  }
  {
    RawDb raw(path);
    drop_guards(raw);
    raw.must(
        "UPDATE receipts SET seq = 100 WHERE seq = 2; UPDATE receipts SET seq = 2 WHERE seq = 4; "
        "UPDATE receipts SET seq = 4 WHERE seq = 100;");
  }
  check_broken_at(path, 2, ChainProblem::prev_hash_mismatch);
}

TEST_CASE("verify notices receipts deleted from the end of the chain") {
  TempDir dir;
  const std::string path = five_receipts_then(dir, "DELETE FROM receipts WHERE seq >= 4");
  check_broken_at(path, 4, ChainProblem::missing_row);
}

TEST_CASE("an edit that also recomputes the row's own hash is caught at the next row") {
  TempDir dir;
  const auto path = dir.file("l.db");
  {
    Ledger ledger(options_for(path));
    write_five_receipts(ledger);
    Receipt forged = ok(ledger.receipts({}))[1];
    forged.attempt.intent.offer.amount = 1;
    forged.hash = receipt_hash(forged);
    forged.receipt_id = make_receipt_id(forged.seq, forged.hash);
    RawDb raw(path);
    drop_guards(raw);
    raw.must("UPDATE receipts SET amount = '1', hash = '" + forged.hash + "', receipt_id = '" +
             forged.receipt_id + "' WHERE seq = 2");
  }
  check_broken_at(path, 3, ChainProblem::prev_hash_mismatch);
}

TEST_CASE("a receipt id that does not derive from the hash is reported") {
  TempDir dir;
  const std::string path = five_receipts_then(
      dir, "UPDATE receipts SET receipt_id = 'rcpt_5_0000000000000000' WHERE seq = 5");
  check_broken_at(path, 5, ChainProblem::bad_receipt_id);
}

TEST_CASE("a receipt is found by its id, and only by its exact id") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  write_five_receipts(ledger);
  const Receipt third = ok(ledger.receipts({}))[2];
  CHECK(third.receipt_id.rfind("rcpt_3_", 0) == 0);
  const auto found = ok(ledger.get_receipt(third.receipt_id));
  REQUIRE(found.has_value());
  CHECK(found->hash == third.hash);
  CHECK_FALSE(ok(ledger.get_receipt("rcpt_3_0000000000000000")).has_value());  // guessed seq
  CHECK_FALSE(ok(ledger.get_receipt("rcpt_99_" + third.hash.substr(0, 16))).has_value());
  CHECK_FALSE(ok(ledger.get_receipt("3")).has_value());
  CHECK(receipt_id_seq("rcpt_12_ab") == std::int64_t{12});
  CHECK_FALSE(receipt_id_seq("rcpt__ab").has_value());
  CHECK_FALSE(receipt_id_seq("rcpt_-1_ab").has_value());
}

TEST_CASE("receipts are filtered by agent, merchant host or origin, and time") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  auto pay = [&](const std::string& key, const std::string& agent, const std::string& origin) {
    const Attempt a = reserve_new(ledger, make_intent(key, 10, agent, origin));
    ok(ledger.mark_signed(a.id, signed_details()));
    ok(ledger.mark_submitted(a.id));
    ok(ledger.finalize(a.id, settled_outcome()));
  };
  pay("1", "alice", "https://api.example.com");
  clock.set_ms(kStartMs + 60'000);
  pay("2", "bob", "https://api.example.com");
  pay("3", "alice", "http://data.example.org:8080");

  ReceiptFilter by_agent;
  by_agent.agent = "alice";
  CHECK(ok(ledger.receipts(by_agent)).size() == 2);
  ReceiptFilter by_host;
  by_host.merchant = "api.example.com";
  CHECK(ok(ledger.receipts(by_host)).size() == 2);
  ReceiptFilter by_origin;
  by_origin.merchant = "http://data.example.org:8080";
  CHECK(ok(ledger.receipts(by_origin)).size() == 1);
  ReceiptFilter since;
  since.since_ms = kStartMs + 1;
  CHECK(ok(ledger.receipts(since)).size() == 2);
  ReceiptFilter both;
  both.agent = "alice";
  both.since_ms = kStartMs + 1;
  const auto one = ok(ledger.receipts(both));
  REQUIRE(one.size() == 1);
  CHECK(one[0].attempt.intent.idempotency_key == "3");
}

TEST_CASE("a bare host without a port matches that host on any port, over http and https") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  auto pay = [&](const std::string& key, const std::string& origin) {
    const Attempt a = reserve_new(ledger, make_intent(key, 10, "alice", origin));
    ok(ledger.mark_signed(a.id, signed_details()));
    ok(ledger.mark_submitted(a.id));
    ok(ledger.finalize(a.id, settled_outcome()));
  };
  pay("1", "http://127.0.0.1:8080");
  pay("2", "https://127.0.0.1:8443");
  pay("3", "http://127.0.0.1");
  pay("4", "http://127.0.0.10:8080");     // another host that starts the same
  pay("5", "https://127.0.0.1.example");  // and another

  auto keys = [&](const std::string& merchant) {
    ReceiptFilter f;
    f.merchant = merchant;
    std::string out;
    for (const auto& r : ok(ledger.receipts(f))) out += r.attempt.intent.idempotency_key;
    return out;
  };
  CHECK(keys("127.0.0.1") == "123");
  CHECK(keys("127.0.0.1:8080") == "1");  // a port given: that port only
  CHECK(keys("127.0.0.1:9") == "");
  CHECK(keys("https://127.0.0.1:8443") == "2");
  CHECK(keys("127.0.0") == "");
}

TEST_CASE("a receipt carries its failure code, and the code is part of what the chain covers") {
  TempDir dir;
  const auto path = dir.file("l.db");
  {
    Ledger ledger(options_for(path));
    write_five_receipts(ledger);
    const auto receipts = ok(ledger.receipts({}));
    CHECK_FALSE(receipts[0].attempt.failure_code.has_value());  // settled
    CHECK(receipts[1].attempt.failure_code == flow::payment::Reason::payment_refused);
    CHECK(receipts[3].attempt.failure_code == flow::payment::Reason::payment_outcome_unknown);
    CHECK(receipts[1].encoding == kReceiptEncoding);
  }
  {
    RawDb raw(path);
    CHECK(raw.text("SELECT failure_code FROM receipts WHERE seq = 2") == "payment_refused");
    drop_guards(raw);
    raw.must("UPDATE receipts SET failure_code = 'payment_outcome_unknown' WHERE seq = 2");
  }
  check_broken_at(path, 2, ChainProblem::hash_mismatch);
}

TEST_CASE("a failed or unknown outcome needs a failure code, a settled one has none") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const Attempt a = reserve_new(ledger, make_intent("k", 100));
  ok(ledger.mark_signed(a.id, signed_details()));
  Outcome no_code = outcome_of(AttemptState::failed, "refused");
  no_code.failure_code.reset();
  const auto refused = ledger.finalize(a.id, no_code);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == LedgerErrorCode::invalid_argument);
  Outcome settled_with_code = settled_outcome();
  settled_with_code.failure_code = flow::payment::Reason::payment_refused;
  CHECK_FALSE(ledger.finalize(a.id, settled_with_code).ok());
  CHECK(ok(ledger.get_attempt(a.id))->state == AttemptState::signed_);
}

// Receipts written before failure codes existed are hashed in encoding 1: rewrite a chain that
// way (as an older 402flow wrote it) and check it verifies, grows in encoding 2, and that an
// encoding-1 row cannot be given a code unnoticed.
TEST_CASE("receipts of encoding 1 keep verifying beside new ones, and cannot gain a code") {
  TempDir dir;
  const auto path = dir.file("l.db");
  {
    Ledger ledger(options_for(path));
    write_five_receipts(ledger);
    RawDb raw(path);
    drop_guards(raw);
    std::string prev(kGenesisHash);
    for (Receipt r : ok(ledger.receipts({}))) {
      r.encoding = 1;
      r.attempt.failure_code.reset();
      r.prev_hash = prev;
      r.hash = receipt_hash(r);
      r.receipt_id = make_receipt_id(r.seq, r.hash);
      raw.must("UPDATE receipts SET encoding = 1, failure_code = '', prev_hash = '" + prev +
               "', hash = '" + r.hash + "', receipt_id = '" + r.receipt_id +
               "' WHERE seq = " + std::to_string(r.seq));
      prev = r.hash;
    }
    raw.must("UPDATE chain_head SET hash = '" + prev + "' WHERE id = 1");
  }
  {
    Ledger ledger(options_for(path));
    CHECK(ok(ledger.verify_chain()).ok);
    const Attempt a = reserve_new(ledger, make_intent("k-new", 7));
    ok(ledger.mark_signed(a.id, signed_details()));
    const Receipt added = ok(ledger.finalize(a.id, outcome_of(AttemptState::failed, "no")));
    CHECK(added.encoding == 2);
    CHECK(added.seq == 6);
    const ChainReport mixed = ok(ledger.verify_chain());
    CHECK(mixed.ok);
    CHECK(mixed.rows_checked == 6);
  }
  {
    RawDb raw(path);  // the guards were dropped above
    raw.must("UPDATE receipts SET failure_code = 'payment_refused' WHERE seq = 4");
  }
  check_broken_at(path, 4, ChainProblem::hash_mismatch);
}
