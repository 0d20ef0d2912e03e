#include "flow/proxy/start_check.hpp"

#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "flow/payment/key_file.hpp"
#include "flow/proxy/admin/approval_webhook.hpp"
#include "flow/proxy/http/target.hpp"
#include "flow/proxy/network/cert_authority.hpp"
#include "flow/proxy/network/net_address.hpp"

namespace flow::proxy {
namespace {

namespace fs = std::filesystem;

sockaddr_storage checked_listen(const policy::ProxySettings& settings) {
  auto resolved = listen_sockaddr(settings);
  if (auto* error = std::get_if<std::string>(&resolved)) throw StartError(*error);
  return std::get<sockaddr_storage>(resolved);
}

// A file the proxy will create or append to: its folder must exist and be writable, and the
// file itself, when it exists, writable. `what` names the setting ("ledger.path").
void check_writable_file(const std::string& path, const std::string& what) {
  const fs::path file(path);
  const fs::path folder = file.has_parent_path() ? file.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    throw StartError(what + " " + path + ": the folder " + folder.string() + " does not exist");
  }
  if (::access(folder.c_str(), W_OK | X_OK) != 0) {
    throw StartError(what + " " + path + ": the folder " + folder.string() +
                     " is not writable: " + std::strerror(errno));
  }
  if (fs::exists(file, ec) && ::access(file.c_str(), R_OK | W_OK) != 0) {
    throw StartError(what + " " + path + " is not writable: " + std::strerror(errno));
  }
}

payment::SignerRegistry checked_signers(const std::vector<policy::WalletSpec>& specs) {
  try {
    return load_signers(specs);
  } catch (const std::runtime_error& e) {
    throw StartError(e.what());
  }
}

}  // namespace

namespace {

// `text` (the setting `key`) as a loopback-or-authenticated listening address.
std::variant<sockaddr_storage, std::string> listener_sockaddr(const policy::ProxySettings& settings,
                                                              const std::string& text,
                                                              const std::string& key) {
  const auto target = parse_listen_address(text);
  if (!target) {
    return "invalid " + key + " address '" + text +
           "': expected HOST:PORT, e.g. 127.0.0.1:8402 or [::1]:8402";
  }
  auto addr = ip_literal(target->host == "localhost" ? "127.0.0.1" : target->host, target->port);
  if (!addr) {
    return "invalid " + key + " address '" + text +
           "': the host must be an IP address (or localhost)";
  }
  if (!is_loopback(reinterpret_cast<sockaddr*>(&*addr)) &&
      settings.identity != policy::AgentIdentity::shared) {
    // Agent authentication (shared mode) is what makes a non-loopback listener safe; without
    // it, such a listener would be an open proxy.
    return "refusing to listen on " + text +
           ": a non-loopback listener needs agent authentication (proxy.identity: shared, with "
           "agent token hashes); listen on 127.0.0.1 or ::1 instead";
  }
  return *addr;
}

}  // namespace

std::variant<sockaddr_storage, std::string> listen_sockaddr(const policy::ProxySettings& settings) {
  return listener_sockaddr(settings, settings.listen, "listen");
}

std::variant<sockaddr_storage, std::string> transparent_sockaddr(
    const policy::ProxySettings& settings) {
  if (settings.identity == policy::AgentIdentity::shared) {
    // Redirected clients never address the proxy, so they never send Proxy-Authorization.
    return "proxy.transparent (--transparent) needs proxy.identity: sidecar: redirected clients "
           "send no Proxy-Authorization, so shared mode could not tell which agent asks";
  }
  // In a pod, iptables REDIRECT in the nat OUTPUT chain delivers to 127.0.0.1 (or ::1): a
  // loopback listener is all transparent mode needs, and anything wider would be an open proxy.
  return listener_sockaddr(settings, settings.transparent, "transparent");
}

namespace {

// A PEM file holding at least one certificate (extra upstream roots).
void check_certificate_file(const std::string& path, const std::string& what) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  X509Ptr first(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  if (!bio) throw StartError(what + ": " + path + ": " + std::strerror(errno));
  if (!first) throw StartError(what + ": " + path + ": no PEM certificate in the file");
}

// tls: the CA loads (key owner-only and the certificate's, a CA within its validity), and the
// extra upstream roots are certificates. Null when interception is off.
std::shared_ptr<const CertAuthority> checked_ca(const policy::TlsSettings& tls) {
  if (!tls.upstream_ca_file.empty()) {
    check_certificate_file(tls.upstream_ca_file, "tls.upstream_ca_file");
  }
  if (!tls.interception_on()) return nullptr;
  try {
    return std::make_shared<const CertAuthority>(CertAuthority::load(tls.ca_dir));
  } catch (const CaError& e) {
    throw StartError(std::string("tls.ca_dir: ") + e.what());
  }
}

}  // namespace

namespace {

constexpr std::size_t kMaxTokenBytes = 4096;

// A token is printable ASCII without spaces: what fits in "Authorization: Bearer <token>".
bool valid_token(std::string_view token) {
  if (token.empty()) return false;
  for (char c : token) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  return text;
}

// The admin listener's address (or nothing when admin.listen is off), refused when it is not
// loopback and no token guards it.
void check_admin(const policy::AdminSettings& admin, const std::vector<AdminCredential>& tokens) {
  if (!admin.enabled()) return;
  const auto target = parse_listen_address(admin.listen);
  if (!target) {
    throw StartError("invalid admin.listen address '" + admin.listen +
                     "': expected HOST:PORT, e.g. 127.0.0.1:9402, or off");
  }
  auto addr = ip_literal(target->host == "localhost" ? "127.0.0.1" : target->host, target->port);
  if (!addr) {
    throw StartError("invalid admin.listen address '" + admin.listen +
                     "': the host must be an IP address (or localhost)");
  }
  if (tokens.empty() && !is_loopback(reinterpret_cast<sockaddr*>(&*addr))) {
    throw StartError("refusing to serve the admin API on " + admin.listen +
                     " without a token: set admin.token_file or FLOW402_ADMIN_TOKEN, or listen "
                     "on 127.0.0.1 or ::1");
  }
}

}  // namespace

namespace {

// The first line of an owner-only token file.
std::string token_from_file(const std::string& path, const char* what) {
  payment::SecretFile file = payment::read_secret_file(path, kMaxTokenBytes, what);
  if (!file.error.empty()) throw StartError(file.error);
  std::string token(trimmed(file.text));
  OPENSSL_cleanse(file.text.data(), file.text.size());
  if (!valid_token(token)) {
    throw StartError(std::string(what) + " " + path +
                     ": expected one line holding the token (printable, without spaces)");
  }
  return token;
}

// FLOW402_ADMIN_TOKEN or admin.token_file; empty when neither.
std::string admin_token(const policy::AdminSettings& admin) {
  const char* env = std::getenv("FLOW402_ADMIN_TOKEN");
  const bool from_env = env != nullptr && *env != '\0';
  if (from_env && !admin.token_file.empty()) {
    throw StartError(
        "the admin token is given twice (FLOW402_ADMIN_TOKEN and admin.token_file): keep one");
  }
  if (from_env) {
    if (!valid_token(env)) {
      throw StartError("FLOW402_ADMIN_TOKEN must be printable characters without spaces");
    }
    return env;
  }
  if (admin.token_file.empty()) return {};
  return token_from_file(admin.token_file, "admin.token_file");
}

}  // namespace

std::vector<AdminCredential> admin_tokens(const policy::AdminSettings& admin) {
  std::vector<AdminCredential> tokens;
  if (std::string first = admin_token(admin); !first.empty()) {
    const char* env = std::getenv("FLOW402_ADMIN_TOKEN");
    tokens.push_back({env != nullptr && *env != '\0' ? "env" : "admin", std::move(first)});
  }
  for (const auto& named : admin.tokens) {
    std::string token = token_from_file(named.file, "admin.tokens file");
    for (const auto& other : tokens) {
      if (other.token == token) {
        throw StartError("admin.tokens: '" + named.name + "' and '" + other.name +
                         "' have the same token: each name needs its own");
      }
    }
    tokens.push_back({named.name, std::move(token)});
  }
  return tokens;
}

std::string webhook_secret(const policy::WebhookSettings& webhook) {
  if (!webhook.enabled()) return {};
  if (const std::string problem = webhook_url_problem(webhook.url); !problem.empty()) {
    throw StartError(problem + ": " + webhook.url);
  }
  payment::SecretFile file =
      payment::read_secret_file(webhook.secret_file, kMaxTokenBytes, "admin.webhook.secret_file");
  if (!file.error.empty()) throw StartError(file.error);
  const std::string_view text = file.text;
  std::string secret(trimmed(text.substr(0, text.find('\n'))));  // the first line
  OPENSSL_cleanse(file.text.data(), file.text.size());
  if (secret.empty()) {
    throw StartError("admin.webhook.secret_file " + webhook.secret_file + ": the file is empty");
  }
  return secret;
}

StartPlan check_start(const RunOptions& options) {
  StartPlan plan;
  plan.listen = checked_listen(options.settings);
  if (!options.settings.transparent.empty()) {
    auto transparent = transparent_sockaddr(options.settings);
    if (auto* error = std::get_if<std::string>(&transparent)) throw StartError(*error);
  }
  plan.signers = checked_signers(options.wallets);
  // The ledger is opened only for the paid path, i.e. with a wallet.
  if (!plan.signers.empty()) check_writable_file(options.ledger.path, "ledger.path");
  if (options.settings.access_log != "-") {
    check_writable_file(options.settings.access_log, "access_log");
  }
  plan.ca = checked_ca(options.tls);
  if (options.admin.enabled()) {
    plan.admin_tokens = admin_tokens(options.admin);
    check_admin(options.admin, plan.admin_tokens);
  }
  plan.webhook_secret = webhook_secret(options.admin.webhook);
  return plan;
}

}  // namespace flow::proxy
