#pragma once
#include <openssl/types.h>

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

typedef struct ssl_session_st SSL_SESSION;  // as <openssl/ssl.h> declares it

namespace flow::proxy {

// The TLS client side for connections the proxy originates to upstreams: one SSL_CTX (TLS 1.2 or
// later) and a bounded cache of sessions by "host:port", so that a second connection to the same
// origin resumes instead of paying a full handshake. Shared by every TlsStream it creates (they
// hold a shared_ptr); the cache is locked, the rest is immutable after make().
class TlsClientContext {
 public:
  enum class Verification {
    peer,  // system store + the extra CA file; the host name is checked by each stream
    none,  // `insecure_upstream`: no certificate or host name check (tests only; loud in logs)
  };

  // Throws std::runtime_error (a start-up failure) when the extra CA file cannot be loaded.
  static std::shared_ptr<TlsClientContext> make(Verification verification,
                                                const std::string& extra_ca_file = {},
                                                std::size_t session_capacity = 256);
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  SSL_CTX* native() const { return ctx_; }
  bool verifies() const { return verification_ == Verification::peer; }
  std::size_t cached_sessions() const;

  // For TlsStream: offers a cached session for `key` to `ssl` and records `key` (which must
  // outlive `ssl`) so that the sessions the server issues on this connection are stored under it.
  void prepare(SSL* ssl, const std::string* key);

 private:
  TlsClientContext(SSL_CTX* ctx, Verification verification, std::size_t capacity);
  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  void store(const std::string& key, SSL_SESSION* session);

  struct Entry {
    std::string key;
    SSL_SESSION* session;
  };
  SSL_CTX* ctx_;
  Verification verification_;
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // most recently stored first
  std::unordered_map<std::string, std::list<Entry>::iterator> by_key_;
};

// Verified upstream TLS: the system default verify paths plus `extra_ca_file` when not empty.
std::shared_ptr<TlsClientContext> make_client_context(const std::string& extra_ca_file);
// Unverified upstream TLS, for a merchant's `insecure_upstream: true`.
std::shared_ptr<TlsClientContext> make_insecure_client_context();

// Makes a server context select "http/1.1" when the client offers it in ALPN (and no protocol
// otherwise: HTTP/2 is not spoken). For server contexts built elsewhere (the leaf cache).
void select_http11_alpn(SSL_CTX* ctx);

// A server context (TLS 1.2 or later, ALPN http/1.1) with no certificate of its own: each
// handshake is given its leaf (TlsServerRole::leaf), as interception does.
std::shared_ptr<SSL_CTX> make_leaf_server_context();
// A server context (TLS 1.2 or later, ALPN http/1.1) for one certificate and its key (the
// context takes its own references). Throws std::runtime_error when they do not match.
std::shared_ptr<SSL_CTX> make_server_context(X509* cert, EVP_PKEY* key);
// The same from PEM files: `cert_file` holds the certificate followed by its intermediates. The
// std::runtime_error names the file at fault: unreadable, not PEM, or a key not the certificate's.
std::shared_ptr<SSL_CTX> make_server_context_from_files(const std::string& cert_file,
                                                        const std::string& key_file);

}  // namespace flow::proxy
