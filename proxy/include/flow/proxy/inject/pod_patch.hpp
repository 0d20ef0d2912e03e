// The sidecar injector's functional core: a pod (the JSON of a v1 Pod, as the API server sends
// it in an AdmissionReview) and the injector's options in, the JSONPatch (RFC 6902) that puts
// 402flow beside it out. No I/O: `402flow inject` (inject_server.cpp) serves it, the unit tests
// table-test it.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flow::proxy::inject {

// The label (on a namespace or a pod) and the annotations a pod may carry.
inline constexpr std::string_view kInjectKey = "402flow.io/inject";  // enabled | disabled
inline constexpr std::string_view kAgentAnnotation = "402flow.io/agent";
inline constexpr std::string_view kInterceptAnnotation = "402flow.io/intercept";      // on | off
inline constexpr std::string_view kTransparentAnnotation = "402flow.io/transparent";  // on | off
inline constexpr std::string_view kExcludeHostsAnnotation = "402flow.io/exclude-hosts";
inline constexpr std::string_view kSidecarModeAnnotation = "402flow.io/sidecar-mode";  // see below
// Written by the injector.
inline constexpr std::string_view kInjectedAnnotation = "402flow.io/injected";
inline constexpr std::string_view kKeptEnvAnnotation = "402flow.io/kept-env";

// How the sidecar is added: as a native sidecar (an init container with restartPolicy: Always,
// Kubernetes >= 1.29: it starts before the app containers and stops after them), or as a plain
// container beside them for older clusters.
enum class SidecarMode { native, container };

struct InjectOptions {
  std::string image = "402flow:latest";
  std::string image_pull_policy = "IfNotPresent";
  std::string config_map = "402flow-config";               // holds flow.yaml
  std::string ca_secret = "402flow-ca";                    // holds ca.pem and ca.key
  std::string wallet_secret = "402flow-wallet";            // wallet key files, copied 0600
  std::string admin_token_secret = "402flow-admin-token";  // holds `token`
  // NO_PROXY of every app container, before the pod's own address and excluded hosts.
  std::string no_proxy =
      "localhost,127.0.0.1,::1,.svc,.svc.cluster.local,.cluster.local,"
      "kubernetes,kubernetes.default,kubernetes.default.svc";
  std::uint16_t proxy_port = 8402;
  std::uint16_t admin_port = 9402;
  std::uint16_t transparent_port = 15001;
  std::int64_t uid = 10402;  // the sidecar's user and group; transparent mode exempts it
  SidecarMode mode = SidecarMode::native;
  // Resources of the sidecar (bench/README.md: ~7 MiB idle, ~10 MiB under load, ~32 µs of CPU
  // per request).
  std::string cpu_request = "25m";
  std::string memory_request = "32Mi";
  std::string memory_limit = "128Mi";
};

struct PodPatch {
  bool injected = false;
  std::string skipped;  // why nothing was added: "opted out", "already injected", ...
  nlohmann::json patch = nlohmann::json::array();  // JSONPatch operations; empty when skipped
  std::vector<std::string> warnings;  // operator-facing: an annotation value not understood, ...
};

// Pure. Never throws on any JSON: a value that is not a pod is answered "not a pod".
PodPatch build_pod_patch(const nlohmann::json& pod, const InjectOptions& options);

// One reference token of a JSON Pointer (RFC 6901): "~" -> "~0", "/" -> "~1".
std::string pointer_token(std::string_view key);

// The mount paths the patch uses (the documentation and the tests name them).
inline constexpr std::string_view kConfigDir = "/etc/402flow";
inline constexpr std::string_view kCaSecretDir = "/etc/402flow-secrets/ca";
inline constexpr std::string_view kWalletSecretDir = "/etc/402flow-secrets/wallet";
inline constexpr std::string_view kCaDir = "/var/run/402flow/ca";        // ca.pem + ca.key, 0600
inline constexpr std::string_view kKeysDir = "/var/run/402flow/keys";    // wallet keys, 0600
inline constexpr std::string_view kTrustDir = "/var/run/402flow/trust";  // bundle.pem, ca.pem
inline constexpr std::string_view kDataDir = "/var/lib/402flow";         // the ledger
inline constexpr std::string_view kBinary = "/usr/local/bin/402flow";
inline constexpr std::string_view kIptablesScript = "/usr/local/lib/402flow/iptables.sh";

}  // namespace flow::proxy::inject
