#!/usr/bin/env bash
# /mutate under load: AdmissionReviews per second and latency percentiles of `402flow inject`.
#   bench/inject.sh [BUILD_DIR] [REQUESTS]     (default build, 5000)
# One keep-alive HTTPS connection (the API server reuses its connections), a pod with two
# containers, env, volumes and annotations; the client is Python's http.client, so the figures
# include the client's own time: they are an upper bound of the injector's.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${1:-$root/build}/402flow
n=${2:-5000}
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1 -nodes -days 1 -keyout "$tmp/k" -out "$tmp/c" 2>/dev/null
taskset -c 1 "$bin" inject --listen 127.0.0.1:0 --port-file "$tmp/port" --quiet \
  --tls-cert "$tmp/c" --tls-key "$tmp/k" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
taskset -c 0 /usr/bin/python3 - "$(cat "$tmp/port")" "$tmp/c" "$n" <<'PY'
import http.client, json, ssl, sys, time
addr, ca, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, port = addr.rsplit(":", 1)
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"generateName": "agent-", "annotations": {"example.com/team": "r"}},
       "spec": {"containers": [{"name": "a", "image": "x", "env": [{"name": "LANG", "value": "C"}],
                                "volumeMounts": [{"name": "d", "mountPath": "/d"}]},
                               {"name": "b", "image": "y"}],
                "volumes": [{"name": "d", "emptyDir": {}}]}}
body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                   "request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                               "operation": "CREATE", "namespace": "agents", "object": pod}})
conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=ca))
lat = []
for i in range(n + 200):
    t = time.perf_counter()
    conn.request("POST", "/mutate", body, {"Content-Type": "application/json"})
    r = conn.getresponse(); data = r.read()
    if i >= 200: lat.append(time.perf_counter() - t)   # the first 200 warm up
    assert r.status == 200 and b'"patch"' in data
lat.sort()
total = sum(lat)
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
print(f"reviews {n}  rate {n/total:,.0f}/s  p50 {pct(.5):.3f} ms  p99 {pct(.99):.3f} ms  max {lat[-1]*1000:.3f} ms")
PY
