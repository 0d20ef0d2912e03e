#!/bin/sh
# Transparent mode for real, in network namespaces this test creates: 402flow runs with
# --transparent, deploy/transparent/iptables.sh redirects the client's outbound 80/443 to it (the
# proxy runs as root, excluded by --proxy-uid 0; the client runs as uid 1337), and two merchants
# live in a second namespace behind a veth pair (198.51.100.7 over HTTPS with a self-signed
# certificate, 198.51.100.8 over plain HTTP). A client with no proxy settings at all, trusting
# only 402flow's CA, gets the paid answer from both, also by a name that resolves nowhere (the
# SNI decides and names the origin; the connection goes to the original address); a name no rule
# names is spliced (the client meets the merchant's own certificate); the receipts are settled;
# the access log says mode transparent; a connection straight to the transparent port is closed
# as loop_detected. Where the kernel refuses namespaces the test says so plainly and skips.
#   transparent_mode_test.sh FLOW_BINARY IPTABLES_SH
set -u
flow=$1
script=$2

if [ "${3:-}" != --inside ]; then
  for tool in ip iptables curl openssl setpriv unshare; do
    command -v $tool >/dev/null 2>&1 || { echo "skip: $tool is not installed"; exit 0; }
  done
  if ! unshare -n true 2>/dev/null; then
    echo "skip: the kernel refuses a new network namespace here (needs root)"
    exit 0
  fi
  if ! setpriv --reuid 1337 --regid 1337 --clear-groups true 2>/dev/null; then
    echo "skip: cannot run a client as uid 1337 here"
    exit 0
  fi
  exec unshare -n sh "$0" "$flow" "$script" --inside
fi

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

dir=$(mktemp -d)
chmod 755 "$dir"
pids=""
cleanup() {
  for pid in $pids; do kill "$pid" 2>/dev/null; done
  for f in "$dir"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  sh "$script" --remove >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT

ip link set lo up
if ! iptables -w -t nat -S >/dev/null 2>&1; then
  echo "skip: iptables has no nat table in this namespace"
  exit 0
fi

# --- the merchants, in a namespace of their own behind a veth pair ------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=198.51.100.7 -addext subjectAltName=IP:198.51.100.7,DNS:pay.test \
  -keyout "$dir/merchant.key" -out "$dir/merchant.pem" >/dev/null 2>&1 ||
  { echo "FAIL: openssl req"; exit 1; }

unshare -n sh -c '
  while ! ip link show flow1 >/dev/null 2>&1; do sleep 0.05; done
  ip link set lo up
  ip link set flow1 up
  ip addr add 198.51.100.7/24 dev flow1
  ip addr add 198.51.100.8/24 dev flow1
  "$1" merchant --listen 198.51.100.7:443 --tls-cert "$2/merchant.pem" --tls-key "$2/merchant.key" \
    --quiet --port-file "$2/tls.port" 2>"$2/tls-merchant.err" &
  echo $! >"$2/tls-merchant.pid"
  "$1" merchant --listen 198.51.100.8:80 --quiet --port-file "$2/plain.port" \
    2>"$2/plain-merchant.err" &
  echo $! >"$2/plain-merchant.pid"
  wait' sh "$flow" "$dir" &
pids="$pids $!"
merchant_ns=$!
sleep 0.2
if ! ip link add flow0 type veth peer name flow1 netns "$merchant_ns" 2>/dev/null; then
  echo "skip: no veth link in this namespace"
  exit 0
fi
ip link set flow0 up
ip addr add 198.51.100.1/24 dev flow0

wait_for_file() {  # wait_for_file FILE: up to 10 s
  i=0
  while [ ! -s "$1" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
  [ -s "$1" ]
}
wait_for_file "$dir/tls.port" || { cat "$dir/tls-merchant.err"; echo "FAIL: no TLS merchant"; exit 1; }
wait_for_file "$dir/plain.port" || { echo "FAIL: no plain merchant"; exit 1; }

# --- 402flow: a CA, a wallet, flow.yaml naming both merchants, the transparent listener ----------
"$flow" ca init --dir "$dir/ca" >/dev/null || { echo "FAIL: ca init"; exit 1; }
cp "$dir/ca/ca.pem" "$dir/trusted-ca.pem"
chmod 644 "$dir/trusted-ca.pem"
"$flow" keygen --out "$dir/wallet.key" >/dev/null || { echo "FAIL: keygen"; exit 1; }
cat >"$dir/flow.yaml" <<EOF
version: 1
proxy:
  listen: 127.0.0.1:18402
  transparent: 127.0.0.1:15001
  agent: transparent-agent
  access_log: $dir/access.log
ledger:
  path: $dir/ledger.db
wallets:
  - name: test-wallet
    networks: [eip155:8453, eip155:137, eip155:84532]
    key_file: $dir/wallet.key
organization:
  posture: block
  networks: [eip155:8453, eip155:137]
  prefer_networks: [eip155:8453]
  caps:
    per_request: [1 USDC]
agents:
  - id: transparent-agent
merchants:
  - name: merchant-tls
    host: 198.51.100.7
    path: /v2
    action: allow
  - name: merchant-named
    host: pay.test
    path: /v2
    action: allow
  - name: merchant-plain
    host: 198.51.100.8
    path: /v2
    action: allow
tls:
  ca_dir: $dir/ca
  upstream_ca_file: $dir/merchant.pem
EOF
check=$("$flow" check "$dir/flow.yaml" 2>&1) || fail "check refused the file: $check"
echo "$check" | grep -q "transparent      127.0.0.1:15001" || fail "check does not show proxy.transparent: $check"

"$flow" run -c "$dir/flow.yaml" --port-file "$dir/proxy.port" 2>"$dir/proxy.err" &
pids="$pids $!"
wait_for_file "$dir/proxy.port" || { cat "$dir/proxy.err"; echo "FAIL: the proxy did not start"; exit 1; }

sh "$script" --proxy-uid 0 --proxy-port 15001 --ipv6 off || { echo "FAIL: iptables.sh"; exit 1; }

as_client() {
  setpriv --reuid 1337 --regid 1337 --clear-groups env -u http_proxy -u https_proxy \
    -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY "$@"
}

# --- HTTPS: intercepted (no SNI: curl sends none for an IP; the leaf carries an IP SAN) ----------
out=$(as_client curl -sS -m 20 --cacert "$dir/trusted-ca.pem" -D - \
  -H "Idempotency-Key: transparent-tls-1" https://198.51.100.7/v2/weather 2>&1)
echo "$out" | grep -q "^HTTP/1.1 200" || fail "HTTPS through the redirect not paid: $out"
echo "$out" | grep -q "forecast" || fail "HTTPS answer has no forecast: $out"
echo "$out" | grep -qi "^x-402flow-payment-state: settled" || fail "HTTPS not settled: $out"

# --- HTTPS by name: the SNI decides and names the origin; pay.test resolves nowhere, so only the
# original destination's address can have reached the merchant ---------------------------------
out=$(as_client curl -sS -m 20 --cacert "$dir/trusted-ca.pem" -D - --resolve pay.test:443:198.51.100.7 \
  -H "Idempotency-Key: transparent-sni-1" https://pay.test/v2/weather 2>&1)
echo "$out" | grep -q "^HTTP/1.1 200" || fail "HTTPS by SNI through the redirect not paid: $out"
echo "$out" | grep -qi "^x-402flow-payment-state: settled" || fail "HTTPS by SNI not settled: $out"

# --- a name no rule names is spliced: the client meets the merchant's own certificate ----------
out=$(echo | as_client openssl s_client -connect 198.51.100.7:443 -servername other.test \
  -CAfile "$dir/merchant.pem" 2>&1)
echo "$out" | grep -q "Verify return code: 0 (ok)" || fail "other.test was not spliced: $out"

# --- plain HTTP: Host names the origin, the connection goes to the original address ------------
out=$(as_client curl -sS -m 20 -D - -H "Idempotency-Key: transparent-http-1" \
  http://198.51.100.8/v2/weather 2>&1)
echo "$out" | grep -q "^HTTP/1.1 200" || fail "HTTP through the redirect not paid: $out"
echo "$out" | grep -qi "^x-402flow-payment-state: settled" || fail "HTTP not settled: $out"

# --- a client that does not trust the CA is refused by its own TLS check -----------------------
as_client curl -sS -m 10 -o /dev/null https://198.51.100.7/v2/weather 2>/dev/null &&
  fail "a client trusting only the system store accepted 402flow's leaf"

# --- the loop guard: straight to the transparent port (conntrack reports the port itself) -------
curl -sS -m 5 -o /dev/null http://127.0.0.1:15001/ 2>/dev/null && fail "a direct connection was served"

# Three receipts, all settled, one per merchant (`receipts --json` prints one field a line).
receipts=$("$flow" receipts --db "$dir/ledger.db" --json 2>&1)
settled=$(echo "$receipts" | grep -c '"state": "settled"')
[ "$settled" = 3 ] || fail "$settled settled receipts, not 3: $receipts"
for url in "https://198.51.100.7/v2/weather" "https://pay.test/v2/weather" \
  "http://198.51.100.8/v2/weather"; do
  echo "$receipts" | grep -qF "\"url\": \"$url\"" || fail "no receipt for $url: $receipts"
done

sleep 0.3
log=$(cat "$dir/access.log")
echo "$log" | grep '"path":"/v2/weather"' | grep -q '"mode":"transparent"' ||
  fail "the paid exchanges' access lines do not say mode transparent: $log"
echo "$log" | grep '"method":"CONNECT","host":"198.51.100.7","port":443,"mode":"transparent"' |
  grep -q '"status":200' || fail "no access line for the spliced connection: $log"
echo "$log" | grep '"host":"127.0.0.1","port":15001' | grep -q '"error":"loop_detected"' ||
  fail "no loop_detected line for the direct connection: $log"

if [ "$failures" -gt 0 ]; then
  echo "--- proxy stderr"
  cat "$dir/proxy.err"
  echo "$failures failure(s)"
  exit 1
fi
echo "ok: HTTPS and HTTP paid through iptables REDIRECT with no proxy settings; loop guard holds"
