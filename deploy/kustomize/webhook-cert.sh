#!/bin/sh
# The injector's serving certificate: a CA of its own and a certificate for the Service's DNS
# names, signed by it (openssl). Writes them to --out; with --apply, stores them in the
# 402flow-injector-tls Secret and patches the webhook configuration's caBundle (kubectl).
#
#   webhook-cert.sh --out DIR [--namespace NS] [--service NAME] [--days N] [--apply]
#   webhook-cert.sh --print-patch DIR     the JSONPatch (JSON) that sets caBundle from DIR/ca.crt
#
# Exit status: 0 done, 1 a command failed, 2 bad arguments.
set -eu

namespace=402flow-system
service=402flow-injector
days=365
out=""
apply=0
print_patch=""

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
bad_usage() { echo "webhook-cert.sh: $1" >&2; usage >&2; exit 2; }

while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || bad_usage "--out needs a value"; out=$2; shift 2 ;;
    --namespace) [ $# -ge 2 ] || bad_usage "--namespace needs a value"; namespace=$2; shift 2 ;;
    --service) [ $# -ge 2 ] || bad_usage "--service needs a value"; service=$2; shift 2 ;;
    --days) [ $# -ge 2 ] || bad_usage "--days needs a value"; days=$2; shift 2 ;;
    --apply) apply=1; shift ;;
    --print-patch) [ $# -ge 2 ] || bad_usage "--print-patch needs a value"; print_patch=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) bad_usage "unknown argument '$1'" ;;
  esac
done

# The caBundle of both webhook entries, as a JSONPatch for `kubectl patch --type=json`.
ca_bundle_patch() {
  bundle=$(base64 -w0 <"$1/ca.crt")
  printf '[{"op":"add","path":"/webhooks/0/clientConfig/caBundle","value":"%s"},' "$bundle"
  printf '{"op":"add","path":"/webhooks/1/clientConfig/caBundle","value":"%s"}]\n' "$bundle"
}

if [ -n "$print_patch" ]; then
  [ -s "$print_patch/ca.crt" ] || bad_usage "$print_patch/ca.crt not found"
  ca_bundle_patch "$print_patch"
  exit 0
fi
[ -n "$out" ] || bad_usage "--out is required"
case $days in '' | *[!0-9]*) bad_usage "--days must be a number" ;; esac

mkdir -p "$out"
umask 077
host=$service.$namespace.svc
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=402flow injector CA" -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$host" \
  -keyout "$out/tls.key" -out "$out/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:%s.cluster.local,DNS:%s.%s\nextendedKeyUsage=serverAuth\n' \
  "$host" "$host" "$service" "$namespace" >"$out/tls.ext"
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -days "$days" -extfile "$out/tls.ext" -out "$out/tls.crt" 2>/dev/null
rm -f "$out/tls.csr" "$out/tls.ext" "$out/ca.srl"
chmod 0644 "$out/ca.crt" "$out/tls.crt"
echo "webhook-cert.sh: $out/tls.crt for $host, signed by $out/ca.crt" >&2

if [ "$apply" = 1 ]; then
  kubectl -n "$namespace" create secret tls 402flow-injector-tls \
    --cert="$out/tls.crt" --key="$out/tls.key" --dry-run=client -o yaml | kubectl apply -f -
  kubectl patch mutatingwebhookconfiguration 402flow-injector --type=json \
    -p "$(ca_bundle_patch "$out")"
fi
