#include "support/tls_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

namespace flow::testing {
namespace {

std::string openssl_error(std::string_view what) {
  std::string out(what);
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  return out;
}

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) throw IoError(openssl_error("X509V3_EXT_conf_nid"));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

class TlsStream final : public ByteStream {
 public:
  TlsStream(Fd fd, SslCtxPtr ctx) : fd_(std::move(fd)), ctx_(std::move(ctx)) {
    ignore_sigpipe();
    set_nonblocking(fd_.get());
    ssl_.reset(SSL_new(ctx_.get()));
    if (!ssl_) throw IoError(openssl_error("SSL_new"));
    SSL_set_fd(ssl_.get(), fd_.get());
  }

  SSL* ssl() { return ssl_.get(); }

  void handshake(bool server, Deadline deadline) {
    for (;;) {
      int rc = server ? SSL_accept(ssl_.get()) : SSL_connect(ssl_.get());
      if (rc == 1) return;
      if (!wait_for_retry(rc, deadline)) {
        throw IoError(openssl_error(server ? "TLS accept failed" : "TLS connect failed"));
      }
    }
  }

  std::size_t read_some(char* buf, std::size_t n, Deadline deadline) override {
    for (;;) {
      std::size_t got = 0;
      int rc = SSL_read_ex(ssl_.get(), buf, n, &got);
      if (rc == 1) return got;
      int err = SSL_get_error(ssl_.get(), rc);
      if (err == SSL_ERROR_ZERO_RETURN) return 0;
      // A peer that closes TCP without close_notify: treat as end of stream (like plain TCP).
      if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_SSL) {
        ERR_clear_error();
        if (errno == ECONNRESET) throw ConnectionReset("TLS connection reset");
        return 0;
      }
      if (!wait_for_retry(rc, deadline)) throw TimeoutError("timed out reading TLS");
    }
  }

  void write_all(std::string_view data, Deadline deadline) override {
    while (!data.empty()) {
      std::size_t put = 0;
      int rc = SSL_write_ex(ssl_.get(), data.data(), data.size(), &put);
      if (rc == 1) {
        data.remove_prefix(put);
        continue;
      }
      if (!wait_for_retry(rc, deadline)) throw IoError(openssl_error("TLS write failed"));
    }
  }

  void shutdown_write() override { SSL_shutdown(ssl_.get()); }
  void abort() override { ::shutdown(fd_.get(), SHUT_RDWR); }

 private:
  // Waits for the socket when OpenSSL asks to retry. False for a real failure.
  bool wait_for_retry(int rc, Deadline deadline) {
    int err = SSL_get_error(ssl_.get(), rc);
    short events = 0;
    if (err == SSL_ERROR_WANT_READ) events = POLLIN;
    if (err == SSL_ERROR_WANT_WRITE) events = POLLOUT;
    if (events == 0) return false;
    if (!wait_for_fd(fd_.get(), events, deadline)) throw TimeoutError("timed out in TLS");
    return true;
  }

  Fd fd_;
  SslCtxPtr ctx_;
  SslPtr ssl_;
};

}  // namespace

TlsIdentity::TlsIdentity() {
  key_ = EVP_EC_gen("P-256");
  cert_ = X509_new();
  if (key_ == nullptr || cert_ == nullptr) throw IoError(openssl_error("key generation"));
  static std::atomic<long> serial{1};
  X509_set_version(cert_, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert_), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert_), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert_), 24 * 3600);
  X509_set_pubkey(cert_, key_);
  X509_NAME* name = X509_get_subject_name(cert_);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert_, name);
  add_extension(cert_, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  add_extension(cert_, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert_, NID_ext_key_usage, "serverAuth");
  if (X509_sign(cert_, key_, EVP_sha256()) == 0) throw IoError(openssl_error("X509_sign"));
}

TlsIdentity::~TlsIdentity() {
  X509_free(cert_);
  EVP_PKEY_free(key_);
}

namespace {

// `path` created (or truncated) with `mode`, filled by `fill`.
void write_pem(const std::string& path, mode_t mode, const std::function<bool(FILE*)>& fill) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw IoError("cannot write " + path + ": " + std::strerror(errno));
  FILE* out = ::fdopen(fd, "w");
  if (out == nullptr) {
    ::close(fd);
    throw IoError("cannot write " + path);
  }
  const bool filled = fill(out);
  if (std::fclose(out) != 0 || !filled) throw IoError(openssl_error("cannot write " + path));
}

}  // namespace

void write_pem_files(const TlsIdentity& identity, const std::string& cert_file,
                     const std::string& key_file) {
  write_pem(cert_file, 0644,
            [&](FILE* out) { return PEM_write_X509(out, identity.certificate()) == 1; });
  write_pem(key_file, 0600, [&](FILE* out) {
    return PEM_write_PrivateKey(out, identity.key(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  });
}

std::unique_ptr<ByteStream> accept_tls(Fd fd, const TlsIdentity& identity, Deadline deadline) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) throw IoError(openssl_error("SSL_CTX_new"));
  if (SSL_CTX_use_certificate(ctx.get(), identity.certificate()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), identity.key()) != 1) {
    throw IoError(openssl_error("loading the test certificate"));
  }
  auto stream = std::make_unique<TlsStream>(std::move(fd), std::move(ctx));
  stream->handshake(true, deadline);
  return stream;
}

namespace {

// The client side of a handshake in `ctx` (whose store holds what is trusted): SNI and a DNS
// name check for a host name; for an IP literal no SNI (RFC 6066) and an IP address check.
std::unique_ptr<ByteStream> handshake_as_client(Fd fd, SslCtxPtr ctx, std::string_view host,
                                                Deadline deadline) {
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  auto stream = std::make_unique<TlsStream>(std::move(fd), std::move(ctx));
  std::string host_name(host);
  unsigned char ip[16];
  const bool is_ip = inet_pton(AF_INET, host_name.c_str(), ip) == 1 ||
                     inet_pton(AF_INET6, host_name.c_str(), ip) == 1;
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(stream->ssl()), host_name.c_str());
  } else {
    // SSL_set_tlsext_host_name() is a macro with a C-style cast; this is its expansion.
    SSL_ctrl(stream->ssl(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             host_name.data());
    SSL_set1_host(stream->ssl(), host_name.c_str());
  }
  stream->handshake(false, deadline);
  if (SSL_get_verify_result(stream->ssl()) != X509_V_OK) {
    throw IoError("TLS peer certificate did not verify");
  }
  return stream;
}

}  // namespace

std::unique_ptr<ByteStream> connect_tls(Fd fd, const TlsIdentity& trusted, std::string_view host,
                                        Deadline deadline) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) throw IoError(openssl_error("SSL_CTX_new"));
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), trusted.certificate());
  return handshake_as_client(std::move(fd), std::move(ctx), host, deadline);
}

std::unique_ptr<ByteStream> connect_tls(Fd fd, const std::string& ca_file, std::string_view host,
                                        Deadline deadline) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) throw IoError(openssl_error("SSL_CTX_new"));
  if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
    throw IoError(openssl_error("loading " + ca_file));
  }
  return handshake_as_client(std::move(fd), std::move(ctx), host, deadline);
}

}  // namespace flow::testing
