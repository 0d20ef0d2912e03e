#pragma once
#include <string>

namespace flow::proxy {

// The demo's HTTPS merchant identity: a CA of its own ("the merchant's CA", which the proxy
// trusts through tls.upstream_ca_file, as an operator would for a private merchant) and a
// certificate for 127.0.0.1 it signed. Empty `error` on success.
struct DemoMerchantTls {
  std::string ca_file;    // DIR/merchant-ca/ca.pem
  std::string cert_file;  // DIR/merchant-tls/cert.pem
  std::string key_file;   // DIR/merchant-tls/key.pem (0600)
  std::string error;
};
DemoMerchantTls make_demo_merchant_tls(const std::string& dir);

// 402flow's own interception CA in DIR/ca (`402flow ca init`); returns DIR/ca/ca.pem, or empty
// with `error` set.
std::string make_demo_interception_ca(const std::string& dir, std::string& error);

// What an HTTPS client behind the proxy does: CONNECT `authority` through the proxy, TLS
// trusting only `ca_file` (402flow's CA) and checking the name, `request` inside, the answer.
// On failure the answer is empty and `error` says why.
std::string via_intercepted_tunnel(int proxy_port, const std::string& authority,
                                   const std::string& ca_file, const std::string& request,
                                   std::string& error);

}  // namespace flow::proxy
