#pragma once
#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flow/policy/config_warnings.hpp"
#include "flow/policy/flow_config.hpp"

namespace flow::policy {

// What `402flow check` says about a valid file, as data: the text and the JSON forms are both
// written from it. Sections in order (the proxy settings first, untitled), each a list of
// labelled blocks of lines ("listen" -> ["127.0.0.1:8402"]), then the warnings.
struct SummaryBlock {
  std::string label;  // empty: the lines stand alone
  std::vector<std::string> lines;
};

struct SummarySection {
  std::string title;  // "" for the proxy settings, then "Payments", "Agents (2)", "Merchants (1)"
  std::size_t label_width = 0;  // the text form's column for the lines
  std::vector<SummaryBlock> blocks;
};

struct ConfigSummary {
  std::string path;
  std::vector<SummarySection> sections;
  std::vector<ConfigWarning> warnings;
};

// `config` as `run` would start with it (flags and environment applied: the sidecar agent is the
// effective one).
ConfigSummary summarize_config(const FlowConfig& config, const std::string& path);

// The text `402flow check` prints: "<path> is valid.", the sections, then "Warnings (n)" when
// there are any.
void write_config_summary(std::ostream& out, const ConfigSummary& summary);
void write_config_summary(std::ostream& out, const FlowConfig& config, const std::string& path);

// `402flow check --json`: {"file", "valid": true, "summary": [{"section", "blocks": [{"label",
// "lines"}]}], "decisions": {"posture", "agents": [...], "merchants": [...]}, "warnings":
// [{"code", "rule", "message"}], "errors": []}.
nlohmann::json config_summary_json(const ConfigSummary& summary, const FlowConfig& config);

// The same object for a file that failed: {"file", "valid": false, "errors": [message], ...}.
nlohmann::json config_error_json(const std::string& path, const std::string& message);

// "per request at most 0.25 USDC; at most 10 USDC per calendar day (UTC)", or "no caps".
std::string describe_caps(const CapSet& caps);

}  // namespace flow::policy
