#!/bin/sh
# Sets up iptables REDIRECT inside a fresh network namespace and runs the probe against it:
# one IPv4 connection to 198.51.100.7:80 redirected to 127.0.0.1:15080, and (when ip6tables works)
# one IPv6 connection to [2001:db8:402::7]:443 redirected to [::1]:15443; and a connection
# straight to a listener before any rule exists (nothing tracked: ENOENT) and after (connection
# tracking on: the kernel reports the address the client used, the listener itself). Exit 77 with a plain message when the kernel or the
# system refuses a namespace or iptables.
#   original_dst_netns.sh PROBE
set -u
probe=$1
if [ "${2:-}" != --inside ]; then
  command -v iptables >/dev/null 2>&1 || { echo "skip: iptables is not installed"; exit 77; }
  command -v ip >/dev/null 2>&1 || { echo "skip: ip (iproute2) is not installed"; exit 77; }
  if unshare -n true 2>/dev/null; then
    exec unshare -n sh "$0" "$probe" --inside
  elif unshare -rn true 2>/dev/null; then
    exec unshare -rn sh "$0" "$probe" --inside
  fi
  echo "skip: the kernel refuses a new network namespace here"
  exit 77
fi

set -e
ip link set lo up
# Routes for the test destinations (documentation prefixes), so that connect() reaches the nat
# OUTPUT hook, where REDIRECT rewrites them to the loopback address.
ip route add 198.51.100.0/24 dev lo
# Before any rule: nothing tracks connections in this namespace yet.
"$probe" 15079 127.0.0.1 15079
if ! iptables -t nat -A OUTPUT -p tcp -d 198.51.100.7 --dport 80 -j REDIRECT --to-ports 15080 \
  2>/dev/null; then
  echo "skip: iptables cannot add a nat rule in this namespace"
  exit 77
fi
"$probe" 15080 198.51.100.7 80
"$probe" 15081 127.0.0.1 15081
if ip6tables -t nat -S >/dev/null 2>&1 && ip -6 route add 2001:db8:402::/64 dev lo 2>/dev/null; then
  ip6tables -t nat -A OUTPUT -p tcp -d 2001:db8:402::7 --dport 443 -j REDIRECT --to-ports 15443
  "$probe" 15443 2001:db8:402::7 443
else
  echo "no-ipv6"
fi
