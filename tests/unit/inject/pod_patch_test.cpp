// The injector's pod patch and AdmissionReview answer, as pure functions: the patch is applied
// with nlohmann's own RFC 6902 implementation and the pod read back field by field.
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "flow/proxy/inject/admission_review.hpp"
#include "flow/proxy/inject/pod_patch.hpp"

namespace {

using nlohmann::json;
using namespace flow::proxy::inject;

json pod_with(json spec, json metadata = json::object()) {
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", metadata}, {"spec", spec}};
}

json simple_pod() {
  return pod_with({{"containers", {{{"name", "app"}, {"image", "curl"}}}}},
                  {{"generateName", "agent-"}});
}

json patched(const json& pod, const InjectOptions& o = {}) {
  const PodPatch p = build_pod_patch(pod, o);
  REQUIRE(p.injected);
  return pod.patch(p.patch);
}

const json* named(const json& items, const std::string& name) {
  for (const auto& item : items) {
    if (item.value("name", "") == name) return &item;
  }
  return nullptr;
}

std::string env_value(const json& container, const std::string& name) {
  const json* var = named(container["env"], name);
  return var && var->contains("value") ? (*var)["value"].get<std::string>() : std::string("<none>");
}

json review_of(const json& pod, const std::string& operation = "CREATE") {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"operation", operation},
            {"namespace", "agents"},
            {"object", pod}}}};
}

std::string unbase64(const std::string& text) {
  std::string out(text.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  REQUIRE(n >= 0);
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '\0') out.pop_back();  // the padding's zero bytes
  return out;
}

}  // namespace

TEST_CASE("pointer tokens escape ~ before / (RFC 6901)") {
  CHECK(pointer_token("402flow.io/agent") == "402flow.io~1agent");
  CHECK(pointer_token("a~/b") == "a~0~1b");
  CHECK(pointer_token("plain") == "plain");
}

TEST_CASE("a bare pod gets the native sidecar, init step, env, mounts, volumes, annotations") {
  const PodPatch p = build_pod_patch(simple_pod(), {});
  REQUIRE(p.injected);
  // Arrays the pod did not have are added whole, not appended to.
  CHECK(p.patch[0]["path"] == "/spec/initContainers");
  const json pod = simple_pod().patch(p.patch);
  const json& inits = pod["spec"]["initContainers"];
  REQUIRE(inits.size() == 2);
  CHECK(inits[0]["name"] == "402flow-init");
  const json& sidecar = inits[1];
  CHECK(sidecar["name"] == "402flow");
  CHECK(sidecar["restartPolicy"] == "Always");
  CHECK(sidecar["startupProbe"]["httpGet"]["path"] == "/livez");
  CHECK(sidecar["livenessProbe"]["httpGet"]["path"] == "/livez");
  CHECK(sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz");
  CHECK(sidecar["securityContext"]["runAsUser"] == 10402);
  CHECK(sidecar["resources"]["requests"]["memory"] == "32Mi");
  const json& args = sidecar["args"];
  CHECK(args[0] == "run");
  CHECK(std::find(args.begin(), args.end(), "--ca-dir") != args.end());
  CHECK(std::find(args.begin(), args.end(), "--transparent") == args.end());
  CHECK((*named(sidecar["env"], "FLOW402_AGENT"))["valueFrom"]["fieldRef"]["fieldPath"] ==
        "metadata.name");

  const json& app = pod["spec"]["containers"][0];
  CHECK(env_value(app, "HTTP_PROXY") == "http://127.0.0.1:8402");
  CHECK(env_value(app, "https_proxy") == "http://127.0.0.1:8402");
  CHECK(env_value(app, "NO_PROXY").find("$(FLOW402_POD_IP)") != std::string::npos);
  CHECK(env_value(app, "no_proxy") == env_value(app, "NO_PROXY"));
  CHECK(env_value(app, "SSL_CERT_FILE") == "/var/run/402flow/trust/bundle.pem");
  CHECK(env_value(app, "REQUESTS_CA_BUNDLE") == "/var/run/402flow/trust/bundle.pem");
  CHECK(env_value(app, "CURL_CA_BUNDLE") == "/var/run/402flow/trust/bundle.pem");
  CHECK(env_value(app, "NODE_EXTRA_CA_CERTS") == "/var/run/402flow/trust/ca.pem");
  // FLOW402_POD_IP comes before the NO_PROXY that refers to it.
  CHECK(app["env"][0]["name"] == "FLOW402_POD_IP");
  REQUIRE(app["volumeMounts"].size() == 1);
  CHECK(app["volumeMounts"][0]["readOnly"] == true);
  CHECK(app["volumeMounts"][0]["mountPath"] == "/var/run/402flow/trust");

  const json& volumes = pod["spec"]["volumes"];
  CHECK((*named(volumes, "402flow-config"))["configMap"]["name"] == "402flow-config");
  CHECK((*named(volumes, "402flow-ca-secret"))["secret"]["secretName"] == "402flow-ca");
  CHECK((*named(volumes, "402flow-wallet-secret"))["secret"]["secretName"] == "402flow-wallet");
  const json& annotations = pod["metadata"]["annotations"];
  CHECK(annotations["402flow.io/injected"] == "true");
  CHECK(annotations["prometheus.io/scrape"] == "true");
  CHECK(annotations["prometheus.io/port"] == "9402");
  CHECK_FALSE(annotations.contains("402flow.io/kept-env"));
}

TEST_CASE("existing arrays are appended to with /-, and init containers get ours first") {
  json pod = pod_with({{"initContainers", {{{"name", "migrate"}, {"image", "m"}}}},
                       {"containers",
                        {{{"name", "a"},
                          {"image", "x"},
                          {"env", {{{"name", "LANG"}, {"value", "C"}}}},
                          {"volumeMounts", {{{"name", "data"}, {"mountPath", "/data"}}}}},
                         {{"name", "b"}, {"image", "y"}}}},
                       {"volumes", {{{"name", "data"}, {"emptyDir", json::object()}}}}},
                      {{"name", "p"}, {"annotations", {{"team", "x"}}}});
  const PodPatch p = build_pod_patch(pod, {});
  REQUIRE(p.injected);
  bool appended_env = false, indexed_init = false, annotation_escaped = false;
  for (const auto& op : p.patch) {
    const std::string path = op["path"];
    appended_env |= path == "/spec/containers/0/env/-";
    indexed_init |= path == "/spec/initContainers/0";
    annotation_escaped |= path == "/metadata/annotations/402flow.io~1injected";
  }
  CHECK(appended_env);
  CHECK(indexed_init);
  CHECK(annotation_escaped);
  const json out = pod.patch(p.patch);
  const json& inits = out["spec"]["initContainers"];
  REQUIRE(inits.size() == 3);
  CHECK(inits[0]["name"] == "402flow-init");
  CHECK(inits[1]["name"] == "402flow");
  CHECK(inits[2]["name"] == "migrate");
  const json& a = out["spec"]["containers"][0];
  CHECK(a["env"][0]["name"] == "LANG");
  CHECK(env_value(a, "HTTPS_PROXY") == "http://127.0.0.1:8402");
  CHECK(a["volumeMounts"].size() == 2);
  CHECK(env_value(out["spec"]["containers"][1], "HTTPS_PROXY") == "http://127.0.0.1:8402");
  CHECK(out["spec"]["volumes"][0]["name"] == "data");
  CHECK(out["metadata"]["annotations"]["team"] == "x");
  CHECK(out["metadata"]["annotations"]["402flow.io/injected"] == "true");
}

TEST_CASE("a proxy variable the app sets is kept and reported") {
  json pod = pod_with({{"containers",
                        {{{"name", "app"},
                          {"image", "x"},
                          {"env",
                           {{{"name", "HTTPS_PROXY"}, {"value", "http://corp:3128"}},
                            {{"name", "no_proxy"}, {"value", "internal"}}}}}}}});
  const json out = patched(pod);
  const json& app = out["spec"]["containers"][0];
  CHECK(env_value(app, "HTTPS_PROXY") == "http://corp:3128");
  CHECK(env_value(app, "no_proxy") == "internal");
  CHECK(env_value(app, "HTTP_PROXY") == "http://127.0.0.1:8402");
  int https_proxy_count = 0;
  for (const auto& var : app["env"]) https_proxy_count += var["name"] == "HTTPS_PROXY";
  CHECK(https_proxy_count == 1);
  CHECK(out["metadata"]["annotations"]["402flow.io/kept-env"] == "app/HTTPS_PROXY,app/no_proxy");
}

TEST_CASE("annotations choose the agent, interception, transparent mode, excluded hosts, mode") {
  json pod = simple_pod();
  pod["metadata"]["annotations"] = {{"402flow.io/agent", "research-bot"},
                                    {"402flow.io/intercept", "off"},
                                    {"402flow.io/transparent", "on"},
                                    {"402flow.io/exclude-hosts", "db.internal,.corp.example"},
                                    {"402flow.io/sidecar-mode", "container"}};
  const json out = patched(pod);
  const json& inits = out["spec"]["initContainers"];
  REQUIRE(inits.size() == 2);
  CHECK(inits[0]["name"] == "402flow-iptables");
  CHECK(inits[0]["securityContext"]["capabilities"]["add"][0] == "NET_ADMIN");
  CHECK(inits[0]["args"] == json({"--proxy-uid", "10402", "--proxy-port", "15001"}));
  CHECK(inits[1]["name"] == "402flow-init");
  // Only the iptables step has NET_ADMIN.
  CHECK(inits[1]["securityContext"]["capabilities"]["add"] == json({"CHOWN"}));
  const json& containers = out["spec"]["containers"];
  REQUIRE(containers.size() == 2);
  const json& sidecar = containers[1];
  CHECK(sidecar["name"] == "402flow");
  CHECK_FALSE(sidecar.contains("restartPolicy"));
  CHECK(sidecar["securityContext"]["capabilities"]["drop"] == json({"ALL"}));
  const json& args = sidecar["args"];
  CHECK(std::find(args.begin(), args.end(), "--ca-dir") == args.end());
  CHECK(std::find(args.begin(), args.end(), "127.0.0.1:15001") != args.end());
  CHECK((*named(sidecar["env"], "FLOW402_AGENT"))["valueFrom"]["fieldRef"]["fieldPath"] ==
        "metadata.annotations['402flow.io/agent']");
  const json& app = containers[0];
  CHECK(env_value(app, "NO_PROXY").ends_with(",db.internal,.corp.example"));
  CHECK(env_value(app, "SSL_CERT_FILE") == "<none>");  // no interception, no CA to trust
  CHECK_FALSE(app.contains("volumeMounts"));
  CHECK(named(out["spec"]["volumes"], "402flow-ca-secret") == nullptr);
}

TEST_CASE("an annotation value not understood keeps the default and warns") {
  json pod = simple_pod();
  pod["metadata"]["annotations"] = {{"402flow.io/transparent", "maybe"}};
  const PodPatch p = build_pod_patch(pod, {});
  REQUIRE(p.injected);
  REQUIRE(p.warnings.size() == 1);
  CHECK(p.warnings[0].find("402flow.io/transparent") != std::string::npos);
  CHECK(pod.patch(p.patch)["spec"]["initContainers"].size() == 2);
}

TEST_CASE("opted-out, already-injected and non-pod objects get no patch") {
  json label_out = simple_pod();
  label_out["metadata"]["labels"] = {{"402flow.io/inject", "disabled"}};
  CHECK(build_pod_patch(label_out, {}).skipped == "opted out");
  json annotation_out = simple_pod();
  annotation_out["metadata"]["annotations"] = {{"402flow.io/inject", "disabled"}};
  CHECK(build_pod_patch(annotation_out, {}).skipped == "opted out");

  const json once = patched(simple_pod());
  const PodPatch twice = build_pod_patch(once, {});
  CHECK_FALSE(twice.injected);
  CHECK(twice.skipped == "already injected");
  CHECK(twice.patch.empty());

  CHECK(build_pod_patch(json::array(), {}).skipped == "not a pod");
  CHECK(build_pod_patch(json{{"spec", {{"containers", 3}}}}, {}).skipped.starts_with("not a pod"));
  CHECK(build_pod_patch(json(), {}).skipped == "not a pod");
}

TEST_CASE("the review answer echoes the uid and carries the base64 JSONPatch") {
  const ReviewOutcome o = answer_review(review_of(simple_pod()).dump(), {}, FailureMode::allow);
  CHECK(o.decision == "injected");
  const json answer = json::parse(o.body);
  CHECK(answer["apiVersion"] == "admission.k8s.io/v1");
  CHECK(answer["kind"] == "AdmissionReview");
  CHECK(answer["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002");
  CHECK(answer["response"]["allowed"] == true);
  CHECK(answer["response"]["patchType"] == "JSONPatch");
  const json patch = json::parse(unbase64(answer["response"]["patch"]));
  CHECK(patch == build_pod_patch(simple_pod(), {}).patch);
}

TEST_CASE("updates and other kinds are allowed untouched") {
  const json answer = json::parse(
      answer_review(review_of(simple_pod(), "UPDATE").dump(), {}, FailureMode::deny).body);
  CHECK(answer["response"]["allowed"] == true);
  CHECK_FALSE(answer["response"].contains("patch"));
}

TEST_CASE("malformed reviews are allowed with a warning, or refused in deny mode") {
  for (
      const std::string& body :
      {std::string("not json"), std::string("[]"), std::string(R"({"kind":"AdmissionReview"})"),
       std::string(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})"),
       review_of(json("a string")).dump(),
       std::string(
           R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":5}})")}) {
    CAPTURE(body);
    const json allowed = json::parse(answer_review(body, {}, FailureMode::allow).body);
    CHECK(allowed["response"]["allowed"] == true);
    REQUIRE(allowed["response"]["warnings"].size() == 1);
    CHECK_FALSE(allowed["response"].contains("patch"));
    const json denied = json::parse(answer_review(body, {}, FailureMode::deny).body);
    CHECK(denied["response"]["allowed"] == false);
    CHECK(denied["response"]["status"]["code"] == 400);
  }
  // The uid is echoed whenever there is one to echo.
  const json answer =
      json::parse(answer_review(review_of(json("a string")).dump(), {}, FailureMode::allow).body);
  CHECK(answer["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002");
}
