#!/bin/sh
# deploy/transparent/iptables.sh: usage and bad arguments, the exact commands --dry-run prints,
# and, in a network namespace where the kernel allows one, the real rules: present once after two
# runs, a connection redirected while the proxy's own user's is not, and --remove leaving every
# other rule in place and none of its own.
#   transparent_iptables_test.sh IPTABLES_SH [ORIGINAL_DST_PROBE]
set -u
script=$1
probe=${2:-}
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect_exit CODE ARGS...: runs the script, output in $out.
expect_exit() {
  want=$1
  shift
  out=$(sh "$script" "$@" 2>&1)
  got=$?
  [ "$got" = "$want" ] || fail "iptables.sh $* exited $got, not $want: $out"
}

# --- outside any namespace: arguments and --dry-run -----------------------------------------
if [ "${3:-}" != --inside ]; then
  expect_exit 0 --help
  case $out in "Usage: iptables.sh"*) ;; *) fail "--help prints no usage: $out" ;; esac
  expect_exit 2 --bogus
  case $out in *"unknown argument: --bogus"*"--help"*) ;; *) fail "bad flag message: $out" ;; esac
  expect_exit 2 --dry-run
  case $out in *"--proxy-uid is required"*) ;; *) fail "missing uid message: $out" ;; esac
  expect_exit 2 --proxy-uid
  for bad in "--proxy-port 0" "--proxy-port 70000" "--proxy-port x" "--ports 80,x" "--ports 80,,443" \
    "--exclude-cidrs 10.0.0.0/33" "--exclude-cidrs 10.0.0/8" "--exclude-cidrs fd00::/129" \
    "--exclude-ports 0" "--ipv6 maybe" "--proxy-gid -1"; do
    # shellcheck disable=SC2086  # the flag and its value are two words on purpose
    expect_exit 2 --proxy-uid 1337 --dry-run $bad
  done
  expect_exit 2 --proxy-uid "1337 -j ACCEPT" --dry-run
  expect_exit 2 --proxy-uid 1337 --ports "" --dry-run

  expect_exit 0 --dry-run --proxy-uid 1337 --proxy-gid 1338 --proxy-port 15001 \
    --exclude-cidrs 10.0.0.0/8,fd00::/8 --exclude-ports 8443 --ipv6 on
  expected=$(
    for v in 4 6; do
      if [ $v = 4 ]; then b=iptables lo=127.0.0.0/8 cidr=10.0.0.0/8; else b=ip6tables lo=::1/128 cidr=fd00::/8; fi
      cat <<EOF
$b -w -t nat -N FLOW402_OUTPUT 2>/dev/null || true
$b -w -t nat -F FLOW402_OUTPUT
$b -w -t nat -A FLOW402_OUTPUT -m owner --uid-owner 1337 -j RETURN
$b -w -t nat -A FLOW402_OUTPUT -m owner --gid-owner 1338 -j RETURN
$b -w -t nat -A FLOW402_OUTPUT -o lo -j RETURN
$b -w -t nat -A FLOW402_OUTPUT -d $lo -j RETURN
$b -w -t nat -A FLOW402_OUTPUT -d $cidr -j RETURN
$b -w -t nat -A FLOW402_OUTPUT -p tcp --dport 8443 -j RETURN
$b -w -t nat -A FLOW402_OUTPUT -p tcp --dport 80 -j REDIRECT --to-ports 15001
$b -w -t nat -A FLOW402_OUTPUT -p tcp --dport 443 -j REDIRECT --to-ports 15001
$b -w -t nat -C OUTPUT -p tcp -j FLOW402_OUTPUT 2>/dev/null || $b -w -t nat -A OUTPUT -p tcp -j FLOW402_OUTPUT
EOF
    done
  )
  [ "$out" = "$expected" ] || fail "--dry-run printed:
$out
expected:
$expected"

  # The environment configures it too; --ipv6 off prints no ip6tables command.
  out=$(FLOW402_PROXY_UID=1000 FLOW402_PROXY_PORT=9000 FLOW402_REDIRECT_PORTS=8080 \
    sh "$script" --dry-run --ipv6 off 2>&1)
  echo "$out" | grep -qx "iptables -w -t nat -A FLOW402_OUTPUT -p tcp --dport 8080 -j REDIRECT --to-ports 9000" ||
    fail "environment not used: $out"
  echo "$out" | grep -q "dport 80 " && fail "default ports used despite FLOW402_REDIRECT_PORTS: $out"
  echo "$out" | grep -q ip6tables && fail "--ipv6 off still prints ip6tables: $out"
  out=$(sh "$script" --dry-run --proxy-uid 1000 --ports all --ipv6 off 2>&1)
  echo "$out" | grep -qx "iptables -w -t nat -A FLOW402_OUTPUT -p tcp -j REDIRECT --to-ports 15001" ||
    fail "--ports all: $out"

  expect_exit 0 --dry-run --remove --ipv6 off
  expected="while iptables -w -t nat -C OUTPUT -p tcp -j FLOW402_OUTPUT 2>/dev/null; do iptables -w -t nat -D OUTPUT -p tcp -j FLOW402_OUTPUT; done
iptables -w -t nat -F FLOW402_OUTPUT 2>/dev/null || true
iptables -w -t nat -X FLOW402_OUTPUT 2>/dev/null || true"
  [ "$out" = "$expected" ] || fail "--dry-run --remove printed: $out"

  if [ "$failures" -gt 0 ]; then
    echo "$failures failure(s)"
    exit 1
  fi
  echo "ok: arguments and --dry-run"

  if ! command -v iptables >/dev/null 2>&1; then
    echo "skip: iptables is not installed; the rules were not applied for real"
    exit 0
  fi
  if unshare -n true 2>/dev/null; then
    exec unshare -n sh "$0" "$script" "$probe" --inside
  elif unshare -rn true 2>/dev/null; then
    exec unshare -rn sh "$0" "$script" "$probe" --inside
  fi
  echo "skip: the kernel refuses a new network namespace here; the rules were not applied for real"
  exit 0
fi

# --- inside a fresh network namespace --------------------------------------------------------
ip link set lo up
# Someone else's rule, which the script must leave alone.
iptables -w -t nat -A OUTPUT -p udp --dport 53 -j RETURN
has_ip6=0
ip6tables -t nat -S >/dev/null 2>&1 && has_ip6=1

flags="--proxy-uid 1337 --exclude-cidrs 10.0.0.0/8,fd00::/8 --exclude-ports 8443"
# shellcheck disable=SC2086
sh "$script" $flags || fail "first run failed"
# shellcheck disable=SC2086
sh "$script" $flags || fail "second run failed"

rules=$(iptables -t nat -S)
for rule in "-N FLOW402_OUTPUT" "-A OUTPUT -p tcp -j FLOW402_OUTPUT" \
  "-A FLOW402_OUTPUT -m owner --uid-owner 1337 -j RETURN" "-A FLOW402_OUTPUT -o lo -j RETURN" \
  "-A FLOW402_OUTPUT -d 127.0.0.0/8 -j RETURN" "-A FLOW402_OUTPUT -d 10.0.0.0/8 -j RETURN" \
  "-A FLOW402_OUTPUT -p tcp -m tcp --dport 8443 -j RETURN" \
  "-A FLOW402_OUTPUT -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 15001" \
  "-A FLOW402_OUTPUT -p tcp -m tcp --dport 443 -j REDIRECT --to-ports 15001"; do
  n=$(echo "$rules" | grep -cxF -- "$rule")
  [ "$n" = 1 ] || fail "after two runs, '$rule' appears $n times"
done
n=$(echo "$rules" | grep -c FLOW402)
[ "$n" = 9 ] || fail "after two runs, $n FLOW402 lines, not 9: $rules"
if [ $has_ip6 = 1 ]; then
  rules6=$(ip6tables -t nat -S)
  n=$(echo "$rules6" | grep -c FLOW402)
  [ "$n" = 9 ] || fail "after two runs, $n ip6tables FLOW402 lines, not 9: $rules6"
  echo "$rules6" | grep -qxF -- "-A FLOW402_OUTPUT -d fd00::/8 -j RETURN" || fail "no IPv6 exclusion"
  echo "$rules6" | grep -q "10.0.0.0" && fail "an IPv4 CIDR in ip6tables"
else
  echo "note: ip6tables has no nat table here; IPv6 rules not checked"
fi

# Traffic: a connection from root is redirected to the listener; the proxy's user's and an
# excluded destination's are not (their SYN leaves unanswered through the veth: a timeout).
if [ -n "$probe" ] && ip link add flow0 type veth peer name flow1 2>/dev/null; then
  ip link set flow0 up
  ip link set flow1 up
  ip addr add 198.51.100.1/24 dev flow0
  ip route add 10.0.0.0/8 dev flow0
  out=$(timeout 5 "$probe" 15001 198.51.100.7 443 2>&1)
  [ "$out" = "original 198.51.100.7:443" ] || fail "not redirected: $out"
  out=$(timeout 2 "$probe" 15001 10.0.0.7 443 2>&1)
  [ $? = 124 ] || fail "an excluded CIDR was redirected: $out"
  if setpriv --reuid 1337 --regid 1337 --clear-groups true 2>/dev/null; then
    out=$(timeout 2 setpriv --reuid 1337 --regid 1337 --clear-groups "$probe" 15001 198.51.100.7 443 2>&1)
    [ $? = 124 ] || fail "the proxy's own user was redirected: $out"
  else
    echo "note: cannot switch to uid 1337 here; the owner exclusion was not exercised"
  fi
else
  echo "note: no veth link or probe; traffic through the rules not checked"
fi

sh "$script" --remove || fail "--remove failed"
rules=$(iptables -t nat -S)
echo "$rules" | grep -q FLOW402 && fail "--remove left rules: $rules"
echo "$rules" | grep -qxF -- "-A OUTPUT -p udp -m udp --dport 53 -j RETURN" ||
  fail "--remove touched another rule: $rules"
if [ $has_ip6 = 1 ]; then
  ip6tables -t nat -S | grep -q FLOW402 && fail "--remove left ip6tables rules"
fi
sh "$script" --remove || fail "a second --remove failed"

if [ "$failures" -gt 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "ok: rules applied in a network namespace, idempotent, removed exactly"
