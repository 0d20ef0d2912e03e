#!/usr/bin/env bash
# Kubernetes without a cluster: the injector, the manifests and the patched pod, checked for real.
#
#   tests/kubernetes/run.sh [BUILD_DIR]     (default: build; the binary is BUILD_DIR/402flow)
#
# 1. `402flow inject` over HTTPS (a certificate from deploy/kustomize/webhook-cert.sh) gets real
#    AdmissionReviews for pods of several shapes; each patch is applied with python3-jsonpatch and
#    the pod checked field by field (webhook_check.py), then every patched pod is validated
#    against the Kubernetes OpenAPI schemas with kubernetes-models (validate.mjs);
# 2. the kustomize base, its fail-closed overlay and the example agent namespace are rendered with
#    `kubectl kustomize` and every object validated the same way; the caBundle patch of
#    webhook-cert.sh applies to the rendered webhook configuration;
# 3. a pod without a cluster (pod_e2e.py): the patched pod's containers run as processes and curl
#    gets a paid answer from `402flow merchant` over HTTPS through the sidecar.
# Exit 0 when everything holds; otherwise 1 with the reason and the logs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build_dir=${1:-$root/build}
case $build_dir in /*) ;; *) build_dir=$PWD/$build_dir ;; esac
BIN=$build_dir/402flow
PYTHON=/usr/bin/python3 # Debian's python3-jsonpatch and python3-yaml belong to Debian's interpreter

# shellcheck source=../support/process_lib.sh
. "$here/../support/process_lib.sh"
harness kubernetes
harness_logs="*.log e2e/*.log"

need() { command -v "$1" >/dev/null 2>&1 || die "$1 is not installed (Debian package $2); run scripts/setup.sh"; }
need openssl openssl
need curl curl
need kubectl kubernetes-client
need npm npm
"$PYTHON" -c 'import jsonpatch' 2>/dev/null || die "$PYTHON cannot import jsonpatch (Debian package python3-jsonpatch); run scripts/setup.sh"
"$PYTHON" -c 'import yaml' 2>/dev/null || die "$PYTHON cannot import yaml (Debian package python3-yaml); run scripts/setup.sh"
[ -x "$BIN" ] || die "$BIN not found; build 402flow first"
# shellcheck source=../support/node_env.sh
. "$here/../support/node_env.sh"
npm_ci_if_stale "$here" kubernetes
pick_node "$here" 20 0 0 "kubernetes-models needs a recent Node"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/402flow-kubernetes.XXXXXX")

start() { # name portfile command...
  local name=$1 port_file=$2
  shift 2
  "$@" 2>"$tmp/$name.log" >&2 &
  pids+=($!)
  wait_for_file "$port_file" "$!" "$name"
}
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- the rendered manifests ------------------------------------------------------------------
kustomize_json() { # dir out.json
  kubectl kustomize "$1" >"$tmp/rendered.yaml" 2>"$tmp/kustomize.log" || die "kubectl kustomize $1 failed"
  "$PYTHON" -c 'import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d], open(sys.argv[2], "w"))' \
    "$tmp/rendered.yaml" "$2"
}
kustomize_json "$root/deploy/kustomize/base" "$tmp/base.json"
kustomize_json "$root/deploy/kustomize/overlays/fail-closed" "$tmp/fail-closed.json"
kustomize_json "$root/deploy/kustomize/example-agent" "$tmp/example-agent.json"
"$PYTHON" - "$tmp" <<'PY' || die "the rendered manifests are not what the base says"
import json, sys
tmp = sys.argv[1]
base = {o["kind"]: o for o in json.load(open(f"{tmp}/base.json"))}
closed = {o["kind"]: o for o in json.load(open(f"{tmp}/fail-closed.json"))}
example = {o["kind"]: o for o in json.load(open(f"{tmp}/example-agent.json"))}
assert set(base) == {"Namespace", "Deployment", "Service", "MutatingWebhookConfiguration"}, set(base)
hooks = base["MutatingWebhookConfiguration"]["webhooks"]
assert [w["failurePolicy"] for w in hooks] == ["Ignore", "Ignore"]
assert [w["failurePolicy"] for w in closed["MutatingWebhookConfiguration"]["webhooks"]] == ["Fail", "Fail"]
assert "--failure-mode=deny" in closed["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
assert hooks[0]["namespaceSelector"] == {"matchLabels": {"402flow.io/inject": "enabled"}}
assert base["Service"]["spec"]["ports"][0]["port"] == hooks[0]["clientConfig"]["service"]["port"]
assert example["Namespace"]["metadata"]["labels"]["402flow.io/inject"] == "enabled"
assert example["ConfigMap"]["metadata"]["name"] == "402flow-config" and "flow.yaml" in example["ConfigMap"]["data"]
json.dump(base["MutatingWebhookConfiguration"], open(f"{tmp}/webhook.json", "w"))
json.dump(example["ConfigMap"]["data"]["flow.yaml"], open(f"{tmp}/example-flow.json", "w"))
PY
"$NODE" "$here/validate.mjs" "$tmp/base.json" "$tmp/fail-closed.json" "$tmp/example-agent.json" \
  >"$tmp/validate-manifests.log" || die "a rendered object is not valid: $(grep INVALID "$tmp/validate-manifests.log")"
say "kustomize: $(grep -c ^valid "$tmp/validate-manifests.log") rendered objects valid"

# The example's flow.yaml passes `402flow check` (with its key path pointed at a real key).
"$BIN" keygen --out "$tmp/example.key" >/dev/null 2>&1 || die "402flow keygen failed"
"$PYTHON" -c 'import json, sys; open(sys.argv[2], "w").write(json.load(open(sys.argv[1])).replace("/var/run/402flow/keys/evm.key", sys.argv[3]))' \
  "$tmp/example-flow.json" "$tmp/example-flow.yaml" "$tmp/example.key"
"$BIN" check "$tmp/example-flow.yaml" >"$tmp/check.log" 2>&1 || die "the example flow.yaml fails 402flow check: $(cat "$tmp/check.log")"

# ---- the webhook's serving certificate, and its caBundle patch --------------------------------
bash "$root/deploy/kustomize/webhook-cert.sh" --out "$tmp/webhook-tls" --namespace 402flow-system \
  2>"$tmp/webhook-cert.log" || die "webhook-cert.sh failed"
openssl verify -CAfile "$tmp/webhook-tls/ca.crt" -verify_hostname 402flow-injector.402flow-system.svc \
  "$tmp/webhook-tls/tls.crt" >/dev/null 2>&1 || die "the serving certificate does not verify for the Service's name"
bash "$root/deploy/kustomize/webhook-cert.sh" --print-patch "$tmp/webhook-tls" >"$tmp/cabundle.json"
"$PYTHON" - "$tmp" <<'PY' || die "the caBundle patch does not apply to the rendered webhook configuration"
import base64, json, sys, jsonpatch
tmp = sys.argv[1]
hook = jsonpatch.JsonPatch(json.load(open(f"{tmp}/cabundle.json"))).apply(json.load(open(f"{tmp}/webhook.json")))
ca = open(f"{tmp}/webhook-tls/ca.crt", "rb").read()
assert all(base64.b64decode(w["clientConfig"]["caBundle"]) == ca for w in hook["webhooks"])
json.dump(hook, open(f"{tmp}/webhook-with-ca.json", "w"))
PY
"$NODE" "$here/validate.mjs" "$tmp/webhook-with-ca.json" >/dev/null || die "the patched webhook configuration is not valid"

# ---- the webhook over HTTPS: pods of several shapes ------------------------------------------
# A client reaching the injector as 127.0.0.1 needs that name in the certificate too.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -nodes -days 2 \
  -keyout "$tmp/injector.key" -out "$tmp/injector.pem" 2>"$tmp/openssl.log" || die "openssl failed"
start injector "$tmp/injector.port" "$BIN" inject --listen 127.0.0.1:0 --port-file "$tmp/injector.port" \
  --tls-cert "$tmp/injector.pem" --tls-key "$tmp/injector.key"
injector=https://$(tr -d '[:space:]' <"$tmp/injector.port")
[ "$(curl -s --cacert "$tmp/injector.pem" "$injector/livez")" = '{"live":true}' ] || die "the injector's /livez"
"$PYTHON" "$here/webhook_check.py" "$injector" "$tmp/injector.pem" "$tmp/pods" "$tmp/webhook.json" \
  >"$tmp/webhook-check.log" 2>&1 || die "webhook checks: $(grep FAIL "$tmp/webhook-check.log" || tail -5 "$tmp/webhook-check.log")"
say "$(tail -n1 "$tmp/webhook-check.log")"
"$NODE" "$here/validate.mjs" "$tmp"/pods/*.json >"$tmp/validate-pods.log" ||
  die "a patched pod is not valid: $(grep INVALID "$tmp/validate-pods.log")"
say "kubernetes-models: $(grep -c ^valid "$tmp/validate-pods.log") patched pods valid"
# A malformed review in deny mode is refused, and the injector survives a garbage connection.
start injector-deny "$tmp/injector-deny.port" "$BIN" inject --listen 127.0.0.1:0 --failure-mode deny \
  --port-file "$tmp/injector-deny.port" --tls-cert "$tmp/injector.pem" --tls-key "$tmp/injector.key"
deny=https://$(tr -d '[:space:]' <"$tmp/injector-deny.port")
answer=$(curl -s --cacert "$tmp/injector.pem" "$deny/mutate" -d '{"kind":"AdmissionReview"}')
case $answer in *'"allowed":false'*'"code":400'*) ;; *) die "deny mode answered $answer" ;; esac
printf 'GET / HTTP/1.1\r\n\r\n' | timeout 5 openssl s_client -quiet -connect "${deny#https://}" >/dev/null 2>&1 || true
curl -sf --cacert "$tmp/injector.pem" "$deny/livez" >/dev/null || die "the injector died after a garbage request"

# ---- a pod without a cluster -----------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=merchant \
  -addext subjectAltName=IP:127.0.0.2 -nodes -days 2 \
  -keyout "$tmp/merchant.key" -out "$tmp/merchant.pem" 2>>"$tmp/openssl.log" || die "openssl failed"
start merchant "$tmp/merchant.port" "$BIN" merchant --listen 127.0.0.2:0 --port-file "$tmp/merchant.port" \
  --tls-cert "$tmp/merchant.pem" --tls-key "$tmp/merchant.key"
proxy_port=$(free_port)
admin_port=$(free_port)
start injector-e2e "$tmp/injector-e2e.port" "$BIN" inject --listen 127.0.0.1:0 \
  --port-file "$tmp/injector-e2e.port" --tls-cert "$tmp/injector.pem" --tls-key "$tmp/injector.key" \
  --proxy-port "$proxy_port" --admin-port "$admin_port"
mkdir "$tmp/e2e"
"$PYTHON" "$here/pod_e2e.py" "$BIN" "https://$(tr -d '[:space:]' <"$tmp/injector-e2e.port")" \
  "$tmp/injector.pem" "$tmp/e2e" "$(tr -d '[:space:]' <"$tmp/merchant.port")" "$tmp/merchant.pem" \
  "$admin_port" >"$tmp/e2e.log" 2>&1 || die "the pod without a cluster: $(tail -n 5 "$tmp/e2e.log")"
say "$(grep 'settled receipt' "$tmp/e2e.log")"
say "PASS"
