#!/usr/bin/env bash
# 402flow old against new: the pass-through benchmark (bench/run.sh, 402flow and direct) and the
# paid-path benchmark (bench/paid.sh) with two 402flow binaries, interleaved round by round, and
# each figure for both with the ratio new/old.
#
# Usage: bench/compare.sh [--old REV|BIN] [--new REV|BIN] [--duration S] [--rounds R] [options]
#   (bench/compare.sh --help; details in bench/README.md, "Old against new")
#
# A REV (anything `git rev-parse` knows) is built in Release mode from a `git worktree` of that
# commit into build-compare/<commit>/ (kept, so the next comparison reuses it); a BIN (an
# executable file) is used as it is. Without --new, the work tree is built in build-bench/ as
# bench/run.sh does. Both binaries are measured by this work tree's scripts, and the paid path
# of both pays the same merchant (the old binary's `402flow merchant`).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
export LC_ALL=C

old="main"
new=""
duration=10
rounds=3
conns=64
quiet_wait=60
scenarios="small,large,tunnel"
do_setup=1
do_pass=1
do_paid=1
out_dir="$here/results"

usage() {
  cat <<EOF
usage: bench/compare.sh [options]
  --old REV|BIN     the baseline: a git revision to build, or a 402flow binary (default $old)
  --new REV|BIN     the candidate (default: the work tree, built in build-bench/)
  --duration S      seconds per measurement (default $duration)
  --rounds R        rounds; each runs both binaries, the order alternating (default $rounds)
  --scenarios LIST  bench/run.sh scenarios, comma list of small,large,tunnel (default all)
  --conns N         bench/paid.sh connections (default $conns)
  --quiet-wait S    bench/run.sh's wait for an idle machine before each measurement (default $quiet_wait)
  --no-pass         skip bench/run.sh (pass-through)
  --no-paid         skip bench/paid.sh (paid path)
  --no-setup        do not run FLOW_SETUP_BENCH=1 scripts/setup.sh
  --out DIR         results dir (default bench/results): compare-latest.{csv,md}
EOF
}

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --old) old=${2:?}; shift 2 ;;
    --new) new=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --scenarios) scenarios=${2:?}; shift 2 ;;
    --conns) conns=${2:?}; shift 2 ;;
    --quiet-wait) quiet_wait=${2:?}; shift 2 ;;
    --no-pass) do_pass=0; shift ;;
    --no-paid) do_paid=0; shift ;;
    --no-setup) do_setup=0; shift ;;
    --out) out_dir=$(realpath -m "${2:?}"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
for v in duration rounds conns quiet_wait; do
  is_uint "${!v}" || { echo "bench/compare.sh: --${v//_/-} must be a whole number" >&2; exit 2; }
done
[[ $rounds -ge 1 ]] || { echo "bench/compare.sh: --rounds must be at least 1" >&2; exit 2; }

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

tmp=$(mktemp -d /tmp/402flow-compare.XXXXXX)
worktree=""
cleanup() {
  local rc=$?
  if [[ -n $worktree ]]; then git -C "$root" worktree remove --force "$worktree" 2>/dev/null || true; fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

configure_and_build() {   # configure_and_build SOURCE BUILD_DIR
  mkdir -p "$2"
  { cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DFLOW_TESTS=OFF -DFLOW_WERROR=OFF &&
    cmake --build "$2" --target 402flow -j"$(nproc)"; } >"$2/compare-build.log" 2>&1 ||
    { tail -30 "$2/compare-build.log" >&2; die "building $1 failed (log: $2/compare-build.log)"; }
}

# binary_dir SPEC LABEL: sets dir[LABEL] to a directory holding the 402flow to measure (what
# run.sh and paid.sh take as --build-dir), building it when SPEC is a revision.
declare -A dir
binary_dir() {
  local spec=$1 label=$2 commit d
  if [[ -z $spec ]]; then
    log "$label: building the work tree in build-bench/"
    configure_and_build "$root" "$root/build-bench"
    dir[$label]="$root/build-bench"
  elif [[ -f $spec && -x $spec ]]; then
    d="$tmp/bin-$label"
    mkdir -p "$d"
    ln -s "$(realpath "$spec")" "$d/402flow"
    dir[$label]=$d
  else
    commit=$(git -C "$root" rev-parse --verify --quiet "$spec^{commit}") ||
      die "$label: '$spec' is neither an executable file nor a git revision"
    d="$root/build-compare/$commit"
    if [[ -x $d/402flow ]]; then
      log "$label: $spec ($commit) already built in $d"
    else
      log "$label: building $spec ($commit) in $d"
      worktree="$root/build-compare/src-$commit"
      git -C "$root" worktree add --detach --force "$worktree" "$commit" >/dev/null 2>&1 ||
        die "git worktree add $worktree $commit failed"
      configure_and_build "$worktree" "$d"
      git -C "$root" worktree remove --force "$worktree"
      worktree=""
    fi
    dir[$label]=$d
  fi
}

if [[ $do_setup == 1 ]]; then
  log "installing the benchmark's packages (FLOW_SETUP_BENCH=1 scripts/setup.sh)"
  FLOW_SETUP_BENCH=1 bash "$root/scripts/setup.sh"
fi
binary_dir "$old" old
binary_dir "$new" new
for b in old new; do
  [[ -x ${dir[$b]}/402flow ]] || die "$b: no 402flow in ${dir[$b]}"
done
describe() {   # what a --old / --new names, for the report
  if [[ -n $1 ]]; then echo "$1"; return; fi
  local changes=""
  [[ -z $(git -C "$root" status --porcelain --untracked-files=no) ]] || changes=" with uncommitted changes"
  echo "work tree at $(git -C "$root" rev-parse --short HEAD)$changes"
}
log "old: $(describe "$old") -> ${dir[old]}/402flow"
log "new: $(describe "$new") -> ${dir[new]}/402flow"

# round,binary,bench,target,metric,value
csv="$tmp/compare.csv"
echo "round,binary,bench,target,metric,value" >"$csv"
for r in $(seq "$rounds"); do
  order=(old new)
  (( r % 2 == 0 )) && order=(new old)   # alternate, so neither always runs first
  if [[ $do_pass == 1 ]]; then
    for b in "${order[@]}"; do
      log "round $r: bench/run.sh with the $b binary"
      out="$tmp/run-$r-$b"
      "$here/run.sh" --no-setup --no-build --build-dir "${dir[$b]}" --targets direct,402flow \
        --scenarios "$scenarios" --rounds 1 --duration "$duration" --quiet-wait "$quiet_wait" \
        --out "$out" >"$out.log" 2>&1 || { tail -30 "$out.log" >&2; die "bench/run.sh failed ($b)"; }
      awk -F, -v r="$r" -v b="$b" 'NR > 1 { print r "," b ",run," $2 "," $3 "," $4 }' "$out/latest.csv" >>"$csv"
    done
  fi
  if [[ $do_paid == 1 ]]; then
    for b in "${order[@]}"; do
      log "round $r: bench/paid.sh with the $b binary"
      out="$tmp/paid-$r-$b"
      "$here/paid.sh" --no-build --build-dir "${dir[$b]}" --merchant-bin "${dir[old]}/402flow" \
        --rounds 1 --duration "$duration" --conns "$conns" --csv "$out.csv" >"$out.log" 2>&1 ||
        { tail -30 "$out.log" >&2; die "bench/paid.sh failed ($b)"; }
      awk -F, -v r="$r" -v b="$b" '{ print r "," b ",paid,402flow," $2 "," $3 }' "$out.csv" >>"$csv"
    done
  fi
done

mkdir -p "$out_dir"
cp "$csv" "$out_dir/compare-latest.csv"
python3 - "$csv" "$(describe "$old")" "$(describe "$new")" "$rounds" "$duration" >"$out_dir/compare-latest.md" <<'PY'
import csv, statistics, sys
from collections import defaultdict

path, old_name, new_name, rounds, duration = sys.argv[1:]
values = defaultdict(list)  # (binary, bench, target, metric) -> [value per round]
for row in csv.DictReader(open(path)):
    values[(row["binary"], row["bench"], row["target"], row["metric"])].append(float(row["value"]))

def median(binary, bench, target, metric):
    v = values.get((binary, bench, target, metric))
    return statistics.median(v) if v else None

# (bench, metric, label, higher_is_better); rates also relative to direct in the same session.
figures = [
    ("run", "small_rps", "100 B: req/s", True),
    ("run", "small_p50_ms", "100 B: p50 latency, ms", False),
    ("run", "small_p99_ms", "100 B: p99 latency, ms", False),
    ("run", "small_cpu_us_per_req", "100 B: proxy CPU per request, µs", False),
    ("run", "large_mibps", "1 MiB: MiB/s", True),
    ("run", "large_p99_ms", "1 MiB: p99 latency, ms", False),
    ("run", "large_cpu_us_per_mib", "1 MiB: proxy CPU per MiB, µs", False),
    ("run", "tunnel_rate", "tunnels/s", True),
    ("run", "tunnel_p99_ms", "tunnel p99, ms", False),
    ("run", "tunnel_cpu_us_per_tunnel", "proxy CPU per tunnel, µs", False),
    ("run", "rss_idle_kib", "RSS idle, KiB", False),
    ("run", "rss_load_peak_kib", "RSS peak under the 1 MiB load, KiB", False),
    ("paid", "free_rps", "paid bench: pass-through req/s (/free)", True),
    ("paid", "free_cpu_us_per_req", "paid bench: proxy CPU per pass-through request, µs", False),
    ("paid", "paid_rps", "paid requests/s", True),
    ("paid", "paid_p50_ms", "paid p50 latency, ms", False),
    ("paid", "paid_p99_ms", "paid p99 latency, ms", False),
    ("paid", "paid_cpu_us_per_req", "proxy CPU per paid request, µs", False),
    ("paid", "paid_extra_cpu_us", "proxy CPU per paid request beyond pass-through, µs", False),
    ("paid", "paid_non2xx", "non-2xx answers during paid runs", False),
]
relative = {"small_rps", "large_mibps", "tunnel_rate"}

def fmt(x):
    if x is None:
        return "—"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.2f}"

print(f"old: {old_name}; new: {new_name}; {rounds} round(s) of {duration} s, binaries interleaved "
      "round by round (the order alternating), medians over rounds.\n")
print("| figure | old | new | new/old | within 3% |")
print("| --- | ---: | ---: | ---: | --- |")
for bench, metric, label, higher in figures:
    rows = [(label, median("old", bench, "402flow", metric), median("new", bench, "402flow", metric))]
    if metric in relative:
        def share(b):
            flow, direct = median(b, bench, "402flow", metric), median(b, bench, "direct", metric)
            return flow / direct if flow is not None and direct else None
        rows.append((label + " ÷ direct (same session)", share("old"), share("new")))
    for name, o, n in rows:
        if o is None and n is None:
            continue
        ratio = n / o if o and n is not None else None
        if ratio is None:
            verdict = "—" if not (o == 0 and n == 0) else "yes"
        else:
            verdict = "yes" if (ratio >= 0.97 if higher else ratio <= 1.03) else "**no**"
        print(f"| {name} | {fmt(o)} | {fmt(n)} | {'—' if ratio is None else f'{ratio:.3f}'} | {verdict} |")
print("\nFor rates higher is better (within 3%: new/old ≥ 0.97); for latency, CPU and memory lower is "
      "better (new/old ≤ 1.03).")
PY
echo
cat "$out_dir/compare-latest.md"
echo
log "results: $out_dir/compare-latest.{csv,md}"
