#include "flow/storage/ledger_writer.hpp"

#include <algorithm>

namespace flow::storage {

LedgerWriter::LedgerWriter(std::unique_ptr<Ledger> ledger, WriterOptions options)
    : ledger_(std::move(ledger)), options_(options), recovery_(ledger_->recovery()) {
  options_.max_batch = std::max<std::size_t>(options_.max_batch, 1);
  thread_ = std::thread([this] { thread_main(); });
}

LedgerWriter::~LedgerWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

WriterStats LedgerWriter::stats() const {
  std::lock_guard lock(mu_);
  WriterStats s = stats_;
  s.queued = queue_.size();
  return s;
}

Result<void> LedgerWriter::enqueue(std::unique_ptr<Job> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      ++stats_.refused;
      return ledger_error(LedgerErrorCode::shutting_down, "the ledger writer is stopping");
    }
    if (queue_.size() >= options_.max_queue) {
      ++stats_.refused;
      return ledger_error(
          LedgerErrorCode::queue_full,
          "the ledger writer has " + std::to_string(queue_.size()) + " operations queued");
    }
    if (job->durability == Durability::durable) ++durable_queued_;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return {};
}

// Waits for work, then takes everything queued up to max_batch. A queue holding only batched
// operations lingers a little for company; a durable operation never waits for one.
std::vector<std::unique_ptr<LedgerWriter::Job>> LedgerWriter::next_batch() {
  std::unique_lock lock(mu_);
  wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
  if (queue_.empty()) return {};
  if (durable_queued_ == 0 && !stopping_ && queue_.size() < options_.max_batch) {
    wake_.wait_for(lock, options_.batched_linger, [&] {
      return stopping_ || durable_queued_ > 0 || queue_.size() >= options_.max_batch;
    });
  }
  std::vector<std::unique_ptr<Job>> batch;
  const std::size_t n = std::min(queue_.size(), options_.max_batch);
  batch.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (queue_.front()->durability == Durability::durable) --durable_queued_;
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

void LedgerWriter::thread_main() {
  for (;;) {
    auto batch = next_batch();
    if (batch.empty()) return;  // stopping, and the queue is drained
    execute(batch);
  }
}

void CommitLatency::record(std::chrono::nanoseconds duration) {
  const double seconds = std::chrono::duration<double>(duration).count();
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(duration.count(), 0)),
                    std::memory_order_relaxed);
}

CommitLatency::Snapshot CommitLatency::snapshot() const {
  Snapshot out;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out.cumulative[i] = running;
  }
  out.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return out;
}

void LedgerWriter::execute(std::vector<std::unique_ptr<Job>>& batch) {
  const bool durable = std::any_of(batch.begin(), batch.end(), [](const auto& job) {
    return job->durability == Durability::durable;
  });
  auto begun = ledger_->begin_batch(durable);
  if (!begun.ok()) {
    complete_all(batch, &begun.error());
    return;
  }
  for (auto& job : batch) {
    job->run(*ledger_);
    if (!ledger_->batch_alive()) {
      // SQLite rolled the whole transaction back (I/O error, full disk): the operations that
      // already ran are undone too, so none of them may report success.
      ledger_->rollback_batch();
      const LedgerError lost = ledger_error(LedgerErrorCode::storage_failed,
                                            "the batch transaction was rolled back by SQLite");
      complete_all(batch, &lost);
      return;
    }
  }
  const auto commit_start = std::chrono::steady_clock::now();
  auto committed = ledger_->commit_batch();
  commit_latency_.record(std::chrono::steady_clock::now() - commit_start);
  {
    std::lock_guard lock(mu_);
    ++stats_.batches;
    stats_.operations += batch.size();
    stats_.largest_batch = std::max<std::uint64_t>(stats_.largest_batch, batch.size());
    if (durable && committed.ok()) ++stats_.durable_commits;
  }
  complete_all(batch, committed.ok() ? nullptr : &committed.error());
}

void LedgerWriter::complete_all(std::vector<std::unique_ptr<Job>>& batch,
                                const LedgerError* failure) {
  {
    std::lock_guard lock(mu_);
    if (failure != nullptr) ++stats_.failed_batches;
    stats_.last_batch_failed = failure != nullptr;
  }
  for (auto& job : batch) {
    try {
      job->complete(failure);
    } catch (...) {
      std::lock_guard lock(mu_);
      ++stats_.callback_exceptions;
    }
  }
}

Result<void> LedgerWriter::reserve(PaymentIntent intent, std::vector<policy::CapCheck> caps,
                                   Done<ReserveOutcome> done) {
  return submit<ReserveOutcome>(
      Durability::durable,
      [intent = std::move(intent), caps = std::move(caps)](Ledger& l) {
        return l.reserve(intent, caps);
      },
      std::move(done));
}

Result<void> LedgerWriter::mark_signed(std::int64_t attempt_id, SignedDetails details,
                                       Done<Attempt> done) {
  return submit<Attempt>(
      Durability::durable,
      [attempt_id, details = std::move(details)](Ledger& l) {
        return l.mark_signed(attempt_id, details);
      },
      std::move(done));
}

Result<void> LedgerWriter::mark_submitted(std::int64_t attempt_id, Done<Attempt> done) {
  return submit<Attempt>(
      Durability::durable, [attempt_id](Ledger& l) { return l.mark_submitted(attempt_id); },
      std::move(done));
}

Result<void> LedgerWriter::finalize(std::int64_t attempt_id, Outcome outcome, Done<Receipt> done) {
  return submit<Receipt>(
      Durability::durable,
      [attempt_id, outcome = std::move(outcome)](Ledger& l) {
        return l.finalize(attempt_id, outcome);
      },
      std::move(done));
}

Result<void> LedgerWriter::release(std::int64_t attempt_id, payment::Reason code,
                                   std::string reason, Done<Attempt> done) {
  return submit<Attempt>(
      Durability::durable,
      [attempt_id, code, reason = std::move(reason)](Ledger& l) {
        return l.release(attempt_id, code, reason);
      },
      std::move(done));
}

Result<void> LedgerWriter::record_decision(DecisionRecord decision, Done<bool> done) {
  return submit<bool>(
      Durability::batched,
      [decision = std::move(decision)](Ledger& l) -> Result<bool> {
        auto recorded = l.record_decision(decision);
        if (!recorded.ok()) return recorded.error();
        return true;
      },
      std::move(done));
}

}  // namespace flow::storage
