#!/usr/bin/env python3
"""The floor of the plain HTTP client: how fast can *any* server answer it?

Times, with the same http.client keep-alive client benches/peers/drive.py uses, a request
that does no work at all (GET /healthz on paylink's side listener: hyper, no ledger, no MCP)
beside an MCP ping and a payment.getStatus of a paid payment over POST /mcp. The first is a
lower bound for every server measured with this client on this machine.

  cargo build --release && benches/peers/.venv/bin/python benches/peers/floor.py
"""
import http.client, json, os, subprocess, sys, time, socket, statistics
import pathlib
BIN = str(pathlib.Path(__file__).resolve().parents[2] / "target" / "release" / "paylink")
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
import tempfile
data = tempfile.mkdtemp()
mcp, side = free(), free()
env = dict(os.environ, PAYLINK_DATA_DIR=data, PAYLINK_LISTEN=f"127.0.0.1:{side}")
proc = subprocess.Popen([BIN, "serve", "--http", f"127.0.0.1:{mcp}"], env=env, stderr=subprocess.DEVNULL)
deadline = time.time() + 30
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", mcp, timeout=5); c.connect(); break
    except OSError:
        if time.time() > deadline: raise
        time.sleep(0.05)
c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
sid = None
def rpc(method, params, id_=1):
    global sid
    h = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    if sid: h["mcp-session-id"] = sid; h["mcp-protocol-version"] = "2025-11-25"
    body = {"jsonrpc": "2.0", "method": method, "params": params}
    if id_ is not None: body["id"] = id_
    c.request("POST", "/mcp", json.dumps(body), h)
    r = c.getresponse(); raw = r.read()
    if r.getheader("mcp-session-id"): sid = r.getheader("mcp-session-id")
    return json.loads(raw) if raw else None
rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "fx", "version": "1"}})
rpc("notifications/initialized", {}, None)
p = rpc("tools/call", {"name": "payment.create", "arguments": {"amount": 5000, "description": "x", "customerEmail": "ana@gmail.com"}})["result"]["structuredContent"]
sb = int(p["paymentLinkUrl"].split(":")[2].split("/")[0]); tok = p["paymentLinkUrl"].split("token=")[1]
s = http.client.HTTPConnection("127.0.0.1", sb); s.request("POST", "/sandbox/settle", json.dumps({"token": tok, "outcome": "paid"}), {"content-type": "application/json"}); s.getresponse().read()
while rpc("tools/call", {"name": "payment.getStatus", "arguments": {"paymentId": p["paymentId"]}})["result"]["structuredContent"]["status"] != "paid": time.sleep(0.05)
h = http.client.HTTPConnection("127.0.0.1", side, timeout=5); h.connect(); h.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def t(fn, n=3000):
    for _ in range(300): fn()
    xs = []
    for _ in range(n):
        a = time.perf_counter(); fn(); xs.append(time.perf_counter() - a)
    xs.sort(); return xs[len(xs)//2]*1000, xs[int(len(xs)*.99)]*1000
def healthz():
    h.request("GET", "/healthz"); h.getresponse().read()
print("healthz (hyper, trivial)   p50 %.3f ms p99 %.3f" % t(healthz))
print("mcp ping                   p50 %.3f ms p99 %.3f" % t(lambda: rpc("ping", {})))
print("mcp getStatus (paid)       p50 %.3f ms p99 %.3f" % t(lambda: rpc("tools/call", {"name": "payment.getStatus", "arguments": {"paymentId": p["paymentId"]}})))
proc.terminate(); proc.wait()
