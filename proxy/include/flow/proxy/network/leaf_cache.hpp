// The leaf certificates interception has minted, ready to serve: a bounded LRU keyed by the
// leaf name (lower-cased DNS name or canonical IP text), so a second handshake to a host signs
// nothing.
//
// Each entry holds a server SSL_CTX with the leaf, the CA's shared leaf key and the CA as chain,
// so the SNI callback of a TLS server switches to it with SSL_set_SSL_CTX (one pointer swap and
// a reference count; no parsing, no key check per handshake). The contexts are set up by the
// caller's ContextSetup (ALPN, protocol versions) because SSL_set_SSL_CTX makes the leaf's
// context the one the rest of the handshake reads.
//
// A miss mints synchronously on the caller's thread (one signature plus building the context:
// tens of µs, see bench/README.md "Leaf certificates"): cheap enough for the loop thread, and it
// happens once per host per process while the host stays in the cache. Not thread-safe: one
// cache per loop.
#pragma once
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "flow/proxy/network/cert_authority.hpp"

namespace flow::proxy {

// A minted leaf, shared between the cache and the handshakes using it.
struct ServerLeaf {
  std::string name;     // the cache key: LeafName::text
  X509Ptr certificate;  // the leaf
  SslCtxPtr context;    // server context: leaf + leaf key + CA chain, after ContextSetup
  std::time_t not_after = 0;
};

struct LeafCacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;     // each one minted (or failed to)
  std::uint64_t evictions = 0;  // least recently used leaves dropped for room
  std::uint64_t renewals = 0;   // cached leaves re-minted because they were close to expiry
  std::uint64_t failures = 0;   // misses that produced no leaf (LeafError)
};

class LeafCache {
 public:
  static constexpr std::size_t kDefaultCapacity = 1024;
  // A cached leaf this close to its notAfter is minted again rather than served.
  static constexpr std::time_t kRenewBefore = 24 * 3600;

  using ContextSetup = std::function<void(SSL_CTX*)>;
  using Clock = std::function<std::time_t()>;

  struct Options {
    std::size_t capacity = kDefaultCapacity;  // at least 1
    ContextSetup setup;                       // applied to every new leaf context; may be empty
    Clock clock;                              // empty: std::time
  };

  // `ca` must outlive the cache.
  explicit LeafCache(const CertAuthority& ca);
  LeafCache(const CertAuthority& ca, Options options);

  // The leaf for `name` (a host name or IP literal, any case, "[::1]" accepted), from the cache
  // or minted now. A name parse_leaf_name refuses is LeafError::invalid_name and counts as
  // neither hit nor miss.
  std::variant<std::shared_ptr<const ServerLeaf>, LeafError> get(std::string_view name);

  const LeafCacheStats& stats() const { return stats_; }
  std::size_t size() const { return index_.size(); }
  std::size_t capacity() const { return capacity_; }
  // Whether `name` is cached, without touching its recency or the counters.
  bool contains(std::string_view name) const;

 private:
  using Entry = std::shared_ptr<const ServerLeaf>;
  std::variant<Entry, LeafError> mint(const LeafName& name, std::time_t now) const;
  void insert(Entry leaf);

  const CertAuthority& ca_;
  std::size_t capacity_;
  ContextSetup setup_;
  Clock clock_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  LeafCacheStats stats_;
};

}  // namespace flow::proxy
