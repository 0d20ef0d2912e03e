// merchants: which hosts (and paths, methods) may be paid, how, and how much.
#include <algorithm>
#include <unordered_map>

#include "counter_key.hpp"
#include "flow/policy/request_path.hpp"
#include "policy_schema.hpp"

namespace flow::policy {
namespace {

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

// A DNS name or IPv4 literal (lower-cased already); empty labels are refused.
bool is_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253 || h.front() == '.' || h.back() == '.') return false;
  if (h.find("..") != std::string_view::npos) return false;
  return std::all_of(h.begin(), h.end(), is_host_char);
}

std::string read_path_prefix(const YamlReader& r, const Field& f) {
  const std::string path = r.string(f);
  if (path.front() != '/' || path.find_first_of("?#") != std::string::npos ||
      !is_normal_path(path)) {
    r.fail(f, f.where +
                  " must be a path prefix such as /v1 (no query, no dot segments, no "
                  "encoded characters), got '" +
                  path + "'");
  }
  return path;
}

std::vector<std::string> read_methods(const YamlReader& r, const Field& f) {
  std::vector<std::string> methods;
  r.scalar_or_list(f, [&](const std::string& m, const YAML::Node& node) {
    std::string upper = m;
    for (char& c : upper) c = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    if (!std::all_of(upper.begin(), upper.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
      r.fail(node, f.where + " entries must be HTTP methods such as GET, got '" + m + "'");
    }
    if (std::find(methods.begin(), methods.end(), upper) != methods.end()) {
      r.fail(node, f.where + " lists '" + upper + "' twice");
    }
    methods.push_back(std::move(upper));
  });
  std::sort(methods.begin(), methods.end());
  return methods;
}

MerchantAction read_action(const YamlReader& r, const Field& f) {
  const std::string a = f.value.IsScalar() ? f.value.Scalar() : "";
  if (a == "allow") return MerchantAction::allow;
  if (a == "deny") return MerchantAction::deny;
  if (a == "review") return MerchantAction::review;
  r.fail(f, f.where + " must be allow, deny or review, got '" + a + "'");
}

std::vector<std::string> read_pay_to(const YamlReader& r, const Field& f) {
  std::vector<std::string> out;
  r.scalar_or_list(f, [&](const std::string& p, const YAML::Node& node) {
    const bool looks_evm = p.starts_with("0x") || p.starts_with("0X");
    if (looks_evm && !is_evm_address(p)) {
      r.fail(node, f.where + ": '" + p + "' is not a 0x address of 40 hex digits");
    }
    if (p.find_first_of(" \t|") != std::string::npos) {
      r.fail(node, f.where + ": '" + p + "' must not contain spaces or '|'");
    }
    out.push_back(looks_evm ? lower_ascii(p) : p);
  });
  return out;
}

void read_accept(const YamlReader& r, const YAML::Node& node, const std::string& where,
                 const AssetTable& table, OfferConstraints& accept) {
  if (const Field f = r.field(node, where, "networks"))
    accept.networks = read_networks(r, f, table);
  if (const Field f = r.field(node, where, "assets")) {
    r.scalar_or_list(f, [&](const std::string& symbol, const YAML::Node& item) {
      if (!table.find_symbol(symbol)) {
        r.fail(item, f.where + ": unknown asset symbol '" + symbol +
                         "' (known: " + table.symbols_list() + ")");
      }
      accept.assets.push_back(symbol);
    });
  }
  if (const Field f = r.field(node, where, "pay_to")) accept.pay_to = read_pay_to(r, f);
}

MerchantRule read_merchant(const YamlReader& r, const YAML::Node& node, const std::string& where,
                           const AssetTable& table) {
  r.expect_map(node, where);
  r.only_keys(node, where,
              {"name", "host", "path", "methods", "action", "networks", "assets", "pay_to", "caps",
               "insecure_upstream"});
  MerchantRule m;
  m.host = read_host_pattern(r, r.required(node, where, "host"));
  m.name = m.host;
  if (const Field f = r.field(node, where, "name")) {
    m.name = r.string(f);
    if (!is_valid_name(m.name, false)) {
      r.fail(f, f.where + " must be 1 to 64 of A-Z a-z 0-9 . _ -, got '" + m.name + "'");
    }
  }
  m.rule = "merchants[" + m.name + "]";
  if (const Field f = r.field(node, where, "path")) m.path_prefix = read_path_prefix(r, f);
  if (const Field f = r.field(node, where, "methods")) m.methods = read_methods(r, f);
  m.action = read_action(r, r.required(node, where, "action"));
  read_accept(r, node, where, table, m.accept);
  if (const Field f = r.field(node, where, "insecure_upstream")) {
    m.insecure_upstream = r.boolean(f);
  }
  if (Field f = r.field(node, where, "caps")) {
    f.where = m.rule + ".caps";  // rules name the merchant, not its position
    m.caps = read_caps(r, f, table, counter_key::merchant_prefix(m.name));
  }
  return m;
}

// Two rules for the same host, path and methods: the second could never apply.
std::string request_shape(const MerchantRule& m) {
  std::string shape = m.host + " " + m.path_prefix;
  for (const auto& method : m.methods) shape += " " + method;
  return shape;
}

}  // namespace

std::string read_host_pattern(const YamlReader& r, const Field& f) {
  const std::string host = lower_ascii(r.string(f));
  if (host.find(':') != std::string::npos) {
    r.fail(f, f.where + " must be a host name without scheme or port, got '" + host + "'");
  }
  const bool wildcard = host.starts_with("*.");
  const std::string_view name = wildcard ? std::string_view(host).substr(2) : host;
  if (name.find('*') != std::string_view::npos) {
    r.fail(f, f.where + ": only a leading '*.' wildcard is supported, got '" + host + "'");
  }
  if (!is_host_name(name)) {
    r.fail(f, f.where + " must be a host name such as api.example.com or *.example.com, got '" +
                  host + "'");
  }
  return host;
}

std::vector<MerchantRule> read_merchants(const YamlReader& r, const Field& f,
                                         const AssetTable& table) {
  std::vector<MerchantRule> merchants;
  std::unordered_map<std::string, std::size_t> by_name;
  std::unordered_map<std::string, std::size_t> by_shape;
  std::vector<int> lines;
  r.list(f, [&](const YAML::Node& item, std::size_t i) {
    MerchantRule m = read_merchant(r, item, f.where + "[" + std::to_string(i) + "]", table);
    m.index = i;
    if (const auto [it, fresh] = by_name.emplace(m.name, i); !fresh) {
      r.fail(item, "merchant name '" + m.name + "' is used twice (first on line " +
                       std::to_string(lines[it->second]) +
                       "); give one of them a distinct 'name:'");
    }
    if (const auto [it, fresh] = by_shape.emplace(request_shape(m), i); !fresh) {
      r.fail(item, m.rule + " matches the same requests as " + merchants[it->second].rule +
                       " (line " + std::to_string(lines[it->second]) +
                       "), so it could never apply; merge them");
    }
    lines.push_back(item.Mark().line + 1);
    merchants.push_back(std::move(m));
  });
  return merchants;
}

}  // namespace flow::policy
