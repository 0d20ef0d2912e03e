#include "flow/policy/flow_config.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>

#include "flow/policy/duration.hpp"

namespace flow::policy {
namespace {

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& what) const {
    std::ostringstream out;
    const YAML::Mark mark = node.Mark();
    out << source_;
    if (!mark.is_null()) out << ':' << mark.line + 1 << ':' << mark.column + 1;
    out << ": " << what;
    throw ConfigError(out.str());
  }

  void expect_map(const YAML::Node& node, const std::string& where) const {
    if (!node.IsMap()) fail(node, where + " must be a mapping");
  }

  // Unknown keys are errors: a typo must never silently widen what the proxy allows.
  void only_keys(const YAML::Node& node, const std::string& where,
                 std::initializer_list<std::string_view> allowed) const {
    for (const auto& item : node) {
      const auto key = item.first.as<std::string>();
      bool known = false;
      for (auto a : allowed) known = known || key == a;
      if (known) continue;
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      fail(item.first,
           "unknown key '" + key + "' in " + where + " (expected one of: " + list + ")");
    }
  }

  std::string string(const YAML::Node& node, const std::string& what) const {
    if (!node.IsScalar()) fail(node, what + " must be a string");
    return node.Scalar();
  }

  std::uint64_t integer(const YAML::Node& node, const std::string& what, std::uint64_t min,
                        std::uint64_t max) const {
    if (!node.IsScalar()) fail(node, what + " must be an integer");
    const std::string& text = node.Scalar();
    std::uint64_t value = 0;
    bool ok = !text.empty() && text.size() <= 19;
    for (char c : text) {
      ok = ok && c >= '0' && c <= '9';
      if (ok) value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (!ok || value < min || value > max) {
      fail(node, what + " must be an integer from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", got '" + text + "'");
    }
    return value;
  }

  milliseconds duration(const YAML::Node& node, const std::string& what) const {
    if (!node.IsScalar()) fail(node, what + " must be a duration such as 500ms, 10s, 2m");
    auto parsed = parse_duration(node.Scalar());
    if (!parsed || parsed->count() == 0) {
      fail(node, what + " must be a positive duration such as 500ms, 10s, 2m, got '" +
                     node.Scalar() + "'");
    }
    return *parsed;
  }

 private:
  std::string source_;
};

void read_timeouts(const Reader& r, const YAML::Node& node, ProxyTimeouts& t) {
  r.expect_map(node, "proxy.timeouts");
  r.only_keys(node, "proxy.timeouts",
              {"header", "idle", "connect", "upstream", "tunnel_idle", "drain", "pool_idle"});
  const std::pair<const char*, milliseconds*> fields[] = {
      {"header", &t.header},           {"idle", &t.idle},
      {"connect", &t.connect},         {"upstream", &t.upstream},
      {"tunnel_idle", &t.tunnel_idle}, {"drain", &t.drain},
      {"pool_idle", &t.pool_idle}};
  for (auto [key, field] : fields) {
    if (node[key]) *field = r.duration(node[key], std::string("proxy.timeouts.") + key);
  }
}

void read_proxy(const Reader& r, const YAML::Node& node, ProxySettings& p) {
  r.expect_map(node, "proxy");
  r.only_keys(node, "proxy",
              {"listen", "connect_ports", "max_connections", "max_header_bytes", "write_high_water",
               "pool_max_idle_per_origin", "timeouts", "access_log", "log_level"});
  if (node["listen"]) p.listen = r.string(node["listen"], "proxy.listen");
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
  if (node["timeouts"]) read_timeouts(r, node["timeouts"], p.timeouts);
  if (node["access_log"]) p.access_log = r.string(node["access_log"], "proxy.access_log");
  if (node["log_level"]) {
    p.log_level = r.string(node["log_level"], "proxy.log_level");
    if (!is_valid_log_level(p.log_level)) {
      r.fail(node["log_level"], "proxy.log_level must be one of error, warn, info, debug");
    }
  }
}

}  // namespace

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
  if (root.IsNull()) return config;
  r.expect_map(root, "the top level");
  r.only_keys(root, "the top level", {"version", "proxy"});
  if (root["version"])
    config.version = static_cast<int>(r.integer(root["version"], "version", 1, 1));
  if (root["proxy"]) read_proxy(r, root["proxy"], config.proxy);
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
