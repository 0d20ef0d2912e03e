// The demo's HTTPS step: a merchant over TLS with a certificate from its own CA, 402flow's
// interception CA, and a client that trusts only 402flow's CA (as an agent with SSL_CERT_FILE
// or NODE_EXTRA_CA_CERTS set would).
#include "demo/demo_https.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <variant>

#include "demo/demo_wire.hpp"
#include "flow/proxy/network/cert_authority.hpp"
#include "flow/proxy/network/openssl_handles.hpp"

namespace flow::proxy {
namespace {

bool write_file(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  return ::close(fd) == 0 && ok;
}

std::string private_key_pem(EVP_PKEY* key) {
  const BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return {};
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// TLS on `fd` trusting only `ca_file`, the peer checked to be the IP literal `host`.
SslPtr start_tls(SSL_CTX* ctx, int fd, const std::string& host, std::string& error) {
  SslPtr ssl(SSL_new(ctx));
  SSL_set_fd(ssl.get(), fd);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), host.c_str());
  if (SSL_connect(ssl.get()) != 1) {
    error = openssl_error("TLS through the tunnel failed");
    return nullptr;
  }
  return ssl;
}

}  // namespace

DemoMerchantTls make_demo_merchant_tls(const std::string& dir) {
  DemoMerchantTls out;
  try {
    const CertAuthority ca = CertAuthority::create(dir + "/merchant-ca", false);
    auto leaf = ca.mint_leaf("127.0.0.1");
    if (auto* error = std::get_if<LeafError>(&leaf)) {
      out.error = "minting the merchant's certificate: " + std::string(leaf_error_name(*error));
      return out;
    }
    const std::string tls_dir = dir + "/merchant-tls";
    ::mkdir(tls_dir.c_str(), 0700);
    out.ca_file = dir + "/merchant-ca/ca.pem";
    out.cert_file = tls_dir + "/cert.pem";
    out.key_file = tls_dir + "/key.pem";
    const std::string cert = certificate_pem(std::get<X509Ptr>(leaf).get()) + ca.certificate_pem();
    if (!write_file(out.cert_file, cert, 0644) ||
        !write_file(out.key_file, private_key_pem(ca.leaf_key()), 0600)) {
      out.error = "writing the merchant's certificate into " + tls_dir;
    }
  } catch (const CaError& e) {
    out.error = e.what();
  }
  return out;
}

std::string make_demo_interception_ca(const std::string& dir, std::string& error) {
  try {
    (void)CertAuthority::create(dir + "/ca", false);
    return dir + "/ca/ca.pem";
  } catch (const CaError& e) {
    error = e.what();
    return {};
  }
}

std::string via_intercepted_tunnel(int proxy_port, const std::string& authority,
                                   const std::string& ca_file, const std::string& request,
                                   std::string& error) {
  const int fd = connect_proxy(proxy_port);
  if (fd < 0) {
    error = "cannot connect to the proxy";
    return {};
  }
  std::string answer;
  const std::string connect =
      "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
  const ReadSome plain = [fd](char* buf, std::size_t n) { return long{::recv(fd, buf, n, 0)}; };
  const SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (::send(fd, connect.data(), connect.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(connect.size())) {
    error = "cannot send CONNECT";
  } else if (const std::string established = read_head(plain);
             established.rfind("HTTP/1.1 200", 0) != 0) {
    error = "CONNECT was answered: " + established.substr(0, established.find("\r\n"));
  } else if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
    error = openssl_error("loading " + ca_file);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    const std::string host = authority.substr(0, authority.rfind(':'));
    if (SslPtr ssl = start_tls(ctx.get(), fd, host, error)) {
      if (SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) > 0) {
        answer = read_answer([&ssl](char* buf, std::size_t n) {
          return long{SSL_read(ssl.get(), buf, static_cast<int>(n))};
        });
      }
      SSL_shutdown(ssl.get());
    }
  }
  ::close(fd);
  return answer;
}

}  // namespace flow::proxy
