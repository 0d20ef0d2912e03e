// TLS for CONNECT tests: a self-signed certificate generated at test time (OpenSSL C API) and
// ByteStreams for both ends of a TLS session over a TCP socket.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "support/socket_io.hpp"

typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;

namespace flow::testing {

// An EC P-256 key and a self-signed certificate for DNS:localhost and IP:127.0.0.1.
class TlsIdentity {
 public:
  TlsIdentity();
  ~TlsIdentity();
  TlsIdentity(const TlsIdentity&) = delete;
  TlsIdentity& operator=(const TlsIdentity&) = delete;

  X509* certificate() const { return cert_; }
  EVP_PKEY* key() const { return key_; }

 private:
  EVP_PKEY* key_ = nullptr;
  X509* cert_ = nullptr;
};

// Writes the certificate and its key as PEM files (the key 0600), for a server that loads files
// and for clients told to trust the certificate (`curl --cacert`); throws IoError.
void write_pem_files(const TlsIdentity& identity, const std::string& cert_file,
                     const std::string& key_file);

// Server side of a handshake on an accepted socket; throws IoError when it fails.
std::unique_ptr<ByteStream> accept_tls(Fd fd, const TlsIdentity& identity, Deadline deadline);

// Client side: trusts only `trusted`'s certificate and checks it matches `host` (SNI + name check).
std::unique_ptr<ByteStream> connect_tls(Fd fd, const TlsIdentity& trusted, std::string_view host,
                                        Deadline deadline);
// The same, trusting the certificates of a PEM file (a CA: 402flow's, say). `host` may be an IP
// literal (then checked against the IP SANs, and no SNI is sent).
std::unique_ptr<ByteStream> connect_tls(Fd fd, const std::string& ca_file, std::string_view host,
                                        Deadline deadline);

}  // namespace flow::testing
