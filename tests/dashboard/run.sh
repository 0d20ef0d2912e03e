#!/usr/bin/env bash
# The admin dashboard in headless Chromium, against a real proxy with real receipts.
#
#   tests/dashboard/run.sh [BUILD_DIR]     (default: build; the binary is BUILD_DIR/402flow)
#
# 1. needs Debian's chromium (/usr/bin/chromium): without it, prints "skip: chromium ..." and
#    exits 0 — except under CI=true, where scripts/setup.sh installs it and its absence fails;
# 2. installs playwright-core (npm ci) when node_modules is missing or stale;
# 3. starts two `402flow merchant`s, an approval webhook receiver (webhook_receiver.py) and
#    `402flow run` with an admin token, a budget cap, admin.webhook and a review rule that holds
#    (review.amount_over: 1 USDC, review.hold: 2m); pays three 0.01 USDC
#    requests with curl through the proxy (two merchants), then sends two 5 USDC requests that
#    are held for review, in the background;
# 4. dashboard_test.mjs loads the page: assets, the token field (401 without, data with), the
#    receipts, caps, observed merchants and charts with the values just paid, approves one held
#    request and denies the other (with a reason) by clicking, and checks a screenshot is not blank;
# 5. the approved agent got its paid answer (200, the forecast), the denied one 403
#    approval_denied with the reason, the ledger holds exactly four settled receipts, and the
#    webhook receiver got both approvals opened and decided, every signature verified.
#
# FLOW_DASHBOARD_PAGE_ONLY=1: for a proxy without the /v1/ API and review.hold: only the page,
# its assets, the token field, the screenshot and that the webhook started are checked.
# Exit 0 when everything holds; otherwise 1 with the reason and the logs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build_dir=${1:-$root/build}
case $build_dir in /*) ;; *) build_dir=$PWD/$build_dir ;; esac
BIN=$build_dir/402flow
CHROMIUM=${FLOW_CHROMIUM:-/usr/bin/chromium}
page_only=${FLOW_DASHBOARD_PAGE_ONLY:-0}

# shellcheck source=../support/process_lib.sh
. "$here/../support/process_lib.sh"
harness dashboard

# ---- prerequisites ---------------------------------------------------------------------------
if [ ! -x "$CHROMIUM" ]; then
  [ "${CI:-}" = true ] && die "$CHROMIUM not found under CI (Debian package chromium; scripts/setup.sh installs it)"
  say "skip: chromium is not installed ($CHROMIUM; Debian package chromium, run scripts/setup.sh)"
  exit 0
fi
command -v curl >/dev/null 2>&1 || die "curl is not installed (Debian package curl); run scripts/setup.sh"
command -v npm >/dev/null 2>&1 || die "npm is not installed; run scripts/setup.sh"
[ -x "$BIN" ] || die "$BIN not found; build 402flow first"

# shellcheck source=../support/node_env.sh
. "$here/../support/node_env.sh"
npm_ci_if_stale "$here" dashboard
pick_node "$here" 18 0 0 "playwright-core needs Node >= 18"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/402flow-dashboard.XXXXXX")

start() { # name portfile command... : runs it in the background, logs to $tmp/name.log
  local name=$1 port_file=$2
  shift 2
  "$@" 2>"$tmp/$name.log" >&2 &
  pids+=($!)
  wait_for_file "$port_file" "$!" "$name"
}

# ---- two merchants, a wallet, flow.yaml, the proxy -------------------------------------------
start merchant-a "$tmp/merchant-a.port" "$BIN" merchant --listen 127.0.0.1:0 --port-file "$tmp/merchant-a.port"
start merchant-b "$tmp/merchant-b.port" "$BIN" merchant --listen 127.0.0.1:0 --port-file "$tmp/merchant-b.port"
merchant_a=http://127.0.0.1:$(port_of "$tmp/merchant-a.port")
merchant_b=http://127.0.0.1:$(port_of "$tmp/merchant-b.port")
"$BIN" keygen --out "$tmp/wallet.key" >"$tmp/keygen.log" 2>&1 || die "402flow keygen failed"
# The approval webhook's receiver, checking each delivery's signature.
(umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$tmp/webhook.secret")
start webhook-receiver "$tmp/webhook.port" /usr/bin/python3 "$here/webhook_receiver.py" \
  "$tmp/webhook.port" "$tmp/webhook.jsonl" "$tmp/webhook.secret"
webhook_url=http://$(tr -d '[:space:]' <"$tmp/webhook.port")/approvals
hold_line="  hold: 2m"
[ "$page_only" = 1 ] && hold_line=""
cat >"$tmp/flow.yaml" <<EOF
version: 1
proxy:
  agent: dash-agent
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
    per_request: [10 USDC]
    budgets:
      - amount: 50 USDC
        per: day
review:
  amount_over: 1 USDC
$hold_line
agents:
  - id: dash-agent
admin:
  webhook:
    url: $webhook_url
    secret_file: webhook.secret
merchants:
  - name: merchants-v2
    host: 127.0.0.1
    path: /v2
    action: allow
EOF
token=dash-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
FLOW402_ADMIN_TOKEN=$token start 402flow "$tmp/proxy.port" "$BIN" run -c "$tmp/flow.yaml" \
  --listen 127.0.0.1:0 --port-file "$tmp/proxy.port" \
  --admin 127.0.0.1:0 --admin-port-file "$tmp/admin.port"
proxy=http://127.0.0.1:$(port_of "$tmp/proxy.port")
admin=http://$(tr -d '[:space:]' <"$tmp/admin.port")
say "402flow on $proxy, admin on $admin; merchants $merchant_a and $merchant_b"

# ---- real paid receipts ----------------------------------------------------------------------
pay() { # name url
  local status
  status=$(curl -sS --max-time 30 -x "$proxy" -H "Idempotency-Key: $1" -o "$tmp/$1.out" \
    -w '%{http_code}' "$2" 2>"$tmp/$1.err") || die "curl $1 failed"
  [ "$status" = 200 ] || die "$1: status $status, not 200: $(head -c 300 "$tmp/$1.out")"
  grep -q '"forecast"' "$tmp/$1.out" || die "$1 did not get the paid body"
}
pay pay-a1 "$merchant_a/v2/weather"
pay pay-a2 "$merchant_a/v2/weather?city=2"
pay pay-b1 "$merchant_b/v2/weather"
say "paid three 0.01 USDC requests"

held_approve=$merchant_a/v2/expensive
held_deny=$merchant_b/v2/expensive
if [ "$page_only" != 1 ]; then
  # Held for review: each agent's connection stays open until the page decides.
  for which in approve deny; do
    url=$held_approve
    [ $which = deny ] && url=$held_deny
    curl -sS --max-time 120 -x "$proxy" -H "Idempotency-Key: held-$which" -o "$tmp/held-$which.out" \
      -w '%{http_code}' "$url" >"$tmp/held-$which.status" 2>"$tmp/held-$which.err" &
    pids+=($!)
    eval "held_${which}_pid=$!"
  done
fi

# ---- the page --------------------------------------------------------------------------------
ADMIN_URL=$admin ADMIN_TOKEN=$token CHROMIUM=$CHROMIUM PAGE_ONLY=$page_only \
  MERCHANT_A=$merchant_a MERCHANT_B=$merchant_b HELD_APPROVE=$held_approve HELD_DENY=$held_deny \
  SCREENSHOT=${FLOW_DASHBOARD_SCREENSHOT:-$tmp/dashboard.png} \
  "$NODE" "$here/dashboard_test.mjs" >"$tmp/browser.out" 2>&1 ||
  { cat "$tmp/browser.out" >&2; die "the page's checks failed"; }
sed 's/^/dashboard: /' "$tmp/browser.out" >&2

for _ in $(seq 100); do
  grep -q '"msg":"approval webhook on"' "$tmp/402flow.log" && break
  sleep 0.05
done
grep -q '"msg":"approval webhook on"' "$tmp/402flow.log" || die "the proxy did not start its approval webhook"

if [ "$page_only" = 1 ]; then
  say "PASS (page only: the /v1/ and held-request checks were not run)"
  exit 0
fi

# ---- what the agents got, what the ledger holds ----------------------------------------------
# shellcheck disable=SC2154 # set by eval above
wait "$held_approve_pid" || die "the approved request's curl failed: $(cat "$tmp/held-approve.err")"
# shellcheck disable=SC2154
wait "$held_deny_pid" || die "the denied request's curl failed: $(cat "$tmp/held-deny.err")"
[ "$(cat "$tmp/held-approve.status")" = 200 ] ||
  die "the approved request got $(cat "$tmp/held-approve.status"): $(head -c 300 "$tmp/held-approve.out")"
grep -q '"forecast"' "$tmp/held-approve.out" || die "the approved request did not get the paid body"
[ "$(cat "$tmp/held-deny.status")" = 403 ] || die "the denied request got $(cat "$tmp/held-deny.status"), not 403"
grep -q 'approval_denied' "$tmp/held-deny.out" || die "the denied request's answer is not approval_denied"
grep -q 'not this one' "$tmp/held-deny.out" || die "the denied request's answer lacks the reason"
say "the approved agent got its paid answer; the denied one 403 approval_denied with the reason"

# The webhook told the receiver of both approvals opening and being decided, signed.
for _ in $(seq 100); do
  [ "$(grep -c 'approval.decided' "$tmp/webhook.jsonl" 2>/dev/null)" = 2 ] && break
  sleep 0.1
done
# shellcheck disable=SC2016 # Python, not shell
verdict=$(/usr/bin/python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
problems = []
if not all(l["verified"] for l in lines): problems.append("a signature did not verify")
if any(l["path"] != "/approvals" for l in lines): problems.append("a POST went elsewhere")
for event, states in (("approval.opened", ["pending", "pending"]), ("approval.decided", ["approved", "denied"])):
    got = sorted(l["body"]["approval"]["state"] for l in lines if l["event"] == event)
    if got != sorted(states): problems.append(f"{event}: states {got}, not {sorted(states)}")
    if any(l["body"]["event"] != event for l in lines if l["event"] == event): problems.append(event + ": body event differs")
print("; ".join(problems) or f"{len(lines)} signed deliveries: 2 opened, 2 decided")
sys.exit(1 if problems else 0)
' "$tmp/webhook.jsonl" 2>&1) || die "the webhook: $verdict"
say "webhook: $verdict"

settled=$("$BIN" receipts --db "$tmp/ledger.db" --json 2>"$tmp/receipts.err" |
  grep -c '"state": "settled"') || true
[ "$settled" = 4 ] || die "the ledger holds $settled settled receipts, not 4"
say "PASS: 4 settled receipts, the page showed and decided them"
