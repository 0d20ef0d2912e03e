#include "flow/policy/policy_summary.hpp"

#include <algorithm>
#include <vector>

#include "payability.hpp"

namespace flow::policy {
namespace {

// The text form's columns: the proxy settings' lines start at column 19, the policy's at 20.
constexpr std::size_t kProxyLabelWidth = 17;
constexpr std::size_t kPolicyLabelWidth = 18;

std::string join(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : std::string(sep)) + i;
  return out;
}

// "  label             first line\n                    next line\n..."; an unlabelled block's
// lines start right after the indent.
void write_block(std::ostream& out, const SummaryBlock& block, std::size_t label_width) {
  std::string head = "  " + block.label;
  if (!block.label.empty()) head.resize(std::max(head.size() + 1, label_width + 2), ' ');
  for (std::size_t i = 0; i < block.lines.size(); ++i) {
    out << (i == 0 ? head : std::string(head.size(), ' ')) << block.lines[i] << "\n";
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

std::string identity_line(const ProxySettings& p) {
  if (p.identity == AgentIdentity::shared) {
    return "shared (Proxy-Authorization: Basic, token hashes below)";
  }
  return "sidecar (agent " +
         (p.agent.empty() ? std::string("unset: FLOW402_AGENT or --agent") : p.agent) + ")";
}

void add_proxy(SummarySection& s, const ProxySettings& p) {
  std::vector<std::string> ports;
  for (auto port : p.connect_ports) ports.push_back(std::to_string(port));
  s.blocks.push_back({"listen", {p.listen}});
  if (!p.transparent.empty()) {
    s.blocks.push_back(
        {"transparent",
         {p.transparent + " (connections redirected by iptables REDIRECT; original destination "
                          "kept)"}});
  }
  s.blocks.push_back({"CONNECT ports", {join(ports, ",")}});
  s.blocks.push_back({"max connections", {std::to_string(p.max_connections)}});
  s.blocks.push_back({"max header bytes", {std::to_string(p.max_header_bytes)}});
  s.blocks.push_back({"timeouts",
                      {"header " + std::to_string(p.timeouts.header.count()) + "ms, idle " +
                       std::to_string(p.timeouts.idle.count()) + "ms, connect " +
                       std::to_string(p.timeouts.connect.count()) + "ms, upstream " +
                       std::to_string(p.timeouts.upstream.count()) + "ms"}});
  s.blocks.push_back({"agent identity", {identity_line(p)}});
  s.blocks.push_back({"replay limit", {std::to_string(p.replay_limit) + " bytes"}});
}

void add_wallets(SummarySection& s, const FlowConfig& config) {
  s.blocks.push_back(
      {"ledger", {config.ledger.path + " (URL queries: " + config.ledger.url_query + ")"}});
  if (config.wallets.empty()) {
    s.blocks.push_back({"wallets", {"none: every 402 goes back to the agent unpaid"}});
    return;
  }
  for (const WalletSpec& w : config.wallets) {
    s.blocks.push_back({"wallet",
                        {w.name + " on " + join(w.networks, ", ") + ", key from " +
                         (w.key_file.empty() ? "$" + w.key_env : w.key_file)}});
  }
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

void add_tls(SummarySection& s, const FlowConfig& config);

SummarySection proxy_section(const FlowConfig& config) {
  SummarySection s{"", kProxyLabelWidth, {}};
  add_proxy(s, config.proxy);
  add_wallets(s, config);
  add_tls(s, config);
  return s;
}

SummarySection payments_section(const FlowConfig& config) {
  const PolicyDefinition& d = config.policy->definition();
  const OrganizationRules& org = d.organization;
  SummarySection s{"Payments", kPolicyLabelWidth, {}};
  s.blocks.push_back(
      {"posture",
       {std::string(posture_name(org.posture)) +
        (org.posture == Posture::allow
             ? ": merchants no rule matches are paid within the caps, recorded as observed"
             : ": only merchants a rule allows are paid")}});
  std::vector<std::string> payable;
  for (const auto& u : org.caps.per_request) payable.push_back(payable_line(config, u));
  if (payable.empty()) payable.push_back("nothing (organization.caps.per_request names no unit)");
  s.blocks.push_back({"payable", payable});
  s.blocks.push_back({"networks", network_lines(config)});
  CapSet budgets_only;
  budgets_only.budgets = org.caps.budgets;
  if (!budgets_only.empty()) s.blocks.push_back({"org budgets", cap_lines(budgets_only)});
  s.blocks.push_back({"review", review_lines(d.review)});
  s.blocks.push_back(
      {"validity",
       {"a signed payment is valid at most " + human_duration(d.payment.max_validity.count()) +
        " (payment.max_validity), whatever the merchant asks"}});
  s.blocks.push_back({"assets", asset_lines(config)});
  return s;
}

std::vector<std::string> agent_lines(const AgentRule& a) {
  const auto n = a.token_sha256.size();
  std::vector<std::string> lines{n == 0 ? "sidecar only (no token hash)"
                                        : "shared mode (" + std::to_string(n) + " token hash" +
                                              (n > 1 ? "es)" : ")")};
  if (a.action == AgentAction::deny) {
    lines.insert(lines.begin(),
                 "DENIED: every payment is refused (agent_denied; " + a.rule + ".action: deny)");
  }
  for (const auto& line : cap_lines(a.caps)) lines.push_back(line);
  for (const auto& m : a.merchant_caps) {
    for (const auto& line : cap_lines(m.caps)) lines.push_back("at " + m.merchant + ": " + line);
  }
  if (a.each_merchant_caps) {
    for (const auto& line : cap_lines(*a.each_merchant_caps)) {
      lines.push_back("at each merchant: " + line);
    }
  }
  return lines;
}

SummarySection agents_section(const PolicyDefinition& d) {
  SummarySection s{"Agents (" + std::to_string(d.agents.size()) + ")", kPolicyLabelWidth, {}};
  if (d.agents.empty())
    s.blocks.push_back({"", {"none: every payment is refused (unknown_agent)"}});
  for (const AgentRule& a : d.agents) s.blocks.push_back({a.id, agent_lines(a)});
  return s;
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

SummarySection merchants_section(const PolicyDefinition& d) {
  SummarySection s{"Merchants (" + std::to_string(d.merchants.size()) + ")", kPolicyLabelWidth, {}};
  for (const MerchantRule& m : d.merchants) s.blocks.push_back({m.name, merchant_lines(m)});
  return s;
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

void add_tls(SummarySection& s, const FlowConfig& config) {
  const TlsSettings& tls = config.tls;
  if (!tls.interception_on()) {
    s.blocks.push_back({"HTTPS", {"not decrypted (no tls.ca_dir): CONNECT tunnels are spliced"}});
    return;
  }
  s.blocks.push_back({"CA directory", {tls.ca_dir + " (HTTPS interception on)"}});
  if (!tls.upstream_ca_file.empty()) {
    s.blocks.push_back({"upstream roots", {"system store + " + tls.upstream_ca_file}});
  }
  s.blocks.push_back({"decrypted", interception_lines(tls, config.policy->definition())});
}

nlohmann::json decisions_json(const FlowConfig& config) {
  const PolicyDefinition& d = config.policy->definition();
  nlohmann::json agents = nlohmann::json::array();
  for (const AgentRule& a : d.agents) {
    agents.push_back({{"id", a.id},
                      {"action", a.action == AgentAction::deny ? "deny" : "allow"},
                      {"token_hashes", a.token_sha256.size()},
                      {"caps", cap_lines(a.caps)}});
  }
  nlohmann::json merchants = nlohmann::json::array();
  for (const MerchantRule& m : d.merchants) {
    merchants.push_back({{"name", m.name},
                         {"host", m.host},
                         {"path", m.path_prefix},
                         {"methods", m.methods},
                         {"action", std::string(verdict_name(m.action))},
                         {"caps", cap_lines(m.caps)}});
  }
  nlohmann::json payable = nlohmann::json::array();
  for (const auto& u : d.organization.caps.per_request) payable.push_back(payable_line(config, u));
  return {{"posture", std::string(posture_name(d.organization.posture))},
          {"payable", std::move(payable)},
          {"agents", std::move(agents)},
          {"merchants", std::move(merchants)}};
}

nlohmann::json warnings_json(const std::vector<ConfigWarning>& warnings) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& w : warnings) {
    out.push_back({{"code", w.code}, {"rule", w.rule}, {"message", w.message}});
  }
  return out;
}

}  // namespace

std::string describe_caps(const CapSet& caps) {
  const auto lines = cap_lines(caps);
  return lines.empty() ? "no caps" : join(lines, "; ");
}

ConfigSummary summarize_config(const FlowConfig& config, const std::string& path) {
  const PolicyDefinition& d = config.policy->definition();
  ConfigSummary summary;
  summary.path = path;
  summary.sections.push_back(proxy_section(config));
  summary.sections.push_back(payments_section(config));
  summary.sections.push_back(agents_section(d));
  summary.sections.push_back(merchants_section(d));
  summary.warnings = config_warnings(config);
  return summary;
}

void write_config_summary(std::ostream& out, const ConfigSummary& summary) {
  out << summary.path << " is valid.\n";
  for (const SummarySection& section : summary.sections) {
    if (!section.title.empty()) out << "\n" << section.title << "\n";
    for (const SummaryBlock& block : section.blocks) write_block(out, block, section.label_width);
  }
  if (summary.warnings.empty()) return;
  out << "\nWarnings (" << summary.warnings.size() << ")\n";
  for (const ConfigWarning& w : summary.warnings) {
    out << "  ! " << w.message << " [" << w.code << "]\n";
  }
}

void write_config_summary(std::ostream& out, const FlowConfig& config, const std::string& path) {
  write_config_summary(out, summarize_config(config, path));
}

nlohmann::json config_summary_json(const ConfigSummary& summary, const FlowConfig& config) {
  nlohmann::json sections = nlohmann::json::array();
  for (const SummarySection& section : summary.sections) {
    nlohmann::json blocks = nlohmann::json::array();
    for (const SummaryBlock& b : section.blocks) {
      blocks.push_back({{"label", b.label}, {"lines", b.lines}});
    }
    sections.push_back({{"section", section.title.empty() ? "Proxy" : section.title},
                        {"blocks", std::move(blocks)}});
  }
  return {{"file", summary.path},
          {"valid", true},
          {"summary", std::move(sections)},
          {"decisions", decisions_json(config)},
          {"warnings", warnings_json(summary.warnings)},
          {"errors", nlohmann::json::array()}};
}

nlohmann::json config_error_json(const std::string& path, const std::string& message) {
  return {{"file", path},
          {"valid", false},
          {"summary", nlohmann::json::array()},
          {"decisions", nullptr},
          {"warnings", nlohmann::json::array()},
          {"errors", nlohmann::json::array({message})}};
}

}  // namespace flow::policy
