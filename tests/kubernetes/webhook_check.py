"""The injector over HTTPS with real AdmissionReviews for pods of several shapes: each patch is
applied with python3-jsonpatch and the pod read back field by field; the patched pods are written
to OUT_DIR for the schema validation (validate.mjs).

    webhook_check.py URL CA_FILE OUT_DIR WEBHOOK_CONFIG_JSON

WEBHOOK_CONFIG_JSON is the rendered MutatingWebhookConfiguration: its selectors decide which
namespaces and pods are sent to the injector at all (a namespace without the label).
Exit 0 when every check holds; otherwise 1, naming the check."""
import base64
import copy
import json
import os
import ssl
import sys
import urllib.request

import jsonpatch

URL, CA_FILE, OUT_DIR, WEBHOOK_CONFIG = sys.argv[1:5]
CONTEXT = ssl.create_default_context(cafile=CA_FILE)
PROXY = "http://127.0.0.1:8402"
BUNDLE = "/var/run/402flow/trust/bundle.pem"
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


def post(body):
    request = urllib.request.Request(URL + "/mutate", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=CONTEXT, timeout=10) as answer:
        assert answer.status == 200, answer.status
        return json.loads(answer.read())


def review(pod, uid, operation="CREATE"):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "operation": operation, "namespace": "agents", "object": pod}}


def mutate(pod, uid):
    """The pod after the injector's patch, and the response."""
    response = post(json.dumps(review(pod, uid)).encode())["response"]
    check(response["uid"] == uid, f"{uid}: uid echoed")
    check(response["allowed"] is True, f"{uid}: allowed")
    if "patch" not in response:
        return pod, response
    check(response.get("patchType") == "JSONPatch", f"{uid}: patchType JSONPatch")
    ops = json.loads(base64.b64decode(response["patch"]))
    return jsonpatch.JsonPatch(ops).apply(copy.deepcopy(pod)), response


def env(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def names(items):
    return [i["name"] for i in items]


def pod(name, containers, **spec_extra):
    spec = {"containers": containers}
    spec.update({k: v for k, v in spec_extra.items() if k != "metadata"})
    metadata = {"name": name, "namespace": "agents"}
    metadata.update(spec_extra.get("metadata", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def save(name, p):
    with open(os.path.join(OUT_DIR, name + ".json"), "w") as f:
        json.dump(p, f)


def check_injected(name, out, app_names, agent_path="metadata.name"):
    inits = out["spec"]["initContainers"]
    sidecar = next(c for c in inits if c["name"] == "402flow")
    check(sidecar.get("restartPolicy") == "Always", f"{name}: native sidecar")
    check(env(sidecar)["FLOW402_AGENT"] == {"fieldRef": {"fieldPath": agent_path}},
          f"{name}: agent id from {agent_path}")
    check(names(inits).index("402flow-init") < names(inits).index("402flow"),
          f"{name}: the init step before the sidecar")
    for c in out["spec"]["containers"]:
        if c["name"] not in app_names:
            continue
        e = env(c)
        check(e.get("http_proxy") == PROXY, f"{name}/{c['name']}: http_proxy")
        check(e.get("SSL_CERT_FILE") == BUNDLE, f"{name}/{c['name']}: SSL_CERT_FILE")
        check(e.get("NODE_EXTRA_CA_CERTS") == "/var/run/402flow/trust/ca.pem",
              f"{name}/{c['name']}: NODE_EXTRA_CA_CERTS")
        mounts = [m for m in c["volumeMounts"] if m["name"] == "402flow-trust"]
        check(len(mounts) == 1 and mounts[0]["readOnly"] is True, f"{name}/{c['name']}: CA read-only")
        check(not any(m["name"] == "402flow-ca-secret" for m in c["volumeMounts"]),
              f"{name}/{c['name']}: the CA key is not mounted in the app")
    annotations = out["metadata"]["annotations"]
    check(annotations["402flow.io/injected"] == "true", f"{name}: injected annotation")
    check(annotations.get("prometheus.io/port") == "9402", f"{name}: prometheus port")
    save(name, out)


os.makedirs(OUT_DIR, exist_ok=True)

# 1. Several containers, no env, no volumes, no annotations.
p = pod("several", [{"name": "a", "image": "curl"}, {"name": "b", "image": "python"}])
out, _ = mutate(p, "several")
check_injected("several", out, {"a", "b"})
check(names(out["spec"]["initContainers"]) == ["402flow-init", "402flow"], "several: inits")
check(names(out["spec"]["containers"]) == ["a", "b"], "several: app containers unchanged")

# 2. Existing env, existing volumes and mounts, init containers, annotations with "/" in keys.
p = pod("shaped", [{"name": "app", "image": "node", "env": [{"name": "LANG", "value": "C"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        initContainers=[{"name": "migrate", "image": "m"}],
        volumes=[{"name": "data", "emptyDir": {}}],
        metadata={"annotations": {"example.com/team": "research", "402flow.io/agent": "bot-7"}})
out, _ = mutate(p, "shaped")
check_injected("shaped", out, {"app"}, "metadata.annotations['402flow.io/agent']")
app = out["spec"]["containers"][0]
check(app["env"][0] == {"name": "LANG", "value": "C"}, "shaped: existing env first and kept")
check(app["volumeMounts"][0]["name"] == "data", "shaped: existing mount kept")
check(names(out["spec"]["initContainers"]) == ["402flow-init", "402flow", "migrate"],
      "shaped: ours before the pod's init containers")
check(out["spec"]["volumes"][0]["name"] == "data", "shaped: existing volume kept first")
check({"402flow-config", "402flow-trust", "402flow-run"} <= set(names(out["spec"]["volumes"])),
      "shaped: volumes added")
check(out["metadata"]["annotations"]["example.com/team"] == "research", "shaped: annotation kept")

# 3. Existing proxy variables: kept and reported.
p = pod("corp-proxy", [{"name": "app", "image": "x", "env": [
    {"name": "HTTPS_PROXY", "value": "http://corp:3128"}, {"name": "NO_PROXY", "value": "corp"}]}])
out, _ = mutate(p, "corp-proxy")
check_injected("corp-proxy", out, {"app"})
e = env(out["spec"]["containers"][0])
check(e["HTTPS_PROXY"] == "http://corp:3128" and e["NO_PROXY"] == "corp", "corp-proxy: kept")
check(e["HTTP_PROXY"] == PROXY, "corp-proxy: the others added")
check(out["metadata"]["annotations"]["402flow.io/kept-env"] == "app/HTTPS_PROXY,app/NO_PROXY",
      "corp-proxy: reported in an annotation")

# 4. Transparent mode and the plain-container fallback, by annotation.
p = pod("transparent", [{"name": "app", "image": "x"}],
        metadata={"annotations": {"402flow.io/transparent": "on",
                                  "402flow.io/sidecar-mode": "container"}})
out, _ = mutate(p, "transparent")
inits = out["spec"]["initContainers"]
check(names(inits) == ["402flow-iptables", "402flow-init"], "transparent: iptables first")
caps = {c["name"]: c["securityContext"]["capabilities"].get("add", []) for c in
        inits + out["spec"]["containers"] if "securityContext" in c}
check([n for n, add in caps.items() if "NET_ADMIN" in add] == ["402flow-iptables"],
      "transparent: NET_ADMIN only in the iptables step")
check(names(out["spec"]["containers"]) == ["app", "402flow"], "container mode: a plain container")
save("transparent", out)

# 5. Already injected: nothing more.
again, response = mutate(out, "again")
check("patch" not in response, "already injected: no patch")

# 6. Opted out by label.
p = pod("opted-out", [{"name": "app", "image": "x"}],
        metadata={"labels": {"402flow.io/inject": "disabled"}})
_, response = mutate(p, "opted-out")
check("patch" not in response, "opted out: no patch")

# 7. Malformed reviews: allowed with a warning, never a crash; the server still answers after.
for body in [b"not json", b"[]", b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}',
             json.dumps(review("not a pod", "bad-object")).encode(), b"\xff\xfe"]:
    answer = post(body)["response"]
    check(answer["allowed"] is True and len(answer.get("warnings", [])) == 1,
          f"malformed {body[:30]!r}: allowed with a warning")
check(mutate(pod("after", [{"name": "a", "image": "x"}]), "after")[1].get("patch"),
      "the injector still injects after malformed reviews")

# 8. A namespace without the label, a pod without it: the webhook's selectors send neither.
config = json.load(open(WEBHOOK_CONFIG))


def selects(selector, labels):
    for k, v in selector.get("matchLabels", {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions", []):
        value, op = labels.get(e["key"]), e["operator"]
        if op == "In" and value not in e["values"]:
            return False
        if op == "NotIn" and value in e["values"]:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True


def called(namespace_labels, pod_labels):
    return [w["name"] for w in config["webhooks"]
            if selects(w.get("namespaceSelector", {}), namespace_labels)
            and selects(w.get("objectSelector", {}), pod_labels)]


plain_ns = {"kubernetes.io/metadata.name": "default"}
labelled_ns = {"kubernetes.io/metadata.name": "agents", "402flow.io/inject": "enabled"}
check(called(plain_ns, {}) == [], "a namespace without the label: not sent")
check(called(labelled_ns, {}) == ["namespace.inject.402flow.io"], "a labelled namespace: sent once")
check(called(labelled_ns, {"402flow.io/inject": "disabled"}) == [], "opted-out pod: not sent")
check(called(plain_ns, {"402flow.io/inject": "enabled"}) == ["pod.inject.402flow.io"],
      "a labelled pod elsewhere: sent once")
check(called(labelled_ns, {"402flow.io/inject": "enabled"}) == ["namespace.inject.402flow.io"],
      "a labelled pod in a labelled namespace: sent once, not twice")
check(called({"kubernetes.io/metadata.name": "kube-system"}, {"402flow.io/inject": "enabled"}) == [],
      "kube-system: never")
check(all(w["clientConfig"]["service"]["path"] == "/mutate" for w in config["webhooks"]),
      "the webhooks call /mutate")

if failures:
    print(f"webhook_check: {len(failures)} failed")
    sys.exit(1)
print("webhook_check: all checks hold")
