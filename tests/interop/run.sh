#!/usr/bin/env bash
# Interoperability test: 402flow pays a merchant built with the official x402 SDK, over HTTP and
# over HTTPS.
#
#   tests/interop/run.sh [BUILD_DIR]     (default: build; the binary is BUILD_DIR/402flow)
#
# 1. installs the pinned npm packages (npm ci) when node_modules is missing or stale;
# 2. runs official_client_check.mjs: the official @x402/fetch client pays the merchant, and
#    tampered/replayed/unfunded payments are refused by the official facilitator code;
# 3. makes a 402flow wallet (keygen) and a 402flow CA (ca init);
# 4. runs the same checks twice, once per scheme. Each phase starts its own merchant.mjs
#    (@x402/express + the official facilitator on loopback; for https behind TLS with a
#    self-signed certificate), writes a flow.yaml (for https with a tls: section: 402flow's CA,
#    the merchant's certificate as upstream root) and starts 402flow, then checks that `curl -x`
#    through 402flow (for https trusting only 402flow's CA: the tunnel is intercepted) gets the
#    paid content, with 402flow's receipt headers, exactly one verified and settled payment from
#    402flow's wallet at the facilitator, and one settled receipt for the URL in 402flow's ledger;
#    and that an unpriced request passes through untouched.
# Exit 0 when everything holds; otherwise 1 with the reason and the logs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build_dir=${1:-$root/build}
case $build_dir in /*) ;; *) build_dir=$PWD/$build_dir ;; esac
BIN=$build_dir/402flow

PAID_BODY='{"paid":"content","item":"x402-interop"}'
FREE_BODY='{"free":"content"}'
FUNDING=1000000 # 1 USDC (atomic units) for 402flow's wallet; /paid costs 0.01 USDC

say() { echo "interop: $*" >&2; }

tmp=""
phase_dir="" # the current phase's directory (logs, ledger, flow.yaml): see run_phase
merchant_pid=""
proxy_pid=""

dump_logs() { # of the phase that failed
  [ -n "$phase_dir" ] || return 0
  local f
  for f in merchant.log proxy.log paid.headers paid.body free.headers free.body; do
    if [ -s "$phase_dir/$f" ]; then
      echo "----- $(basename "$phase_dir")/$f" >&2
      tail -n 60 "$phase_dir/$f" >&2
    fi
  done
}

die() {
  echo "interop: FAIL: $*" >&2
  dump_logs
  exit 1
}

# shellcheck source=../support/process_lib.sh
. "$here/../support/process_lib.sh"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop "$proxy_pid"
  stop "$merchant_pid"
  if [ -n "$tmp" ]; then
    if [ "${FLOW_INTEROP_KEEP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- prerequisites ---------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node is not installed; run scripts/setup.sh (it installs nodejs and npm)"
command -v npm >/dev/null 2>&1 || die "npm is not installed; run scripts/setup.sh (it installs nodejs and npm)"
command -v curl >/dev/null 2>&1 || die "curl is not installed; run scripts/setup.sh"
command -v openssl >/dev/null 2>&1 || die "openssl is not installed; run scripts/setup.sh"
[ -x "$BIN" ] || die "$BIN not found; build 402flow first (scripts/test.sh builds it)"

# ---- npm packages, exactly as package-lock.json pins them ------------------------------------
# shellcheck source=../support/node_env.sh
. "$here/../support/node_env.sh"
npm_ci_if_stale "$here" interop
pick_node "$here" 20 0 0 "the x402 SDK needs Node >= 20 (Web Crypto as a global)"
say "node $("$NODE" --version) ($NODE)"

# ---- 1. the merchant against the official client ---------------------------------------------
say "official client check"
"$NODE" "$here/official_client_check.mjs" >&2 || die "official_client_check.mjs failed: the merchant/facilitator set-up is broken"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/402flow-interop.XXXXXX")
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

wait_for_file() { # file pid what
  for _ in $(seq 300); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited before it was ready"
    sleep 0.05
  done
  die "$3 did not write $1 within 15 s"
}

# ---- 2. 402flow's wallet ---------------------------------------------------------------------
key=$tmp/wallet.key
if "$BIN" --help 2>/dev/null | grep -qE '^[[:space:]]+keygen([[:space:]]|$)'; then
  keygen_out=$("$BIN" keygen --out "$key") || die "402flow keygen --out $key failed"
  keygen_addr=$(grep -oE '0x[0-9a-fA-F]{40}' <<<"$keygen_out" | head -n1 || true)
  [ -n "$keygen_addr" ] || die "402flow keygen printed no address: $keygen_out"
  [ -f "$key" ] || die "402flow keygen did not write $key"
  [ "$(stat -c %a "$key")" = 600 ] || die "402flow keygen wrote $key with mode $(stat -c %a "$key"), not 600"
  address=$("$NODE" "$here/lib/wallet.mjs" address "$key") || die "the key file written by keygen is not a hex private key"
  [ "${keygen_addr,,}" = "${address,,}" ] ||
    die "402flow keygen printed $keygen_addr but the key in $key belongs to $address"
  say "wallet $address (402flow keygen)"
else
  say "note: this 402flow has no keygen subcommand; writing the key file directly"
  address=$("$NODE" "$here/lib/wallet.mjs" generate "$key") || die "could not write $key"
  say "wallet $address"
fi

# ---- 3. 402flow's CA, which the https phase intercepts with -----------------------------------
ca_dir=$tmp/ca
ca_out=$("$BIN" ca init --dir "$ca_dir" 2>&1) || die "402flow ca init --dir $ca_dir failed: $ca_out"
[ -s "$ca_dir/ca.pem" ] || die "402flow ca init wrote no $ca_dir/ca.pem"

# ---- 4. one phase per scheme -----------------------------------------------------------------
# The current phase's merchant base URL and 402flow's HOST:PORT.
merchant=""
proxy=""

make_merchant_certificate() { # -> merchant.pem, merchant.key in the phase directory
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -nodes -days 2 \
    -keyout "$phase_dir/merchant.key" -out "$phase_dir/merchant.pem" 2>"$phase_dir/openssl.log" ||
    die "openssl could not make the merchant's certificate: $(cat "$phase_dir/openssl.log")"
}

start_merchant() { # scheme
  local tls_args=()
  if [ "$1" = https ]; then
    make_merchant_certificate
    tls_args=(--tls-cert "$phase_dir/merchant.pem" --tls-key "$phase_dir/merchant.key")
  fi
  "$NODE" "$here/merchant.mjs" "$phase_dir/merchant.port" --fund "$address=$FUNDING" "${tls_args[@]}" \
    2>"$phase_dir/merchant.log" &
  merchant_pid=$!
  wait_for_file "$phase_dir/merchant.port" "$merchant_pid" "the merchant"
  merchant=$1://127.0.0.1:$(tr -d '[:space:]' <"$phase_dir/merchant.port")
  say "merchant on $merchant"
}

write_flow_yaml() { # scheme
  cat >"$phase_dir/flow.yaml" <<YAML
version: 1
proxy:
  listen: 127.0.0.1:0
  agent: interop-agent          # sidecar mode: this agent pays
ledger:
  path: $phase_dir/ledger.db
wallets:
  - name: interop
    key_file: $key
    networks: [eip155:84532]
organization:
  posture: block
  networks: [eip155:84532]
  caps:
    per_request: [1 USDC]
agents:
  - id: interop-agent
merchants:
  - name: x402-express
    host: 127.0.0.1             # for https also what makes 402flow decrypt its tunnels
    action: allow
YAML
  if [ "$1" = https ]; then
    cat >>"$phase_dir/flow.yaml" <<YAML
tls:
  ca_dir: $ca_dir
  upstream_ca_file: $phase_dir/merchant.pem
YAML
  fi
  local out
  out=$("$BIN" check "$phase_dir/flow.yaml" 2>&1) || die "402flow check rejects the $1 flow.yaml:
$out"
  if [ "$1" = https ]; then
    grep -qE '^ *decrypted +merchant hosts 127\.0\.0\.1$' <<<"$out" ||
      die "402flow check does not list 127.0.0.1 among the decrypted hosts:
$out"
  fi
}

start_proxy() {
  "$BIN" run -c "$phase_dir/flow.yaml" --listen 127.0.0.1:0 --port-file "$phase_dir/proxy.port" \
    2>"$phase_dir/proxy.log" &
  proxy_pid=$!
  wait_for_file "$phase_dir/proxy.port" "$proxy_pid" "402flow"
  proxy=$(tr -d '[:space:]' <"$phase_dir/proxy.port")
  say "402flow on $proxy"
}

# Lines of the merchant's log: "[facilitator] <verify|settle> <ok|refused|failed|error> payer=0x..."
count() { grep -c -- "$1" "$phase_dir/merchant.log" || true; }
count_from_wallet() { grep -ci -- "$1 payer=$address " "$phase_dir/merchant.log" || true; }
# The merchant logs before answering; give its stderr a moment to reach the file.
settle_logged() {
  for _ in $(seq 40); do
    [ "$(count '^\[facilitator\] settle ')" -ge 1 ] && return 0
    sleep 0.05
  done
}
header() { # file name -> value of the last such header, CR stripped
  grep -i "^$2:" "$1" | tail -n1 | cut -d: -f2- | sed 's/^[[:space:]]*//; s/\r$//' || true
}

receipts_json() {
  "$BIN" receipts --db "$phase_dir/ledger.db" --json 2>&1 || die "402flow receipts --db $phase_dir/ledger.db failed"
}

via_proxy() { # name url [curl options...] -> status; headers and body in the phase directory
  local name=$1 url=$2
  shift 2
  curl -sS --noproxy '' --max-time 60 -x "http://$proxy" "$@" -D "$phase_dir/$name.headers" \
    -o "$phase_dir/$name.body" -w '%{http_code}' "$url" || die "curl $url through 402flow failed"
}

# The official merchant, asked directly, challenges with a resource URL of its own scheme.
check_challenge() { # base-url [curl options to reach the merchant directly...]
  local base=$1
  shift
  local required resource
  required=$(curl -sS --noproxy '' --max-time 30 "$@" -D - -o /dev/null "$base/paid" |
    grep -i '^payment-required:' | cut -d: -f2- | tr -d '[:space:]') || die "curl $base/paid failed"
  [ -n "$required" ] || die "GET $base/paid (directly) carries no PAYMENT-REQUIRED challenge"
  resource=$(base64 -d <<<"$required" | "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).resource?.url ?? ""))') ||
    die "the PAYMENT-REQUIRED challenge of $base/paid is not base64 JSON"
  [ "$resource" = "$base/paid" ] || die "the merchant's challenge names resource $resource, not $base/paid"
  say "the merchant's challenge names resource $resource"
}

check_paid() { # base-url [curl options through 402flow...]
  local base=$1
  shift
  say "GET $base/paid through 402flow"
  local status
  status=$(via_proxy paid "$base/paid" "$@")
  settle_logged
  [ "$status" = 200 ] || die "GET $base/paid through 402flow answered $status, not 200"
  [ "$(cat "$phase_dir/paid.body")" = "$PAID_BODY" ] ||
    die "GET $base/paid body is not the paid content: $(head -c 500 "$phase_dir/paid.body")"
  local receipt paid
  receipt=$(header "$phase_dir/paid.headers" X-402flow-Receipt)
  paid=$(header "$phase_dir/paid.headers" X-402flow-Paid)
  [ -n "$receipt" ] || die "the paid answer has no X-402flow-Receipt header"
  [ -n "$paid" ] || die "the paid answer has no X-402flow-Paid header"
  say "X-402flow-Receipt: $receipt"
  say "X-402flow-Paid: $paid"
  check_payment_identifier
  check_one_settlement
  check_ledger "$base/paid"
}

# The merchant declares payment-identifier: 402flow's credential carries an id, "pay_" and the
# authorization's nonce in hex, and the SDK's validator accepted it.
check_payment_identifier() {
  local id
  id=$(grep -oE '^\[merchant\] payment-identifier ok id=[^ ]+' "$phase_dir/merchant.log" | head -n1 | cut -d= -f2 || true)
  [[ $id =~ ^pay_[0-9a-f]{64}$ ]] ||
    die "the merchant's payment-identifier check did not accept 402flow's credential: $(grep -E 'payment-identifier' "$phase_dir/merchant.log" || echo 'no log line')"
  say "payment-identifier: the SDK's validator accepted id $id"
}

check_one_settlement() {
  local verifies verify_ok settles settle_ok
  verifies=$(count '^\[facilitator\] verify ')
  verify_ok=$(count_from_wallet '^\[facilitator\] verify ok')
  settles=$(count '^\[facilitator\] settle ')
  settle_ok=$(count_from_wallet '^\[facilitator\] settle ok')
  if [ "$verifies" != 1 ] || [ "$verify_ok" != 1 ]; then
    die "the facilitator should have verified exactly one payment, from $address (verify lines: $verifies, ok from the wallet: $verify_ok)"
  fi
  if [ "$settles" != 1 ] || [ "$settle_ok" != 1 ]; then
    die "the facilitator should have settled exactly one payment, from $address (settle lines: $settles, ok from the wallet: $settle_ok)"
  fi
  grep -qi "^\[chain\] transferWithAuthorization from=$address " "$phase_dir/merchant.log" ||
    die "the stand-in chain shows no transfer from $address"
  say "facilitator verified and settled one payment from $address"
}

check_ledger() { # url the receipt names
  local json result
  json=$(receipts_json)
  # shellcheck disable=SC2016 # JavaScript, not shell
  result=$(RECEIPTS="$json" PAYER="$address" URL="$1" "$NODE" -e '
    const r = JSON.parse(process.env.RECEIPTS);
    const payer = process.env.PAYER.toLowerCase();
    if (!Array.isArray(r) || r.length !== 1) { console.log(`expected 1 receipt, found ${Array.isArray(r) ? r.length : "no list"}`); process.exit(1); }
    if (r[0].state !== "settled") { console.log(`the receipt is ${r[0].state}, not settled`); process.exit(1); }
    if (String(r[0].payer ?? "").toLowerCase() !== payer) { console.log(`the receipt payer is ${r[0].payer}, not ${process.env.PAYER}`); process.exit(1); }
    if (r[0].url !== process.env.URL) { console.log(`the receipt url is ${r[0].url}, not ${process.env.URL}`); process.exit(1); }
    console.log(`one settled receipt for ${r[0].url}`);
  ' 2>&1) || die "402flow's ledger: $result
$json"
  "$BIN" receipts --db "$phase_dir/ledger.db" >&2 || true
  "$BIN" receipts verify --db "$phase_dir/ledger.db" >&2 || die "402flow receipts verify: the receipt chain is broken"
  say "ledger: $result"
}

check_free() { # base-url [curl options through 402flow...]
  local base=$1
  shift
  say "GET $base/free through 402flow"
  local status n
  status=$(via_proxy free "$base/free" "$@")
  [ "$status" = 200 ] || die "GET $base/free through 402flow answered $status, not 200"
  [ "$(cat "$phase_dir/free.body")" = "$FREE_BODY" ] || die "GET $base/free body changed: $(head -c 500 "$phase_dir/free.body")"
  if grep -qi '^X-402flow-' "$phase_dir/free.headers"; then die "GET $base/free carries 402flow payment headers"; fi
  grep -q '^\[merchant\] GET /free -> 200$' "$phase_dir/merchant.log" || die "the merchant did not see a plain GET /free"
  [ "$(count '^\[facilitator\] ')" = 2 ] || die "GET $base/free caused facilitator activity"
  n=$(RECEIPTS="$(receipts_json)" "$NODE" -p 'JSON.parse(process.env.RECEIPTS).length')
  [ "$n" = 1 ] || die "the ledger has $n receipts after GET $base/free, not 1"
}

# 402flow's stop line counts the tunnels it decrypted: each HTTPS request here is one tunnel.
check_intercepted() { # expected count
  local n
  n=$(grep '"msg":"stopped"' "$phase_dir/proxy.log" | grep -oE '"tunnels_intercepted":[0-9]+' | cut -d: -f2 || true)
  [ "$n" = "$1" ] || die "402flow decrypted ${n:-no} tunnels, not $1 (its stop line: $(grep '"msg":"stopped"' "$phase_dir/proxy.log" || echo none))"
  say "402flow decrypted $n tunnels"
}

run_phase() { # scheme: http, or https (the merchant behind TLS, 402flow intercepting)
  local scheme=$1
  phase_dir=$tmp/$scheme
  mkdir "$phase_dir"
  say "---- $scheme"
  start_merchant "$scheme"
  # curl's options to reach the merchant directly, and through 402flow: over https it trusts only
  # 402flow's CA, so an answer at all means 402flow decrypted the tunnel.
  local direct=() via=()
  if [ "$scheme" = https ]; then
    direct=(--cacert "$phase_dir/merchant.pem")
    via=(--cacert "$ca_dir/ca.pem")
  fi
  check_challenge "$merchant" "${direct[@]}"
  write_flow_yaml "$scheme"
  start_proxy
  check_paid "$merchant" "${via[@]}"
  check_free "$merchant" "${via[@]}"
  stop "$proxy_pid"
  proxy_pid=""
  if [ "$scheme" = https ]; then check_intercepted 2; fi
  stop "$merchant_pid"
  merchant_pid=""
  say "$scheme: 402flow paid the official x402 merchant and passed the free request through"
}

run_phase http
run_phase https
say "PASS: 402flow paid the official x402 merchant over HTTP and over HTTPS, and passed the free requests through"
