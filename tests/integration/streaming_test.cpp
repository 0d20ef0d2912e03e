// 100 MiB bodies through the proxy in each direction: every byte arrives in order and the
// proxy's peak memory shows it streamed the body instead of buffering it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "proxy_expectations.hpp"
#include "support/client_connection.hpp"
#include "support/proxy_process.hpp"
#include "support/test_origin.hpp"

using namespace flow::testing;

namespace {

constexpr std::size_t kBodyBytes = 100 * 1024 * 1024;
constexpr std::size_t kPieceBytes = 256 * 1024;
constexpr std::size_t kMaxProxyMemoryKib = 48 * 1024;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

// ASan keeps freed blocks in a quarantine (256 MiB by default), which would make any streaming
// proxy look like it buffers. Under ASan the child gets a small quarantine and the bound applies to
// the growth over its idle footprint (shadow memory and allocator metadata are not the proxy's).
std::vector<std::string> sanitizer_env() {
  if (!kAddressSanitizer) return {};
  const char* existing = std::getenv("ASAN_OPTIONS");
  std::string options = existing != nullptr ? std::string(existing) + ":" : std::string();
  return {"ASAN_OPTIONS=" + options + "quarantine_size_mb=8:thread_local_quarantine_size_kb=256"};
}

std::size_t memory_baseline_kib(const ProxyProcess& proxy) {
  return kAddressSanitizer ? proxy.memory_usage().rss_kib : 0;
}

void check_streamed_memory(const ProxyProcess& proxy, std::size_t baseline_kib) {
  MemoryUsage usage = proxy.memory_usage();
  INFO("proxy VmHWM " << usage.hwm_kib << " KiB, VmRSS " << usage.rss_kib << " KiB, baseline "
                      << baseline_kib << " KiB");
  REQUIRE(usage.hwm_kib > 0);
  CHECK(usage.hwm_kib - baseline_kib < kMaxProxyMemoryKib);
}

std::uint64_t pattern_checksum(std::uint32_t seed, std::size_t size) {
  PatternSource source(seed);
  Checksum sum;
  std::string piece(kPieceBytes, '\0');
  for (std::size_t left = size; left > 0;) {
    std::size_t n = std::min(left, piece.size());
    source.fill(piece.data(), n);
    sum.update(std::string_view(piece.data(), n));
    left -= n;
  }
  return sum.value();
}

}  // namespace

TEST_CASE("a 100 MiB download streams through the proxy intact with bounded proxy memory") {
  constexpr std::uint32_t kSeed = 7;
  TestOrigin origin([](OriginExchange& ex) {
    ex.send("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
            std::to_string(kBodyBytes) + "\r\n\r\n");
    PatternSource source(kSeed);
    std::string piece(kPieceBytes, '\0');
    for (std::size_t left = kBodyBytes; left > 0;) {
      std::size_t n = std::min(left, piece.size());
      source.fill(piece.data(), n);
      ex.send(std::string_view(piece.data(), n));
      left -= n;
    }
  });
  ProxyProcess proxy({}, sanitizer_env());
  std::size_t baseline = memory_baseline_kib(proxy);
  std::uint64_t expected = pattern_checksum(kSeed, kBodyBytes);

  Checksum received;
  ResponseReadOptions options;
  options.body_sink = [&](std::string_view piece) { received.update(piece); };
  ClientConnection client(proxy.port());
  auto response = client.exchange(absolute_get(origin, "/big"), options,
                                  deadline_in(std::chrono::seconds(120)));
  CHECK(response.status == 200);
  CHECK(response.body_bytes == kBodyBytes);
  CHECK(received.value() == expected);
  check_streamed_memory(proxy, baseline);
}

TEST_CASE("a 100 MiB upload streams through the proxy intact with bounded proxy memory") {
  constexpr std::uint32_t kSeed = 11;
  TestOrigin origin([](OriginExchange& ex) {
    Checksum sum;
    ex.stream_body([&](std::string_view piece) { sum.update(piece); });
    ex.respond(200, std::to_string(ex.request().body_bytes) + " " + std::to_string(sum.value()));
  });
  ProxyProcess proxy({}, sanitizer_env());
  std::size_t baseline = memory_baseline_kib(proxy);

  ClientConnection client(proxy.port());
  Deadline deadline = deadline_in(std::chrono::seconds(120));
  client.send("PUT " + origin.url("/upload") + " HTTP/1.1\r\nHost: " + origin.authority() +
                  "\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                  std::to_string(kBodyBytes) + "\r\n\r\n",
              deadline);
  PatternSource source(kSeed);
  Checksum sent;
  std::string piece(kPieceBytes, '\0');
  for (std::size_t left = kBodyBytes; left > 0;) {
    std::size_t n = std::min(left, piece.size());
    source.fill(piece.data(), n);
    sent.update(std::string_view(piece.data(), n));
    client.send(std::string_view(piece.data(), n), deadline);
    left -= n;
  }
  auto response = client.read_response({}, deadline);
  CHECK(response.status == 200);
  CHECK(response.body == std::to_string(kBodyBytes) + " " + std::to_string(sent.value()));
  check_streamed_memory(proxy, baseline);
}
