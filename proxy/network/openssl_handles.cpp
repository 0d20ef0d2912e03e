#include "flow/proxy/network/openssl_handles.hpp"

#include <openssl/err.h>

namespace flow::proxy {

X509Ptr share(X509* cert) {
  if (cert != nullptr) X509_up_ref(cert);
  return X509Ptr(cert);
}

EvpPkeyPtr share(EVP_PKEY* key) {
  if (key != nullptr) EVP_PKEY_up_ref(key);
  return EvpPkeyPtr(key);
}

std::string openssl_error(std::string_view what) {
  std::string out(what);
  while (const unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  return out;
}

}  // namespace flow::proxy
