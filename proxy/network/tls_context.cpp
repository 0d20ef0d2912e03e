#include "flow/proxy/network/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "flow/proxy/network/openssl_handles.hpp"

namespace flow::proxy {

namespace {

std::runtime_error openssl_failure(const std::string& what) {
  return std::runtime_error(openssl_error(what));
}

SslCtxPtr new_context(const SSL_METHOD* method) {
  SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) throw openssl_failure("cannot create a TLS context");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  return ctx;
}

// The index under which an SSL_CTX points back at its TlsClientContext, and an SSL at its cache
// key: made once per process.
int context_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
int session_key_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

}  // namespace

TlsClientContext::TlsClientContext(SSL_CTX* ctx, Verification verification, std::size_t capacity)
    : ctx_(ctx), verification_(verification), capacity_(capacity) {}

std::shared_ptr<TlsClientContext> TlsClientContext::make(Verification verification,
                                                         const std::string& extra_ca_file,
                                                         std::size_t session_capacity) {
  SslCtxPtr ctx = new_context(TLS_client_method());
  if (verification == Verification::peer) {
    if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      throw openssl_failure("cannot load the system certificate store");
    }
    if (!extra_ca_file.empty() &&
        SSL_CTX_load_verify_locations(ctx.get(), extra_ca_file.c_str(), nullptr) != 1) {
      throw openssl_failure("cannot load the upstream CA file " + extra_ca_file);
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  // Sessions live in our cache only, keyed by origin (OpenSSL's own client cache has no key).
  SSL_CTX_set_session_cache_mode(ctx.get(),
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx.get(), &TlsClientContext::on_new_session);
  std::shared_ptr<TlsClientContext> out(
      new TlsClientContext(ctx.release(), verification, session_capacity));
  SSL_CTX_set_ex_data(out->ctx_, context_index(), out.get());
  return out;
}

TlsClientContext::~TlsClientContext() {
  for (Entry& entry : lru_) SSL_SESSION_free(entry.session);
  SSL_CTX_free(ctx_);
}

std::size_t TlsClientContext::cached_sessions() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

void TlsClientContext::prepare(SSL* ssl, const std::string* key) {
  SSL_set_ex_data(ssl, session_key_index(), const_cast<std::string*>(key));
  std::lock_guard lock(mutex_);
  const auto found = by_key_.find(*key);
  if (found == by_key_.end()) return;
  SSL_SESSION* session = found->second->session;
  SSL_set_session(ssl, session);  // takes its own reference
  // A TLS 1.3 ticket is for one connection (RFC 8446 C.4); the server issues fresh ones on the
  // resumed connection. A TLS 1.2 session stays usable.
  if (SSL_SESSION_get_protocol_version(session) == TLS1_3_VERSION) {
    SSL_SESSION_free(session);
    lru_.erase(found->second);
    by_key_.erase(found);
  }
}

int TlsClientContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self =
      static_cast<TlsClientContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
  const auto* key = static_cast<const std::string*>(SSL_get_ex_data(ssl, session_key_index()));
  if (self == nullptr || key == nullptr || SSL_SESSION_is_resumable(session) != 1) return 0;
  // A copy: OpenSSL marks the connection's own session unusable when that connection ends
  // without close_notify (as pooled upstream connections do), which must not spoil the cache.
  if (SSL_SESSION* copy = SSL_SESSION_dup(session); copy != nullptr) self->store(*key, copy);
  return 0;  // the connection keeps its reference
}

void TlsClientContext::store(const std::string& key, SSL_SESSION* session) {
  std::lock_guard lock(mutex_);
  if (const auto found = by_key_.find(key); found != by_key_.end()) {
    SSL_SESSION_free(found->second->session);
    lru_.erase(found->second);
    by_key_.erase(found);
  }
  lru_.push_front(Entry{key, session});
  by_key_[key] = lru_.begin();
  while (lru_.size() > capacity_) {
    SSL_SESSION_free(lru_.back().session);
    by_key_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

std::shared_ptr<TlsClientContext> make_client_context(const std::string& extra_ca_file) {
  return TlsClientContext::make(TlsClientContext::Verification::peer, extra_ca_file);
}

std::shared_ptr<TlsClientContext> make_insecure_client_context() {
  return TlsClientContext::make(TlsClientContext::Verification::none);
}

void select_http11_alpn(SSL_CTX* ctx) {
  SSL_CTX_set_alpn_select_cb(
      ctx,
      [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
         unsigned int inlen, void*) -> int {
        static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
        unsigned char* selected = nullptr;
        if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) !=
            OPENSSL_NPN_NEGOTIATED) {
          return SSL_TLSEXT_ERR_NOACK;  // no common protocol: go on without ALPN
        }
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
      },
      nullptr);
}

namespace {
std::shared_ptr<SSL_CTX> share(SslCtxPtr ctx) {
  return std::shared_ptr<SSL_CTX>(ctx.release(), OpenSslFree<SSL_CTX_free>{});
}
// OpenSSL's own words for a missing file are cryptic; this says which file and why.
void check_readable(const std::string& path, std::string_view what) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    throw std::runtime_error("cannot read the " + std::string(what) + " " + path + ": " +
                             std::strerror(errno));
  }
  std::fclose(file);
}

EvpPkeyPtr read_private_key(const std::string& path) {
  const BioPtr bio(BIO_new_file(path.c_str(), "rb"));
  EvpPkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) {
    throw openssl_failure("cannot load the TLS key " + path + " (expected a PEM private key)");
  }
  return key;
}

SslCtxPtr new_server_context() {
  SslCtxPtr ctx = new_context(TLS_server_method());
  select_http11_alpn(ctx.get());
  return ctx;
}
}  // namespace

std::shared_ptr<SSL_CTX> make_leaf_server_context() {
  return share(new_server_context());
}

std::shared_ptr<SSL_CTX> make_server_context(X509* cert, EVP_PKEY* key) {
  SslCtxPtr ctx = new_server_context();
  if (SSL_CTX_use_certificate(ctx.get(), cert) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), key) != 1 || SSL_CTX_check_private_key(ctx.get()) != 1) {
    throw openssl_failure("the TLS certificate and key do not go together");
  }
  return share(std::move(ctx));
}

std::shared_ptr<SSL_CTX> make_server_context_from_files(const std::string& cert_file,
                                                        const std::string& key_file) {
  check_readable(cert_file, "TLS certificate");
  check_readable(key_file, "TLS key");
  SslCtxPtr ctx = new_server_context();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
    throw openssl_failure("cannot load the TLS certificate " + cert_file +
                          " (expected PEM: the certificate, then its intermediates)");
  }
  const EvpPkeyPtr key = read_private_key(key_file);
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    throw openssl_failure("the TLS key " + key_file + " is not the key of the certificate " +
                          cert_file);
  }
  return share(std::move(ctx));
}

}  // namespace flow::proxy
