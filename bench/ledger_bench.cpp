// Ledger throughput: durable payment cycles per second through LedgerWriter (group commit),
// against the disk's own fsync rate. Build with -DFLOW_BENCH=ON; run build/storage/ledger_bench.
//
//   ledger_bench [--seconds N] [--dir DIR]
//
// DIR must be on the disk being measured (not tmpfs: fsync there is free). Results go to stdout
// as markdown; bench/LEDGER_RESULTS.md records a run.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <sqlite3.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "flow/payment/unix_clock.hpp"
#include "flow/storage/ledger_writer.hpp"

using namespace flow::storage;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  double seconds = 3.0;
  std::string dir = ".";
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--seconds") a.seconds = std::atof(argv[i + 1]);
    if (flag == "--dir") a.dir = argv[i + 1];
  }
  return a;
}

std::int64_t midnight_utc() {
  const std::int64_t s = flow::payment::unix_now();
  return s - s % 86'400;
}

// Three caps per payment, as a realistic policy would produce: agent and merchant amount caps
// and an organization count cap, all daily. Limits are high enough never to refuse.
std::vector<flow::policy::CapCheck> caps_for(int agent, int merchant) {
  const std::int64_t day = midnight_utc();
  auto cap = [&](std::string key, std::string rule) {
    flow::policy::CapCheck c;
    c.counter_key = std::move(key);
    c.rule = std::move(rule);
    c.reason = flow::policy::ReasonCode::over_agent_cap;
    c.window_start = day;
    return c;
  };
  auto a = cap("agent:a" + std::to_string(agent) + ":usdc:day", "agents[a].caps.daily");
  a.max_amount = flow::payment::Atomic{1} << 100;
  auto m = cap("merchant:m" + std::to_string(merchant) + ":usdc:day", "merchants[m].caps.daily");
  m.max_amount = flow::payment::Atomic{1} << 100;
  auto o = cap("org:count:day", "organization.caps.daily_count");
  o.max_count = 1'000'000'000;
  return {a, m, o};
}

// Idempotency keys in production are hashes or UUIDs: random order, so every reservation
// lands on a random page of the (agent, key) index. Sequential keys would flatter the numbers.
std::string random_looking_key(std::uint64_t n) {
  std::uint64_t z = n + 0x9e3779b97f4a7c15ULL;  // splitmix64
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  char buf[24];
  std::snprintf(buf, sizeof buf, "req-%016llx", static_cast<unsigned long long>(z));
  return buf;
}

PaymentIntent intent_for(std::uint64_t n) {
  PaymentIntent in;
  const int agent = static_cast<int>(n % 8);
  const int merchant = static_cast<int>(n % 4);
  in.agent = "a" + std::to_string(agent);
  in.idempotency_key = random_looking_key(n);
  in.merchant_origin = "https://m" + std::to_string(merchant) + ".example.com";
  in.method = "GET";
  in.url = in.merchant_origin + "/v1/data?q=" + std::to_string(n);
  in.offer.protocol = "x402";
  in.offer.protocol_version = 2;
  in.offer.scheme = "exact";
  in.offer.network = "eip155:8453";
  in.offer.asset = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
  in.offer.amount = 10'000;
  in.offer.pay_to = "0x209693bc6afc0c5328ba36faf03c514ef312287c";
  in.offer.resource = in.url;
  in.decimals = 6;
  in.decision_id = "dec_bench";
  in.rule = "agents[a]";
  return in;
}

Outcome settled() {
  Outcome o;
  o.state = AttemptState::settled;
  o.settlement_ref = "0x9f1c0a6f7b4e2d3c1b0a99887766554433221100ffeeddccbbaa998877665544";
  o.evidence = R"({"success":true,"network":"eip155:8453","transaction":"0x9f1c..."})";
  o.http_status = 200;
  return o;
}

// write(4 KiB) + fdatasync in a loop: the most durable commits per second this disk allows
// one writer that waits for each.
double fsync_rate(const std::string& dir, double seconds) {
  const std::string path = dir + "/fsync-probe";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  std::vector<char> block(4096, 'x');
  std::uint64_t n = 0;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (::pwrite(fd, block.data(), block.size(), static_cast<off_t>((n % 256) * 4096)) < 0) break;
    if (::fdatasync(fd) != 0) break;
    ++n;
  }
  ::close(fd);
  std::filesystem::remove(path);
  return static_cast<double>(n) / seconds;
}

// Process CPU seconds (user + system) and bytes handed to write(2)/pwrite(2) so far.
struct Usage {
  double cpu_s = 0;
  double written = 0;
};

Usage usage_now() {
  Usage u;
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  u.cpu_s = static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
            static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  std::FILE* io = std::fopen("/proc/self/io", "r");
  if (io != nullptr) {
    char key[64];
    unsigned long long value = 0;
    while (std::fscanf(io, "%63s %llu", key, &value) == 2) {
      if (std::strcmp(key, "wchar:") == 0) u.written = static_cast<double>(value);
    }
    std::fclose(io);
  }
  return u;
}

struct Run {
  std::string name;
  int in_flight = 0;
  double cycles_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double commits_per_s = 0;
  double ops_per_commit = 0;
  double cpu_us_per_cycle = 0;
  double kib_per_cycle = 0;
};

void add_usage(Run& r, const Usage& before, const Usage& after, double cycles) {
  if (cycles <= 0) return;
  r.cpu_us_per_cycle = (after.cpu_s - before.cpu_s) * 1e6 / cycles;
  r.kib_per_cycle = (after.written - before.written) / 1024.0 / cycles;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// Keeps `in_flight` payments going through the writer until the deadline. Every step is a
// durable operation; completions (on the writer thread) submit the next step.
class Pipeline {
 public:
  Pipeline(LedgerWriter& writer, bool full_lifecycle, std::uint64_t first_key)
      : writer_(writer), full_(full_lifecycle), next_key_(first_key) {}

  Run run(int in_flight, double seconds) {
    deadline_ = Clock::now() +
                std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    const auto before = writer_.stats();
    const Usage used_before = usage_now();
    const auto start = Clock::now();
    active_ = in_flight;
    for (int i = 0; i < in_flight; ++i) start_cycle();
    {
      std::unique_lock lock(mu_);
      done_.wait(lock, [&] { return active_ == 0; });
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const auto after = writer_.stats();
    Run r;
    r.in_flight = in_flight;
    r.cycles_per_s = static_cast<double>(cycles_) / elapsed;
    r.p50_ms = percentile(latencies_ms_, 0.50);
    r.p99_ms = percentile(latencies_ms_, 0.99);
    r.commits_per_s = static_cast<double>(after.durable_commits - before.durable_commits) / elapsed;
    r.ops_per_commit = static_cast<double>(after.operations - before.operations) /
                       std::max<double>(1, static_cast<double>(after.batches - before.batches));
    add_usage(r, used_before, usage_now(), static_cast<double>(cycles_));
    if (errors_ != 0) std::fprintf(stderr, "ledger_bench: %d errors\n", errors_.load());
    return r;
  }

 private:
  void finish_slot() {
    std::lock_guard lock(mu_);
    if (--active_ == 0) done_.notify_all();
  }

  void start_cycle() {
    if (Clock::now() >= deadline_) return finish_slot();
    const std::uint64_t n = next_key_++;
    const auto t0 = Clock::now();
    auto queued =
        writer_.reserve(intent_for(n), caps_for(static_cast<int>(n % 8), static_cast<int>(n % 4)),
                        [this, t0](Result<ReserveOutcome> r) {
                          if (!r.ok() || r.value().status != ReserveStatus::reserved) return fail();
                          settle(r.value().attempt->id, t0);
                        });
    if (!queued.ok()) fail();
  }

  // reserve+finalize: one durable operation records submitted and settled together.
  // full lifecycle: signed, submitted and settled each awaited, as the proxy does.
  void settle(std::int64_t id, Clock::time_point t0) {
    auto finished = [this, t0](Result<Receipt> r) {
      if (!r.ok()) return fail();
      latencies_ms_.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      ++cycles_;
      start_cycle();
    };
    if (!full_) {
      auto q = writer_.submit<Receipt>(
          Durability::durable,
          [id](Ledger& l) -> Result<Receipt> {
            auto submitted = l.mark_submitted(id);
            if (!submitted.ok()) return submitted.error();
            return l.finalize(id, settled());
          },
          finished);
      if (!q.ok()) fail();
      return;
    }
    const SignedDetails details{"0x1111111111111111111111111111111111111111", "nonce",
                                std::string(64, 'e')};
    auto q = writer_.mark_signed(id, details, [this, id, finished](Result<Attempt> s) {
      if (!s.ok()) return fail();
      auto q2 = writer_.mark_submitted(id, [this, id, finished](Result<Attempt> u) {
        if (!u.ok()) return fail();
        if (!writer_.finalize(id, settled(), finished).ok()) fail();
      });
      if (!q2.ok()) fail();
    });
    if (!q.ok()) fail();
  }

  void fail() {
    ++errors_;
    finish_slot();
  }

  LedgerWriter& writer_;
  bool full_;
  std::atomic<std::uint64_t> next_key_;
  Clock::time_point deadline_;
  std::mutex mu_;
  std::condition_variable done_;
  int active_ = 0;
  std::atomic<int> errors_{0};
  std::uint64_t cycles_ = 0;          // writer thread only
  std::vector<double> latencies_ms_;  // writer thread only
};

// Without a writer: one synchronous transaction (one fsync) per operation.
Run run_unbatched(const std::string& path, double seconds) {
  LedgerOptions o;
  o.path = path;
  o.mode = OpenMode::owner;
  Ledger ledger(o);
  std::vector<double> lat;
  std::uint64_t n = 50'000'000;
  const Usage used_before = usage_now();
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    const auto t0 = Clock::now();
    auto r =
        ledger.reserve(intent_for(n), caps_for(static_cast<int>(n % 8), static_cast<int>(n % 4)));
    if (!r.ok()) break;
    const std::int64_t id = r.value().attempt->id;
    if (!ledger.mark_submitted(id).ok() || !ledger.finalize(id, settled()).ok()) break;
    lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    ++n;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  Run r;
  r.name = "no writer (3 commits per cycle)";
  r.in_flight = 1;
  r.cycles_per_s = static_cast<double>(lat.size()) / elapsed;
  r.p50_ms = percentile(lat, 0.5);
  r.p99_ms = percentile(lat, 0.99);
  r.commits_per_s = r.cycles_per_s * 3;
  r.ops_per_commit = 1;
  add_usage(r, used_before, usage_now(), static_cast<double>(lat.size()));
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  std::string pattern = std::filesystem::absolute(args.dir).string() + "/ledger-bench-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::fprintf(stderr, "ledger_bench: cannot create a directory under %s\n", args.dir.c_str());
    return 1;
  }
  const std::string dir = pattern;
  const std::string db = dir + "/ledger.db";

  utsname u{};
  ::uname(&u);
  std::printf("ledger_bench: %s %s, %u CPUs, SQLite %s, directory %s, %.1f s per run\n\n",
              u.sysname, u.release, std::thread::hardware_concurrency(), sqlite3_libversion(),
              args.dir.c_str(), args.seconds);
  std::printf("disk: write(4 KiB)+fdatasync: %.0f/s\n\n", fsync_rate(dir, args.seconds));

  std::vector<Run> runs;
  runs.push_back(run_unbatched(dir + "/unbatched.db", args.seconds));
  {
    LedgerOptions o;
    o.path = db;
    o.mode = OpenMode::owner;
    LedgerWriter writer(std::make_unique<Ledger>(o));
    std::uint64_t key = 0;
    for (bool full : {false, true}) {
      for (int in_flight : {1, 8, 64, 256, 1024}) {
        Pipeline p(writer, full, key);
        Run r = p.run(in_flight, args.seconds);
        r.name = full ? "writer, full lifecycle (4 commits per cycle)"
                      : "writer, reserve+finalize (2 commits per cycle)";
        runs.push_back(r);
        key += 100'000'000;
      }
    }
  }

  std::printf(
      "| mode | payments in flight | cycles/s | p50 ms | p99 ms | fsynced commits/s | "
      "ops per commit | CPU µs per cycle | KiB written per cycle |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const Run& r : runs) {
    std::printf("| %s | %d | %.0f | %.2f | %.2f | %.0f | %.1f | %.0f | %.1f |\n", r.name.c_str(),
                r.in_flight, r.cycles_per_s, r.p50_ms, r.p99_ms, r.commits_per_s, r.ops_per_commit,
                r.cpu_us_per_cycle, r.kib_per_cycle);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
