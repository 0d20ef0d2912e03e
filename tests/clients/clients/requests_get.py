"""GET URL with requests: the proxy from HTTPS_PROXY/HTTP_PROXY, the trusted roots from
REQUESTS_CA_BUNDLE (both read because Session.trust_env is on by default).

usage: requests_get.py URL IDEMPOTENCY_KEY   prints "status <code>" then the body."""
import sys

import requests

url, key = sys.argv[1], sys.argv[2]
response = requests.get(url, headers={"Idempotency-Key": key}, timeout=30)
print(f"status {response.status_code}")
print(response.text)
