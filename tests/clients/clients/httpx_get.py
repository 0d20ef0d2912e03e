"""GET URL with httpx: the proxy from HTTPS_PROXY/HTTP_PROXY, the trusted roots from SSL_CERT_FILE
(both read because trust_env is on by default).

usage: httpx_get.py URL IDEMPOTENCY_KEY   prints "status <code>" then the body."""
import sys

import httpx

url, key = sys.argv[1], sys.argv[2]
response = httpx.get(url, headers={"Idempotency-Key": key}, timeout=30)
print(f"status {response.status_code}")
print(response.text)
