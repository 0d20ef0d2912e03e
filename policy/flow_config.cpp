#include "flow/policy/flow_config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>
#include <sstream>

#include "flow/payment/signer_registry.hpp"
#include "policy_schema.hpp"
#include "yaml_reader.hpp"

namespace flow::policy {
namespace {

using Reader = YamlReader;

constexpr const char* kMissingVersion =
    "the file is empty or has no `version: 1` line; every flow.yaml starts with `version: 1`";

void read_timeouts(const Reader& r, const YAML::Node& node, ProxyTimeouts& t) {
  r.expect_map(node, "proxy.timeouts");
  r.only_keys(
      node, "proxy.timeouts",
      {"header", "idle", "connect", "upstream", "tunnel_idle", "drain", "pool_idle", "challenge"});
  const std::pair<const char*, milliseconds*> fields[] = {
      {"header", &t.header},           {"idle", &t.idle},
      {"connect", &t.connect},         {"upstream", &t.upstream},
      {"tunnel_idle", &t.tunnel_idle}, {"drain", &t.drain},
      {"pool_idle", &t.pool_idle},     {"challenge", &t.challenge}};
  for (auto [key, field] : fields) {
    if (node[key]) *field = r.duration(node[key], std::string("proxy.timeouts.") + key);
  }
}

// A path in flow.yaml is relative to the file's own directory, so the file means the same thing
// whatever directory the proxy is started from.
std::string resolve_path(const std::string& path, const std::string& source_name) {
  if (path.empty() || path.front() == '/') return path;
  const auto slash = source_name.rfind('/');
  if (slash == std::string::npos) return path;
  return source_name.substr(0, slash + 1) + path;
}

void read_proxy(const Reader& r, const YAML::Node& node, ProxySettings& p,
                const std::string& source_name) {
  r.expect_map(node, "proxy");
  r.only_keys(node, "proxy",
              {"listen", "transparent", "connect_ports", "max_connections", "max_header_bytes",
               "write_high_water", "pool_max_idle_per_origin", "timeouts", "access_log",
               "log_level", "identity", "agent", "replay_limit", "challenge_max_bytes"});
  if (node["listen"]) p.listen = r.string(node["listen"], "proxy.listen");
  if (node["transparent"]) p.transparent = r.string(node["transparent"], "proxy.transparent");
  if (const auto ports = node["connect_ports"]) {
    if (!ports.IsSequence()) r.fail(ports, "proxy.connect_ports must be a list of port numbers");
    p.connect_ports.clear();
    for (const auto& port : ports) {
      p.connect_ports.push_back(
          static_cast<std::uint16_t>(r.integer(port, "proxy.connect_ports entry", 1, 65535)));
    }
  }
  constexpr std::uint64_t u32max = std::numeric_limits<std::uint32_t>::max();
  if (node["max_connections"]) {
    p.max_connections = static_cast<std::uint32_t>(
        r.integer(node["max_connections"], "proxy.max_connections", 1, 1'000'000));
  }
  if (node["max_header_bytes"]) {
    p.max_header_bytes = static_cast<std::uint32_t>(
        r.integer(node["max_header_bytes"], "proxy.max_header_bytes", 1024, 1024 * 1024));
  }
  if (node["write_high_water"]) {
    p.write_high_water = static_cast<std::uint32_t>(
        r.integer(node["write_high_water"], "proxy.write_high_water", 4096, u32max));
  }
  if (node["pool_max_idle_per_origin"]) {
    p.pool_max_idle_per_origin = static_cast<std::uint32_t>(
        r.integer(node["pool_max_idle_per_origin"], "proxy.pool_max_idle_per_origin", 0, 100'000));
  }
  if (node["replay_limit"]) {
    p.replay_limit = static_cast<std::uint32_t>(
        r.integer(node["replay_limit"], "proxy.replay_limit", 0, 1024LL * 1024 * 1024));
  }
  if (node["challenge_max_bytes"]) {
    p.challenge_max_bytes = static_cast<std::uint32_t>(r.integer(
        node["challenge_max_bytes"], "proxy.challenge_max_bytes", 1024, 16LL * 1024 * 1024));
  }
  if (node["identity"]) {
    const std::string mode = r.string(node["identity"], "proxy.identity");
    if (mode == "sidecar") {
      p.identity = AgentIdentity::sidecar;
    } else if (mode == "shared") {
      p.identity = AgentIdentity::shared;
    } else {
      r.fail(node["identity"], "proxy.identity must be sidecar or shared");
    }
  }
  if (node["agent"]) p.agent = r.string(node["agent"], "proxy.agent");
  if (node["timeouts"]) read_timeouts(r, node["timeouts"], p.timeouts);
  if (node["access_log"]) {
    p.access_log = r.string(node["access_log"], "proxy.access_log");
    if (p.access_log != "-") p.access_log = resolve_path(p.access_log, source_name);
  }
  if (node["log_level"]) {
    p.log_level = r.string(node["log_level"], "proxy.log_level");
    if (!is_valid_log_level(p.log_level)) {
      r.fail(node["log_level"], "proxy.log_level must be one of error, warn, info, debug");
    }
  }
}

void read_ledger(const Reader& r, const YAML::Node& node, LedgerSettings& l,
                 const std::string& source_name) {
  r.expect_map(node, "ledger");
  r.only_keys(node, "ledger", {"path", "url_query"});
  if (node["path"]) l.path = resolve_path(r.string(node["path"], "ledger.path"), source_name);
  if (node["url_query"]) {
    l.url_query = r.string(node["url_query"], "ledger.url_query");
    if (l.url_query != "keep" && l.url_query != "hash" && l.url_query != "drop") {
      r.fail(node["url_query"], "ledger.url_query must be keep, hash or drop");
    }
  }
}

// tls.intercept.hosts / .exclude: host patterns, none twice.
std::vector<std::string> read_host_patterns(const Reader& r, const Field& f) {
  std::vector<std::string> patterns;
  r.list(f, [&](const YAML::Node& item, std::size_t i) {
    Field entry{f.key, item, f.where + "[" + std::to_string(i) + "]"};
    std::string host = read_host_pattern(r, entry);
    if (std::find(patterns.begin(), patterns.end(), host) != patterns.end()) {
      r.fail(item, f.where + " lists '" + host + "' twice");
    }
    patterns.push_back(std::move(host));
  });
  return patterns;
}

void read_tls(const Reader& r, const YAML::Node& node, TlsSettings& t,
              const std::string& source_name) {
  r.expect_map(node, "tls");
  r.only_keys(node, "tls", {"ca_dir", "upstream_ca_file", "intercept"});
  if (const Field f = r.field(node, "tls", "ca_dir")) {
    t.ca_dir = resolve_path(r.string(f), source_name);
  }
  if (const Field f = r.field(node, "tls", "upstream_ca_file")) {
    t.upstream_ca_file = resolve_path(r.string(f), source_name);
  }
  if (const Field f = r.field(node, "tls", "intercept")) {
    r.expect_map(f);
    r.only_keys(f.value, f.where, {"hosts", "exclude"});
    if (const Field h = r.field(f.value, f.where, "hosts"))
      t.intercept_hosts = read_host_patterns(r, h);
    if (const Field x = r.field(f.value, f.where, "exclude"))
      t.exclude_hosts = read_host_patterns(r, x);
  }
}

// admin.webhook: {url: http://..., secret_file: FILE}, both required.
void read_webhook(const Reader& r, const Field& f, WebhookSettings& w,
                  const std::string& source_name) {
  r.expect_map(f);
  r.only_keys(f.value, f.where, {"url", "secret_file"});
  const Field url = r.field(f.value, f.where, "url");
  const Field secret = r.field(f.value, f.where, "secret_file");
  if (!url) r.fail(f.value, "admin.webhook needs url (http://HOST:PORT/PATH)");
  if (!secret) r.fail(f.value, "admin.webhook needs secret_file (the HMAC key's file)");
  w.url = r.string(url);
  if (!w.url.starts_with("http://")) {
    r.fail(url.value, "admin.webhook.url must be an http:// URL");
  }
  w.secret_file = resolve_path(r.string(secret), source_name);
}

// admin.tokens: named bearer tokens. A name is what the audit chain records as who acted.
void read_admin_tokens(const Reader& r, const Field& f, AdminSettings& a,
                       const std::string& source_name) {
  r.list(f, [&](const YAML::Node& item, std::size_t i) {
    const std::string where = "admin.tokens[" + std::to_string(i) + "]";
    r.expect_map(item, where);
    r.only_keys(item, where, {"name", "file"});
    AdminSettings::NamedToken token;
    token.name = r.string(r.required(item, where, "name"));
    token.file = resolve_path(r.string(r.required(item, where, "file")), source_name);
    const bool printable = std::all_of(token.name.begin(), token.name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
    if (token.name.empty() || token.name.size() > 64 || !printable) {
      r.fail(item["name"], where + ".name must be 1 to 64 letters, digits, '-', '_' or '.'");
    }
    if (token.name == "admin" || token.name == "env") {
      r.fail(item["name"], where + ".name '" + token.name +
                               "' is reserved (admin.token_file is 'admin', FLOW402_ADMIN_TOKEN "
                               "is 'env')");
    }
    for (const auto& other : a.tokens) {
      if (other.name == token.name)
        r.fail(item["name"], where + ".name '" + token.name + "' is given twice");
    }
    a.tokens.push_back(std::move(token));
  });
}

void read_admin(const Reader& r, const YAML::Node& node, AdminSettings& a,
                const std::string& source_name) {
  r.expect_map(node, "admin");
  r.only_keys(node, "admin", {"listen", "token_file", "webhook", "tokens"});
  if (const Field f = r.field(node, "admin", "listen")) {
    a.listen = r.string(f);
    if (a.listen.empty()) r.fail(f.value, "admin.listen must be HOST:PORT, or off");
  }
  if (const Field f = r.field(node, "admin", "token_file")) {
    a.token_file = resolve_path(r.string(f), source_name);
  }
  if (const Field f = r.field(node, "admin", "webhook")) read_webhook(r, f, a.webhook, source_name);
  if (const Field f = r.field(node, "admin", "tokens")) read_admin_tokens(r, f, a, source_name);
}

bool valid_wallet_network(std::string_view n) {
  if (n == "eip155:*") return true;
  if (n.substr(0, 7) != "eip155:" || n.size() == 7 || n.size() > 7 + 20) return false;
  for (char c : n.substr(7)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::vector<WalletSpec> read_wallets(const Reader& r, const YAML::Node& node,
                                     const std::string& source_name) {
  if (!node.IsSequence()) r.fail(node, "wallets must be a list");
  std::vector<WalletSpec> wallets;
  for (const auto& w : node) {
    r.expect_map(w, "a wallets entry");
    r.only_keys(w, "a wallets entry", {"name", "networks", "key_file", "key_env"});
    WalletSpec spec;
    if (!w["name"]) r.fail(w, "a wallets entry needs a name");
    spec.name = r.string(w["name"], "wallets[].name");
    for (const auto& other : wallets) {
      if (other.name == spec.name) r.fail(w["name"], "wallet '" + spec.name + "' is defined twice");
    }
    if (const auto nets = w["networks"]) {
      if (!nets.IsSequence()) r.fail(nets, "wallets[].networks must be a list of networks");
      for (const auto& n : nets) {
        std::string net = r.string(n, "wallets[].networks entry");
        if (!valid_wallet_network(net)) {
          r.fail(n, "wallet networks are EVM chains: eip155:<chain id> or eip155:*, not '" + net +
                        "'");
        }
        spec.networks.push_back(std::move(net));
      }
    } else {
      spec.networks.push_back("eip155:*");
    }
    if (w["key_file"]) {
      spec.key_file = resolve_path(r.string(w["key_file"], "wallets[].key_file"), source_name);
    }
    if (w["key_env"]) spec.key_env = r.string(w["key_env"], "wallets[].key_env");
    if (spec.key_file.empty() == spec.key_env.empty()) {
      r.fail(w, "wallet '" + spec.name + "' needs exactly one of key_file and key_env");
    }
    wallets.push_back(std::move(spec));
  }
  return wallets;
}

}  // namespace

std::string_view agent_identity_name(AgentIdentity identity) {
  return identity == AgentIdentity::shared ? "shared" : "sidecar";
}

bool WalletSpec::covers(std::string_view network) const {
  return payment::wallet_covers(networks, network);
}

bool is_valid_log_level(std::string_view level) {
  return level == "error" || level == "warn" || level == "info" || level == "debug";
}

FlowConfig parse_flow_config(std::string_view yaml_text, const std::string& source_name) {
  Reader r(source_name);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    std::ostringstream out;
    out << source_name;
    if (!e.mark.is_null()) out << ':' << e.mark.line + 1 << ':' << e.mark.column + 1;
    out << ": " << e.msg;
    throw ConfigError(out.str());
  }
  FlowConfig config;
  // An empty or half-written file (a save in progress, `: > flow.yaml`) must never pass as a
  // file that says "no agents, no wallets": every file starts by naming its version.
  if (root.IsNull()) throw ConfigError(source_name + ": " + kMissingVersion);
  r.expect_map(root, "the top level");
  r.only_keys(root, "the top level",
              {"version", "proxy", "ledger", "wallets", "tls", "admin", "organization", "review",
               "payment", "assets", "agents", "merchants"});
  if (!root["version"]) r.fail(root, kMissingVersion);
  config.version = static_cast<int>(r.integer(root["version"], "version", 1, 1));
  if (root["proxy"]) read_proxy(r, root["proxy"], config.proxy, source_name);
  if (root["ledger"]) read_ledger(r, root["ledger"], config.ledger, source_name);
  if (root["wallets"]) config.wallets = read_wallets(r, root["wallets"], source_name);
  if (root["tls"]) read_tls(r, root["tls"], config.tls, source_name);
  if (root["admin"]) read_admin(r, root["admin"], config.admin, source_name);
  config.policy = PolicySnapshot::build(read_policy(r, root));
  return config;
}

FlowConfig load_flow_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": read error");
  return parse_flow_config(text.str(), path);
}

}  // namespace flow::policy
