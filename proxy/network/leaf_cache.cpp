#include "flow/proxy/network/leaf_cache.hpp"

#include <openssl/err.h>

#include <algorithm>

namespace flow::proxy {
namespace {

// A server context presenting `leaf` with the shared leaf key and the CA as its chain.
SslCtxPtr leaf_context(const CertAuthority& ca, X509* leaf, const LeafCache::ContextSetup& setup) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return nullptr;
  // SSL_CTX_ctrl(SSL_CTRL_CHAIN_CERT, 1): SSL_CTX_add1_chain_cert without its C-style cast.
  if (SSL_CTX_use_certificate(ctx.get(), leaf) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), ca.leaf_key()) != 1 ||
      SSL_CTX_ctrl(ctx.get(), SSL_CTRL_CHAIN_CERT, 1, ca.certificate()) != 1) {
    return nullptr;
  }
  if (setup) setup(ctx.get());
  return ctx;
}

}  // namespace

LeafCache::LeafCache(const CertAuthority& ca) : LeafCache(ca, Options{}) {}

LeafCache::LeafCache(const CertAuthority& ca, Options options)
    : ca_(ca),
      capacity_(std::max<std::size_t>(options.capacity, 1)),
      setup_(std::move(options.setup)),
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
  leaf->context = leaf_context(ca_, leaf->certificate.get(), setup_);
  if (!leaf->context) {
    ERR_clear_error();
    return LeafError::signing_failed;
  }
  struct tm parts {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf->certificate.get()), &parts) == 1) {
    leaf->not_after = ::timegm(&parts);
  }
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
