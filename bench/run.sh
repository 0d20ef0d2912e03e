#!/usr/bin/env bash
# 402flow benchmark: 402flow vs Squid vs tinyproxy vs going direct, against a local nginx origin; with
# --suite https, 402flow intercepting HTTPS vs mitmproxy vs going direct over HTTPS.
# Usage: bench/run.sh [--suite http|https] [--duration S] [--rounds R] [options]
#        (bench/run.sh --help; details in bench/README.md)
#
# Everything runs on 127.0.0.1 with ports picked free at run time, from a temp dir, as the current user
# (Squid excepted when run as root: it refuses root and runs as Debian's "proxy" user).
# Everything this script starts is stopped when it exits, whatever the reason.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
export LC_ALL=C

# ---------------------------------------------------------------- options
duration=10          # seconds per measurement
rounds=3             # interleaved rounds; the median is reported
warmup=1             # seconds of unmeasured load before each measurement (0 = none)
suite=http          # http: the plain-HTTP and spliced-tunnel table; https: the interception table
targets=""          # default: the suite's
scenarios=""        # default: the suite's
small_conns=50       # keep-alive connections, 100-byte bodies
large_conns=10       # keep-alive connections, 1 MiB bodies
tunnel_threads=""    # blocking client threads for new CONNECT+TLS tunnels (default: http 8, https 16)
ka_conns=50          # kept-alive TLS connections through the proxy (https-ka)
loadgen_cpu=0        # wrk / tunnel_bench and the nginx origin
proxy_cpu=1          # the proxy under test, alone
do_setup=1
do_build=1
keep_tmp=0
update_readme=0
perf_mode=0
build_dir="$root/build-bench"   # not build/: a Release configure there would flip the tests' build type
out_dir="$here/results"
flow_extra=()        # --flow-arg: extra arguments for 402flow run
quiet_max=60         # seconds to wait for an idle machine before each measurement

usage() {
  cat <<EOF
usage: bench/run.sh [options]
  --suite NAME        http (default): targets direct,402flow,squid,tinyproxy, scenarios small,large,tunnel,
                      8 tunnel threads; https: targets direct,402flow,flow-intercept,mitmproxy, scenarios
                      tunnel,https-new,https-ka, 16 tunnel threads. --targets, --scenarios and
                      --tunnel-threads override the suite's choice
  --duration S        seconds per measurement (default $duration)
  --rounds R          interleaved rounds, median reported (default $rounds)
  --warmup S          unmeasured seconds before each measurement (default $warmup; 0 = none)
  --targets LIST      comma list of direct,402flow,squid,tinyproxy,flow-intercept,mitmproxy (direct is always
                      run). flow-intercept is 402flow with a CA (-c with tls.ca_dir): it intercepts
  --scenarios LIST    comma list of small,large,tunnel,https-new,https-ka
  --small-conns N     connections for 100-byte bodies (default $small_conns)
  --large-conns N     connections for 1 MiB bodies (default $large_conns)
  --tunnel-threads N  client threads for new CONNECT+TLS tunnels, spliced and intercepted (default 8; https: 16)
  --ka-conns N        kept-alive TLS connections for https-ka (default $ka_conns)
  --no-setup          do not run FLOW_SETUP_BENCH=1 scripts/setup.sh
  --no-build          do not (re)build 402flow; use the binary in the build dir
  --build-dir DIR     CMake build dir for the Release build of 402flow (default build-bench/)
  --out DIR           results dir (default bench/results)
  --quiet-wait S      before each measurement, wait up to S s for both CPUs to be < 10% busy (default $quiet_max;
                      0 = do not wait). A measurement during which other processes took > 15% of a CPU is
                      taken again, up to 3 tries
  --flow-arg ARG      pass ARG to "402flow run" as well (repeatable), e.g. --flow-arg -c --flow-arg flow.yaml
  --perf              after the rounds, one unmeasured pass per scenario with perf sampling 402flow
                      (top symbols in results/perf-SCENARIO.txt; needs perf, Debian package linux-perf)
  --update-readme     replace the suite's results section of bench/README.md with this run's table
  --keep-tmp          keep the temp dir (configs, logs) for inspection
EOF
}

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) suite=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --warmup) warmup=${2:?}; shift 2 ;;
    --targets) targets=${2:?}; shift 2 ;;
    --scenarios) scenarios=${2:?}; shift 2 ;;
    --small-conns) small_conns=${2:?}; shift 2 ;;
    --large-conns) large_conns=${2:?}; shift 2 ;;
    --tunnel-threads) tunnel_threads=${2:?}; shift 2 ;;
    --ka-conns) ka_conns=${2:?}; shift 2 ;;
    --no-setup) do_setup=0; shift ;;
    --no-build) do_build=0; shift ;;
    --build-dir) build_dir=$(realpath -m "${2:?}"); shift 2 ;;
    --out) out_dir=$(realpath -m "${2:?}"); shift 2 ;;
    --quiet-wait) quiet_max=${2:?}; shift 2 ;;
    --flow-arg) flow_extra+=("${2?}"); shift 2 ;;
    --perf) perf_mode=1; shift ;;
    --update-readme) update_readme=1; shift ;;
    --keep-tmp) keep_tmp=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$suite" in
  http) : "${targets:=direct,402flow,squid,tinyproxy}" "${scenarios:=small,large,tunnel}" "${tunnel_threads:=8}"
    readme_marker=results ;;
  https) : "${targets:=direct,402flow,flow-intercept,mitmproxy}" "${scenarios:=tunnel,https-new,https-ka}"
    : "${tunnel_threads:=16}"
    readme_marker=https-results ;;
  *) echo "bench/run.sh: --suite is http or https" >&2; exit 2 ;;
esac
for v in duration rounds warmup quiet_max small_conns large_conns tunnel_threads ka_conns; do
  is_uint "${!v}" || { echo "bench/run.sh: --${v//_/-} must be a whole number" >&2; exit 2; }
done
[ "$duration" -ge 1 ] && [ "$duration" -le 600 ] || { echo "bench/run.sh: --duration must be 1..600" >&2; exit 2; }
[ "$rounds" -ge 1 ] && [ "$rounds" -le 50 ] || { echo "bench/run.sh: --rounds must be 1..50" >&2; exit 2; }
[ "$warmup" -le 60 ] || { echo "bench/run.sh: --warmup must be 0..60" >&2; exit 2; }

IFS=, read -r -a target_list <<<"$targets"
IFS=, read -r -a scenario_list <<<"$scenarios"
for t in "${target_list[@]}"; do
  case "$t" in direct|402flow|squid|tinyproxy|flow-intercept|mitmproxy) ;;
    *) echo "bench/run.sh: unknown target $t" >&2; exit 2 ;; esac
done
for s in "${scenario_list[@]}"; do
  case "$s" in small|large|tunnel|https-new|https-ka) ;; *) echo "bench/run.sh: unknown scenario $s" >&2; exit 2 ;; esac
done
# direct is the reference for every ratio: always first in the list, always run.
tl=(direct)
for t in "${target_list[@]}"; do [ "$t" = direct ] || tl+=("$t"); done
target_list=("${tl[@]}")
has_target() { local t; for t in "${target_list[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }
has_scenario() { local s; for s in "${scenario_list[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
# Which targets a scenario measures. The intercepting proxies (flow-intercept, mitmproxy) only in the HTTPS
# scenarios, where the client trusts their CA; 402flow splicing is there as a reference (the client then
# trusts the origin's certificate); squid and tinyproxy only in the plain-HTTP and spliced-tunnel ones.
applies() {   # applies SCENARIO TARGET
  case "$1:$2" in
    small:flow-intercept|small:mitmproxy|large:flow-intercept|large:mitmproxy) return 1 ;;
    tunnel:flow-intercept|tunnel:mitmproxy) return 1 ;;
    https-*:squid|https-*:tinyproxy) return 1 ;;
  esac
  return 0
}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup (set before anything starts)
declare -A comp_pid=()     # component name -> main pid
tmp=""
sampler_pid=""
squid_service="b402x$$"
all_tree_pids() { local n; for n in "${!comp_pid[@]}"; do tree_pids "${comp_pid[$n]}"; done; }
tree_pids() {   # pid and all its descendants, one per line
  local p=$1 c
  echo "$p"
  for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do tree_pids "$c"; done
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  [ "$rc" -eq 0 ] || log "exiting with status $rc; stopping everything"
  local p
  for p in "$sampler_pid" "${load_pid:-}" "${perf_pid:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  local pids
  pids=$(all_tree_pids | sort -u | tr '\n' ' ')
  if [ -n "${pids// /}" ]; then
    kill -TERM $pids 2>/dev/null
    local i alive
    for i in $(seq 1 50); do              # up to 5 s for a clean exit
      alive=""
      for p in $pids; do kill -0 "$p" 2>/dev/null && alive+=" $p"; done
      [ -z "$alive" ] && break
      sleep 0.1
    done
    [ -n "$alive" ] && { log "killing leftovers:$alive"; kill -KILL $alive 2>/dev/null; }
    wait 2>/dev/null
  fi
  rm -f /dev/shm/"$squid_service"-* 2>/dev/null
  if [ -n "$tmp" ] && [ -d "$tmp" ]; then
    # kept on request, and on a failure (rc 1: its logs tell why); removed on success and on interruption
    if [ "$keep_tmp" = 1 ] || [ "$rc" -eq 1 ]; then log "temp dir kept: $tmp"; else rm -rf "$tmp"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# ---------------------------------------------------------------- setup and build
if [ "$do_setup" = 1 ]; then
  log "installing the benchmark's packages (FLOW_SETUP_BENCH=1 scripts/setup.sh)"
  FLOW_SETUP_BENCH=1 bash "$root/scripts/setup.sh"
fi
for tool in wrk nginx openssl curl taskset g++ ps awk timeout; do
  command -v "$tool" >/dev/null || die "$tool not found (run FLOW_SETUP_BENCH=1 bash scripts/setup.sh)"
done
has_target squid && { command -v squid >/dev/null || die "squid not found"; }
has_target tinyproxy && { command -v tinyproxy >/dev/null || die "tinyproxy not found"; }
has_target mitmproxy && { command -v mitmdump >/dev/null || die "mitmdump not found (Debian package mitmproxy)"; }
[ "$perf_mode" = 1 ] && { command -v perf >/dev/null || die "--perf needs perf (Debian package linux-perf)"; }

ncpu=$(nproc)
if [ "$ncpu" -lt 2 ]; then
  log "only $ncpu CPU: no pinning (load generator, origin and proxy share it)"
  pin_load=() pin_proxy=()
else
  pin_load=(taskset -c "$loadgen_cpu") pin_proxy=(taskset -c "$proxy_cpu")
fi

flow_bin="$build_dir/402flow"
if has_target 402flow || has_target flow-intercept; then
  if [ "$do_build" = 1 ]; then
    log "building 402flow (Release) in $build_dir"
    mkdir -p "$build_dir"
    cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DFLOW_TESTS=OFF -DFLOW_WERROR=OFF >"$build_dir/bench-build.log" 2>&1 ||
      { tail -30 "$build_dir/bench-build.log" >&2; die "cmake configure failed (log: $build_dir/bench-build.log)"; }
    cmake --build "$build_dir" --target 402flow -j "$ncpu" >>"$build_dir/bench-build.log" 2>&1 ||
      { tail -30 "$build_dir/bench-build.log" >&2; die "402flow does not build (log: $build_dir/bench-build.log); run with --targets direct,squid,tinyproxy to bench the others"; }
  fi
  if [ ! -x "$flow_bin" ]; then   # the contract puts it at the top of the build dir; look deeper just in case
    flow_bin=$(find "$build_dir" -maxdepth 3 -type f -name 402flow -perm -u+x 2>/dev/null | head -n1)
    [ -n "$flow_bin" ] || die "no 402flow binary in $build_dir"
  fi
fi

tmp=$(mktemp -d /tmp/402flow-bench.XXXXXX)
chmod 755 "$tmp"    # nginx workers and the squid user read below it
mkdir -p "$tmp"/{www,nginx,squid,tinyproxy,402flow,flow-intercept,mitmproxy,runs} "$out_dir"
log "temp dir $tmp"

tunnel_bench="$tmp/tunnel_bench"
g++ -O2 -std=c++20 "$here/tunnel_bench.cpp" -o "$tunnel_bench" -lssl -lcrypto -lpthread ||
  die "tunnel_bench does not build (needs g++ and libssl-dev)"

# ---------------------------------------------------------------- helpers
hexport() { printf '%04X' "$1"; }
port_in_use() {   # any TCP socket (any state) on that local port
  awk -v p=":$(hexport "$1")" 'FNR > 1 && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6
}
port_listening() {   # 127.0.0.1:port in LISTEN
  awk -v a="0100007F:$(hexport "$1")" 'FNR > 1 && $2 == a && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
}
picked_ports=" "
free_port() {   # a free port below the ephemeral range, not picked before in this run
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    [[ "$picked_ports" == *" $p "* ]] && continue
    port_in_use "$p" && continue
    picked_ports+="$p "
    echo "$p"
    return 0
  done
  die "no free port found"
}
# wait_listen NAME PID PORT LOGFILE: bounded wait (10 s) until PID listens on 127.0.0.1:PORT
wait_listen() {
  local name=$1 pid=$2 port=$3 logf=$4 i
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$logf" >&2 2>/dev/null; die "$name exited at start (log: $logf)"; }
    port_listening "$port" && return 0
    sleep 0.1
  done
  tail -20 "$logf" >&2 2>/dev/null
  die "$name does not listen on 127.0.0.1:$port after 10 s (log: $logf)"
}
sum_status_kib() {   # sum_status_kib FIELD PID... : sum of /proc/PID/status FIELD (kB)
  local field=$1; shift
  local p total=0 v
  for p in "$@"; do
    v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
comp_pids() { tree_pids "${comp_pid[$1]}" | tr '\n' ' '; }   # the component's whole process tree
rss_of() { sum_status_kib VmRSS $(comp_pids "$1"); }
alive_or_die() {
  local name=$1
  kill -0 "${comp_pid[$name]}" 2>/dev/null || { tail -20 "${comp_log[$name]}" >&2 2>/dev/null; die "$name died (log: ${comp_log[$name]})"; }
}
declare -A comp_log=() port=()
csv="$tmp/results.csv"
echo "round,target,metric,value" >"$csv"
record() { echo "$1,$2,$3,$4" >>"$csv"; }
kv() { sed -n "s/.*[ ^]$1=\([0-9.]*\).*/\1/p" <<<" $2"; }   # kv KEY LINE

# Any socket of ours that listens (TCP LISTEN, or unconnected UDP) on a non-loopback address is fatal.
check_loopback_only() {
  local inodes p
  inodes=" "
  for p in $(all_tree_pids); do
    inodes+=$(ls -l "/proc/$p/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ' || true)
  done
  local bad
  bad=$(awk -v inodes="$inodes " '
    FNR == 1 { proto = FILENAME; sub(".*/", "", proto); next }
    {
      split($2, la, ":"); addr = la[1]; st = $4; ino = $10
      if (index(inodes, " " ino " ") == 0) next
      if (!((proto ~ /^tcp/ && st == "0A") || (proto ~ /^udp/ && st == "07"))) next
      if (length(addr) == 8) loop = (substr(addr, 7, 2) == "7F")
      else loop = (addr == "00000000000000000000000001000000") ||
                  (substr(addr, 1, 24) == "0000000000000000FFFF0000" && substr(addr, 31, 2) == "7F")
      if (!loop) print proto " " $2 " (socket inode " ino ")"
    }' /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6)
  [ -z "$bad" ] || die "something listens on a non-loopback address: $bad"
}

# ---------------------------------------------------------------- origin: nginx (HTTP + HTTPS)
http_port=$(free_port)
tls_port=$(free_port)          # no resumption at all: every handshake with the origin is full
tls_resume_port=$(free_port)   # HTTPS scenarios: resumption allowed, for an intercepting proxy's upstream side
head -c 100 /dev/urandom | base64 -w0 | head -c 100 >"$tmp/www/100b"
head -c 1048576 /dev/urandom >"$tmp/www/1m"
chmod 644 "$tmp/www/"*
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$tmp/nginx/key.pem" -out "$tmp/nginx/cert.pem" >/dev/null 2>&1 || die "openssl could not make a certificate"
nginx_user_line=""
[ "$(id -u)" -eq 0 ] && nginx_user_line="user root;"   # workers keep the current user
cat >"$tmp/nginx/nginx.conf" <<EOF
$nginx_user_line
daemon off;
master_process on;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$http_port;
    root $tmp/www;
  }
  server {
    listen 127.0.0.1:$tls_port ssl;
    root $tmp/www;
    ssl_certificate $tmp/nginx/cert.pem;
    ssl_certificate_key $tmp/nginx/key.pem;
    ssl_session_cache off;
    ssl_session_tickets off;
  }
  server {
    listen 127.0.0.1:$tls_resume_port ssl;
    root $tmp/www;
    ssl_certificate $tmp/nginx/cert.pem;
    ssl_certificate_key $tmp/nginx/key.pem;
    ssl_session_cache shared:bench:1m;
    ssl_session_tickets on;
  }
}
EOF
comp_log[nginx]="$tmp/nginx/stderr.log"
(cd "$tmp" && exec "${pin_load[@]}" nginx -p "$tmp/nginx/" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf") \
  >"${comp_log[nginx]}" 2>&1 &
comp_pid[nginx]=$!
wait_listen nginx "${comp_pid[nginx]}" "$http_port" "$tmp/nginx/error.log"
wait_listen nginx "${comp_pid[nginx]}" "$tls_port" "$tmp/nginx/error.log"
wait_listen nginx "${comp_pid[nginx]}" "$tls_resume_port" "$tmp/nginx/error.log"
log "nginx origin: http 127.0.0.1:$http_port, https 127.0.0.1:$tls_port (no resumption) and 127.0.0.1:$tls_resume_port"

# ---------------------------------------------------------------- proxies
start_squid() {
  port[squid]=$(free_port)
  local d="$tmp/squid" user_line=""
  if [ "$(id -u)" -eq 0 ]; then   # squid refuses to run as root
    local u=proxy
    id "$u" >/dev/null 2>&1 || u=nobody
    user_line="cache_effective_user $u"
    chown "$u" "$d"
  fi
  cat >"$d/squid.conf" <<EOF
# forward proxy, no caching, loopback only
http_port 127.0.0.1:${port[squid]}
http_access allow localhost
http_access deny all
cache deny all
workers 1
$user_line
pid_filename $d/squid.pid
cache_log $d/cache.log
access_log stdio:$d/access.log
cache_store_log none
coredump_dir $d
pinger_enable off
shutdown_lifetime 1 seconds
udp_incoming_address 127.0.0.1
dns_nameservers 127.0.0.1
visible_hostname 402flow-bench
max_filedescriptors 65536
EOF
  comp_log[squid]="$d/cache.log"
  rm -f /dev/shm/"$squid_service"-*
  (cd "$tmp" && exec "${pin_proxy[@]}" squid -N -n "$squid_service" -f "$d/squid.conf") >"$d/stderr.log" 2>&1 &
  comp_pid[squid]=$!
  wait_listen squid "${comp_pid[squid]}" "${port[squid]}" "$d/stderr.log"
}
start_tinyproxy() {
  port[tinyproxy]=$(free_port)
  local d="$tmp/tinyproxy"
  cat >"$d/tinyproxy.conf" <<EOF
Port ${port[tinyproxy]}
Listen 127.0.0.1
Timeout 600
LogFile "$d/tinyproxy.log"
LogLevel Connect
PidFile "$d/tinyproxy.pid"
MaxClients 1024
Allow 127.0.0.1
ConnectPort $tls_port
ConnectPort $tls_resume_port
EOF
  comp_log[tinyproxy]="$d/stderr.log"
  (cd "$tmp" && exec "${pin_proxy[@]}" tinyproxy -d -c "$d/tinyproxy.conf") >"$d/stderr.log" 2>&1 &
  comp_pid[tinyproxy]=$!
  wait_listen tinyproxy "${comp_pid[tinyproxy]}" "${port[tinyproxy]}" "$d/stderr.log"
}
# start_402flow NAME [ARG...]: one 402flow process; ARGs follow --flow-arg's.
start_402flow() {
  local name=$1 d="$tmp/$1" access_log=/dev/null
  shift
  local args=("$@")
  comp_log[$name]="$d/stderr.log"
  start_flow_once() {
    rm -f "$d/port"
    (cd "$tmp" && exec "${pin_proxy[@]}" "$flow_bin" run --listen 127.0.0.1:0 --port-file "$d/port" \
      --access-log "$access_log" --connect-ports "$tls_port,$tls_resume_port" --log-level warn \
      "${flow_extra[@]}" "${args[@]}") >"$d/stderr.log" 2>&1 &
    comp_pid[$name]=$!
    local i
    for i in $(seq 1 100); do
      [ -s "$d/port" ] && return 0
      kill -0 "${comp_pid[$name]}" 2>/dev/null || return 1
      sleep 0.1
    done
    tail -20 "$d/stderr.log" >&2
    die "$name wrote no --port-file after 10 s (log: $d/stderr.log)"
  }
  if ! start_flow_once; then
    log "$name did not start with --access-log /dev/null; retrying with a file in the temp dir"
    tail -5 "$d/stderr.log" >&2
    access_log="$d/access.log"
    start_flow_once || { tail -20 "$d/stderr.log" >&2; die "$name exited at start (log: $d/stderr.log)"; }
  fi
  local hp
  hp=$(head -n1 "$d/port")
  port[$name]=${hp##*:}
  [ "${hp%:*}" = 127.0.0.1 ] && is_uint "${port[$name]}" || die "$name --port-file says '$hp'"
  wait_listen "$name" "${comp_pid[$name]}" "${port[$name]}" "$d/stderr.log"
}
# flow-intercept: 402flow with a CA of its own (402flow ca init) intercepting the origin's tunnels
# (tls.intercept.hosts), trusting the origin's self-signed certificate upstream (tls.upstream_ca_file).
start_flow_intercept() {
  local d="$tmp/flow-intercept"
  "$flow_bin" ca init --dir "$d/ca" >"$d/ca-init.log" 2>&1 || { cat "$d/ca-init.log" >&2; die "402flow ca init failed"; }
  cat >"$d/flow.yaml" <<EOF
version: 1
tls:
  ca_dir: $d/ca
  upstream_ca_file: $tmp/nginx/cert.pem
  intercept:
    hosts: ["127.0.0.1", "localhost"]
EOF
  client_ca[flow-intercept]="$d/ca/ca.pem"
  start_402flow flow-intercept -c "$d/flow.yaml"
}
# mitmproxy: mitmdump (no UI, flows not kept), its CA made in its confdir at start; upstream certificates
# verified against the origin's self-signed certificate.
start_mitmproxy() {
  port[mitmproxy]=$(free_port)
  local d="$tmp/mitmproxy"
  comp_log[mitmproxy]="$d/stderr.log"
  (cd "$tmp" && exec "${pin_proxy[@]}" mitmdump --listen-host 127.0.0.1 --listen-port "${port[mitmproxy]}" \
    --set confdir="$d" --set ssl_verify_upstream_trusted_ca="$tmp/nginx/cert.pem" \
    --set termlog_verbosity=warn --set flow_detail=0) >"$d/stderr.log" 2>&1 &
  comp_pid[mitmproxy]=$!
  wait_listen mitmproxy "${comp_pid[mitmproxy]}" "${port[mitmproxy]}" "$d/stderr.log"
  [ -s "$d/mitmproxy-ca-cert.pem" ] || die "mitmproxy made no CA in $d"
  client_ca[mitmproxy]="$d/mitmproxy-ca-cert.pem"
}

# The certificate the HTTPS scenarios' client trusts: the intercepting proxy's CA, else the origin's own.
declare -A client_ca=()
trusted_ca() { echo "${client_ca[$1]:-$tmp/nginx/cert.pem}"; }

for t in "${target_list[@]}"; do
  case "$t" in
    squid) start_squid ;;
    tinyproxy) start_tinyproxy ;;
    402flow) start_402flow 402flow ;;
    flow-intercept) start_flow_intercept ;;
    mitmproxy) start_mitmproxy ;;
  esac
  [ "$t" = direct ] || log "$t listening on 127.0.0.1:${port[$t]} (pid ${comp_pid[$t]})"
done
check_loopback_only

# ---------------------------------------------------------------- idle RSS (after start, before any request)
sleep 1
rss_ref() { [ "$1" = direct ] && echo nginx || echo "$1"; }   # "direct" row: the nginx origin, for scale
for t in "${target_list[@]}"; do
  c=$(rss_of "$(rss_ref "$t")")
  a=$(sum_status_kib RssAnon $(comp_pids "$(rss_ref "$t")"))
  record 0 "$t" rss_idle_kib "$c"
  record 0 "$t" rss_idle_anon_kib "$a"
  log "$(rss_ref "$t") idle RSS ${c} KiB, ${a} KiB of it anonymous (processes: $(comp_pids "$(rss_ref "$t")"))"
done

# ---------------------------------------------------------------- sanity: every path answers correctly
curl_check() {   # curl_check TARGET URL EXPECTED_BYTES [curl args...]
  local t=$1 url=$2 want=$3; shift 3
  local got
  got=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code} %{size_download}' "$@" "$url" 2>&1) || true
  [ "$got" = "200 $want" ] || die "$t: GET $url answered '$got', expected '200 $want'"
}
# A short tunnel_bench run that must succeed without a single failure: the HTTPS scenarios' client works
# against TARGET trusting CA. Returns 1 (does not die) so that the caller can tell why.
tls_probe() {   # tls_probe TARGET CA
  local t=$1 via=(--direct) out
  [ "$t" = direct ] || via=(--proxy "127.0.0.1:${port[$t]}")
  out=$(timeout 20 "$tunnel_bench" --target "127.0.0.1:$tls_resume_port" "${via[@]}" --ca "$2" \
    --path /100b --expect-body 100 --threads 1 --duration 0.5 2>&1) || return 1
  [ "$(kv errors "$out")" = 0 ]
}
declare -A pending=()   # targets left out of the measurements, and why
for t in "${target_list[@]}"; do
  px=()
  [ "$t" = direct ] || px=(-x "http://127.0.0.1:${port[$t]}")
  case "$t" in
    flow-intercept|mitmproxy)   # HTTPS only: the client trusts the proxy's CA and nothing else
      if [ "$t" = flow-intercept ] && tls_probe "$t" "$tmp/nginx/cert.pem"; then
        pending[$t]="pending interception: this 402flow splices the tunnel (the client saw the origin's certificate)"
        log "$t: ${pending[$t]}; left out of the measurements"
        continue
      fi
      curl_check "$t" "https://127.0.0.1:$tls_resume_port/100b" 100 --cacert "$(trusted_ca "$t")" "${px[@]}"
      ;;
    *)
      curl_check "$t" "http://127.0.0.1:$http_port/100b" 100 "${px[@]}"
      curl_check "$t" "http://127.0.0.1:$http_port/1m" 1048576 "${px[@]}"
      curl_check "$t" "https://127.0.0.1:$tls_port/100b" 100 -k "${px[@]}"   # through a proxy: CONNECT
      ;;
  esac
  if has_scenario https-new || has_scenario https-ka; then
    tls_probe "$t" "$(trusted_ca "$t")" ||
      die "$t: the HTTPS client trusting $(trusted_ca "$t") fails (SNI localhost, certificate checked)"
  fi
done
log "all paths answer 200 with the right body sizes"

# ---------------------------------------------------------------- measurements
# The load generators run in the background and the script waits for them, so that a signal is acted on at
# once (bash runs traps only between commands, and "wait" is interruptible). The result line lands in $result.
load_pid=""
result=""
run_load() {   # run_load OUTFILE SECONDS CMD... ; bounded by SECONDS + 30
  local outf=$1 secs=$2 rc=0
  shift 2
  timeout $((secs + 30)) "$@" >"$outf" 2>&1 &
  load_pid=$!
  wait "$load_pid" || rc=$?
  load_pid=""
  return "$rc"
}
wrk_once() {   # wrk_once TARGET PATH CONNS SECONDS -> $result = the BENCH line of absolute.lua
  local t=$1 path=$2 conns=$3 secs=$4 url extra=() outf="$tmp/runs/wrk.out"
  if [ "$t" = direct ]; then
    url="http://127.0.0.1:$http_port$path"
  else
    url="http://127.0.0.1:${port[$t]}/"
    extra=(-- "http://127.0.0.1:$http_port$path")
  fi
  run_load "$outf" "$secs" "${pin_load[@]}" wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s \
    -s "$here/absolute.lua" "$url" "${extra[@]}" || { cat "$outf" >&2; die "wrk failed against $t"; }
  result=$(grep '^BENCH ' "$outf") || { cat "$outf" >&2; die "wrk printed no result against $t"; }
}
tunnel_once() {   # tunnel_once TARGET SECONDS ORIGIN_PORT [tunnel_bench args...] -> $result = tunnel_bench's line
  local t=$1 secs=$2 origin=$3 via=(--direct) outf="$tmp/runs/tunnel.out"
  shift 3
  [ "$t" = direct ] || via=(--proxy "127.0.0.1:${port[$t]}")
  run_load "$outf" "$secs" "${pin_load[@]}" "$tunnel_bench" --target "127.0.0.1:$origin" "${via[@]}" \
    --path /100b --expect-body 100 --duration "$secs" "$@" ||
    { cat "$outf" >&2; die "tunnel_bench failed against $t (nothing succeeded)"; }
  result=$(grep '^tunnels=' "$outf") || { cat "$outf" >&2; die "tunnel_bench printed no result against $t"; }
}
# Failed requests: non-2xx/3xx answers, timeouts (> 5 s), connect and write errors. wrk's "read errors" are
# counted apart ("closes"): a proxy that closes the client connection after each response (tinyproxy) makes
# one per response although every response was complete; wrk counts only complete responses as requests.
wrk_errors() {
  echo $(( $(kv connect_errors "$1") + $(kv write_errors "$1") + $(kv status_errors "$1") + $(kv timeouts "$1") ))
}
fdiv() { awk -v a="$1" -v b="$2" -v s="${3:-1}" 'BEGIN { printf "%.3f", (b > 0 ? a / b * s : 0) }'; }

# RSS sampler for the 1 MiB load: max of VmRSS over the process tree, 4 times a second, written to FILE.
# A cross-check of the VmHWM figure (and its fallback). Kept cheap, since it shares the CPUs with the run:
# the pid list is taken once, and /proc is read with bash builtins, so the only fork is "sleep".
start_sampler() {
  local name=$1 file=$2 secs=$3 pids
  pids=$(comp_pids "$name")
  echo 0 >"$file"
  (
    end=$((SECONDS + secs + 40)) max=0
    while [ "$SECONDS" -lt "$end" ]; do
      total=0
      for p in $pids; do
        while read -r key val _; do
          [ "$key" = "VmRSS:" ] && { total=$((total + val)); break; }
        done 2>/dev/null <"/proc/$p/status" || true
      done
      [ "$total" -gt "$max" ] && { max=$total; echo "$max" >"$file"; }
      sleep 0.25
    done
  ) &
  sampler_pid=$!
}
stop_sampler() { [ -n "$sampler_pid" ] && { kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null; sampler_pid=""; } || true; }

# --perf: one extra, unmeasured pass per scenario against 402flow with perf sampling it (cpu-clock, so it
# works where hardware counters are not exposed, as in most VMs); top symbols to $out_dir/perf-SCENARIO.txt.
profile_pass() {
  local s=$1 data="$out_dir/perf-$s.data" pid=${comp_pid[402flow]} ops sampled_result
  # 1) where the time goes: perf record (cpu-clock sampling, call graphs)
  perf record -e cpu-clock -F 2000 -g -p "$pid" -o "$data" -- sleep "$duration" >"$tmp/perf-record-$s.log" 2>&1 &
  perf_pid=$!
  sleep 0.3
  load_run "$s" 402flow "$duration"
  sampled_result=$result
  wait "$perf_pid" 2>/dev/null || true
  # 2) how many syscalls of each kind per request or tunnel: perf trace -s (a separate pass: it slows the proxy)
  perf trace -s -p "$pid" -o "$tmp/trace-$s.txt" -- sleep "$duration" >"$tmp/perf-trace-$s.log" 2>&1 &
  perf_pid=$!
  sleep 0.3
  load_run "$s" 402flow "$duration"
  wait "$perf_pid" 2>/dev/null || true
  perf_pid=""
  local ops_kind=requests
  case "$s" in tunnel|https-new) ops_kind=tunnels ;; esac
  case "$s" in
    tunnel|https-new) ops=$(kv tunnels "$result") ;;
    *) ops=$(kv requests "$result") ;;
  esac
  {
    echo "# 402flow (pid $pid) under the '$s' load for ${duration}s, perf record -e cpu-clock:"
    echo "#   $sampled_result"
    echo "# share of samples by binary (perf report --sort dso)"
    perf report -i "$data" --stdio --no-children -g none --sort dso 2>/dev/null | grep -E '^ +[0-9]' | head -12 || true
    echo
    echo "# self time by symbol, top 50 (perf report --no-children -F overhead,dso,sym)"
    perf report -i "$data" --stdio --no-children -g none -F overhead,dso,sym 2>/dev/null |
      grep -E '^ +[0-9]' | sed 's/[[:space:]]*$//' | head -50 || true
    echo
    echo "# syscalls per $([ "$ops_kind" = tunnels ] && echo tunnel || echo request), from perf trace -s over a second ${duration}s pass"
    echo "#   (traced, so slower: $result)"
    awk -v ops="$ops" '
      $1 ~ /^[a-z_0-9]+$/ && $2 ~ /^[0-9]+$/ && NF >= 8 { calls[$1] += $2; total += $2 }
      END {
        if (ops <= 0) { print "  (no completed operations)"; exit }
        printf "  %-18s %12s %10s\n", "syscall", "calls", "per op"
        for (n in calls) printf "  %-18s %12d %10.2f\n", n, calls[n], calls[n] / ops | "sort -k3 -rn"
        close("sort -k3 -rn")
        printf "  %-18s %12d %10.2f\n", "TOTAL", total, total / ops
      }' "$tmp/trace-$s.txt" 2>/dev/null || true
  } >"$out_dir/perf-$s.txt"
  log "perf profile of 402flow ($s): $out_dir/perf-$s.txt"
}

# How busy each of the two CPUs was during a measurement (from /proc/stat): tells which side limits the
# figure. busy = user+nice+system+irq+softirq; steal (time the hypervisor gave to someone else) is kept apart.
# cpu_snap prints, per CPU: name busy idle steal task-busy (user+nice+system: time charged to some process).
cpu_snap() {
  awk -v a="cpu$loadgen_cpu" -v b="cpu$proxy_cpu" \
    '$1 == a || $1 == b { print $1, $2 + $3 + $4 + $7 + $8, $5 + $6, $9, $2 + $3 + $4 }' /proc/stat
}
clk_tck=$(getconf CLK_TCK)
proc_ticks() {   # user + system CPU clock ticks used so far by a component's process tree (all threads)
  local p total=0 v
  for p in $(comp_pids "$1"); do
    v=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
all_comp_ticks() { local n total=0; for n in "${!comp_pid[@]}"; do total=$((total + $(proc_ticks "$n"))); done; echo "$total"; }
shell_cpu_s() {   # sets shell_s: CPU seconds of this shell and of the children it has reaped (wrk, ...)
  times >"$tmp/runs/times"   # in this shell: in a $(...) subshell, "times" would not see our children
  shell_s=$(awk '{ for (i = 1; i <= NF; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] } }
    END { printf "%.3f", t }' "$tmp/runs/times")
}
# Other sessions may share the machine. During a measurement, the CPU time charged to processes on the two
# CPUs, minus what our own processes used (the components, and the load generator once reaped), is time
# that went to someone else: foreign_pct, in % of one CPU. softirq time is charged to no process and left out.
cpu_begin() {
  cpu_before=$(cpu_snap)
  ticks_before=$(all_comp_ticks)
  shell_cpu_s
  shell_before=$shell_s
  wall_before=$EPOCHREALTIME
}
cpu_end() {   # sets cpu_load_pct cpu_proxy_pct steal_pct foreign_pct
  local wall_after=$EPOCHREALTIME ticks_after shell_after out
  ticks_after=$(all_comp_ticks)
  shell_cpu_s
  shell_after=$shell_s
  out=$(paste -d' ' <(echo "$cpu_before") <(cpu_snap) | awk -v a="cpu$loadgen_cpu" -v hz="$clk_tck" \
    -v ours_s="$(awk -v t0="$ticks_before" -v t1="$ticks_after" -v s0="$shell_before" -v s1="$shell_after" -v hz="$clk_tck" \
      'BEGIN { printf "%.3f", (t1 - t0) / hz + (s1 - s0) }')" \
    -v wall="$(awk -v w0="$wall_before" -v w1="$wall_after" 'BEGIN { printf "%.3f", w1 - w0 }')" '
    { busy = $7 - $2; idle = $8 - $3; steal = $9 - $4; task += $10 - $5; tot = busy + idle + steal; if (tot <= 0) tot = 1
      if ($1 == a) { lb = 100 * busy / tot; ls = 100 * steal / tot } else { pb = 100 * busy / tot; ps = 100 * steal / tot } }
    END { f = (wall > 0 ? 100 * (task / hz - ours_s) / wall : 0); if (f < 0) f = 0
          printf "%.1f %.1f %.1f %.1f\n", lb, pb, (ls > ps ? ls : ps), f }')
  read -r cpu_load_pct cpu_proxy_pct steal_pct foreign_pct <<<"$out"
}

# Before each measurement, with our own load stopped, wait up to --quiet-wait s until both CPUs are under 10% busy
# over half a second; the busy figure seen last is recorded as *_busy_before_pct.
quiet_busy=0
quiet_wait() {
  local i snap0 busy=0
  quiet_busy=0
  [ "$quiet_max" -gt 0 ] || return 0
  for i in $(seq 1 $((quiet_max * 2))); do
    snap0=$(cpu_snap)
    sleep 0.5
    busy=$(paste -d' ' <(echo "$snap0") <(cpu_snap) | awk '
      { b = $7 - $2; i = $8 - $3; s = $9 - $4; t = b + i + s; if (t <= 0) t = 1; v = 100 * (b + s) / t; if (v > m) m = v }
      END { printf "%.0f", m }')
    if [ "$busy" -lt 10 ]; then quiet_busy=$busy; return 0; fi
    [ "$i" = 1 ] && log "the machine is busy (a CPU at ${busy}% with the benchmark idle): waiting up to ${quiet_max}s for quiet"
  done
  log "still busy (${busy}%) after ${quiet_max}s: measuring anyway (busy_before_pct in the results)"
  quiet_busy=$busy
}

load_run() {   # load_run SCENARIO TARGET SECONDS -> $result
  case "$1" in
    small) wrk_once "$2" /100b "$small_conns" "$3" ;;
    large) wrk_once "$2" /1m "$large_conns" "$3" ;;
    tunnel) tunnel_once "$2" "$3" "$tls_port" --threads "$tunnel_threads" ;;
    https-new) tunnel_once "$2" "$3" "$tls_resume_port" --threads "$tunnel_threads" --ca "$(trusted_ca "$2")" ;;
    https-ka) tunnel_once "$2" "$3" "$tls_resume_port" --threads "$ka_conns" --requests 0 --ca "$(trusted_ca "$2")" ;;
  esac
}

foreign_limit=15   # % of one CPU taken by other processes during a measurement before it is taken again
peak_rss_scenario() { [ "$1" = large ] || [ "$1" = https-ka ]; }   # the proxy's VmHWM is reset and read
measure() {   # measure ROUND SCENARIO TARGET
  local r=$1 s=$2 t=$3 name line secs errs p hwm_ok ticks0 cpu_us attempt hwm=0 sampled=0
  local best_line best_foreign best_busy best_load best_proxy best_steal best_cpu_us best_hwm best_sampled
  name=$(rss_ref "$t")   # the process whose memory and CPU time are counted: the proxy, or nginx for direct
  for attempt in 1 2 3; do
    quiet_wait
    [ "$warmup" -eq 0 ] || load_run "$s" "$t" "$warmup"
    if peak_rss_scenario "$s"; then
      hwm_ok=1
      for p in $(comp_pids "$name"); do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || hwm_ok=0; done  # reset VmHWM
      start_sampler "$name" "$tmp/runs/sampled" "$duration"
    fi
    ticks0=$(proc_ticks "$name")
    cpu_begin
    load_run "$s" "$t" "$duration"
    cpu_end
    cpu_us=$(( ($(proc_ticks "$name") - ticks0) * 1000000 / clk_tck ))
    line=$result
    if peak_rss_scenario "$s"; then
      stop_sampler
      hwm=$(sum_status_kib VmHWM $(comp_pids "$name"))
      sampled=$(cat "$tmp/runs/sampled")
      [ "$hwm_ok" = 1 ] && [ "$hwm" -ge "$sampled" ] || hwm=$sampled   # clear_refs refused: sampled peak only
    fi
    # keep this attempt if it is the least disturbed so far
    if [ "$attempt" = 1 ] || awk -v f="$foreign_pct" -v b="$best_foreign" 'BEGIN { exit !(f < b) }'; then
      best_line=$line best_foreign=$foreign_pct best_busy=$quiet_busy best_load=$cpu_load_pct
      best_proxy=$cpu_proxy_pct best_steal=$steal_pct best_cpu_us=$cpu_us best_hwm=$hwm best_sampled=$sampled
    fi
    awk -v f="$foreign_pct" -v l="$foreign_limit" 'BEGIN { exit !(f <= l) }' && break
    if [ "$attempt" = 3 ]; then
      log "round $r $s $t: other processes took ${best_foreign}% of a CPU or more on all 3 tries; keeping the least disturbed"
    else
      log "round $r $s $t: other processes took ${foreign_pct}% of a CPU during the measurement; measuring again"
    fi
  done
  line=$best_line foreign_pct=$best_foreign quiet_busy=$best_busy cpu_load_pct=$best_load
  cpu_proxy_pct=$best_proxy steal_pct=$best_steal cpu_us=$best_cpu_us hwm=$best_hwm sampled=$best_sampled
  local m=${s//-/_}   # metric prefix
  record "$r" "$t" "${m}_busy_before_pct" "$quiet_busy"
  record "$r" "$t" "${m}_foreign_pct" "$foreign_pct"
  record "$r" "$t" "${m}_cpu_load_pct" "$cpu_load_pct"
  record "$r" "$t" "${m}_cpu_proxy_pct" "$cpu_proxy_pct"
  record "$r" "$t" "${m}_steal_pct" "$steal_pct"
  case "$s" in
    small|large)
      secs=$(fdiv "$(kv duration_us "$line")" 1000000)
      errs=$(wrk_errors "$line")
      record "$r" "$t" "${s}_rps" "$(fdiv "$(kv requests "$line")" "$secs")"
      record "$r" "$t" "${s}_p50_ms" "$(fdiv "$(kv p50_us "$line")" 1000)"
      record "$r" "$t" "${s}_p99_ms" "$(fdiv "$(kv p99_us "$line")" 1000)"
      record "$r" "$t" "${s}_errors" "$errs"
      record "$r" "$t" "${s}_closes" "$(kv read_errors "$line")"
      ;;
  esac
  case "$s" in
    small)
      record "$r" "$t" small_cpu_us_per_req "$(fdiv "$cpu_us" "$(kv requests "$line")")"
      log "round $r small  $t: $(fdiv "$(kv requests "$line")" "$secs") req/s, p99 $(fdiv "$(kv p99_us "$line")" 1000) ms, failed $errs, CPU0 ${cpu_load_pct}% CPU1 ${cpu_proxy_pct}%"
      ;;
    large)
      local mib
      mib=$(fdiv "$(kv bytes "$line")" 1048576)
      record "$r" "$t" large_mibps "$(fdiv "$mib" "$secs")"
      record "$r" "$t" large_cpu_us_per_mib "$(fdiv "$cpu_us" "$mib")"
      record "$r" "$t" rss_load_peak_kib "$hwm"
      record "$r" "$t" rss_load_sampled_kib "$sampled"
      log "round $r large  $t: $(fdiv "$mib" "$secs") MiB/s, failed $errs, CPU0 ${cpu_load_pct}% CPU1 ${cpu_proxy_pct}%, $name peak RSS ${hwm} KiB (sampled max ${sampled})"
      ;;
    tunnel)
      record "$r" "$t" tunnel_rate "$(kv rate "$line")"
      record "$r" "$t" tunnel_p99_ms "$(kv p99_ms "$line")"
      record "$r" "$t" tunnel_errors "$(kv errors "$line")"
      record "$r" "$t" tunnel_cpu_us_per_tunnel "$(fdiv "$cpu_us" "$(kv tunnels "$line")")"
      log "round $r tunnel $t: $(kv rate "$line") tunnels/s, p99 $(kv p99_ms "$line") ms, failed $(kv errors "$line"), CPU0 ${cpu_load_pct}% CPU1 ${cpu_proxy_pct}%"
      ;;
    https-new)
      record "$r" "$t" https_new_rate "$(kv rate "$line")"
      record "$r" "$t" https_new_p99_ms "$(kv p99_ms "$line")"
      record "$r" "$t" https_new_errors "$(kv errors "$line")"
      record "$r" "$t" https_new_cpu_us_per_conn "$(fdiv "$cpu_us" "$(kv tunnels "$line")")"
      log "round $r https-new $t: $(kv rate "$line") connections/s, p99 $(kv p99_ms "$line") ms, failed $(kv errors "$line"), CPU0 ${cpu_load_pct}% CPU1 ${cpu_proxy_pct}%"
      ;;
    https-ka)
      record "$r" "$t" https_ka_rps "$(kv rate "$line")"
      record "$r" "$t" https_ka_p50_ms "$(kv p50_ms "$line")"
      record "$r" "$t" https_ka_p99_ms "$(kv p99_ms "$line")"
      record "$r" "$t" https_ka_errors "$(kv errors "$line")"
      record "$r" "$t" https_ka_cpu_us_per_req "$(fdiv "$cpu_us" "$(kv requests "$line")")"
      record "$r" "$t" rss_ka_peak_kib "$hwm"
      record "$r" "$t" rss_ka_sampled_kib "$sampled"
      log "round $r https-ka $t: $(kv rate "$line") req/s on $(kv tunnels "$line") connections, p99 $(kv p99_ms "$line") ms, failed $(kv errors "$line"), CPU0 ${cpu_load_pct}% CPU1 ${cpu_proxy_pct}%, $name peak RSS ${hwm} KiB (sampled max ${sampled})"
      ;;
  esac
  local c
  for c in "${!comp_pid[@]}"; do alive_or_die "$c"; done
}

n_t=${#target_list[@]}
log "plan: $rounds round(s) x scenarios {${scenarios}} x targets {${target_list[*]}}, ${duration}s each (+${warmup}s warmup); load on CPU $loadgen_cpu, proxy on CPU $proxy_cpu"
for r in $(seq 1 "$rounds"); do
  for s in "${scenario_list[@]}"; do
    for i in $(seq 0 $((n_t - 1))); do
      t=${target_list[$(((i + r - 1) % n_t))]}   # rotate the order every round
      applies "$s" "$t" && [ -z "${pending[$t]:-}" ] || continue
      measure "$r" "$s" "$t"
    done
  done
done

sleep 2
for t in "${target_list[@]}"; do
  record 0 "$t" rss_after_kib "$(rss_of "$(rss_ref "$t")")"
  record 0 "$t" rss_after_anon_kib "$(sum_status_kib RssAnon $(comp_pids "$(rss_ref "$t")"))"
done
if [ "$perf_mode" = 1 ] && has_target 402flow; then
  for s in "${scenario_list[@]}"; do profile_pass "$s"; done
fi

# ---------------------------------------------------------------- report
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem_gib=$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
os_name=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")
ver() { { "$@" 2>&1 || true; } | sed -n '1{s/["\\]//g;s/[[:space:]]*$//;p;}'; }   # first line, JSON-safe
flow_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "uncommitted")
meta="\"date\":\"$stamp\",\"cpu\":\"$cpu_model\",\"cores\":$ncpu,\"memory_gib\":$mem_gib,\"kernel\":\"$(uname -r)\",\"os\":\"$os_name\""
meta+=",\"wrk\":\"$(ver wrk -v)\",\"nginx\":\"$(ver nginx -v)\",\"openssl\":\"$(ver openssl version)\""
has_target squid && meta+=",\"squid\":\"$(ver squid -v)\""
has_target tinyproxy && meta+=",\"tinyproxy\":\"$(ver tinyproxy -v)\""
{ has_target 402flow || has_target flow-intercept; } && meta+=",\"402flow\":\"$flow_rev\""
has_target mitmproxy && meta+=",\"mitmproxy\":\"$(ver mitmdump --version)\""
params="\"suite\":\"$suite\",\"duration_s\":$duration,\"rounds\":$rounds,\"warmup_s\":$warmup,\"small_conns\":$small_conns,\"large_conns\":$large_conns,\"tunnel_threads\":$tunnel_threads,\"ka_conns\":$ka_conns,\"loadgen_cpu\":$loadgen_cpu,\"proxy_cpu\":$proxy_cpu"
pending_str=""   # target=why;target=why
for t in "${!pending[@]}"; do pending_str+="$t=${pending[$t]};"; done
case "$suite" in
  http) load_desc="wrk -t1 -c$small_conns (100 B) / -c$large_conns (1 MiB); $tunnel_threads tunnel threads" ;;
  https) load_desc="$tunnel_threads client threads for new tunnels and connections; $ka_conns kept-alive connections" ;;
esac

targets_str=$(IFS=,; echo "${target_list[*]}")
base=latest
[ "$suite" = http ] || base="$suite-latest"   # the http suite keeps latest.* (bench/compare.sh reads it)
cp "$csv" "$out_dir/$base.csv"
awk -F, -v mode=json -v suite="$suite" -v tthreads="$tunnel_threads" -v ka="$ka_conns" -v targets="$targets_str" -v meta="$meta" -v params="$params" -v pending="$pending_str" \
  -f "$here/report.awk" "$csv" >"$out_dir/$base.json"
awk -F, -v mode=md -v suite="$suite" -v tthreads="$tunnel_threads" -v ka="$ka_conns" -v targets="$targets_str" -v date="$stamp" -v pending="$pending_str" \
  -v machine="$cpu_model, $ncpu cores, ${mem_gib} GiB, $os_name, kernel $(uname -r)" \
  -v params="${duration}s x $rounds rounds (median), ${warmup}s warmup; $load_desc; load+origin on CPU $loadgen_cpu, proxy on CPU $proxy_cpu" \
  -f "$here/report.awk" "$csv" >"$out_dir/$base.md"
day=$(date -u +%Y%m%dT%H%M%SZ)
[ "$suite" = http ] || day="$suite-$day"
cp "$out_dir/$base.csv" "$out_dir/$day.csv"
cp "$out_dir/$base.json" "$out_dir/$day.json"
cp "$out_dir/$base.md" "$out_dir/$day.md"

echo
cat "$out_dir/$base.md"
echo
log "results: $out_dir/$base.{csv,json,md}"

if [ "$update_readme" = 1 ]; then
  readme="$here/README.md" begin="<!-- $readme_marker:begin -->" end="<!-- $readme_marker:end -->"
  grep -qF "$begin" "$readme" && grep -qF "$end" "$readme" || die "$readme has no $begin / $end markers"
  awk -v f="$out_dir/$base.md" -v b="$begin" -v e="$end" '
    $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
    $0 == e { skip = 0 }
    !skip' "$readme" >"$readme.tmp" && mv "$readme.tmp" "$readme"
  log "updated the $readme_marker section of $readme"
fi
