// Policy evaluation throughput: a 1,000-merchant policy (exact and wildcard hosts, paths,
// methods, caps at every scope), three offers per challenge, a ledger with running totals.
//
//   policy_bench [--seconds N] [--threads N]
//   policy_bench --only-evaluate [--seconds N]   just the one-thread evaluation loop
//   policy_bench --evaluations N                 exactly N evaluations (for callgrind)
//
// Prints the load time of the generated policy, merchant lookups per second by the index and
// by a linear scan of every rule (the naive matcher, which bounds what evaluation could reach
// with it), and full evaluations per second on one thread and on --threads threads.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "flow/policy/flow_config.hpp"
#include "flow/policy/merchant_matcher.hpp"
#include "flow/policy/policy_eval.hpp"
#include "flow/policy/spend_totals.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using flow::policy::OfferCandidate;

constexpr int kMerchants = 1000;
constexpr int kAgents = 10;
constexpr std::int64_t kNow = 1741773600;  // 2025-03-12T10:00:00Z
constexpr const char* kPayee = "0x209693bc6afc0c5328ba36faf03c514ef312287c";

// Deterministic, so every run measures the same policy and requests.
std::uint32_t next_random(std::uint32_t& state) {
  state = state * 1664525u + 1013904223u;
  return state >> 8;
}

std::string merchant_host(int i) {
  // 70% exact hosts, 30% wildcards; three sub-domain depths.
  const std::string domain = "m" + std::to_string(i) + (i % 3 == 0 ? ".api.example" : ".example");
  return i % 10 < 7 ? "api." + domain : "*." + domain;
}

std::string merchant_yaml(int i) {
  std::string y = "  - name: merchant-" + std::to_string(i) + "\n    host: \"" + merchant_host(i) +
                  "\"\n    action: " + (i % 50 == 0 ? "deny" : "allow") + "\n";
  if (i % 4 == 1) y += "    path: /v" + std::to_string(i % 3 + 1) + "\n";
  if (i % 8 == 3) y += "    methods: [GET, POST]\n";
  if (i % 5 == 0) y += "    networks: [eip155:8453, eip155:137]\n";
  if (i % 3 == 0) {
    y += "    caps:\n      per_request: 0.50 USDC\n      budgets:\n"
         "        - amount: 20 USDC\n          per: day\n";
  }
  return y;
}

std::string policy_yaml() {
  std::string y = R"(version: 1
organization:
  posture: allow
  networks: [eip155:8453, eip155:137, lightning]
  prefer_networks: [eip155:8453, lightning]
  caps:
    per_request: [1 USDC, 100000 msat]
    budgets:
      - amount: 500 USDC
        per: day
      - amount: 5000 USDC
        per: month
      - payments: 100000
        rolling: 1h
review:
  amount_over: 0.90 USDC
  approval_ttl: 15m
agents:
)";
  for (int a = 0; a < kAgents; ++a) {
    y += "  - id: agent-" + std::to_string(a) +
         "\n    caps:\n      per_request: 0.80 USDC\n      budgets:\n"
         "        - amount: 50 USDC\n          per: week\n"
         "    merchant_caps:\n      \"*\":\n        budgets:\n"
         "          - payments: 1000\n            per: day\n";
  }
  y += "merchants:\n";
  for (int i = 0; i < kMerchants; ++i) y += merchant_yaml(i);
  return y;
}

struct Request {
  std::string agent;
  std::string host;
  std::string path;
  std::string method;
  std::vector<OfferCandidate> offers;
};

OfferCandidate offer(const char* network, const char* asset, flow::payment::Atomic amount) {
  OfferCandidate c;
  c.offer.protocol = "x402";
  c.offer.scheme = "exact";
  c.offer.network = network;
  c.offer.asset = asset;
  c.offer.amount = amount;
  c.offer.pay_to = kPayee;
  c.offer.resource = "https://api.m1.example/v1/resource";
  return c;
}

// Hosts that hit exact rules, hit wildcard rules below their suffix, or match nothing.
std::string request_host(std::uint32_t& rng) {
  const int i = static_cast<int>(next_random(rng) % kMerchants);
  const std::uint32_t kind = next_random(rng) % 20;
  const std::string base = merchant_host(i);
  if (kind < 3) return "unknown-" + std::to_string(i) + ".elsewhere.net";  // 15% observed
  if (base.starts_with("*.")) return "eu.shop" + base.substr(1);
  return base;
}

std::vector<Request> requests() {
  std::uint32_t rng = 402;
  std::vector<Request> out;
  const char* paths[] = {"/v1/search", "/v2/items/7", "/v3", "/other/path"};
  for (int n = 0; n < 4096; ++n) {
    Request r;
    r.agent = "agent-" + std::to_string(next_random(rng) % kAgents);
    r.host = request_host(rng);
    r.path = paths[next_random(rng) % 4];
    r.method = next_random(rng) % 4 == 0 ? "POST" : "GET";
    const auto cents = static_cast<flow::payment::Atomic>(1 + next_random(rng) % 40) * 10'000;
    // EVM assets lower-case, as offer.hpp says adapters normalize them.
    r.offers = {offer("eip155:8453", "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913", cents),
                offer("eip155:137", "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359", cents - 1),
                offer("lightning", "msat", 20'000)};
    out.push_back(std::move(r));
  }
  return out;
}

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Operations per wall-clock second, and per second of this thread's CPU time (which other
// processes on a shared machine do not dilute).
struct Rate {
  double wall = 0;
  double cpu = 0;
};

// Runs `body(i)` over the requests for `seconds` of wall-clock time.
Rate rate(double seconds, std::size_t count, const std::function<std::uint64_t(std::size_t)>& body,
          std::uint64_t& sink) {
  std::uint64_t ops = 0;
  const auto start = Clock::now();
  const double cpu_start = thread_cpu_seconds();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    for (std::size_t i = 0; i < count; ++i) sink += body(i);
    ops += count;
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = thread_cpu_seconds() - cpu_start;
  return {static_cast<double>(ops) / wall, static_cast<double>(ops) / cpu};
}

struct Fixture {
  std::shared_ptr<const flow::policy::PolicySnapshot> policy;
  std::vector<Request> reqs;
  flow::policy::SpendTotalsMap totals;
  flow::policy::PayeeSet payees;
};

std::uint64_t evaluate_one(const Fixture& f, const Request& r) {
  flow::policy::PaymentRequest req;
  req.agent_id = r.agent;
  req.host = r.host;
  req.path = r.path;
  req.method = r.method;
  req.offers = r.offers;
  const auto d = flow::policy::evaluate(*f.policy, req, {f.totals, f.payees}, kNow);
  return static_cast<std::uint64_t>(d.verdict) + d.caps.size() + d.offers.size();
}

// Sums over threads: wall-clock rates (what the machine delivered) and CPU-time rates (what it
// would deliver with every core free for this process).
Rate threaded_rate(const Fixture& f, double seconds, int threads) {
  std::vector<Rate> rates(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < rates.size(); ++t) {
    pool.emplace_back([&f, &rates, seconds, t] {
      std::uint64_t sink = 0;
      rates[t] = rate(
          seconds, f.reqs.size(), [&](std::size_t i) { return evaluate_one(f, f.reqs[i]); }, sink);
      if (sink == 0) std::puts("");  // keep the work observable
    });
  }
  for (auto& th : pool) th.join();
  Rate total;
  for (const Rate& r : rates) {
    total.wall += r.wall;
    total.cpu += r.cpu;
  }
  return total;
}

int arg_int(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::max(0, std::atoi(argv[i + 1]));
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = std::max(1, arg_int(argc, argv, "--seconds", 3));
  const int threads = std::max(1, arg_int(argc, argv, "--threads", 2));

  Fixture f;
  const std::string yaml = policy_yaml();
  const auto load_start = Clock::now();
  f.policy = flow::policy::parse_flow_config(yaml, "bench.yaml").policy;
  const double load_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - load_start).count();
  f.reqs = requests();
  f.totals.set("org|-|USDC|day", {123'000'000, 4000});
  f.totals.set("agent|agent-1|USDC|week", {49'950'000, 900});
  f.payees.add("eip155:8453", kPayee);

  const auto& rules = f.policy->definition().merchants;
  std::uint64_t sink = 0;
  if (const int n = arg_int(argc, argv, "--evaluations", 0); n > 0) {
    for (int i = 0; i < n; ++i) {
      sink += evaluate_one(f, f.reqs[static_cast<std::size_t>(i) % f.reqs.size()]);
    }
    std::printf("%d evaluations (checksum %llu)\n", n, static_cast<unsigned long long>(sink));
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[argc - 1], "--only-evaluate") == 0) {
    const Rate r = rate(
        seconds, f.reqs.size(), [&](std::size_t i) { return evaluate_one(f, f.reqs[i]); }, sink);
    std::printf("evaluations, 1 thread: %.0f /s wall, %.0f /s CPU (checksum %llu)\n", r.wall, r.cpu,
                static_cast<unsigned long long>(sink % 1000));
    return 0;
  }
  const Rate indexed = rate(
      seconds, f.reqs.size(),
      [&](std::size_t i) {
        const auto& r = f.reqs[i];
        return f.policy->match_merchant(r.host, r.path, r.method) != nullptr ? 1u : 0u;
      },
      sink);
  const Rate scanned = rate(
      seconds, f.reqs.size(),
      [&](std::size_t i) {
        const auto& r = f.reqs[i];
        return flow::policy::find_merchant_by_scan(rules, r.host, r.path, r.method) ? 1u : 0u;
      },
      sink);
  const Rate one = rate(
      seconds, f.reqs.size(), [&](std::size_t i) { return evaluate_one(f, f.reqs[i]); }, sink);
  // What evaluation costs with the naive matcher: an evaluation plus a scan of every rule (the
  // evaluation's own indexed lookup, about 7% of it, is counted too: a slight overestimate).
  const Rate with_scan = rate(
      seconds, f.reqs.size(),
      [&](std::size_t i) {
        const auto& r = f.reqs[i];
        const auto hit = flow::policy::find_merchant_by_scan(rules, r.host, r.path, r.method);
        return evaluate_one(f, r) + (hit ? 1u : 0u);
      },
      sink);
  const Rate many = threaded_rate(f, seconds, threads);

  std::printf("policy: %zu merchants (%d agents), %zu distinct requests x 3 offers\n", rules.size(),
              kAgents, f.reqs.size());
  std::printf("load + validate + index:     %10.1f ms\n", load_ms);
  std::printf("                             %10s    %10s\n", "wall", "per CPU-s");
  std::printf("merchant lookup, scan:       %10.0f /s %10.0f /s\n", scanned.wall, scanned.cpu);
  std::printf("merchant lookup, index:      %10.0f /s %10.0f /s\n", indexed.wall, indexed.cpu);
  std::printf("evaluations + scan, 1 thread:%10.0f /s %10.0f /s\n", with_scan.wall, with_scan.cpu);
  std::printf("evaluations, 1 thread:       %10.0f /s %10.0f /s\n", one.wall, one.cpu);
  std::printf("evaluations, %d threads:      %10.0f /s %10.0f /s  (sums over threads)\n", threads,
              many.wall, many.cpu);
  std::printf("(checksum %llu)\n", static_cast<unsigned long long>(sink % 1000));
  return 0;
}
