// build_pod_patch: what the injector adds to a pod, as JSONPatch operations. Each piece of the
// pod (init containers, app containers' env and mounts, volumes, annotations) has its own
// function; a missing array is added whole, an existing one is appended to.
#include "flow/proxy/inject/pod_patch.hpp"

#include <algorithm>
#include <set>

namespace flow::proxy::inject {
namespace {

using nlohmann::json;

// Names of what the injector adds; a pod that has one of them already is left alone.
constexpr std::string_view kSidecarName = "402flow";
constexpr std::string_view kInitName = "402flow-init";
constexpr std::string_view kIptablesName = "402flow-iptables";
constexpr std::string_view kConfigVolume = "402flow-config";
constexpr std::string_view kCaSecretVolume = "402flow-ca-secret";
constexpr std::string_view kWalletSecretVolume = "402flow-wallet-secret";
constexpr std::string_view kRuntimeVolume = "402flow-run";
constexpr std::string_view kTrustVolume = "402flow-trust";
constexpr std::string_view kDataVolume = "402flow-data";
constexpr std::string_view kPodIpVar = "FLOW402_POD_IP";

// The proxy variables every app container gets, lower case too: clients differ in which they
// read (curl ignores upper-case HTTP_PROXY, Go reads both).
const std::vector<std::string> kProxyVars = {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                                             "http_proxy", "https_proxy", "no_proxy"};

// What the annotations (and the options under them) decide for this pod.
struct PodChoices {
  bool agent_annotated = false;
  bool intercept = true;
  bool transparent = false;
  SidecarMode mode = SidecarMode::native;
  std::string exclude_hosts;  // comma-separated, as written
};

const json* member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

const json& empty_object() {
  static const json empty = json::object();
  return empty;
}

const json& metadata_map(const json& pod, std::string_view which) {
  const json* metadata = member(pod, "metadata");
  const json* map = metadata ? member(*metadata, which) : nullptr;
  return map && map->is_object() ? *map : empty_object();
}

std::string string_at(const json& map, std::string_view key) {
  const json* value = member(map, key);
  return value && value->is_string() ? value->get<std::string>() : std::string();
}

const json* array_at(const json& spec, std::string_view key) {
  const json* value = member(spec, key);
  return value && value->is_array() ? value : nullptr;
}

bool has_named(const json* items, std::string_view name) {
  if (!items) return false;
  return std::any_of(items->begin(), items->end(),
                     [&](const json& item) { return string_at(item, "name") == name; });
}

// "on"/"off" and their usual spellings; anything else keeps `fallback` with a warning.
bool switch_value(const json& annotations, std::string_view key, bool fallback,
                  std::vector<std::string>& warnings) {
  const std::string value = string_at(annotations, key);
  if (value.empty()) return fallback;
  static const std::set<std::string, std::less<>> on = {"on", "true", "enabled", "yes"};
  static const std::set<std::string, std::less<>> off = {"off", "false", "disabled", "no"};
  if (on.contains(value)) return true;
  if (off.contains(value)) return false;
  warnings.push_back("annotation " + std::string(key) + ": '" + value +
                     "' is neither on nor off; kept " + (fallback ? "on" : "off"));
  return fallback;
}

PodChoices read_choices(const json& annotations, const InjectOptions& options,
                        std::vector<std::string>& warnings) {
  PodChoices c;
  c.agent_annotated = !string_at(annotations, kAgentAnnotation).empty();
  c.intercept = switch_value(annotations, kInterceptAnnotation, true, warnings);
  c.transparent = switch_value(annotations, kTransparentAnnotation, false, warnings);
  c.exclude_hosts = string_at(annotations, kExcludeHostsAnnotation);
  c.mode = options.mode;
  const std::string mode = string_at(annotations, kSidecarModeAnnotation);
  if (mode == "native") {
    c.mode = SidecarMode::native;
  } else if (mode == "container") {
    c.mode = SidecarMode::container;
  } else if (!mode.empty()) {
    warnings.push_back("annotation " + std::string(kSidecarModeAnnotation) + ": '" + mode +
                       "' is neither native nor container; kept the default");
  }
  return c;
}

// Why the pod gets nothing; empty when it is to be injected.
std::string skip_reason(const json& pod) {
  if (!pod.is_object()) return "not a pod";
  const json* spec = member(pod, "spec");
  if (!spec || !array_at(*spec, "containers")) return "not a pod: no spec.containers";
  if (string_at(metadata_map(pod, "labels"), kInjectKey) == "disabled" ||
      string_at(metadata_map(pod, "annotations"), kInjectKey) == "disabled") {
    return "opted out";
  }
  if (member(metadata_map(pod, "annotations"), kInjectedAnnotation) ||
      has_named(array_at(*spec, "initContainers"), kSidecarName) ||
      has_named(array_at(*spec, "containers"), kSidecarName)) {
    return "already injected";
  }
  return {};
}

std::string loopback(std::uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

json mount(std::string_view volume, std::string_view path, bool read_only) {
  return {{"name", volume}, {"mountPath", path}, {"readOnly", read_only}};
}

json field_env(std::string_view name, std::string_view field_path) {
  return {{"name", name}, {"valueFrom", {{"fieldRef", {{"fieldPath", field_path}}}}}};
}

json restricted_security(const InjectOptions& o) {
  return {{"runAsUser", o.uid},
          {"runAsGroup", o.uid},
          {"runAsNonRoot", true},
          {"allowPrivilegeEscalation", false},
          {"readOnlyRootFilesystem", true},
          {"capabilities", {{"drop", {"ALL"}}}}};
}

json http_probe(std::string_view path, const InjectOptions& o, int period, int failures) {
  return {{"httpGet", {{"path", path}, {"port", o.admin_port}}},
          {"periodSeconds", period},
          {"failureThreshold", failures}};
}

std::vector<std::string> sidecar_args(const PodChoices& c, const InjectOptions& o) {
  std::vector<std::string> args = {"run",
                                   "--config",
                                   std::string(kConfigDir) + "/flow.yaml",
                                   "--listen",
                                   loopback(o.proxy_port),
                                   "--admin",
                                   "0.0.0.0:" + std::to_string(o.admin_port),
                                   "--db",
                                   std::string(kDataDir) + "/ledger.db"};
  if (c.intercept) {
    args.insert(args.end(), {"--ca-dir", std::string(kCaDir)});
  }
  if (c.transparent) {
    args.insert(args.end(), {"--transparent", loopback(o.transparent_port)});
  }
  return args;
}

json sidecar_env(const PodChoices& c, const InjectOptions& o) {
  json env = json::array();
  // The downward API: the annotation when the pod names its agent, else the pod's name (known
  // only once the API server has generated it, hence not copied here).
  env.push_back(field_env("FLOW402_AGENT",
                          c.agent_annotated
                              ? "metadata.annotations['" + std::string(kAgentAnnotation) + "']"
                              : "metadata.name"));
  env.push_back(
      {{"name", "FLOW402_ADMIN_TOKEN"},
       {"valueFrom", {{"secretKeyRef", {{"name", o.admin_token_secret}, {"key", "token"}}}}}});
  return env;
}

json sidecar_container(const PodChoices& c, const InjectOptions& o) {
  json mounts = json::array({mount(kConfigVolume, kConfigDir, true),
                             mount(kRuntimeVolume, "/var/run/402flow", true),
                             mount(kDataVolume, kDataDir, false)});
  json container = {
      {"name", kSidecarName},
      {"image", o.image},
      {"imagePullPolicy", o.image_pull_policy},
      {"command", {kBinary}},
      {"args", sidecar_args(c, o)},
      {"env", sidecar_env(c, o)},
      {"ports",
       {{{"name", "402flow-admin"}, {"containerPort", o.admin_port}, {"protocol", "TCP"}}}},
      {"volumeMounts", mounts},
      {"livenessProbe", http_probe("/livez", o, 10, 3)},
      {"readinessProbe", http_probe("/readyz", o, 5, 3)},
      {"resources",
       {{"requests", {{"cpu", o.cpu_request}, {"memory", o.memory_request}}},
        {"limits", {{"memory", o.memory_limit}}}}},
      {"securityContext", restricted_security(o)}};
  if (c.mode == SidecarMode::native) {
    container["restartPolicy"] = "Always";
    // The app containers start once this answers: the proxy is there before their first request.
    container["startupProbe"] = http_probe("/livez", o, 1, 30);
  }
  return container;
}

// Copies the Secrets' files into the pod's runtime volume, owned by the sidecar's user and
// 0600 (Secret volumes are root-owned, or group-readable under fsGroup, and 402flow refuses key
// files others can read), and writes the app containers' trust files: the CA alone and the
// system roots plus the CA.
std::string init_script(const PodChoices& c, const InjectOptions& o) {
  const std::string owner = std::to_string(o.uid) + ":" + std::to_string(o.uid);
  const std::string keys(kKeysDir), ca(kCaDir), trust(kTrustDir);
  std::string s = "set -eu\n";
  s += "mkdir -p " + keys + " " + ca + "\n";
  s += "for f in " + std::string(kWalletSecretDir) + "/*; do\n";
  s += "  [ -f \"$f\" ] || continue\n";
  s += "  cp \"$f\" " + keys + "/ && chmod 0600 " + keys + "/\"${f##*/}\"\n";
  s += "done\n";
  if (c.intercept) {
    s += "cp " + std::string(kCaSecretDir) + "/ca.pem " + std::string(kCaSecretDir) + "/ca.key " +
         ca + "/\n";
    s += "chmod 0644 " + ca + "/ca.pem && chmod 0600 " + ca + "/ca.key\n";
    s += kBinary;
    s += " ca bundle --dir " + ca + " --out " + trust + "/bundle.pem\n";
    s += "cp " + ca + "/ca.pem " + trust + "/ca.pem && chmod 0644 " + trust + "/*.pem\n";
  }
  s += "chmod 0700 " + keys + " " + ca + "\n";
  s += "chown -R " + owner + " " + keys + " " + ca + "\n";
  return s;
}

json init_container(const PodChoices& c, const InjectOptions& o) {
  json mounts = json::array({mount(kWalletSecretVolume, kWalletSecretDir, true),
                             mount(kRuntimeVolume, "/var/run/402flow", false)});
  if (c.intercept) {
    mounts.push_back(mount(kCaSecretVolume, kCaSecretDir, true));
    mounts.push_back(mount(kTrustVolume, kTrustDir, false));
  }
  // Root without privileges beyond handing the copies to the sidecar's user.
  json security = {{"runAsUser", 0},
                   {"runAsNonRoot", false},
                   {"allowPrivilegeEscalation", false},
                   {"readOnlyRootFilesystem", true},
                   {"capabilities", {{"drop", {"ALL"}}, {"add", {"CHOWN"}}}}};
  return {{"name", kInitName},
          {"image", o.image},
          {"imagePullPolicy", o.image_pull_policy},
          {"command", {"/bin/sh", "-c", init_script(c, o)}},
          {"volumeMounts", mounts},
          {"resources", {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}}}},
          {"securityContext", security}};
}

// Transparent mode: the pod's outbound TCP to 80 and 443 goes to the transparent listener; the
// sidecar's own user is exempt. The only container of the pod with NET_ADMIN (and NET_RAW,
// which iptables needs to open its netlink and raw sockets).
json iptables_container(const InjectOptions& o) {
  json security = {{"runAsUser", 0},
                   {"runAsNonRoot", false},
                   {"allowPrivilegeEscalation", false},
                   {"readOnlyRootFilesystem", false},
                   {"capabilities", {{"drop", {"ALL"}}, {"add", {"NET_ADMIN", "NET_RAW"}}}}};
  return {
      {"name", kIptablesName},
      {"image", o.image},
      {"imagePullPolicy", o.image_pull_policy},
      {"command", {kIptablesScript}},
      {"args",
       {"--proxy-uid", std::to_string(o.uid), "--proxy-port", std::to_string(o.transparent_port)}},
      {"resources", {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}}}},
      {"securityContext", security}};
}

json volumes(const PodChoices& c, const InjectOptions& o) {
  json v = json::array();
  v.push_back({{"name", kConfigVolume}, {"configMap", {{"name", o.config_map}}}});
  v.push_back(
      {{"name", kWalletSecretVolume},
       {"secret", {{"secretName", o.wallet_secret}, {"defaultMode", 0400}, {"optional", true}}}});
  if (c.intercept) {
    v.push_back({{"name", kCaSecretVolume},
                 {"secret", {{"secretName", o.ca_secret}, {"defaultMode", 0400}}}});
    v.push_back(
        {{"name", kTrustVolume}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "1Mi"}}}});
  }
  v.push_back(
      {{"name", kRuntimeVolume}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "1Mi"}}}});
  v.push_back({{"name", kDataVolume}, {"emptyDir", json::object()}});
  return v;
}

std::string no_proxy_value(const PodChoices& c, const InjectOptions& o) {
  // $(FLOW402_POD_IP) is expanded by the kubelet (defined earlier in the same env list): the
  // pod's own address, whatever port it is reached on.
  std::string value = o.no_proxy + ",$(" + std::string(kPodIpVar) + ")";
  if (!c.exclude_hosts.empty()) value += "," + c.exclude_hosts;
  return value;
}

// The env an app container gets, in order (FLOW402_POD_IP before the NO_PROXY that uses it).
std::vector<json> app_env(const PodChoices& c, const InjectOptions& o) {
  const std::string proxy = "http://" + loopback(o.proxy_port);
  const std::string no_proxy = no_proxy_value(c, o);
  std::vector<json> env = {field_env(kPodIpVar, "status.podIP")};
  for (const auto& name : kProxyVars) {
    const bool is_no_proxy = name == "NO_PROXY" || name == "no_proxy";
    env.push_back({{"name", name}, {"value", is_no_proxy ? no_proxy : proxy}});
  }
  if (c.intercept) {
    const std::string bundle = std::string(kTrustDir) + "/bundle.pem";
    for (const char* name : {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}) {
      env.push_back({{"name", name}, {"value", bundle}});
    }
    env.push_back({{"name", "NODE_EXTRA_CA_CERTS"}, {"value", std::string(kTrustDir) + "/ca.pem"}});
  }
  return env;
}

// Adds `items` at `path`: the whole array when the pod has none, else each one at the end.
void append_items(json& patch, const std::string& path, const json* existing,
                  const std::vector<json>& items) {
  if (items.empty()) return;
  if (!existing) {
    patch.push_back({{"op", "add"}, {"path", path}, {"value", items}});
    return;
  }
  for (const auto& item : items)
    patch.push_back({{"op", "add"}, {"path", path + "/-"}, {"value", item}});
}

// Ours go first, in order: the sidecar is up before the pod's own init containers run.
void prepend_items(json& patch, const std::string& path, const json* existing,
                   const std::vector<json>& items) {
  if (!existing) return append_items(patch, path, existing, items);
  for (std::size_t i = 0; i < items.size(); ++i) {
    patch.push_back({{"op", "add"}, {"path", path + "/" + std::to_string(i)}, {"value", items[i]}});
  }
}

// The env and mounts of app container `index`; a proxy or trust variable it sets already is
// kept and named in `kept` ("container/NAME").
void patch_app_container(json& patch, const json& container, std::size_t index, const PodChoices& c,
                         const InjectOptions& o, std::vector<std::string>& kept) {
  const std::string base = "/spec/containers/" + std::to_string(index);
  const json* env = array_at(container, "env");
  std::vector<json> add;
  for (auto& var : app_env(c, o)) {
    const std::string name = var["name"];
    if (has_named(env, name)) {
      if (name != kPodIpVar) kept.push_back(string_at(container, "name") + "/" + name);
      continue;
    }
    add.push_back(std::move(var));
  }
  append_items(patch, base + "/env", env, add);
  if (c.intercept) {
    append_items(patch, base + "/volumeMounts", array_at(container, "volumeMounts"),
                 {mount(kTrustVolume, kTrustDir, true)});
  }
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

void patch_annotations(json& patch, const json& pod, const InjectOptions& o,
                       const std::vector<std::string>& kept, std::vector<std::string>& warnings) {
  const json& existing = metadata_map(pod, "annotations");
  json ours = {{kInjectedAnnotation, "true"}};
  if (!kept.empty()) ours[std::string(kKeptEnvAnnotation)] = joined(kept);
  if (member(existing, "prometheus.io/scrape")) {
    warnings.push_back(
        "the pod's own prometheus.io/ annotations are kept: 402flow's metrics "
        "are on port " +
        std::to_string(o.admin_port) + " at /metrics");
  } else {
    ours["prometheus.io/scrape"] = "true";
    ours["prometheus.io/port"] = std::to_string(o.admin_port);
    ours["prometheus.io/path"] = "/metrics";
  }
  const json* metadata = member(pod, "metadata");
  if (!metadata || !metadata->is_object()) {
    patch.push_back({{"op", "add"}, {"path", "/metadata"}, {"value", {{"annotations", ours}}}});
  } else if (!member(*metadata, "annotations") || !(*metadata)["annotations"].is_object()) {
    patch.push_back({{"op", "add"}, {"path", "/metadata/annotations"}, {"value", ours}});
  } else {
    for (const auto& [key, value] : ours.items()) {
      patch.push_back({{"op", "add"},
                       {"path", "/metadata/annotations/" + pointer_token(key)},
                       {"value", value}});
    }
  }
}

}  // namespace

std::string pointer_token(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (const char ch : key) {
    if (ch == '~') {
      out += "~0";
    } else if (ch == '/') {
      out += "~1";
    } else {
      out += ch;
    }
  }
  return out;
}

PodPatch build_pod_patch(const json& pod, const InjectOptions& options) {
  PodPatch result;
  result.skipped = skip_reason(pod);
  if (!result.skipped.empty()) return result;
  const json& spec = pod["spec"];
  const PodChoices choices =
      read_choices(metadata_map(pod, "annotations"), options, result.warnings);
  json& patch = result.patch;

  std::vector<json> inits;
  if (choices.transparent) inits.push_back(iptables_container(options));
  inits.push_back(init_container(choices, options));
  if (choices.mode == SidecarMode::native) inits.push_back(sidecar_container(choices, options));
  prepend_items(patch, "/spec/initContainers", array_at(spec, "initContainers"), inits);

  const json& containers = spec["containers"];
  std::vector<std::string> kept;
  for (std::size_t i = 0; i < containers.size(); ++i) {
    patch_app_container(patch, containers[i], i, choices, options, kept);
  }
  if (choices.mode == SidecarMode::container) {
    append_items(patch, "/spec/containers", &containers, {sidecar_container(choices, options)});
  }
  const json v = volumes(choices, options);
  append_items(patch, "/spec/volumes", array_at(spec, "volumes"), {v.begin(), v.end()});
  patch_annotations(patch, pod, options, kept, result.warnings);
  result.injected = true;
  return result;
}

}  // namespace flow::proxy::inject
