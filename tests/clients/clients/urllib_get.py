"""GET URL with Python's urllib: the proxy from HTTPS_PROXY/HTTP_PROXY (urllib.request.getproxies),
the trusted roots from SSL_CERT_FILE (urlopen's default context, ssl.create_default_context).

usage: urllib_get.py URL IDEMPOTENCY_KEY   prints "status <code>" then the body."""
import sys
import urllib.request

url, key = sys.argv[1], sys.argv[2]
request = urllib.request.Request(url, headers={"Idempotency-Key": key})
with urllib.request.urlopen(request, timeout=30) as response:
    print(f"status {response.status}")
    print(response.read().decode())
