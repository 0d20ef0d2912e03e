#include "flow/proxy/network/leaf_cache.hpp"

#include <openssl/err.h>

#include <algorithm>

namespace flow::proxy {
namespace {

std::time_t not_after_of(X509* cert) {
  struct tm parts {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &parts) != 1) return 0;
  return ::timegm(&parts);
}

}  // namespace

bool ServerLeaf::install(SSL* ssl) const {
  if (SSL_use_cert_and_key(ssl, certificate.get(), key.get(), chain.get(), 1) == 1) return true;
  ERR_clear_error();
  return false;
}

LeafCache::LeafCache(const CertAuthority& ca) : LeafCache(ca, Options{}) {}

LeafCache::LeafCache(const CertAuthority& ca, Options options)
    : ca_(ca),
      capacity_(std::max<std::size_t>(options.capacity, 1)),
      clock_(std::move(options.clock)) {
  if (!clock_) clock_ = [] { return std::time(nullptr); };
}

bool LeafCache::contains(std::string_view name) const {
  const auto parsed = parse_leaf_name(name);
  return parsed && index_.count(parsed->text) != 0;
}

std::variant<LeafCache::Entry, LeafError> LeafCache::get(std::string_view name) {
  const auto parsed = parse_leaf_name(name);
  if (!parsed) return LeafError::invalid_name;
  const std::time_t now = clock_();
  if (const auto it = index_.find(parsed->text); it != index_.end()) {
    if ((*it->second)->not_after - now > kRenewBefore) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++stats_.hits;
      return *it->second;
    }
    ++stats_.renewals;
    lru_.erase(it->second);
    index_.erase(it);
  }
  ++stats_.misses;
  auto minted = mint(*parsed, now);
  if (const auto* leaf = std::get_if<Entry>(&minted)) {
    insert(*leaf);
  } else {
    ++stats_.failures;
  }
  return minted;
}

std::variant<LeafCache::Entry, LeafError> LeafCache::mint(const LeafName& name,
                                                          std::time_t now) const {
  auto signed_leaf = ca_.mint_leaf(name, now);
  if (const auto* error = std::get_if<LeafError>(&signed_leaf)) return *error;
  auto leaf = std::make_shared<ServerLeaf>();
  leaf->name = name.text;
  leaf->certificate = std::move(std::get<X509Ptr>(signed_leaf));
  leaf->key = share(ca_.leaf_key());
  leaf->chain.reset(sk_X509_new_null());
  if (!leaf->chain || sk_X509_push(leaf->chain.get(), ca_.certificate()) <= 0) {
    ERR_clear_error();
    return LeafError::signing_failed;
  }
  X509_up_ref(ca_.certificate());  // the chain owns its reference
  leaf->not_after = not_after_of(leaf->certificate.get());
  return Entry(std::move(leaf));
}

void LeafCache::insert(Entry leaf) {
  while (index_.size() >= capacity_) {
    index_.erase(lru_.back()->name);
    lru_.pop_back();
    ++stats_.evictions;
  }
  const std::string key = leaf->name;
  lru_.push_front(std::move(leaf));
  index_.emplace(key, lru_.begin());
}

}  // namespace flow::proxy
