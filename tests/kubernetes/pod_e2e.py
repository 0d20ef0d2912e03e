"""A pod without a cluster: the injector's patch is applied to a pod whose one container is curl,
and the patched pod's containers run as processes with the env, args and files the patch gives
them, in the order the kubelet would: the init step, the native sidecar (started once its
startup probe answers), then the app container, which must get a paid HTTPS answer.

    pod_e2e.py BIN INJECTOR_URL INJECTOR_CA WORK_DIR MERCHANT_HOST:PORT MERCHANT_CERT ADMIN_PORT

Volumes become directories under WORK_DIR; each container sees its mount paths as those
directories (a path in its command, args or env under a mount path is rewritten to the
directory), and /usr/local/bin/402flow is BIN. Exit 0 on a paid answer and one settled receipt
for the annotated agent; otherwise 1, naming what failed."""
import base64
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request

import jsonpatch

BIN, INJECTOR, INJECTOR_CA, WORK, MERCHANT, MERCHANT_CERT, ADMIN_PORT = sys.argv[1:8]
POD_IP = "127.0.0.3"
AGENT = "e2e-agent"
URL = f"https://{MERCHANT}/v2/weather"
processes = []


def die(message):
    print("pod_e2e: FAIL:", message)
    for p in processes:
        p.terminate()
    sys.exit(1)


def make_dir(name):
    path = os.path.join(WORK, name)
    os.makedirs(path, exist_ok=True)
    return path


# ---- the cluster's objects: Secrets and the ConfigMap, as directories ----------------------
secrets = {"402flow-ca": make_dir("secret-ca"), "402flow-wallet": make_dir("secret-wallet"),
           "402flow-admin-token": make_dir("secret-admin-token")}
subprocess.run([BIN, "ca", "init", "--dir", secrets["402flow-ca"], "--force"], check=True,
               stdout=subprocess.DEVNULL)
subprocess.run([BIN, "keygen", "--out", os.path.join(secrets["402flow-wallet"], "evm.key")],
               check=True, stdout=subprocess.DEVNULL)
with open(os.path.join(secrets["402flow-admin-token"], "token"), "w") as f:
    f.write("e2e-admin-token-0123456789")
config_dir = make_dir("configmap")
shutil.copy(MERCHANT_CERT, os.path.join(config_dir, "merchant.pem"))
runtime_dir = make_dir("volume-402flow-run")
merchant_host = MERCHANT.rsplit(":", 1)[0]
with open(os.path.join(config_dir, "flow.yaml"), "w") as f:
    f.write(f"""version: 1
wallets:
  - name: main
    networks: [eip155:8453]
    key_file: {runtime_dir}/keys/evm.key   # /var/run/402flow/keys/evm.key in the pod
organization:
  posture: block
  networks: [eip155:8453]
  caps:
    per_request: [1 USDC]
agents:
  - id: {AGENT}
merchants:
  - name: merchant-v2
    host: {merchant_host}
    path: /v2
    action: allow
tls:
  upstream_ca_file: merchant.pem
""")

# ---- the pod, through the injector ---------------------------------------------------------
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "agent-7f9c", "namespace": "agents",
                    "annotations": {"402flow.io/agent": AGENT}},
       "spec": {"containers": [{"name": "agent", "image": "curl",
                                "command": ["curl", "-sS", "--fail", "--max-time", "20",
                                            "-H", "Idempotency-Key: e2e-1", URL]}]}}
review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
          "request": {"uid": "e2e", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                      "operation": "CREATE", "namespace": "agents", "object": pod}}
context = ssl.create_default_context(cafile=INJECTOR_CA)
request = urllib.request.Request(INJECTOR + "/mutate", data=json.dumps(review).encode(),
                                 method="POST")
with urllib.request.urlopen(request, context=context, timeout=10) as answer:
    response = json.loads(answer.read())["response"]
ops = json.loads(base64.b64decode(response["patch"]))
pod = jsonpatch.JsonPatch(ops).apply(pod)

volume_dirs = {}
for volume in pod["spec"]["volumes"]:
    if "configMap" in volume:
        volume_dirs[volume["name"]] = config_dir
    elif "secret" in volume:
        volume_dirs[volume["name"]] = secrets[volume["secret"]["secretName"]]
    else:
        volume_dirs[volume["name"]] = runtime_dir if volume["name"] == "402flow-run" else \
            make_dir("volume-" + volume["name"])


def rewriter(container):
    """Maps the container's mount paths (longest first) and the binary to local paths."""
    pairs = sorted(((m["mountPath"], volume_dirs[m["name"]])
                    for m in container.get("volumeMounts", [])), key=lambda p: -len(p[0]))
    pairs.append(("/usr/local/bin/402flow", BIN))

    def rewrite(text):
        for mount_path, local in pairs:
            text = re.sub(re.escape(mount_path) + r"(?=/|\b|$)", local, text)
        return text
    return rewrite


def field(path):
    if path == "metadata.name":
        return pod["metadata"]["name"]
    if path == "status.podIP":
        return POD_IP
    match = re.fullmatch(r"metadata\.annotations\['(.+)'\]", path)
    if match:
        return pod["metadata"]["annotations"].get(match.group(1), "")
    die(f"unknown fieldRef {path}")


def environment(container, rewrite):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": make_dir("home")}
    for var in container.get("env", []):
        if "value" in var:
            # $(VAR) is the kubelet's expansion of a variable defined earlier in the list.
            value = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), var["value"])
        elif "fieldRef" in var["valueFrom"]:
            value = field(var["valueFrom"]["fieldRef"]["fieldPath"])
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            value = open(os.path.join(secrets[ref["name"]], ref["key"])).read()
        env[var["name"]] = rewrite(value)
    return env


def argv(container, rewrite):
    return [rewrite(a) for a in container.get("command", []) + container.get("args", [])]


def wait_for(url, what):
    for _ in range(200):
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if any(p.poll() is not None for p in processes):
            die(f"the sidecar exited before {what}")
        time.sleep(0.05)
    die(f"{what} never answered")


for container in pod["spec"]["initContainers"]:
    rewrite = rewriter(container)
    cmd, env = argv(container, rewrite), environment(container, rewrite)
    if container.get("restartPolicy") == "Always":
        log = open(os.path.join(WORK, container["name"] + ".log"), "w")
        processes.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=log))
        probe = container["startupProbe"]["httpGet"]
        wait_for(f"http://127.0.0.1:{probe['port']}{probe['path']}", "the startup probe")
        ready = container["readinessProbe"]["httpGet"]
        wait_for(f"http://127.0.0.1:{ready['port']}{ready['path']}", "the readiness probe")
    else:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            die(f"init container {container['name']} exited {done.returncode}: {done.stderr}")
print("pod_e2e: init step done, sidecar started and ready")

app = pod["spec"]["containers"][0]
rewrite = rewriter(app)
done = subprocess.run(argv(app, rewrite), env=environment(app, rewrite), capture_output=True,
                      text=True, timeout=60)
if done.returncode != 0:
    die(f"curl exited {done.returncode}: {done.stderr}")
body = json.loads(done.stdout)
if "weather" not in json.dumps(body).lower() and "temperature" not in json.dumps(body).lower():
    die(f"curl got {done.stdout[:200]}")
print("pod_e2e: curl got the paid answer:", done.stdout.strip()[:120])

data_dir = volume_dirs["402flow-data"]
receipts = json.loads(subprocess.run([BIN, "receipts", "--db", os.path.join(data_dir, "ledger.db"),
                                      "--json"], check=True, capture_output=True, text=True).stdout)
mine = [r for r in receipts if r.get("idempotency_key") == "e2e-1"]
if len(mine) != 1 or mine[0].get("state") != "settled" or mine[0].get("agent") != AGENT:
    die(f"receipts: {receipts}")
print(f"pod_e2e: one settled receipt for {AGENT} at {mine[0].get('url')}")
for p in processes:
    p.terminate()
    p.wait(timeout=10)
