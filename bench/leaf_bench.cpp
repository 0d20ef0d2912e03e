// What a leaf certificate costs interception: a cache miss (sign a leaf) against a cache hit (a
// lookup), next to what is not paid per leaf (a key generation, an SSL_CTX), and putting a leaf
// on a handshake. Built as
// build/tests/unit/leaf_bench with the tests; results in bench/README.md ("Leaf certificates").
//
//   leaf_bench [--iterations N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "flow/proxy/network/cert_authority.hpp"
#include "flow/proxy/network/leaf_cache.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using flow::proxy::CertAuthority;
using flow::proxy::LeafCache;

double micros_per(Clock::duration d, std::size_t n) {
  return std::chrono::duration<double, std::micro>(d).count() / static_cast<double>(n);
}

std::string host(std::size_t i) {
  return "h" + std::to_string(i) + ".bench.example";
}

template <typename Body>
double time_each(std::size_t n, Body body) {
  const auto start = Clock::now();
  for (std::size_t i = 0; i < n; ++i) body(i);
  return micros_per(Clock::now() - start, n);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--iterations") == 0) n = std::strtoul(argv[i + 1], nullptr, 10);
  }
  if (n == 0) n = 1;
  char dir_template[] = "/tmp/402flow-leaf-bench-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) return 1;
  const std::string dir = dir_template;
  const CertAuthority ca = CertAuthority::create(dir + "/ca", false);

  // A P-256 key generation, which a leaf does not pay (the leaf key is shared).
  const double keygen = time_each(n / 4 + 1, [](std::size_t) {
    flow::proxy::EvpPkeyPtr key(EVP_EC_gen("P-256"));
    if (!key) std::abort();
  });
  // Signing a leaf alone.
  const double sign = time_each(n, [&](std::size_t i) {
    auto leaf = ca.mint_leaf(host(i));
    if (!std::holds_alternative<flow::proxy::X509Ptr>(leaf)) std::abort();
  });
  // A miss: sign and make the cache entry. Capacity n so nothing is evicted while timing.
  LeafCache::Options options;
  options.capacity = n;
  LeafCache cache(ca, options);
  const double miss = time_each(n, [&](std::size_t i) {
    if (!std::holds_alternative<std::shared_ptr<const flow::proxy::ServerLeaf>>(
            cache.get(host(i)))) {
      std::abort();
    }
  });
  // Hits: the same names again, each looked up 10 times.
  const double hit = time_each(n * 10, [&](std::size_t i) {
    if (!std::holds_alternative<std::shared_ptr<const flow::proxy::ServerLeaf>>(
            cache.get(host(i % n)))) {
      std::abort();
    }
  });
  // Not paid per leaf either: a server context (what a context per leaf would have cost).
  const double ctx_new = time_each(n / 4 + 1, [](std::size_t) {
    flow::proxy::SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) std::abort();
  });
  // Per handshake: an SSL, with and without putting a cached leaf on it.
  flow::proxy::SslCtxPtr server(SSL_CTX_new(TLS_server_method()));
  const auto leaf = std::get<std::shared_ptr<const flow::proxy::ServerLeaf>>(cache.get(host(0)));
  const double ssl_alone = time_each(n * 10, [&](std::size_t) {
    flow::proxy::SslPtr ssl(SSL_new(server.get()));
    if (!ssl) std::abort();
  });
  const double ssl_install = time_each(n * 10, [&](std::size_t) {
    flow::proxy::SslPtr ssl(SSL_new(server.get()));
    if (!ssl || !leaf->install(ssl.get())) std::abort();
  });
  const auto& s = cache.stats();
  std::printf("iterations            %zu\n", n);
  std::printf("P-256 key generation  %8.2f us  (not paid per leaf)\n", keygen);
  std::printf("sign a leaf           %8.2f us\n", sign);
  std::printf("cache miss            %8.2f us  (sign + cache entry)\n", miss);
  std::printf("cache hit             %8.2f us\n", hit);
  std::printf("SSL_CTX_new           %8.2f us  (not paid per leaf)\n", ctx_new);
  std::printf("install on an SSL     %8.2f us  (SSL_new + install %.2f, SSL_new alone %.2f)\n",
              ssl_install - ssl_alone, ssl_install, ssl_alone);
  std::printf("counters              hits %llu, misses %llu, evictions %llu\n",
              static_cast<unsigned long long>(s.hits), static_cast<unsigned long long>(s.misses),
              static_cast<unsigned long long>(s.evictions));
  std::string cleanup = "rm -rf '" + dir + "'";
  return std::system(cleanup.c_str()) == 0 && s.misses == n && s.hits == n * 10 + 1 ? 0 : 1;
}
