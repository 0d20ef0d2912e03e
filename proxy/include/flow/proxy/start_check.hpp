#pragma once
#include <uv.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "flow/policy/flow_config.hpp"
#include "flow/proxy/network/cert_authority.hpp"
#include "flow/proxy/paid/payment_services.hpp"
#include "flow/proxy/proxy_runner.hpp"

namespace flow::proxy {

// A configuration `402flow run` refuses to start with. The message is for the operator.
class StartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One admin API bearer token and the name audit records give whoever presents it.
struct AdminCredential {
  std::string name;
  std::string token;
};

// What the checks produced, so that `run` uses exactly what was checked.
struct StartPlan {
  sockaddr_storage listen{};
  payment::SignerRegistry signers;  // every wallet with its key loaded
  // The interception CA (tls.ca_dir), loaded; null when interception is off.
  std::shared_ptr<const CertAuthority> ca;
  // The admin API's bearer tokens (FLOW402_ADMIN_TOKEN or admin.token_file, and admin.tokens);
  // empty: none.
  std::vector<AdminCredential> admin_tokens;
  // The approval webhook's HMAC key (admin.webhook.secret_file); empty: no webhook.
  std::string webhook_secret;
};

// Everything `402flow run` checks before it writes anything (ledger, access log, port file) or
// binds its listener, and what `402flow check` runs too, so the two never disagree: the listen
// address and who may use it, every wallet's key, the folders of the ledger and the access log,
// and with `tls:` the CA (tls.ca_dir) and the extra upstream roots (tls.upstream_ca_file).
// The admin listener too: its address, and a token when it is not on loopback.
// Reads files and the environment, writes nothing. Throws StartError.
StartPlan check_start(const RunOptions& options);

// The listener's address, or why it is refused: not HOST:PORT, not an IP address, or not
// loopback without agent authentication (shared mode).
std::variant<sockaddr_storage, std::string> listen_sockaddr(const policy::ProxySettings& settings);
// The transparent listener's address (proxy.transparent), or why it is refused: as
// listen_sockaddr, and never with shared agent identity (redirected clients cannot authenticate).
std::variant<sockaddr_storage, std::string> transparent_sockaddr(
    const policy::ProxySettings& settings);

// The admin API's bearer tokens: FLOW402_ADMIN_TOKEN ("env") or the first line of
// admin.token_file ("admin", an owner-only file), then each of admin.tokens (files too); empty
// when none is set. Throws StartError when both of the first two are set, a file cannot be read,
// is readable by group or others, or holds no token, or two names share one token.
std::vector<AdminCredential> admin_tokens(const policy::AdminSettings& admin);

// The approval webhook's secret: the first line of admin.webhook.secret_file (an owner-only
// file), or empty without a webhook. Throws StartError when the URL is not http://HOST[:PORT]/...,
// or the file cannot be read, is readable by group or others, or is empty.
std::string webhook_secret(const policy::WebhookSettings& webhook);

}  // namespace flow::proxy
