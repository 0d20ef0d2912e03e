#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "flow/storage/ledger_writer.hpp"
#include "ledger_fixture.hpp"

using namespace flow::storage;
using namespace flow::storage::testing;

namespace {

std::unique_ptr<LedgerWriter> make_writer(const std::string& path, WriterOptions options = {}) {
  return std::make_unique<LedgerWriter>(
      std::make_unique<Ledger>(options_for(path, OpenMode::owner)), options);
}

// Holds the writer thread inside a batch until release() — lets a test queue work behind it.
class Gate {
 public:
  explicit Gate(LedgerWriter& writer) {
    auto entered = std::make_shared<std::promise<void>>();
    auto entered_future = entered->get_future();
    auto open = open_.get_future().share();
    auto queued = writer.submit<bool>(
        Durability::durable,
        [entered, open](Ledger&) -> Result<bool> {
          entered->set_value();
          open.wait();
          return true;
        },
        [](Result<bool>) {});
    REQUIRE(queued.ok());
    entered_future.wait();
  }
  ~Gate() { release(); }
  void release() {
    if (!released_) open_.set_value();
    released_ = true;
  }

 private:
  std::promise<void> open_;
  bool released_ = false;
};

}  // namespace

TEST_CASE("completions run on the writer thread, after the commit is visible to others") {
  TempDir dir;
  const auto path = dir.file("l.db");
  auto writer = make_writer(path);
  std::promise<std::pair<std::thread::id, bool>> seen;
  auto queued = writer->reserve(make_intent("k", 10), {}, [&](Result<ReserveOutcome> r) {
    // Another connection must already see the attempt: it was committed before this call.
    Ledger other(options_for(path));
    const bool visible = r.ok() && ok(other.find_attempt("alice", "k")).has_value();
    seen.set_value({std::this_thread::get_id(), visible});
  });
  REQUIRE(queued.ok());
  const auto [thread, visible] = seen.get_future().get();
  CHECK(thread != std::this_thread::get_id());
  CHECK(visible);
}

TEST_CASE("operations queued while the writer is busy share one transaction") {
  TempDir dir;
  auto writer = make_writer(dir.file("l.db"));
  std::atomic<int> done{0};
  {
    Gate gate(*writer);
    for (int i = 0; i < 50; ++i) {
      REQUIRE(writer
                  ->reserve(make_intent("k" + std::to_string(i), 1), {},
                            [&](Result<ReserveOutcome> r) {
                              if (r.ok() && r.value().status == ReserveStatus::reserved) ++done;
                            })
                  .ok());
    }
  }
  auto sync = writer->call<bool>(Durability::durable, [](Ledger&) -> Result<bool> { return true; });
  REQUIRE(sync.ok());
  CHECK(done.load() == 50);
  const WriterStats stats = writer->stats();
  CHECK(stats.largest_batch >= 50);
  CHECK(stats.batches <= 3);  // the gate, the fifty (possibly with the sync call), the sync call
  CHECK(stats.operations == 52);
}

TEST_CASE("one failing operation in a batch does not undo the others in it") {
  TempDir dir;
  auto writer = make_writer(dir.file("l.db"));
  std::promise<Result<ReserveOutcome>> first, third;
  std::promise<Result<Attempt>> second;
  {
    Gate gate(*writer);
    REQUIRE(writer->reserve(make_intent("a", 1), {}, [&](auto r) { first.set_value(r); }).ok());
    REQUIRE(writer->mark_submitted(424242, [&](auto r) { second.set_value(r); }).ok());
    REQUIRE(writer->reserve(make_intent("b", 1), {}, [&](auto r) { third.set_value(r); }).ok());
  }
  CHECK(first.get_future().get().ok());
  const auto failed = second.get_future().get();
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == LedgerErrorCode::not_found);
  CHECK(third.get_future().get().ok());
  auto found = writer->call<std::optional<Attempt>>(
      Durability::durable, [](Ledger& l) { return l.find_attempt("alice", "b"); });
  CHECK(ok(std::move(found)).has_value());
}

TEST_CASE("a batch of decisions alone commits without an fsync; one with a reservation fsyncs") {
  TempDir dir;
  auto writer = make_writer(dir.file("l.db"));
  const auto before = writer->stats().durable_commits;
  DecisionRecord d;
  d.id = new_record_id("dec_");
  d.agent = "alice";
  d.merchant_origin = "https://api.example.com";
  d.outcome = DecisionOutcome::deny;
  d.reason = flow::policy::ReasonCode::merchant_denied;
  auto recorded = writer->call<bool>(Durability::batched, [d](Ledger& l) -> Result<bool> {
    auto r = l.record_decision(d);
    if (!r.ok()) return r.error();
    return true;
  });
  REQUIRE(recorded.ok());
  CHECK(writer->stats().durable_commits == before);
  auto reserved = writer->call<ReserveOutcome>(
      Durability::durable, [](Ledger& l) { return l.reserve(make_intent("k", 1), {}); });
  REQUIRE(reserved.ok());
  CHECK(writer->stats().durable_commits == before + 1);
}

TEST_CASE("a full queue refuses new work with queue_full and never calls its completion") {
  TempDir dir;
  WriterOptions options;
  options.max_queue = 2;
  auto writer = make_writer(dir.file("l.db"), options);
  std::atomic<int> calls{0};
  Gate gate(*writer);
  auto count = [&](Result<ReserveOutcome>) { ++calls; };
  CHECK(writer->reserve(make_intent("a", 1), {}, count).ok());
  CHECK(writer->reserve(make_intent("b", 1), {}, count).ok());
  auto refused = writer->reserve(make_intent("c", 1), {}, count);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == LedgerErrorCode::queue_full);
  gate.release();
  writer.reset();  // drains
  CHECK(calls.load() == 2);
}

TEST_CASE("the writer's destructor runs everything already queued") {
  TempDir dir;
  const auto path = dir.file("l.db");
  std::atomic<int> completed{0};
  {
    auto writer = make_writer(path);
    for (int i = 0; i < 200; ++i) {
      REQUIRE(writer
                  ->reserve(make_intent("k" + std::to_string(i), 1), {},
                            [&](Result<ReserveOutcome> r) { completed += r.ok() ? 1 : 0; })
                  .ok());
    }
  }
  CHECK(completed.load() == 200);
  RawDb raw(path);
  CHECK(raw.integer("SELECT count(*) FROM attempts") == 200);
}

TEST_CASE("call() from a completion returns wrong_thread instead of deadlocking") {
  TempDir dir;
  auto writer = make_writer(dir.file("l.db"));
  std::promise<LedgerErrorCode> code;
  REQUIRE(writer
              ->reserve(make_intent("k", 1), {},
                        [&](Result<ReserveOutcome>) {
                          auto nested = writer->call<bool>(
                              Durability::durable, [](Ledger&) -> Result<bool> { return true; });
                          code.set_value(nested.ok() ? LedgerErrorCode::storage_failed
                                                     : nested.error().code);
                        })
              .ok());
  CHECK(code.get_future().get() == LedgerErrorCode::wrong_thread);
}

TEST_CASE("an exception thrown by a completion is counted and the writer keeps working") {
  TempDir dir;
  auto writer = make_writer(dir.file("l.db"));
  REQUIRE(writer
              ->reserve(make_intent("a", 1), {},
                        [](Result<ReserveOutcome>) { throw std::runtime_error("bug"); })
              .ok());
  auto next = writer->call<ReserveOutcome>(
      Durability::durable, [](Ledger& l) { return l.reserve(make_intent("b", 1), {}); });
  REQUIRE(next.ok());
  CHECK(next.value().status == ReserveStatus::reserved);
  CHECK(writer->stats().callback_exceptions == 1);
}

TEST_CASE("the writer hands out the recovery report of the ledger it owns") {
  TempDir dir;
  const auto path = dir.file("l.db");
  std::int64_t id = 0;
  {
    Ledger shared(options_for(path));
    id = reserve_new(shared, make_intent("k", 1)).id;
    ok(shared.mark_signed(id, signed_details()));
  }
  auto writer = make_writer(path);
  REQUIRE(writer->recovery().marked_unknown.size() == 1);
  CHECK(writer->recovery().marked_unknown[0].id == id);
}
