# Child processes of the shell tests (tests/interop, tests/clients).
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
