#!/usr/bin/env bash
# Installs whatever the build, the tests and the demo need, from Debian's packages. Idempotent.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libuv1-dev libssl-dev libsqlite3-dev libyaml-cpp-dev doctest-dev nlohmann-json3-dev
  libcli11-dev node-llhttp libsecp256k1-dev nettle-dev
  curl openssl procps
  iptables iproute2 util-linux
  nodejs
  wget python3-requests python3-httpx # tests/clients: real clients paying through the proxy
  python3-prometheus-client           # tests/integration/admin_test: the strict metrics parser
  chromium                            # tests/dashboard: the admin dashboard, headless
  python3-jsonpatch python3-yaml      # tests/kubernetes: patches applied, manifests read
)
# tests/kubernetes renders deploy/kustomize with `kubectl kustomize`; Debian's kubectl only when
# no kubectl is on PATH (another kubectl package owns /usr/bin/kubectl and conflicts with it).
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)
# npm for tests/interop (the official x402 SDK), tests/clients (undici, axios), tests/dashboard
# (playwright-core) and tests/kubernetes (kubernetes-models), each pinned by
# its package-lock.json. Only when no npm is on PATH: NodeSource's nodejs bundles npm and
# conflicts with Debian's npm package.
command -v npm >/dev/null 2>&1 || packages+=(npm)
if [ "${FLOW_SETUP_FUZZ:-0}" = 1 ]; then packages+=(clang libclang-rt-14-dev); fi
if [ "${FLOW_SETUP_BENCH:-0}" = 1 ]; then packages+=(wrk squid tinyproxy nginx-light mitmproxy); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
