#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "flow/storage/ledger.hpp"

namespace flow::storage {

// durable: committed with the WAL fsynced before the completion runs (money depends on it).
// batched: may wait up to WriterOptions::batched_linger to share a commit with others.
enum class Durability { durable, batched };

struct WriterOptions {
  std::size_t max_queue = 65'536;  // submissions beyond this are refused with queue_full
  std::size_t max_batch = 1'024;   // operations per transaction
  std::chrono::milliseconds batched_linger{10};
};

struct WriterStats {
  std::uint64_t operations = 0;
  std::uint64_t batches = 0;
  std::uint64_t durable_commits = 0;  // commits that fsynced the WAL
  std::uint64_t failed_batches = 0;   // begin or commit failed: every operation got the error
  bool last_batch_failed = false;     // the most recent batch was one of those
  std::uint64_t largest_batch = 0;
  std::uint64_t refused = 0;  // queue_full or shutting_down
  std::uint64_t callback_exceptions = 0;
  std::size_t queued = 0;
};

// How long the writer's commits take (COMMIT, with the WAL fsync when durable), as histogram
// buckets. Recorded by the writer thread, read from any thread (metrics) without a lock.
class CommitLatency {
 public:
  // Upper bounds in seconds, ascending.
  static constexpr std::array<double, 12> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
  void record(std::chrono::nanoseconds duration);
  struct Snapshot {
    std::array<std::uint64_t, kBounds.size() + 1> cumulative{};  // the last one: +Inf, the count
    double sum_seconds = 0;
  };
  Snapshot snapshot() const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};  // not cumulative
  std::atomic<std::uint64_t> sum_ns_{0};
};

// Owns a Ledger on a dedicated thread. Callers submit work with a completion; the writer runs
// whatever is queued in one transaction (group commit), each operation inside its own
// savepoint, commits, and only then runs the completions, in submission order.
//
// Threading contract:
//  - submit() and the typed helpers may be called from any thread, including a completion.
//  - Completions run ON THE WRITER THREAD, after the commit. They must be short and must not
//    block on the writer (no call() from a completion): the proxy hands them to its loop with
//    uv_async_send. An exception escaping a completion is caught and counted.
//  - When submit() refuses (queue_full, shutting_down) it returns the error and the completion
//    is never called. Otherwise the completion is called exactly once.
//  - The destructor stops accepting work, runs everything already queued, then joins.
class LedgerWriter {
 public:
  template <class T>
  using Done = std::function<void(Result<T>)>;
  template <class T>
  using Work = std::function<Result<T>(Ledger&)>;

  explicit LedgerWriter(std::unique_ptr<Ledger> ledger, WriterOptions options = {});
  ~LedgerWriter();
  LedgerWriter(const LedgerWriter&) = delete;
  LedgerWriter& operator=(const LedgerWriter&) = delete;

  // What start-up recovery found; fixed at construction.
  const RecoveryReport& recovery() const { return recovery_; }
  WriterStats stats() const;
  const CommitLatency& commit_latency() const { return commit_latency_; }

  template <class T>
  Result<void> submit(Durability durability, Work<T> work, Done<T> done);

  // Blocks until the work is committed. Not from the writer thread (returns wrong_thread).
  template <class T>
  Result<T> call(Durability durability, Work<T> work);

  Result<void> reserve(PaymentIntent intent, std::vector<policy::CapCheck> caps,
                       Done<ReserveOutcome> done);
  Result<void> mark_signed(std::int64_t attempt_id, SignedDetails details, Done<Attempt> done);
  Result<void> mark_submitted(std::int64_t attempt_id, Done<Attempt> done);
  Result<void> finalize(std::int64_t attempt_id, Outcome outcome, Done<Receipt> done);
  Result<void> release(std::int64_t attempt_id, payment::Reason code, std::string reason,
                       Done<Attempt> done);
  // Batched. `done` may be empty.
  Result<void> record_decision(DecisionRecord decision, Done<bool> done = {});

 private:
  struct Job {
    virtual ~Job() = default;
    Durability durability = Durability::durable;
    virtual void run(Ledger& ledger) = 0;
    // `failure`: the batch was not committed; the result computed by run() is void.
    virtual void complete(const LedgerError* failure) = 0;
  };
  template <class T>
  struct TypedJob;

  Result<void> enqueue(std::unique_ptr<Job> job);
  void thread_main();
  std::vector<std::unique_ptr<Job>> next_batch();
  void execute(std::vector<std::unique_ptr<Job>>& batch);
  void complete_all(std::vector<std::unique_ptr<Job>>& batch, const LedgerError* failure);

  std::unique_ptr<Ledger> ledger_;
  WriterOptions options_;
  RecoveryReport recovery_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Job>> queue_;
  std::size_t durable_queued_ = 0;
  bool stopping_ = false;
  WriterStats stats_;
  CommitLatency commit_latency_;
  std::thread thread_;
};

template <class T>
struct LedgerWriter::TypedJob final : LedgerWriter::Job {
  Work<T> work;
  Done<T> done;
  std::optional<Result<T>> result;

  void run(Ledger& ledger) override {
    try {
      result.emplace(work(ledger));
    } catch (const std::exception& e) {
      result.emplace(ledger_error(LedgerErrorCode::storage_failed,
                                  std::string("exception in ledger operation: ") + e.what()));
    }
  }
  void complete(const LedgerError* failure) override {
    if (!done) return;
    if (failure != nullptr) {
      done(Result<T>(*failure));
    } else if (result) {
      done(std::move(*result));
    } else {
      done(Result<T>(ledger_error(LedgerErrorCode::storage_failed, "operation did not run")));
    }
  }
};

template <class T>
Result<void> LedgerWriter::submit(Durability durability, Work<T> work, Done<T> done) {
  auto job = std::make_unique<TypedJob<T>>();
  job->durability = durability;
  job->work = std::move(work);
  job->done = std::move(done);
  return enqueue(std::move(job));
}

template <class T>
Result<T> LedgerWriter::call(Durability durability, Work<T> work) {
  if (std::this_thread::get_id() == thread_.get_id()) {
    return ledger_error(LedgerErrorCode::wrong_thread,
                        "LedgerWriter::call from the writer thread would deadlock");
  }
  std::promise<Result<T>> promise;
  auto future = promise.get_future();
  auto queued = submit<T>(durability, std::move(work),
                          [&promise](Result<T> r) { promise.set_value(std::move(r)); });
  if (!queued.ok()) return queued.error();
  return future.get();
}

}  // namespace flow::storage
