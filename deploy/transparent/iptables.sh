#!/bin/sh
# Transparent mode for a pod (an init step with NET_ADMIN): redirects the pod's outbound TCP to
# 402flow's transparent listener with iptables REDIRECT in the nat OUTPUT chain. Everything lives
# in one chain of its own, FLOW402_OUTPUT, jumped to from OUTPUT: running again replaces its
# rules, and --remove deletes exactly them. Traffic from the proxy's own user is never redirected
# (its upstream connections would come straight back), nor traffic to loopback, nor the
# destinations and ports excluded here.
set -eu

CHAIN=FLOW402_OUTPUT

usage() {
  cat <<'EOF'
Usage: iptables.sh [options]
  Redirect outbound TCP to 402flow's transparent listener (iptables nat OUTPUT, REDIRECT).

  --proxy-uid UID        user the proxy runs as; its traffic is not redirected (required)
                         [env FLOW402_PROXY_UID]
  --proxy-gid GID        also leave this group's traffic alone   [env FLOW402_PROXY_GID]
  --proxy-port PORT      the transparent listener's port (default 15001)
                         [env FLOW402_PROXY_PORT]
  --ports LIST           destination ports to redirect, comma-separated, or "all"
                         (default 80,443)                       [env FLOW402_REDIRECT_PORTS]
  --exclude-cidrs LIST   destinations never redirected, comma-separated IPv4/IPv6 CIDRs
                                                                [env FLOW402_EXCLUDE_CIDRS]
  --exclude-ports LIST   destination ports never redirected     [env FLOW402_EXCLUDE_PORTS]
  --ipv6 auto|on|off     ip6tables too: auto uses it when it is installed (default auto)
                                                                [env FLOW402_IPV6]
  --remove               delete the rules this script added, and nothing else
  --dry-run              print the commands instead of running them
  -h, --help             this text

Loopback destinations (127.0.0.0/8, ::1, anything leaving through lo) are never redirected.
Exit status: 0 done, 1 an iptables command failed, 2 bad arguments.
EOF
}

bad_usage() {
  echo "iptables.sh: $1" >&2
  echo "Try 'iptables.sh --help'." >&2
  exit 2
}

proxy_uid=${FLOW402_PROXY_UID:-}
proxy_gid=${FLOW402_PROXY_GID:-}
proxy_port=${FLOW402_PROXY_PORT:-15001}
ports=${FLOW402_REDIRECT_PORTS:-80,443}
exclude_cidrs=${FLOW402_EXCLUDE_CIDRS:-}
exclude_ports=${FLOW402_EXCLUDE_PORTS:-}
ipv6=${FLOW402_IPV6:-auto}
action=install
dry_run=0

need_value() {
  [ "$2" -ge 2 ] || bad_usage "$1 needs a value"
}

while [ $# -gt 0 ]; do
  case $1 in
    --proxy-uid) need_value "$1" $#; proxy_uid=$2; shift 2 ;;
    --proxy-gid) need_value "$1" $#; proxy_gid=$2; shift 2 ;;
    --proxy-port) need_value "$1" $#; proxy_port=$2; shift 2 ;;
    --ports) need_value "$1" $#; ports=$2; shift 2 ;;
    --exclude-cidrs) need_value "$1" $#; exclude_cidrs=$2; shift 2 ;;
    --exclude-ports) need_value "$1" $#; exclude_ports=$2; shift 2 ;;
    --ipv6) need_value "$1" $#; ipv6=$2; shift 2 ;;
    --remove) action=remove; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) bad_usage "unknown argument: $1" ;;
  esac
done

# --- validation: every value that reaches an iptables command is checked first ---------------

is_port() {
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  [ ${#1} -le 5 ] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}

is_owner() {  # a numeric id or a user/group name
  case $1 in '' | -* | *[!A-Za-z0-9_.-]*) return 1 ;; esac
}

is_cidr() {
  address=${1%/*}
  if [ "$address" != "$1" ]; then
    bits=${1##*/}
    case $bits in '' | *[!0-9]*) return 1 ;; esac
    case $address in *:*) max=128 ;; *) max=32 ;; esac
    [ ${#bits} -le 3 ] && [ "$bits" -le "$max" ] || return 1
  fi
  case $address in
    *:*) case $address in *[!0-9A-Fa-f:.]* | *:::*) return 1 ;; esac ;;
    *.*.*.*) case $address in *[!0-9.]* | *..* | .* | *.) return 1 ;; esac ;;
    *) return 1 ;;
  esac
}

items() {  # a comma-separated list, one item a word (items are checked to hold no blanks)
  echo "$1" | tr ',' ' '
}

check_list() {  # check_list NAME CHECK LIST
  case $3 in *[[:space:]]* | ,* | *, | *,,*) bad_usage "$1: not a comma-separated list: '$3'" ;; esac
  for item in $(items "$3"); do
    "$2" "$item" || bad_usage "$1: not valid: '$item'"
  done
}

if [ "$action" = install ]; then
  is_owner "$proxy_uid" || bad_usage "--proxy-uid is required (a uid or user name): without it \
the proxy's own connections would be redirected back to it"
  [ -z "$proxy_gid" ] || is_owner "$proxy_gid" || bad_usage "--proxy-gid: not valid: '$proxy_gid'"
  is_port "$proxy_port" || bad_usage "--proxy-port: not a port: '$proxy_port'"
  if [ "$ports" != all ]; then
    [ -n "$ports" ] || bad_usage "--ports is empty"
    check_list --ports is_port "$ports"
  fi
  check_list --exclude-cidrs is_cidr "$exclude_cidrs"
  check_list --exclude-ports is_port "$exclude_ports"
fi
case $ipv6 in auto | on | off) ;; *) bad_usage "--ipv6: auto, on or off, not '$ipv6'" ;; esac

# --- running (or printing) commands ---------------------------------------------------------

run() {  # a command that must succeed
  if [ "$dry_run" = 1 ]; then
    echo "$*"
  else
    "$@" || { echo "iptables.sh: failed: $*" >&2; exit 1; }
  fi
}

run_tolerant() {  # a command whose failure means "already so" (a chain exists, or is gone)
  if [ "$dry_run" = 1 ]; then
    echo "$* 2>/dev/null || true"
  else
    "$@" 2>/dev/null || true
  fi
}

jump_rule() {  # jump_rule BIN -C|-A|-D
  "$1" -w -t nat "$2" OUTPUT -p tcp -j "$CHAIN"
}

ensure_jump() {
  if [ "$dry_run" = 1 ]; then
    echo "$1 -w -t nat -C OUTPUT -p tcp -j $CHAIN 2>/dev/null || $1 -w -t nat -A OUTPUT -p tcp -j $CHAIN"
  else
    jump_rule "$1" -C 2>/dev/null || run jump_rule "$1" -A
  fi
}

remove_jumps() {  # every copy of the jump, in case one was ever added twice by hand
  if [ "$dry_run" = 1 ]; then
    echo "while $1 -w -t nat -C OUTPUT -p tcp -j $CHAIN 2>/dev/null; do $1 -w -t nat -D OUTPUT -p tcp -j $CHAIN; done"
  else
    while jump_rule "$1" -C 2>/dev/null; do run jump_rule "$1" -D; done
  fi
}

# --- the rules ------------------------------------------------------------------------------

# The exclusions of one family: a CIDR with ':' is IPv6.
cidrs_of() {  # cidrs_of 4|6
  for cidr in $(items "$exclude_cidrs"); do
    case $cidr in *:*) family=6 ;; *) family=4 ;; esac
    if [ "$family" = "$1" ]; then echo "$cidr"; fi
  done
}

install_rules() {  # install_rules BIN 4|6
  bin=$1
  run_tolerant "$bin" -w -t nat -N "$CHAIN"
  run "$bin" -w -t nat -F "$CHAIN"
  run "$bin" -w -t nat -A "$CHAIN" -m owner --uid-owner "$proxy_uid" -j RETURN
  [ -z "$proxy_gid" ] || run "$bin" -w -t nat -A "$CHAIN" -m owner --gid-owner "$proxy_gid" -j RETURN
  run "$bin" -w -t nat -A "$CHAIN" -o lo -j RETURN
  if [ "$2" = 4 ]; then loopback=127.0.0.0/8; else loopback=::1/128; fi
  run "$bin" -w -t nat -A "$CHAIN" -d "$loopback" -j RETURN
  for cidr in $(cidrs_of "$2"); do
    run "$bin" -w -t nat -A "$CHAIN" -d "$cidr" -j RETURN
  done
  for port in $(items "$exclude_ports"); do
    run "$bin" -w -t nat -A "$CHAIN" -p tcp --dport "$port" -j RETURN
  done
  if [ "$ports" = all ]; then
    run "$bin" -w -t nat -A "$CHAIN" -p tcp -j REDIRECT --to-ports "$proxy_port"
  else
    for port in $(items "$ports"); do
      run "$bin" -w -t nat -A "$CHAIN" -p tcp --dport "$port" -j REDIRECT --to-ports "$proxy_port"
    done
  fi
  ensure_jump "$bin"
}

remove_rules() {  # remove_rules BIN
  remove_jumps "$1"
  run_tolerant "$1" -w -t nat -F "$CHAIN"
  run_tolerant "$1" -w -t nat -X "$CHAIN"
}

apply() {  # apply BIN 4|6
  if [ "$action" = install ]; then install_rules "$1" "$2"; else remove_rules "$1"; fi
}

iptables_bin=${FLOW402_IPTABLES:-iptables}
ip6tables_bin=${FLOW402_IP6TABLES:-ip6tables}

if [ "$dry_run" = 0 ] && ! command -v "$iptables_bin" >/dev/null 2>&1; then
  echo "iptables.sh: $iptables_bin is not installed" >&2
  exit 1
fi
apply "$iptables_bin" 4

case $ipv6 in
  on) apply "$ip6tables_bin" 6 ;;
  auto)
    if [ "$dry_run" = 1 ] || command -v "$ip6tables_bin" >/dev/null 2>&1; then
      apply "$ip6tables_bin" 6
    else
      echo "iptables.sh: $ip6tables_bin is not installed: IPv6 traffic is not redirected" >&2
    fi
    ;;
  off) ;;
esac
