#include "flow/policy/policy_summary.hpp"

#include <algorithm>
#include <vector>

namespace flow::policy {
namespace {

constexpr std::size_t kLabelWidth = 18;

std::string join(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : std::string(sep)) + i;
  return out;
}

// "  label             first line\n                    next line\n..."
void write_block(std::ostream& out, std::string_view label, const std::vector<std::string>& lines) {
  std::string head = "  " + std::string(label);
  head.resize(std::max(head.size() + 1, kLabelWidth + 2), ' ');
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out << (i == 0 ? head : std::string(head.size(), ' ')) << lines[i] << "\n";
  }
}

std::vector<std::string> cap_lines(const CapSet& caps) {
  std::vector<std::string> lines;
  for (const auto& u : caps.per_request) lines.push_back("per request at most " + u.to_string());
  for (const auto& b : caps.budgets) {
    const std::string what =
        b.amount ? b.amount->to_string() : std::to_string(*b.payments) + " payments";
    lines.push_back("at most " + what + " " + describe_window(b.window));
  }
  return lines;
}

void write_proxy(std::ostream& out, const ProxySettings& p) {
  std::vector<std::string> ports;
  for (auto port : p.connect_ports) ports.push_back(std::to_string(port));
  out << "  listen           " << p.listen << "\n";
  if (!p.transparent.empty()) {
    out << "  transparent      " << p.transparent
        << " (connections redirected by iptables REDIRECT; original destination kept)\n";
  }
  out << "  CONNECT ports    " << join(ports, ",") << "\n"
      << "  max connections  " << p.max_connections << "\n"
      << "  max header bytes " << p.max_header_bytes << "\n"
      << "  timeouts         header " << p.timeouts.header.count() << "ms, idle "
      << p.timeouts.idle.count() << "ms, connect " << p.timeouts.connect.count() << "ms, upstream "
      << p.timeouts.upstream.count() << "ms\n"
      << "  agent identity   " << agent_identity_name(p.identity)
      << (p.identity == AgentIdentity::sidecar
              ? " (agent " +
                    (p.agent.empty() ? std::string("unset: FLOW402_AGENT or --agent") : p.agent) +
                    ")"
              : std::string(" (Proxy-Authorization: Basic, token hashes below)"))
      << "\n"
      << "  replay limit     " << p.replay_limit << " bytes\n";
}

void write_wallets(std::ostream& out, const FlowConfig& config) {
  out << "  ledger           " << config.ledger.path << " (URL queries: " << config.ledger.url_query
      << ")\n";
  if (config.wallets.empty()) {
    out << "  wallets          none: every 402 goes back to the agent unpaid\n";
    return;
  }
  for (const WalletSpec& w : config.wallets) {
    out << "  wallet           " << w.name << " on " << join(w.networks, ", ") << ", key from "
        << (w.key_file.empty() ? "$" + w.key_env : w.key_file) << "\n";
  }
}

// Why this build cannot pay on `network` with `config`'s wallets, or empty when it can. The
// only payment rail in this build is x402 on EVM chains, paid by a configured wallet.
std::string rail_gap(const FlowConfig& config, std::string_view network) {
  if (network == "lightning") return "no Lightning rail in this build";
  if (network.substr(0, 7) != "eip155:") return "this build pays on EVM (eip155) networks only";
  if (config.wallets.empty()) return "no wallet configured";
  const bool wallet = std::any_of(config.wallets.begin(), config.wallets.end(),
                                  [&](const WalletSpec& w) { return w.covers(network); });
  return wallet ? std::string() : "no wallet for " + std::string(network);
}

bool network_allowed(const OrganizationRules& org, std::string_view network) {
  const auto& nets = org.networks;
  return nets.empty() || std::find(nets.begin(), nets.end(), network) != nets.end();
}

// Payable at all: a rail and a wallet, on an allowed network, in a unit with an organization
// per-request cap.
bool is_payable(const FlowConfig& config, const AssetEntry& e) {
  const OrganizationRules& org = config.policy->definition().organization;
  if (!network_allowed(org, e.network) || !rail_gap(config, e.network).empty()) return false;
  return std::any_of(org.caps.per_request.begin(), org.caps.per_request.end(),
                     [&](const UnitAmount& u) { return u.covers(e); });
}

std::vector<std::string> asset_lines(const FlowConfig& config) {
  const AssetTable& table = config.policy->definition().assets;
  std::vector<std::string> lines;
  std::vector<std::string> seen;
  for (const auto& e : table.entries()) {
    if (std::find(seen.begin(), seen.end(), e.symbol) != seen.end()) continue;
    seen.push_back(e.symbol);
    std::vector<std::string> networks;
    for (const auto& same : table.entries()) {
      if (same.symbol == e.symbol) {
        std::string n = same.network + (same.built_in ? "" : " (added)");
        if (!is_payable(config, same)) n += " (not payable)";
        networks.push_back(std::move(n));
      }
    }
    lines.push_back(e.symbol + " (" + std::to_string(e.decimals) + " decimals) on " +
                    join(networks));
  }
  return lines;
}

// "up to 1 USDC", or "up to 50000 msat: not payable (no Lightning rail in this build)".
std::string payable_line(const FlowConfig& config, const UnitAmount& cap) {
  const PolicyDefinition& d = config.policy->definition();
  std::vector<std::string> gaps;
  for (const auto& e : d.assets.entries()) {
    if (!cap.covers(e) || !network_allowed(d.organization, e.network)) continue;
    const std::string gap = rail_gap(config, e.network);
    if (gap.empty()) return "up to " + cap.to_string();
    if (std::find(gaps.begin(), gaps.end(), gap) == gaps.end()) gaps.push_back(gap);
  }
  if (gaps.empty()) gaps.push_back("none of its networks is allowed");
  return "up to " + cap.to_string() + ": not payable (" + join(gaps, "; ") + ")";
}

std::vector<std::string> network_lines(const FlowConfig& config) {
  const OrganizationRules& org = config.policy->definition().organization;
  if (org.networks.empty()) return {"any network in the asset table"};
  std::vector<std::string> nets;
  for (const auto& n : org.networks) {
    const std::string gap = rail_gap(config, n);
    nets.push_back(gap.empty() ? n : n + " (" + gap + ")");
  }
  std::string line = join(nets);
  if (!org.prefer_networks.empty()) line += " (preferred: " + join(org.prefer_networks) + ")";
  return {line};
}

std::vector<std::string> review_lines(const ReviewRules& r) {
  std::vector<std::string> lines;
  for (const auto& a : r.amount_over) lines.push_back("a payment above " + a.to_string());
  if (r.new_pay_to) lines.push_back("the first payment to a payee never paid before");
  lines.push_back("every payment to a merchant whose action is review");
  lines.push_back("approvals expire after " + human_duration(r.approval_ttl.count()));
  lines.push_back(
      r.hold.count() > 0
          ? "a reviewed request waits up to " + human_duration(r.hold.count()) +
                " for the decision (review.hold)"
          : "a reviewed request is answered 403 review_required at once (review.hold 0)");
  return lines;
}

void write_organization(std::ostream& out, const FlowConfig& config) {
  const PolicyDefinition& d = config.policy->definition();
  const OrganizationRules& org = d.organization;
  write_block(out, "posture",
              {std::string(posture_name(org.posture)) +
               (org.posture == Posture::allow
                    ? ": merchants no rule matches are paid within the caps, recorded as observed"
                    : ": only merchants a rule allows are paid")});
  std::vector<std::string> payable;
  for (const auto& u : org.caps.per_request) payable.push_back(payable_line(config, u));
  if (payable.empty()) payable.push_back("nothing (organization.caps.per_request names no unit)");
  write_block(out, "payable", payable);
  write_block(out, "networks", network_lines(config));
  CapSet budgets_only;
  budgets_only.budgets = org.caps.budgets;
  if (!budgets_only.empty()) write_block(out, "org budgets", cap_lines(budgets_only));
  write_block(out, "review", review_lines(d.review));
  write_block(
      out, "validity",
      {"a signed payment is valid at most " + human_duration(d.payment.max_validity.count()) +
       " (payment.max_validity), whatever the merchant asks"});
  write_block(out, "assets", asset_lines(config));
}

void write_agents(std::ostream& out, const PolicyDefinition& d) {
  out << "\nAgents (" << d.agents.size() << ")\n";
  if (d.agents.empty()) out << "  none: every payment is refused (unknown_agent)\n";
  for (const AgentRule& a : d.agents) {
    const auto n = a.token_sha256.size();
    std::vector<std::string> lines{n == 0 ? "sidecar only (no token hash)"
                                          : "shared mode (" + std::to_string(n) + " token hash" +
                                                (n > 1 ? "es)" : ")")};
    for (const auto& line : cap_lines(a.caps)) lines.push_back(line);
    for (const auto& m : a.merchant_caps) {
      for (const auto& line : cap_lines(m.caps)) lines.push_back("at " + m.merchant + ": " + line);
    }
    if (a.each_merchant_caps) {
      for (const auto& line : cap_lines(*a.each_merchant_caps)) {
        lines.push_back("at each merchant: " + line);
      }
    }
    write_block(out, a.id, lines);
  }
}

std::vector<std::string> merchant_lines(const MerchantRule& m) {
  std::vector<std::string> lines;
  if (m.insecure_upstream) {
    lines.push_back("!! INSECURE: upstream TLS certificate NOT verified (insecure_upstream: true)");
  }
  std::string match = std::string(verdict_name(m.action)) + " " + m.host + m.path_prefix;
  if (!m.methods.empty()) match += " (" + join(m.methods, ",") + ")";
  lines.insert(lines.begin(), match);
  if (!m.accept.networks.empty()) lines.push_back("networks " + join(m.accept.networks));
  if (!m.accept.assets.empty()) lines.push_back("assets " + join(m.accept.assets));
  if (!m.accept.pay_to.empty()) lines.push_back("pay to " + join(m.accept.pay_to));
  for (const auto& line : cap_lines(m.caps)) lines.push_back(line);
  return lines;
}

// What `tls:` decrypts, in the order decide_interception asks.
std::vector<std::string> interception_lines(const TlsSettings& tls, const PolicyDefinition& d) {
  std::vector<std::string> lines;
  if (!tls.exclude_hosts.empty()) lines.push_back("never " + join(tls.exclude_hosts));
  if (!tls.intercept_hosts.empty()) lines.push_back("listed " + join(tls.intercept_hosts));
  std::vector<std::string> merchant_hosts;
  for (const MerchantRule& m : d.merchants) {
    if (std::find(merchant_hosts.begin(), merchant_hosts.end(), m.host) == merchant_hosts.end()) {
      merchant_hosts.push_back(m.host);
    }
  }
  if (!merchant_hosts.empty()) lines.push_back("merchant hosts " + join(merchant_hosts));
  lines.push_back(d.organization.posture == Posture::allow
                      ? "EVERY other host too (posture allow: any host may be a merchant)"
                      : "every other host is spliced untouched");
  return lines;
}

void write_tls(std::ostream& out, const FlowConfig& config) {
  const TlsSettings& tls = config.tls;
  if (!tls.interception_on()) {
    out << "  HTTPS            not decrypted (no tls.ca_dir): CONNECT tunnels are spliced\n";
    return;
  }
  out << "  CA directory     " << tls.ca_dir << " (HTTPS interception on)\n";
  if (!tls.upstream_ca_file.empty()) {
    out << "  upstream roots   system store + " << tls.upstream_ca_file << "\n";
  }
  write_block(out, "decrypted", interception_lines(tls, config.policy->definition()));
}

}  // namespace

std::string describe_caps(const CapSet& caps) {
  const auto lines = cap_lines(caps);
  return lines.empty() ? "no caps" : join(lines, "; ");
}

void write_config_summary(std::ostream& out, const FlowConfig& config, const std::string& path) {
  out << path << " is valid.\n";
  write_proxy(out, config.proxy);
  write_wallets(out, config);
  write_tls(out, config);
  out << "\nPayments\n";
  const PolicyDefinition& d = config.policy->definition();
  write_organization(out, config);
  write_agents(out, d);
  out << "\nMerchants (" << d.merchants.size() << ")\n";
  for (const MerchantRule& m : d.merchants) write_block(out, m.name, merchant_lines(m));
}

}  // namespace flow::policy
