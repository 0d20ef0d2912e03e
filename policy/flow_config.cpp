#include "flow/policy/flow_config.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <limits>
#include <sstream>

#include "policy_schema.hpp"
#include "yaml_reader.hpp"

namespace flow::policy {
namespace {

using Reader = YamlReader;

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
  r.only_keys(root, "the top level",
              {"version", "proxy", "organization", "review", "assets", "agents", "merchants"});
  if (root["version"])
    config.version = static_cast<int>(r.integer(root["version"], "version", 1, 1));
  if (root["proxy"]) read_proxy(r, root["proxy"], config.proxy);
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
