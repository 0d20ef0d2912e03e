#!/usr/bin/env bash
# Builds deploy/Containerfile with podman or buildah where one can run, then checks the image:
# `402flow --version` as UID 10402, the default flow.yaml passes `402flow check`, iptables.sh is
# there. Where neither can run (no tool, or an unprivileged sandbox), says "skip: ..." and exits
# 0 without pretending: ctest reports the test as skipped.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tool=""
for t in podman buildah; do
  if command -v "$t" >/dev/null 2>&1 && "$t" info >/dev/null 2>&1; then tool=$t; break; fi
done
if [ -z "$tool" ]; then
  echo "skip: neither podman nor buildah can run here; deploy/Containerfile was NOT built"
  exit 0
fi
tag=localhost/402flow-test:$$
trap '"$tool" rmi -f "$tag" >/dev/null 2>&1 || true' EXIT
if [ "$tool" = podman ]; then
  podman build -f "$root/deploy/Containerfile" -t "$tag" "$root"
  [ "$(podman run --rm "$tag" --version | cut -d' ' -f1)" = 402flow ] || { echo "FAIL: --version"; exit 1; }
  [ "$(podman run --rm --entrypoint id "$tag" -u)" = 10402 ] || { echo "FAIL: not UID 10402"; exit 1; }
  podman run --rm "$tag" check /etc/402flow/flow.yaml >/dev/null || { echo "FAIL: flow.yaml"; exit 1; }
  podman run --rm --entrypoint test "$tag" -x /usr/local/lib/402flow/iptables.sh || { echo "FAIL: iptables.sh"; exit 1; }
else
  buildah bud -f "$root/deploy/Containerfile" -t "$tag" "$root"
  [ "$(buildah inspect --format '{{.OCIv1.Config.User}}' "$tag")" = 10402:10402 ] || { echo "FAIL: user"; exit 1; }
fi
echo "image built with $tool and checked"
