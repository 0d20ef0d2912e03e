#!/usr/bin/env bash
# Real HTTP clients pay an HTTPS merchant through 402flow, each configured with nothing but the
# proxy and CA settings its documentation names.
#
#   tests/clients/run.sh [BUILD_DIR]     (default: build; the binary is BUILD_DIR/402flow)
#
# 1. installs the pinned npm packages (npm ci) when node_modules is missing or stale;
# 2. starts `402flow merchant` twice: over HTTPS with a self-signed certificate made by openssl,
#    and over plain HTTP; makes a 402flow CA (`ca init`), its bundle (`ca bundle`), a wallet
#    (`keygen`) and a flow.yaml whose tls: section trusts the merchant's certificate upstream;
#    starts `402flow run`;
# 3. records, against a stand-in proxy (clients/shape_probe.mjs), the first line each Node client
#    sends to its proxy: undici tunnels an http:// URL (`CONNECT host:port`), axios 1.16.0 with
#    its `proxy:` option sends `GET https://…` in plaintext, undici and current axios tunnel https;
# 4. each client GETs /v2/weather through 402flow under `env -i` plus only its own variables, with
#    an Idempotency-Key of its own, and must print status 200 and the paid body: curl, wget,
#    Python urllib, requests and httpx, undici's EnvHttpProxyAgent, axios, undici with an http://
#    URL (a tunnel carrying plain HTTP), axios 1.16.0's plaintext https request, and Node's
#    built-in fetch with NODE_USE_ENV_PROXY=1 (skipped, saying so, on a Node without it);
# 5. the TLS clients again without their CA setting: each must refuse 402flow's certificate;
# 6. `402flow receipts --json` must hold exactly one settled receipt per paying client, with its
#    key and its URL (https://, or http:// for the undici tunnel carrying plain HTTP).
# Exit 0 when everything holds; otherwise 1 with the reason and the logs. Every client is
# required: a missing one is a failure, with the package that provides it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build_dir=${1:-$root/build}
case $build_dir in /*) ;; *) build_dir=$PWD/$build_dir ;; esac
BIN=$build_dir/402flow
# Debian's python3-requests and python3-httpx belong to Debian's interpreter.
PYTHON=${FLOW_CLIENTS_PYTHON:-/usr/bin/python3}
PATH_FOR_CLIENTS=/usr/local/bin:/usr/bin:/bin

# shellcheck source=../support/process_lib.sh
. "$here/../support/process_lib.sh"
harness clients

# ---- prerequisites: every client must be here ------------------------------------------------
need() { # command package
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed (Debian package $2); run scripts/setup.sh"
}
need curl curl
need wget wget
need openssl openssl
need npm npm
[ -x "$PYTHON" ] || die "$PYTHON not found (Debian package python3); run scripts/setup.sh"
"$PYTHON" -c 'import requests' 2>/dev/null || die "$PYTHON cannot import requests (Debian package python3-requests); run scripts/setup.sh"
"$PYTHON" -c 'import httpx' 2>/dev/null || die "$PYTHON cannot import httpx (Debian package python3-httpx); run scripts/setup.sh"
[ -x "$BIN" ] || die "$BIN not found; build 402flow first"

# ---- npm packages, exactly as package-lock.json pins them ------------------------------------
# shellcheck source=../support/node_env.sh
. "$here/../support/node_env.sh"
npm_ci_if_stale "$here" clients
pick_node "$here" 20 18 1 "undici 7 needs Node >= 20.18.1"
say "node $("$NODE" --version), $("$PYTHON" --version), $(curl --version | head -n1 | cut -d' ' -f1-2), $(wget --version | head -n1 | cut -d' ' -f1-3)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/402flow-clients.XXXXXX")
mkdir "$tmp/home" # HOME of every client: no ~/.curlrc, ~/.wgetrc, ~/.netrc of the user running this

start() { # name portfile command... : runs it in the background, logs to $tmp/name.log
  local name=$1 port_file=$2
  shift 2
  "$@" 2>"$tmp/$name.log" >&2 &
  pids+=($!)
  wait_for_file "$port_file" "$!" "$name"
}

# ---- the merchants ---------------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -nodes -days 2 \
  -keyout "$tmp/merchant.key" -out "$tmp/merchant.pem" 2>"$tmp/openssl.log" ||
  die "openssl could not make the merchant's certificate"
start merchant-https "$tmp/merchant-https.port" "$BIN" merchant --listen 127.0.0.1:0 \
  --port-file "$tmp/merchant-https.port" --tls-cert "$tmp/merchant.pem" --tls-key "$tmp/merchant.key"
start merchant-http "$tmp/merchant-http.port" "$BIN" merchant --listen 127.0.0.1:0 \
  --port-file "$tmp/merchant-http.port"
https_url=https://127.0.0.1:$(port_of "$tmp/merchant-https.port")/v2/weather
http_url=http://127.0.0.1:$(port_of "$tmp/merchant-http.port")/v2/weather

# ---- 402flow: its CA, the bundle, a wallet, flow.yaml ----------------------------------------
ca=$tmp/ca
"$BIN" ca init --dir "$ca" >"$tmp/ca.log" 2>&1 || die "402flow ca init failed"
bundle=$tmp/bundle.pem
"$BIN" ca bundle --dir "$ca" --out "$bundle" >>"$tmp/ca.log" 2>&1 || die "402flow ca bundle failed"
"$BIN" keygen --out "$tmp/wallet.key" >"$tmp/keygen.log" 2>&1 || die "402flow keygen failed"
# The default policy of the integration tests (tests/support/paid_proxy.cpp), plus tls:.
cat >"$tmp/flow.yaml" <<EOF
version: 1
proxy:
  agent: test-agent
ledger:
  path: $tmp/ledger.db
wallets:
  - name: test-wallet
    networks: [eip155:8453]
    key_file: $tmp/wallet.key
organization:
  posture: block
  networks: [eip155:8453]
  caps:
    per_request: [1 USDC]
agents:
  - id: test-agent
merchants:
  - name: merchant-v2
    host: 127.0.0.1
    path: /v2
    action: allow
tls:
  ca_dir: $ca
  upstream_ca_file: $tmp/merchant.pem
EOF
start 402flow "$tmp/proxy.port" "$BIN" run -c "$tmp/flow.yaml" --listen 127.0.0.1:0 \
  --port-file "$tmp/proxy.port"
proxy_port=$(port_of "$tmp/proxy.port")
proxy=http://127.0.0.1:$proxy_port
say "402flow on $proxy; merchants $https_url and $http_url"

# ---- what the Node clients send to a proxy ---------------------------------------------------
start shape-probe "$tmp/probe.port" "$NODE" "$here/clients/shape_probe.mjs" "$tmp/probe.port" "$tmp/probe.lines"
probe=http://127.0.0.1:$(port_of "$tmp/probe.port")

shape() { # name expected-first-line command... : the client's first line to the stand-in proxy
  local name=$1 expected=$2 line=""
  shift 2
  : >"$tmp/probe.lines"
  timeout 60 env -i PATH="$PATH_FOR_CLIENTS" HOME="$tmp/home" "$@" >"$tmp/shape-$name.out" 2>&1 || true
  line=$(head -n1 "$tmp/probe.lines")
  [ "$line" = "$expected" ] || die "$name sent '$line' to its proxy, not '$expected'"
  say "$name sends: $line"
}
https_authority=${https_url#https://}
https_authority=${https_authority%%/*}
http_authority=${http_url#http://}
http_authority=${http_authority%%/*}
shape undici-http "CONNECT $http_authority HTTP/1.1" \
  HTTP_PROXY="$probe" "$NODE" "$here/clients/undici_get.mjs" "$http_url" probe-1
shape undici "CONNECT $https_authority HTTP/1.1" \
  HTTPS_PROXY="$probe" "$NODE" "$here/clients/undici_get.mjs" "$https_url" probe-2
shape axios "CONNECT $https_authority HTTP/1.1" \
  HTTPS_PROXY="$probe" "$NODE" "$here/clients/axios_get.mjs" "$https_url" probe-3
shape axios-plaintext "GET $https_url HTTP/1.1" \
  "$NODE" "$here/clients/axios_plaintext_get.mjs" "$https_url" probe-4 127.0.0.1 "$(port_of "$tmp/probe.port")"

# ---- each client pays through 402flow --------------------------------------------------------
expected=() # "key url" per client that paid

status_of() { # name: "status N" printed by the client, else the last HTTP status line wget -S printed
  local s
  s=$(sed -n 's/^status \([0-9][0-9]*\)$/\1/p' "$tmp/$1.out" | tail -n1)
  [ -n "$s" ] || s=$(sed -n 's/^ *HTTP\/1\.[01] \([0-9][0-9]*\).*/\1/p' "$tmp/$1.err" | tail -n1)
  echo "$s"
}

pay() { # name url command... : runs the client with only the variables given, checks the answer
  local name=$1 url=$2 status
  shift 2
  timeout 60 env -i PATH="$PATH_FOR_CLIENTS" HOME="$tmp/home" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" ||
    die "$name exited $? ($*)"
  status=$(status_of "$name")
  [ "$status" = 200 ] || die "$name got status '${status:-none}', not 200"
  grep -q '"forecast"' "$tmp/$name.out" || die "$name did not print the paid body: $(head -c 300 "$tmp/$name.out")"
  expected+=("$name $url")
  say "$name: 200, paid body"
}

refuse() { # name command... : without its CA setting the client must refuse 402flow's certificate
  local name=$1
  shift
  if timeout 60 env -i PATH="$PATH_FOR_CLIENTS" HOME="$tmp/home" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
    die "$name succeeded without its CA setting: it did not verify 402flow's certificate ($*)"
  fi
  grep -q '"forecast"' "$tmp/$name.out" && die "$name printed the paid body without its CA setting"
  grep -qi 'certificate' "$tmp/$name.out" "$tmp/$name.err" ||
    die "$name failed without its CA setting, but not on the certificate: $(tail -n3 "$tmp/$name.err")"
  say "$name: refuses 402flow's certificate"
}

# Node's built-in fetch reads the proxy variables only with NODE_USE_ENV_PROXY=1 (Node >= 24.0).
node_reads_env_proxy() {
  "$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)'
}

ca_pem=$ca/ca.pem
pay curl "$https_url" https_proxy="$proxy" CURL_CA_BUNDLE="$bundle" \
  curl -sS --max-time 30 -H 'Idempotency-Key: curl' -w '\nstatus %{http_code}\n' "$https_url"
pay wget "$https_url" https_proxy="$proxy" \
  wget -q -S -O - --timeout=30 --tries=1 --ca-certificate="$bundle" --header='Idempotency-Key: wget' "$https_url"
pay urllib "$https_url" HTTPS_PROXY="$proxy" SSL_CERT_FILE="$bundle" \
  "$PYTHON" "$here/clients/urllib_get.py" "$https_url" urllib
pay requests "$https_url" HTTPS_PROXY="$proxy" REQUESTS_CA_BUNDLE="$bundle" \
  "$PYTHON" "$here/clients/requests_get.py" "$https_url" requests
pay httpx "$https_url" HTTPS_PROXY="$proxy" SSL_CERT_FILE="$bundle" \
  "$PYTHON" "$here/clients/httpx_get.py" "$https_url" httpx
pay undici "$https_url" HTTPS_PROXY="$proxy" NODE_EXTRA_CA_CERTS="$ca_pem" \
  "$NODE" "$here/clients/undici_get.mjs" "$https_url" undici
pay axios "$https_url" HTTPS_PROXY="$proxy" NODE_EXTRA_CA_CERTS="$ca_pem" \
  "$NODE" "$here/clients/axios_get.mjs" "$https_url" axios
pay undici-http "$http_url" HTTP_PROXY="$proxy" \
  "$NODE" "$here/clients/undici_get.mjs" "$http_url" undici-http
pay axios-plaintext "$https_url" \
  "$NODE" "$here/clients/axios_plaintext_get.mjs" "$https_url" axios-plaintext 127.0.0.1 "$proxy_port"

if node_reads_env_proxy; then
  pay fetch "$https_url" NODE_USE_ENV_PROXY=1 HTTPS_PROXY="$proxy" NODE_EXTRA_CA_CERTS="$ca_pem" \
    "$NODE" "$here/clients/fetch_get.mjs" "$https_url" fetch
else
  say "skip: fetch: Node $("$NODE" --version) has no NODE_USE_ENV_PROXY for fetch (Node >= 24.0)"
fi

# The same clients without their CA setting (requests given SSL_CERT_FILE, which it does not
# read): each refuses the leaf 402flow presents, so it was the setting that made them trust it.
refuse curl-untrusted https_proxy="$proxy" \
  curl -sS --max-time 30 -H 'Idempotency-Key: curl-untrusted' "$https_url"
refuse wget-untrusted https_proxy="$proxy" \
  wget -O - --timeout=30 --tries=1 --header='Idempotency-Key: wget-untrusted' "$https_url"
refuse urllib-untrusted HTTPS_PROXY="$proxy" \
  "$PYTHON" "$here/clients/urllib_get.py" "$https_url" urllib-untrusted
refuse requests-untrusted HTTPS_PROXY="$proxy" SSL_CERT_FILE="$bundle" \
  "$PYTHON" "$here/clients/requests_get.py" "$https_url" requests-untrusted
refuse httpx-untrusted HTTPS_PROXY="$proxy" \
  "$PYTHON" "$here/clients/httpx_get.py" "$https_url" httpx-untrusted
refuse undici-untrusted HTTPS_PROXY="$proxy" \
  "$NODE" "$here/clients/undici_get.mjs" "$https_url" undici-untrusted
refuse axios-untrusted HTTPS_PROXY="$proxy" \
  "$NODE" "$here/clients/axios_get.mjs" "$https_url" axios-untrusted

# ---- one settled receipt per client ----------------------------------------------------------
receipts=$("$BIN" receipts --db "$tmp/ledger.db" --json 2>"$tmp/receipts.err") || die "402flow receipts --json failed"
# shellcheck disable=SC2016 # Python, not shell
verdict=$(RECEIPTS="$receipts" "$PYTHON" -c '
import json, os, sys
receipts = json.loads(os.environ["RECEIPTS"])
wanted = [line.split(" ", 1) for line in sys.argv[1:]]
problems = []
if len(receipts) != len(wanted):
    problems.append(f"{len(receipts)} receipts for {len(wanted)} clients")
for key, url in wanted:
    mine = [r for r in receipts if r.get("idempotency_key") == key]
    if len(mine) != 1:
        problems.append(f"{key}: {len(mine)} receipts")
    else:
        state, got = mine[0].get("state"), mine[0].get("url")
        if state != "settled" or got != url:
            problems.append(f"{key}: {state} {got}, not settled {url}")
print("; ".join(problems) or f"{len(wanted)} settled receipts, one per client")
sys.exit(1 if problems else 0)
' "${expected[@]}") || die "the ledger: $verdict"
"$BIN" receipts verify --db "$tmp/ledger.db" >"$tmp/verify.log" 2>&1 || die "402flow receipts verify: the chain is broken"
say "ledger: $verdict"
say "PASS: ${expected[*]%% *} paid through 402flow"
