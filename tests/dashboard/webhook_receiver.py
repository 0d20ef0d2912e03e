"""The approval webhook's receiver for tests/dashboard/run.sh: answers every POST 204 and appends
what it got as one JSON line (event and delivery headers, whether the signature verified with the
secret, the body) to LOG_FILE.

    python3 webhook_receiver.py PORT_FILE LOG_FILE SECRET_FILE
"""
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port_file, log_file, secret_file = sys.argv[1:4]
with open(secret_file, "rb") as f:
    secret = f.read().split(b"\n", 1)[0]


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        line = {
            "path": self.path,
            "event": self.headers.get("X-402flow-Event"),
            "delivery": self.headers.get("X-402flow-Delivery"),
            "verified": hmac.compare_digest(expected, self.headers.get("X-402flow-Signature", "")),
            "body": json.loads(body),
        }
        with open(log_file, "a") as f:
            f.write(json.dumps(line) + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Receiver)
with open(port_file, "w") as f:
    f.write("127.0.0.1:%d\n" % server.server_address[1])
server.serve_forever()
