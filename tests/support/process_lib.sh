# Child processes and the harness of the shell tests (tests/interop, tests/clients,
# tests/dashboard, tests/kubernetes).
#
#   stop PID   SIGTERM, then SIGKILL if it is still running after 10 s; reaps it. An empty PID
#              is nothing to stop.

stop() {
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

# The harness of a shell test (tests/clients, tests/dashboard, tests/kubernetes). Call
# `harness NAME` once, first; it sets $tmp (empty until the test makes its temp dir) and $pids
# (the children to stop), installs the EXIT trap, and defines:
#
#   say MSG                   "NAME: MSG" on stderr
#   die MSG                   "NAME: FAIL: MSG", the tails of the logs in $tmp, exit 1
#   wait_for_file F PID WHAT  until F is non-empty (15 s), or die if PID exits first
#   port_of F                 the port of the HOST:PORT written in F
#
# On exit every pid in $pids is stopped and $tmp removed, unless FLOW_<NAME>_KEEP=1 keeps it.
# $harness_logs: the globs under $tmp whose tails die shows (default: *.log *.out *.err).
harness() {
  harness_name=$1
  harness_keep_var=FLOW_$(tr '[:lower:]' '[:upper:]' <<<"$1")_KEEP
  tmp=""
  pids=()
  trap harness_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # Defined here, not on sourcing: tests/interop keeps its own.
  say() { echo "$harness_name: $*" >&2; }
  die() {
    echo "$harness_name: FAIL: $*" >&2
    harness_dump_logs
    exit 1
  }
  wait_for_file() { # file pid what
    for _ in $(seq 300); do
      [ -s "$1" ] && return 0
      kill -0 "$2" 2>/dev/null || die "$3 exited before it was ready"
      sleep 0.05
    done
    die "$3 did not write $1 within 15 s"
  }
  port_of() { tr -d '[:space:]' <"$1" | sed 's/.*://'; }
}

harness_dump_logs() {
  [ -n "$tmp" ] || return 0
  local pattern f
  for pattern in ${harness_logs:-*.log *.out *.err}; do
    for f in "$tmp"/$pattern; do
      [ -s "$f" ] || continue
      echo "----- ${f#"$tmp"/}" >&2
      tail -n 40 "$f" >&2
    done
  done
}

harness_cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do stop "$pid"; done
  if [ -n "$tmp" ]; then
    if [ "${!harness_keep_var:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
  fi
  exit "$rc"
}
