// The leaf certificates interception has minted, ready to serve: a bounded LRU keyed by the
// leaf name (lower-cased DNS name or canonical IP text), so a second handshake to a host signs
// nothing.
//
// An entry is the leaf, the CA's shared leaf key and the CA as chain; ServerLeaf::install puts
// them on one SSL in the server's SNI (or certificate) callback with SSL_use_cert_and_key: about
// a microsecond, reference counts and no parsing. One SSL_CTX per leaf was measured and dropped:
// SSL_CTX_new alone costs about 200 µs in OpenSSL 3.0, more than signing the leaf, and the
// server's own context keeps its settings (ALPN, versions) when only the certificate changes.
//
// A miss mints synchronously on the caller's thread (one ECDSA signature, 70-90 µs in all: see
// bench/README.md "Leaf certificates"): cheap enough for the loop thread, and it happens once
// per host per process while the host stays in the cache. Not thread-safe: one cache per loop.
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
  EvpPkeyPtr key;       // the CA's leaf key (shared by every leaf of that CA)
  X509StackPtr chain;   // the CA certificate, sent after the leaf
  std::time_t not_after = 0;

  // Makes a server handshake on `ssl` present this leaf. False (and the OpenSSL error queue
  // cleared) if OpenSSL refuses, which fails that handshake alone.
  bool install(SSL* ssl) const;
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

  using Clock = std::function<std::time_t()>;

  struct Options {
    std::size_t capacity = kDefaultCapacity;  // at least 1
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
  Clock clock_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  LeafCacheStats stats_;
};

}  // namespace flow::proxy
