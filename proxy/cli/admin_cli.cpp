#include "cli/admin_cli.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/admin_client.hpp"
#include "cli/text_table.hpp"
#include "flow/payment/key_file.hpp"
#include "flow/policy/flow_config.hpp"

namespace flow::proxy {

using Json = nlohmann::ordered_json;

struct AdminCommands::Flags {
  std::string admin;       // --admin URL
  std::string config;      // -c flow.yaml: admin.listen and admin.token_file
  std::string token_file;  // --token-file
  bool json = false;
  std::string id;
  std::string note;    // approve --note
  std::string reason;  // deny --reason, reconcile --failed --reason
  std::string state = "unknown";
  std::string approval_state = "pending";
  bool settled = false;
  bool failed = false;
  std::string evidence;
  std::string settlement_ref;
  std::string agent;
  std::string merchant;
  std::string outcome;
  std::size_t limit = 0;  // 0: every page
};

namespace {

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

// A usage error found after parsing (options that only make sense together): named, exit 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string first_line_of(const std::string& path, const char* what) {
  payment::SecretFile file = payment::read_secret_file(path, 4096, what);
  if (!file.error.empty()) throw UsageError(file.error);
  std::string token = file.text.substr(0, file.text.find_first_of("\r\n"));
  if (token.empty()) throw UsageError(std::string(what) + " " + path + " holds no token");
  return token;
}

// --admin, else admin.listen of -c, else the default address; the token of --token-file, else
// FLOW402_ADMIN_TOKEN, else admin.token_file of -c.
AdminEndpoint endpoint_of(const AdminCommands::Flags& f) {
  std::optional<policy::FlowConfig> config;
  if (!f.config.empty()) config = policy::load_flow_config(f.config);
  std::string url = f.admin;
  if (url.empty()) {
    url = config ? config->admin.listen : std::string(policy::AdminSettings::kDefaultListen);
  }
  if (url == policy::AdminSettings::kOff) throw UsageError("admin.listen is off: give --admin");
  AdminEndpoint endpoint = parse_admin_url(url);
  const char* env = std::getenv("FLOW402_ADMIN_TOKEN");
  if (!f.token_file.empty()) {
    endpoint.token = first_line_of(f.token_file, "--token-file");
  } else if (env != nullptr && *env != '\0') {
    endpoint.token = env;
  } else if (config && !config->admin.token_file.empty()) {
    endpoint.token = first_line_of(config->admin.token_file, "admin.token_file");
  }
  return endpoint;
}

// The answer's JSON; an answer outside 2xx throws its error message (exit 1).
struct Refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Json call(const AdminEndpoint& endpoint, std::string_view method, const std::string& target,
          const Json& body = nullptr) {
  const AdminReply reply =
      admin_request(endpoint, method, target, body.is_null() ? std::string() : body.dump());
  Json parsed = Json::parse(reply.body, nullptr, false);
  if (reply.status < 200 || reply.status > 299) {
    std::string message = "the admin API answered " + std::to_string(reply.status);
    if (!parsed.is_discarded() && parsed.contains("error")) {
      message += ": " + parsed["error"].get<std::string>();
    }
    throw Refused(message);
  }
  if (parsed.is_discarded()) throw AdminClientError("the admin API's answer is not JSON");
  return parsed;
}

std::string query_value(std::string_view value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Every item of a list endpoint, following `next` (or one page of `limit`).
Json all_items(const AdminEndpoint& endpoint, std::string path_and_query, std::size_t limit) {
  Json items = Json::array();
  const char sep = path_and_query.find('?') == std::string::npos ? '?' : '&';
  std::string after;
  for (;;) {
    std::string target = path_and_query + sep + "limit=" + std::to_string(limit ? limit : 1000);
    if (!after.empty()) target += "&after=" + query_value(after);
    Json page = call(endpoint, "GET", target);
    for (auto& item : page["items"]) items.push_back(std::move(item));
    if (limit != 0 || !page["next"].is_string()) return items;
    after = page["next"].get<std::string>();
  }
}

std::string text(const Json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  return v.dump();
}

// "5 USDC", or the atomic amount and the asset when the table has no symbol.
std::string amount(const Json& offer) {
  if (!offer.is_object()) return "-";
  if (offer["display"].is_string()) return offer["display"];
  return text(offer["amount"]) + " (atomic) " + text(offer["asset"]);
}

void print_json(const Json& value) {
  std::cout << value.dump(2) << '\n';
}

void print_approvals(const Json& items) {
  TextTable t(
      {"ID", "STATE", "AGENT", "MERCHANT", "METHOD", "URL", "AMOUNT", "RULE", "EXPIRES", "HELD"});
  for (const auto& a : items) {
    t.add({text(a["id"]), text(a["state"]), text(a["agent"]), text(a["merchant"]),
           text(a["method"]), text(a["url"]), amount(a["offer"]), text(a["rule"]),
           text(a["expires_at"]), text(a["held"])});
  }
  t.print(std::cout);
  std::cout << items.size() << " approval(s)\n";
}

void print_approval(const Json& a) {
  for (const char* key :
       {"id", "state", "agent", "merchant", "method", "url", "rule", "decision_id", "created_at",
        "expires_at", "resolved_at", "resolved_by", "note", "held"}) {
    std::cout << key << ": " << text(a[key]) << '\n';
  }
  std::cout << "amount: " << amount(a["offer"]) << '\n';
  std::cout << "pay_to: " << text(a["offer"]["pay_to"]) << " on " << text(a["offer"]["network"])
            << '\n';
}

void print_attempts(const Json& items) {
  TextTable t({"ID", "STATE", "AGENT", "MERCHANT", "URL", "AMOUNT", "SUBMITTED", "FAILURE"});
  for (const auto& a : items) {
    t.add({text(a["id"]), text(a["state"]), text(a["agent"]), text(a["merchant"]), text(a["url"]),
           amount(a["offer"]), text(a["submitted_at"]), text(a["failure_code"])});
  }
  t.print(std::cout);
  std::cout << items.size() << " attempt(s)\n";
}

void print_decisions(const Json& items) {
  TextTable t({"TIME", "AGENT", "MERCHANT", "OUTCOME", "REASON", "RULE", "AMOUNT", "APPROVAL"});
  for (const auto& d : items) {
    t.add({text(d["at"]), text(d["agent"]), text(d["merchant"]), text(d["outcome"]),
           text(d["reason"]), text(d["rule"]), amount(d["offer"]), text(d["approval_id"])});
  }
  t.print(std::cout);
  std::cout << items.size() << " decision(s)\n";
}

int run_approvals(const AdminCommands::Flags& f, const CLI::App& list, const CLI::App& show,
                  const CLI::App& approve) {
  const AdminEndpoint endpoint = endpoint_of(f);
  if (list.parsed()) {
    const Json items =
        all_items(endpoint, "/v1/approvals?state=" + query_value(f.approval_state), f.limit);
    f.json ? print_json(items) : print_approvals(items);
    return 0;
  }
  const std::string path = "/v1/approvals/" + query_value(f.id);
  if (show.parsed()) {
    const Json a = call(endpoint, "GET", path);
    f.json ? print_json(a) : print_approval(a);
    return 0;
  }
  const bool approving = approve.parsed();
  const Json body = approving ? Json{{"note", f.note}} : Json{{"reason", f.reason}};
  const Json a = call(endpoint, "POST", path + (approving ? "/approve" : "/deny"), body);
  if (f.json) {
    print_json(a);
  } else {
    std::cout << (approving ? "approved " : "denied ") << text(a["id"]) << " by "
              << text(a["resolved_by"]) << "; " << text(a["held"]) << " held request(s) "
              << (approving ? "continue" : "refused") << '\n';
  }
  return 0;
}

int run_reconcile(const AdminCommands::Flags& f) {
  if (f.settled == f.failed) throw UsageError("reconcile: give --settled or --failed");
  if (f.settled && f.evidence.empty()) throw UsageError("reconcile --settled needs --evidence");
  if (f.failed && f.reason.empty()) throw UsageError("reconcile --failed needs --reason");
  Json body = f.settled ? Json{{"outcome", "settled"},
                               {"evidence", f.evidence},
                               {"settlement_ref", f.settlement_ref}}
                        : Json{{"outcome", "failed"}, {"reason", f.reason}};
  const Json receipt =
      call(endpoint_of(f), "POST", "/v1/attempts/" + query_value(f.id) + "/reconcile", body);
  if (f.json) {
    print_json(receipt);
  } else {
    std::cout << "attempt " << text(receipt["attempt_id"]) << " is now " << text(receipt["state"])
              << "; receipt " << text(receipt["receipt_id"]) << '\n';
  }
  return 0;
}

int run_decisions(const AdminCommands::Flags& f) {
  std::string query = "/v1/decisions?x=";
  if (!f.agent.empty()) query += "&agent=" + query_value(f.agent);
  if (!f.merchant.empty()) query += "&merchant=" + query_value(f.merchant);
  if (!f.outcome.empty()) query += "&outcome=" + query_value(f.outcome);
  const Json items = all_items(endpoint_of(f), query, f.limit);
  f.json ? print_json(items) : print_decisions(items);
  return 0;
}

// The options every admin command takes.
void add_connection(CLI::App& command, AdminCommands::Flags& f) {
  command.add_option("--admin", f.admin,
                     "the admin API, http://HOST:PORT (default: admin.listen of -c, or "
                     "http://127.0.0.1:9402)");
  command.add_option("-c,--config", f.config, "flow.yaml: its admin.listen and admin.token_file")
      ->check(CLI::ExistingFile);
  command.add_option("--token-file", f.token_file,
                     "the bearer token's file (default: FLOW402_ADMIN_TOKEN, or "
                     "admin.token_file of -c)");
  command.add_flag("--json", f.json, "JSON instead of text");
}

}  // namespace

AdminCommands::AdminCommands(CLI::App& app) : flags_(std::make_unique<Flags>()) {
  Flags& f = *flags_;
  approvals_ = app.add_subcommand("approvals", "list and decide approvals (the admin API)");
  approvals_->require_subcommand(1);
  list_ = approvals_->add_subcommand("list", "approvals in a state, newest first");
  add_connection(*list_, f);
  list_->add_option("--state", f.approval_state, "pending (default), approved, denied, ...");
  list_->add_option("--limit", f.limit, "at most this many (default: all)");
  show_ = approvals_->add_subcommand("show", "one approval");
  approve_ = approvals_->add_subcommand("approve", "approve: held requests continue");
  deny_ = approvals_->add_subcommand("deny", "deny: held requests are refused");
  for (CLI::App* one : {show_, approve_, deny_}) {
    one->add_option("id", f.id, "the approval's id (apr_...)")->required();
    add_connection(*one, f);
  }
  approve_->add_option("--note", f.note, "why, for the audit record");
  deny_->add_option("--reason", f.reason, "why, told to the held requests and the audit record");

  attempts_ = app.add_subcommand("attempts", "payment attempts in a state (the admin API)");
  add_connection(*attempts_, f);
  attempts_->add_option("--state", f.state, "unknown (default), settled, failed, ...");
  attempts_->add_option("--limit", f.limit, "at most this many (default: all)");

  reconcile_ = app.add_subcommand("reconcile", "settle or fail an unknown payment attempt");
  reconcile_->add_option("id", f.id, "the attempt's id (402flow attempts)")->required();
  add_connection(*reconcile_, f);
  auto* settled = reconcile_->add_flag("--settled", f.settled, "it settled: the money is spent");
  auto* failed = reconcile_->add_flag("--failed", f.failed, "it failed: the hold is released");
  settled->excludes(failed);
  reconcile_->add_option("--evidence", f.evidence, "with --settled: what proves it")
      ->needs(settled);
  reconcile_
      ->add_option("--settlement-ref", f.settlement_ref, "with --settled: the transaction hash")
      ->needs(settled);
  reconcile_->add_option("--reason", f.reason, "with --failed: why")->needs(failed);

  decisions_ = app.add_subcommand("decisions", "policy decisions, denials included");
  add_connection(*decisions_, f);
  decisions_->add_option("--agent", f.agent, "only this agent");
  decisions_->add_option("--merchant", f.merchant, "only this merchant (origin or host)");
  decisions_->add_option("--outcome", f.outcome, "allow, deny or review")
      ->check(CLI::IsMember({"allow", "deny", "review"}));
  decisions_->add_option("--limit", f.limit, "at most this many, newest first (default: all)");
}

AdminCommands::~AdminCommands() = default;

bool AdminCommands::selected() const {
  return approvals_->parsed() || attempts_->parsed() || reconcile_->parsed() ||
         decisions_->parsed();
}

int AdminCommands::run() const {
  const Flags& f = *flags_;
  try {
    if (approvals_->parsed()) return run_approvals(f, *list_, *show_, *approve_);
    if (attempts_->parsed()) {
      const Json items =
          all_items(endpoint_of(f), "/v1/attempts?state=" + query_value(f.state), f.limit);
      f.json ? print_json(items) : print_attempts(items);
      return 0;
    }
    if (reconcile_->parsed()) return run_reconcile(f);
    if (decisions_->parsed()) return run_decisions(f);
  } catch (const Refused& e) {
    std::fprintf(stderr, "402flow: %s\n", e.what());
    return kExitRefused;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "402flow: %s\n", e.what());
    return kExitUsage;
  } catch (const AdminClientError& e) {
    std::fprintf(stderr, "402flow: %s\n", e.what());
    return kExitUsage;
  }
  return kExitUsage;
}

}  // namespace flow::proxy
