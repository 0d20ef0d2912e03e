#!/usr/bin/env bash
# 402flow paid-path benchmark: paid requests per second through the proxy against the built-in
# merchant (`402flow merchant`), every request a fresh x402 payment (policy, a durable reservation,
# an EIP-3009 signature, a durable mark_signed, the paid retry, the merchant's verification and a
# durable receipt), and the proxy's CPU time per paid request beyond the pass-through cost.
#
# Usage: bench/paid.sh [--duration S] [--conns N] [--rounds R] [--no-build] [--build-dir DIR]
#                      [--merchant-bin BIN] [--csv FILE] [--update-readme] [--operator [--held N]]
# --operator: each round also measures both paths under operator load (the admin API scraped every
# second: /metrics, /v1/approvals, /v1/spend, /v1/receipts?limit=100, as Prometheus and the
# dashboard read it; and --held requests, default 100, parked for review
# waiting for a person's decision) and reports each figure against the same round without it.
# --merchant-bin runs the merchant from another 402flow binary (bench/compare.sh gives both
# binaries the same merchant); --csv appends each round's figures as "round,metric,value" lines.
# Layout: wrk and the merchant on CPU 0, the proxy (loop and ledger writer threads) on CPU 1. The
# ledger is a file on disk with synchronous=FULL: every money step is fsynced (group commit).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
export LC_ALL=C

duration=10
conns=64
rounds=3
do_build=1
build_dir="$root/build-bench"
update_readme=0
merchant_bin=""
csv=""
operator=0
held=100
loadgen_cpu=0
proxy_cpu=1

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --merchant-bin) merchant_bin=$2; shift 2 ;;
    --csv) csv=$2; shift 2 ;;
    --update-readme) update_readme=1; shift ;;
    --operator) operator=1; shift ;;
    --held) held=$2; shift 2 ;;
    -h|--help) sed -n 2,17p "$0"; exit 0 ;;
    *) echo "bench/paid.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

command -v wrk >/dev/null || { echo "bench/paid.sh: wrk missing: FLOW_SETUP_BENCH=1 scripts/setup.sh" >&2; exit 2; }
if [[ $do_build == 1 ]]; then
  cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DFLOW_TESTS=OFF >/dev/null
  cmake --build "$build_dir" -j"$(nproc)" --target 402flow >/dev/null
fi
bin="$build_dir/402flow"
[[ -x $bin ]] || { echo "bench/paid.sh: $bin missing (drop --no-build)" >&2; exit 2; }
merchant_bin=${merchant_bin:-$bin}
[[ -x $merchant_bin ]] || { echo "bench/paid.sh: $merchant_bin missing" >&2; exit 2; }

# On disk, not tmpfs: the fsyncs are part of what is measured.
tmp=$(mktemp -d "$root/build-bench-paid.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$bin" keygen --out "$tmp/wallet.key" >/dev/null
cat >"$tmp/flow.yaml" <<EOF
version: 1
proxy:
  agent: bench
  access_log: $tmp/access.log
  log_level: warn
ledger:
  path: $tmp/ledger.db
wallets:
  - name: bench
    key_file: wallet.key
organization:
  posture: block
  networks: [eip155:8453]
  caps:
    per_request: [10 USDC]
    budgets:
      - amount: 1000000000 USDC
        per: day
agents:
  - id: bench
merchants:
  - name: bench-merchant
    host: 127.0.0.1
    action: allow
EOF
if [[ $operator == 1 ]]; then
  # /v2/expensive (5 USDC) goes to review and is held there; /v2/weather (0.01 USDC) pays at once.
  cat >>"$tmp/flow.yaml" <<EOF
review:
  amount_over: [1 USDC]
  hold: 1h
  approval_ttl: 1h
EOF
fi
"$bin" check "$tmp/flow.yaml" >/dev/null

taskset -c "$loadgen_cpu" "$merchant_bin" merchant --listen 127.0.0.1:0 --port-file "$tmp/merchant.port" \
  --quiet 2>"$tmp/merchant.log" &
pids+=($!)
for _ in $(seq 500); do [[ -s $tmp/merchant.port ]] && break; sleep 0.01; done
merchant=$(cat "$tmp/merchant.port")

start_proxy() {
  rm -f "$tmp/proxy.port"
  taskset -c "$proxy_cpu" "$bin" run -c "$tmp/flow.yaml" --listen 127.0.0.1:0 \
    --port-file "$tmp/proxy.port" --admin 127.0.0.1:0 --admin-port-file "$tmp/admin.port" \
    2>>"$tmp/proxy.log" &
  proxy_pid=$!
  pids+=("$proxy_pid")
  for _ in $(seq 500); do [[ -s $tmp/proxy.port ]] && break; sleep 0.01; done
  proxy=$(cat "$tmp/proxy.port")
  admin=$(cat "$tmp/admin.port")
}

# Operator load: --held agents parked on a review (one curl each, on the load core), and a
# scraper reading the admin API every second as Prometheus and a dashboard would.
operator_pids=()
start_operator_load() {
  for _ in $(seq "$held"); do
    taskset -c "$loadgen_cpu" curl -s -o /dev/null --max-time 3600 -x "http://$proxy" \
      "http://$merchant/v2/expensive" &
    operator_pids+=($!)
  done
  (
    while true; do
      for path in /metrics /v1/approvals /v1/spend "/v1/receipts?limit=100"; do
        curl -s -o /dev/null "http://$admin$path" || true
      done
      sleep 1
    done
  ) &
  operator_pids+=($!)
  # Every held request is parked before anything is measured.
  local parked=0
  for _ in $(seq 300); do
    parked=$(curl -s "http://$admin/metrics" | awk '/^flow402_approvals_held /{print $2}')
    [[ ${parked%.*} == "$held" ]] && break
    sleep 0.1
  done
  [[ ${parked%.*} == "$held" ]] || { echo "bench/paid.sh: only ${parked:-0} of $held requests held" >&2; exit 1; }
}
stop_operator_load() {
  for p in "${operator_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${operator_pids[@]}" 2>/dev/null || true
  operator_pids=()
}

# utime+stime of a process in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One wrk run through the proxy; prints "requests duration_us p50 p99 non2xx cpu_us_per_request".
measure() {
  local path=$1
  local before after out
  before=$(cpu_ticks "$proxy_pid")
  out=$(taskset -c "$loadgen_cpu" wrk -t1 -c"$conns" -d"${duration}s" --latency \
    -s "$here/absolute.lua" "http://$proxy/" -- "http://$merchant$path")
  after=$(cpu_ticks "$proxy_pid")
  local line
  line=$(grep '^BENCH ' <<<"$out")
  local requests duration_us p50 p99 status_errors
  requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
  duration_us=$(sed -E 's/.* duration_us=([0-9]+).*/\1/' <<<"$line")
  p50=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line")
  p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")
  status_errors=$(sed -E 's/.*status_errors=([0-9]+).*/\1/' <<<"$line")
  local hz
  hz=$(getconf CLK_TCK)
  local cpu_us=$(( (after - before) * 1000000 / hz ))
  echo "$requests $duration_us $p50 $p99 $status_errors $(( requests > 0 ? cpu_us / requests : 0 ))"
}

start_proxy
# Warm up both paths (pool, page cache, ledger file).
measure /free >/dev/null
measure /v2/weather >/dev/null

results=()
operator_results=()
for r in $(seq "$rounds"); do
  read -r fr fd fp50 fp99 ferr fcpu < <(measure /free)
  read -r pr pd pp50 pp99 perr pcpu < <(measure /v2/weather)
  results+=("$r $fr $fd $fp50 $fp99 $ferr $fcpu $pr $pd $pp50 $pp99 $perr $pcpu")
  if [[ $operator == 1 ]]; then
    start_operator_load
    read -r ofr ofd _ _ ofe _ < <(measure /free)
    read -r opr opd _ opp99 ope _ < <(measure /v2/weather)
    stop_operator_load
    operator_results+=("$r $(( fr * 1000000 / fd )) $(( ofr * 1000000 / ofd )) $(( pr * 1000000 / pd )) $(( opr * 1000000 / opd )) $pp99 $opp99 $(( ofe + ope ))")
    printf 'round %d under operator load: free %d req/s, paid %d req/s (p99 %.2f ms), non-2xx %d\n' \
      "$r" $(( ofr * 1000000 / ofd )) $(( opr * 1000000 / opd )) "$(bc -l <<<"$opp99/1000")" $(( ofe + ope ))
  fi
  if [[ -n $csv ]]; then
    {
      echo "$r,free_rps,$(( fr * 1000000 / fd ))"
      echo "$r,free_cpu_us_per_req,$fcpu"
      echo "$r,paid_rps,$(( pr * 1000000 / pd ))"
      echo "$r,paid_p50_ms,$(bc -l <<<"scale=3; $pp50/1000")"
      echo "$r,paid_p99_ms,$(bc -l <<<"scale=3; $pp99/1000")"
      echo "$r,paid_cpu_us_per_req,$pcpu"
      echo "$r,paid_extra_cpu_us,$(( pcpu - fcpu ))"
      echo "$r,paid_non2xx,$perr"
    } >>"$csv"
  fi
  printf 'round %d: free %d req/s (%d µs CPU/req); paid %d req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d, %d µs CPU/req\n' \
    "$r" $(( fr * 1000000 / fd )) "$fcpu" $(( pr * 1000000 / pd )) \
    "$(bc -l <<<"$pp50/1000")" "$(bc -l <<<"$pp99/1000")" "$perr" "$pcpu"
done

# Every paid request must have produced exactly one settled receipt.
settled=$("$bin" receipts --db "$tmp/ledger.db" --json | grep -Eo '"state": ?"settled"' | wc -l || true)
other=$("$bin" receipts --db "$tmp/ledger.db" --json | grep -Eo '"state": ?"(failed|unknown)"' | wc -l || true)
verify=$("$bin" receipts verify --db "$tmp/ledger.db" | head -1)
echo "receipts: $settled settled, $other failed or unknown"
echo "$verify"

# Median round by paid req/s.
median=$(printf '%s\n' "${results[@]}" | awk '{print ($8*1000000/$9) " " $0}' | sort -n |
  awk -v n="${#results[@]}" 'NR == int((n + 1) / 2) {$1=""; print}')
read -r _ fr fd fp50 fp99 ferr fcpu pr pd pp50 pp99 perr pcpu <<<"$median"
paid_rps=$(( pr * 1000000 / pd ))
free_rps=$(( fr * 1000000 / fd ))
extra=$(( pcpu - fcpu ))
table=$(cat <<EOF
| measurement (median of $rounds × ${duration} s, $conns connections) | result | target |
|---|---|---|
| paid requests/s, durable receipts | $paid_rps | ≥ 1,500 |
| paid p50 / p99 latency | $(bc -l <<<"scale=2; $pp50/1000") ms / $(bc -l <<<"scale=2; $pp99/1000") ms | — |
| proxy CPU per paid request | $pcpu µs | — |
| proxy CPU per pass-through request (same merchant, /free) | $fcpu µs ($free_rps req/s) | — |
| proxy CPU per paid request beyond pass-through | $extra µs | ≤ 300 µs |
| non-2xx answers during paid runs | $perr | 0 |
EOF
)
echo
echo "$table"
if [[ $operator == 1 ]]; then
  # The median of each column over the rounds; ratios of the medians.
  col_median() { printf '%s\n' "${operator_results[@]}" | awk -v c="$1" '{print $c}' | sort -n |
    awk -v n="${#operator_results[@]}" 'NR == int((n + 1) / 2)'; }
  qf=$(col_median 2); of=$(col_median 3); qp=$(col_median 4); op=$(col_median 5)
  q99=$(col_median 6); o99=$(col_median 7)
  oerr=$(printf '%s\n' "${operator_results[@]}" | awk '{s += $8} END {print s}')
  operator_table=$(cat <<EOF
| measurement (median of $rounds × ${duration} s, $conns connections) | without | with operator load | ratio | target |
|---|---|---|---|---|
| pass-through requests/s (/free) | $qf | $of | $(bc -l <<<"scale=3; $of/$qf") | ≥ 0.95 |
| paid requests/s, durable receipts | $qp | $op | $(bc -l <<<"scale=3; $op/$qp") | ≥ 0.95 |
| paid p99 latency | $(bc -l <<<"scale=2; $q99/1000") ms | $(bc -l <<<"scale=2; $o99/1000") ms | — | — |
| non-2xx answers under operator load | — | $oerr | — | 0 |
EOF
)
  echo
  echo "operator load: $held requests held for review, the admin API scraped every second"
  echo "$operator_table"
fi
# Puts a table between <!-- NAME:start --> and <!-- NAME:end --> in bench/README.md.
update_readme_block() {
  python3 - "$here/README.md" "$1" "$2" <<'PY'
import sys, re
path, name, table = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
block = f"{start}\n{table}\n{end}"
if start in text:
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
else:
    text += "\n" + block + "\n"
open(path, "w").write(text)
PY
}
if [[ $update_readme == 1 ]]; then
  update_readme_block paid-results "$table"
  if [[ $operator == 1 ]]; then update_readme_block operator-results "$operator_table"; fi
fi
