#pragma once
// The proxy's TLS, from flow.yaml's `tls:` section (and `run --ca-dir`): which CONNECT tunnels
// are decrypted and with which leaf, and how origins are reached over TLS. One per Server, on
// its loop. docs/https.md describes the behaviour.
#include <openssl/types.h>

#include <memory>
#include <string_view>
#include <variant>

#include "flow/policy/policy_rules.hpp"
#include "flow/policy/tls_settings.hpp"
#include "flow/proxy/network/cert_authority.hpp"
#include "flow/proxy/network/leaf_cache.hpp"
#include "flow/proxy/network/tls_context.hpp"

namespace flow::proxy {

class TlsService {
 public:
  // `ca` null: interception is off. Every tunnel whose first bytes are TLS is then spliced;
  // origins are still reached over TLS (an absolute-form https:// request). Throws
  // std::runtime_error when tls.upstream_ca_file cannot be loaded (start_check has read it).
  TlsService(policy::TlsSettings settings, std::shared_ptr<const CertAuthority> ca);
  TlsService(const TlsService&) = delete;
  TlsService& operator=(const TlsService&) = delete;

  bool intercepting() const { return ca_ != nullptr; }
  const policy::TlsSettings& settings() const { return settings_; }

  // Whether a tunnel to `host` (its SNI, or the CONNECT host without one) is decrypted under
  // `policy` (merchant rules and posture change with reloads; the tls: keys do not).
  policy::InterceptDecision decide(const policy::PolicyDefinition& policy,
                                   std::string_view host) const;

  // The leaf presented for `name` (from the cache, or minted now); only while intercepting.
  std::variant<std::shared_ptr<const ServerLeaf>, LeafError> leaf(std::string_view name);
  // The server context intercepted handshakes run in (each is given its leaf).
  SSL_CTX* leaf_context() const { return leaf_context_.get(); }
  const LeafCacheStats* leaf_stats() const { return leaves_ ? &leaves_->stats() : nullptr; }

  // The client context for TLS to origin `host`: verified against the system store plus
  // tls.upstream_ca_file, or not verified when a merchant rule naming the host says
  // `insecure_upstream: true`.
  std::shared_ptr<TlsClientContext> upstream(const policy::PolicyDefinition& policy,
                                             std::string_view host);
  // Whether a merchant rule naming `host` says insecure_upstream.
  static bool insecure_upstream(const policy::PolicyDefinition& policy, std::string_view host);

 private:
  policy::TlsSettings settings_;
  std::shared_ptr<const CertAuthority> ca_;
  std::unique_ptr<LeafCache> leaves_;
  std::shared_ptr<SSL_CTX> leaf_context_;
  std::shared_ptr<TlsClientContext> verified_;
  std::shared_ptr<TlsClientContext> insecure_;  // made on first use
};

}  // namespace flow::proxy
