#!/usr/bin/env python3
"""Side-by-side MCP benchmark: paylink against the official Python and TypeScript SDK peers.

Every (target, transport, client) combination gets a fresh server process and a fresh data
file, then the same sequence:

  1. initialize (and list tools); idle RSS of the server  (/proc/PID/status VmRSS)
  2. find a paid payment (peers: the seeded ent_peer_paid; paylink: payment.create, then
     settle it paid on paylink's built-in offline Flow sandbox through /sandbox/settle)
  3. sequential payment.getStatus: warm-up, then N timed calls -> p50, p99
  4. payment.getStatus with 32 calls in flight -> calls/s, and the server's CPU time per call
     (utime+stime from /proc/PID/stat before and after, over all its threads)
  5. sequential payment.create (each with a distinct description) -> p50, p99
  6. peak RSS of the server (VmHWM)

Clients:
  sdk   the official Python MCP SDK client: mcp.ClientSession over stdio_client or over the
        streamable HTTP client (streamable_http_client in mcp 2.x, streamablehttp_client in 1.x)
  plain stdio: newline-delimited JSON-RPC on the child's pipes (in flight = 32 pipelined ids);
        http: http.client keep-alive POSTs on one session (in flight = 32 threads, one
        keep-alive connection each)

All traffic stays on 127.0.0.1; every loop is bounded in count and in time.

  benches/peers/.venv/bin/python benches/peers/drive.py --quick
  benches/peers/.venv/bin/python benches/peers/drive.py --targets paylink,python-sdk \\
      --transports http --clients plain --json /tmp/peers.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROTOCOL_VERSION = "2025-11-25"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Environment passed to every server, as the SDK's stdio_client does (plus the target's own).
INHERITED_ENV = ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER")
READ_TIMEOUT_S = 30.0
# paylink's sandbox, like Flow, refuses reserved domains such as example.com.
CUSTOMER_EMAIL = "ana@gmail.com"


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------
# /proc probes
# --------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (field 3 is index 0)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read().decode("ascii", "replace")
    return raw[raw.rindex(")") + 2 :].split()


def cpu_ticks(pid: int) -> int:
    """utime + stime of the whole process (all threads), in clock ticks."""
    f = _stat_fields(pid)
    return int(f[11]) + int(f[12])


def status_kib(pid: int, key: str) -> int | None:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def children_of(ppid: int) -> list[tuple[int, int]]:
    """(pid, start time) of the live children of ppid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            f = _stat_fields(int(name))
        except (OSError, ValueError):
            continue
        if int(f[1]) == ppid and f[0] != "Z":
            out.append((int(name), int(f[19])))
    return out


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


WRAPPERS = {"sh", "bash", "dash", "env", "npx", "npm", "node-gyp", "uv", "timeout"}


def real_server_pid(pid: int) -> int:
    """Follow a wrapper (shell, npx, ...) that did not exec down to its only child."""
    for _ in range(5):
        exe = os.path.basename(cmdline(pid)[0]) if cmdline(pid) else ""
        kids = children_of(pid)
        if exe not in WRAPPERS or len(kids) != 1:
            return pid
        pid = kids[0][0]
    return pid


def find_server_child(argv: list[str], known: set[int], timeout_s: float = 10.0) -> int:
    """The pid of the child this process spawned with argv (the SDK's stdio_client hides it)."""
    want = os.path.realpath(argv[0]) if os.path.exists(argv[0]) else argv[0]
    script = argv[1] if len(argv) > 1 else None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = []
        for pid, start in children_of(os.getpid()):
            if pid in known:
                continue
            cl = cmdline(pid)
            if not cl:
                continue
            exe = os.path.realpath(f"/proc/{pid}/exe") if os.path.exists(f"/proc/{pid}/exe") else ""
            if cl[0] in (argv[0], want) or exe == want or (script and script in cl):
                found.append((start, pid))
        if found:
            return real_server_pid(max(found)[1])
        time.sleep(0.02)
    raise BenchError(f"could not find the server process for {argv[0]}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def check_loopback_url(url: str) -> urllib.parse.ParseResult:
    u = urllib.parse.urlparse(url)
    if u.scheme != "http" or u.hostname not in LOOPBACK:
        raise BenchError(f"refusing a non-loopback URL: {url}")
    return u


# --------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------


@dataclass
class Spec:
    """How to start one server."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    log: Path  # the server's stderr (and stdout for HTTP servers)
    port: int | None = None  # HTTP: the port we chose (None: the server announces it)


def base_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    env.update(extra)
    return env


@dataclass
class Target:
    name: str
    build: Callable[[str, Path], Spec]  # (transport, workdir) -> Spec
    available: Callable[[], str | None]  # None when runnable, else why not
    prepare: Callable[["Client", Spec], "Any"]  # async: returns the entityId to read
    note: str = ""


def peer_python_spec(transport: str, work: Path) -> Spec:
    venv_py = HERE / ".venv" / "bin" / "python"
    py = str(venv_py) if venv_py.exists() else sys.executable
    argv = [py, str(HERE / "python" / "server.py")]
    env = base_env({"PEER_DB": str(work / "peer.db")})
    if transport == "stdio":
        return Spec(argv + ["stdio"], env, str(work), work / "server.log")
    port = free_port()
    return Spec(argv + ["http", "--port", str(port)], env, str(work), work / "server.log", port)


def peer_ts_spec(transport: str, work: Path) -> Spec:
    node = shutil.which("node") or "node"
    argv = [node, str(HERE / "typescript" / "server.mjs")]
    env = base_env({"PEER_DB": str(work / "peer.db")})
    if transport == "stdio":
        return Spec(argv + ["stdio"], env, str(work), work / "server.log")
    port = free_port()
    return Spec(argv + ["http", "--port", str(port)], env, str(work), work / "server.log", port)


PAYLINK_BIN: Path = ROOT / "target" / "release" / "paylink"


def paylink_spec(transport: str, work: Path) -> Spec:
    env = base_env(
        {"PAYLINK_DATA_DIR": str(work / "paylink-data"), "PAYLINK_LISTEN": "127.0.0.1:0"}
    )
    argv = [str(PAYLINK_BIN), "serve"]
    if transport == "http":
        argv += ["--http", "127.0.0.1:0"]
    # cwd = the fresh work dir, so no ./paylink.toml is picked up.
    return Spec(argv, env, str(work), work / "server.log")


def peer_available(kind: str) -> Callable[[], str | None]:
    def check() -> str | None:
        if kind == "python":
            if not (HERE / ".venv" / "bin" / "python").exists():
                return "benches/peers/.venv missing: run benches/peers/setup.sh"
        else:
            if not shutil.which("node"):
                return "node not found"
            if not (HERE / "typescript" / "node_modules" / "@modelcontextprotocol" / "sdk").exists():
                return "benches/peers/typescript/node_modules missing: run benches/peers/setup.sh"
        return None

    return check


def paylink_available() -> str | None:
    if not os.access(PAYLINK_BIN, os.X_OK):
        return f"{PAYLINK_BIN} not built (cargo build --release)"
    return None


async def prepare_peer(client: "Client", spec: Spec) -> str:
    s = await client.call("payment.getStatus", {"entityId": "ent_peer_paid"})
    if s.get("status") != "paid":
        raise BenchError(f"the peer's seed row is not paid: {s}")
    return "ent_peer_paid"


def _http_json(base: urllib.parse.ParseResult, method: str, path: str, body: Any | None) -> Any:
    conn = http.client.HTTPConnection(base.hostname, base.port or 80, timeout=READ_TIMEOUT_S)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        if resp.status != 200:
            raise BenchError(f"{method} {path}: HTTP {resp.status} {raw[:300]!r}")
        return json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode()
    finally:
        conn.close()


async def prepare_paylink(client: "Client", spec: Spec) -> str:
    """Create a payment, settle it paid on the built-in sandbox, return its id."""
    created = await client.call(
        "payment.create",
        {"amount": 5000, "description": "Bench", "customerEmail": CUSTOMER_EMAIL},
    )
    payment_id = created.get("paymentId")
    link = created.get("paymentLinkUrl") or ""
    token = urllib.parse.parse_qs(urllib.parse.urlparse(link).query).get("token", [None])[0]
    if not payment_id or not token:
        raise BenchError(f"payment.create gave no paymentId or link token: {created}")
    # The sandbox announces itself on stderr ("flow sandbox listening base_url=..."); the
    # pay link points at the same server, so it is the fallback.
    base_url = None
    with contextlib.suppress(OSError):
        m = re.search(r"flow sandbox listening\S*\s.*?base_url=(http://[^\s\"]+)", spec.log.read_text())
        if m:
            base_url = m.group(1)
    if base_url is None:
        u = urllib.parse.urlparse(link)
        base_url = f"{u.scheme}://{u.netloc}"
    base = check_loopback_url(base_url)
    report = _http_json(base, "POST", "/sandbox/settle", {"token": token, "outcome": "paid"})
    conf = report.get("confirmation") if isinstance(report, dict) else None
    if conf and conf.get("http_status") != 200:
        raise BenchError(f"the sandbox's confirmation was not accepted: {report}")
    for _ in range(50):  # bounded: ~5 s
        s = await client.call("payment.getStatus", {"entityId": payment_id})
        if s.get("status") == "paid":
            return payment_id
        await asyncio.sleep(0.1)
    raise BenchError(f"payment {payment_id} did not turn paid after settling: {s}")


TARGETS: dict[str, Target] = {
    "paylink": Target(
        "paylink",
        paylink_spec,
        paylink_available,
        prepare_paylink,
        "payment.create also makes a signed HTTP call to the in-process Flow sandbox",
    ),
    "python-sdk": Target("python-sdk", peer_python_spec, peer_available("python"), prepare_peer),
    "typescript-sdk": Target("typescript-sdk", peer_ts_spec, peer_available("node"), prepare_peer),
}


# --------------------------------------------------------------------------------------
# HTTP servers (started by the driver; stdio servers are started by their client)
# --------------------------------------------------------------------------------------


class HttpServer:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.logf = open(spec.log, "wb")
        self.proc = subprocess.Popen(
            spec.argv,
            env=spec.env,
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self.logf,
            stderr=self.logf,
        )
        self.pid = self.proc.pid
        try:
            self.url = self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.pid = real_server_pid(self.proc.pid)

    def _wait_ready(self, timeout_s: float = 30.0) -> str:
        deadline = time.monotonic() + timeout_s
        url = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"server exited with {self.proc.returncode}: {self.spec.log.read_text()[-1500:]}"
                )
            if self.spec.port is not None:
                url = f"http://127.0.0.1:{self.spec.port}/mcp"
            else:
                m = re.search(r"http://127\.0\.0\.1:(\d+)/mcp", self.spec.log.read_text(errors="replace"))
                if m:
                    url = m.group(0)
            if url:
                u = check_loopback_url(url)
                with contextlib.suppress(OSError), socket.create_connection((u.hostname, u.port), timeout=1):
                    return url
            time.sleep(0.05)
        raise BenchError(f"server not ready after {timeout_s:.0f} s: {self.spec.log.read_text()[-1500:]}")

    def stop(self) -> None:
        # The server itself first (it differs from proc.pid only behind a wrapper that did
        # not exec), then the process we started.
        if getattr(self, "pid", None) and self.pid != self.proc.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.logf.close()


# --------------------------------------------------------------------------------------
# Clients. Each: `async with client.connected()`, then call / seq / burst.
# --------------------------------------------------------------------------------------

ArgsFn = Callable[[int], dict]


def _result_of(msg: dict, name: str) -> dict:
    if "error" in msg:
        raise BenchError(f"{name}: JSON-RPC error {msg['error']}")
    result = msg.get("result") or {}
    if result.get("isError"):
        raise BenchError(f"{name}: tool error {json.dumps(result)[:400]}")
    sc = result.get("structuredContent")
    if sc is None:
        # Fall back to the text block.
        for block in result.get("content") or []:
            if block.get("type") == "text":
                with contextlib.suppress(ValueError):
                    return json.loads(block["text"])
        return {}
    return sc


class Client:
    kind = "?"
    pid: int = 0

    async def call(self, name: str, args: dict) -> dict:
        raise NotImplementedError

    async def seq(self, name: str, args_fn: ArgsFn, warmup: int, n: int, deadline: float) -> list[float]:
        """Latencies in seconds of n sequential calls after warmup calls."""
        raise NotImplementedError

    async def burst(self, name: str, args_fn: ArgsFn, total: int, inflight: int, deadline: float) -> None:
        raise NotImplementedError


def _init_params() -> dict:
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "paylink-peers-drive", "version": "0.1"},
    }


class PlainStdio(Client):
    kind = "plain"

    def __init__(self, spec: Spec):
        self.spec = spec
        self.next_id = 0
        self.buf = b""

    @contextlib.asynccontextmanager
    async def connected(self):
        logf = open(self.spec.log, "wb")
        self.proc = subprocess.Popen(
            self.spec.argv,
            env=self.spec.env,
            cwd=self.spec.cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=logf,
            bufsize=0,
        )
        self.pid = self.proc.pid
        self.fd_in = self.proc.stdin.fileno()
        self.fd_out = self.proc.stdout.fileno()
        try:
            self._roundtrip({"method": "initialize", "params": _init_params()}, time.monotonic() + 30)
            self.pid = real_server_pid(self.proc.pid)  # after the server answered
            self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            yield self
        finally:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            with contextlib.suppress(OSError):
                self.proc.stdout.close()
            logf.close()

    def _send(self, obj: dict) -> None:
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        view = memoryview(data)
        while view:
            n = os.write(self.fd_in, view)
            view = view[n:]

    def _request(self, method: str, params: dict) -> int:
        self.next_id += 1
        self._send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.next_id

    def _read_msg(self, deadline: float) -> dict:
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line, self.buf = self.buf[:nl], self.buf[nl + 1 :]
                if line.strip():
                    return json.loads(line)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError("stdio: timed out waiting for the server")
            r, _, _ = select.select([self.fd_out], [], [], min(left, READ_TIMEOUT_S))
            if not r:
                continue
            chunk = os.read(self.fd_out, 1 << 16)
            if not chunk:
                raise BenchError(f"stdio: the server closed stdout: {self.spec.log.read_text()[-1500:]}")
            self.buf += chunk

    def _read_response(self, deadline: float) -> dict:
        """The next JSON-RPC response (server notifications and requests are skipped)."""
        for _ in range(10_000):
            msg = self._read_msg(deadline)
            if "id" in msg and ("result" in msg or "error" in msg):
                return msg
        raise BenchError("stdio: no response among 10000 messages")

    def _roundtrip(self, req: dict, deadline: float) -> dict:
        rid = self._request(req["method"], req["params"])
        msg = self._read_response(deadline)
        if msg.get("id") != rid:
            raise BenchError(f"stdio: expected id {rid}, got {msg.get('id')}")
        return msg

    def _call(self, name: str, args: dict, deadline: float) -> dict:
        msg = self._roundtrip({"method": "tools/call", "params": {"name": name, "arguments": args}}, deadline)
        return _result_of(msg, name)

    async def call(self, name: str, args: dict) -> dict:
        return self._call(name, args, time.monotonic() + READ_TIMEOUT_S)

    async def seq(self, name, args_fn, warmup, n, deadline):
        for i in range(warmup):
            self._call(name, args_fn(i), deadline)
        out = []
        pc = time.perf_counter
        for i in range(n):
            t0 = pc()
            self._call(name, args_fn(warmup + i), deadline)
            out.append(pc() - t0)
        return out

    async def burst(self, name, args_fn, total, inflight, deadline):
        outstanding: set[int] = set()
        sent = done = 0
        while sent < min(inflight, total):
            outstanding.add(self._request("tools/call", {"name": name, "arguments": args_fn(sent)}))
            sent += 1
        while done < total:
            msg = self._read_response(deadline)
            rid = msg.get("id")
            if rid not in outstanding:
                raise BenchError(f"stdio: unexpected response id {rid}")
            outstanding.discard(rid)
            _result_of(msg, name)
            done += 1
            if sent < total:
                outstanding.add(self._request("tools/call", {"name": name, "arguments": args_fn(sent)}))
                sent += 1


def _parse_http_reply(resp: http.client.HTTPResponse, body: bytes, want_id: int | None) -> dict | None:
    ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
    if resp.status == 202 and want_id is None:
        return None
    if resp.status != 200:
        raise BenchError(f"HTTP {resp.status}: {body[:300]!r}")
    if ctype == "application/json":
        msgs = json.loads(body)
        msgs = msgs if isinstance(msgs, list) else [msgs]
    elif ctype == "text/event-stream":
        msgs = []
        data: list[str] = []
        # One SSE event per blank-line-terminated block; its data: lines are joined by \n.
        for line in body.decode("utf-8").splitlines() + [""]:
            if line == "":
                if data:
                    payload = "\n".join(data)
                    data = []
                    if payload.strip():
                        with contextlib.suppress(ValueError):
                            msgs.append(json.loads(payload))
                continue
            if line.startswith("data:"):
                v = line[5:]
                data.append(v[1:] if v.startswith(" ") else v)
    else:
        raise BenchError(f"unexpected Content-Type {ctype!r}: {body[:200]!r}")
    for m in msgs:
        if isinstance(m, dict) and m.get("id") == want_id and ("result" in m or "error" in m):
            return m
    if want_id is None:
        return None
    raise BenchError(f"no JSON-RPC response with id {want_id} in the reply: {body[:300]!r}")


class PlainHttp(Client):
    kind = "plain"

    def __init__(self, server: HttpServer):
        self.server = server
        self.pid = server.pid
        u = check_loopback_url(server.url)
        self.host, self.port, self.path = u.hostname, u.port, u.path
        self.session_id: str | None = None
        self.lock = threading.Lock()
        self.next_id = 0

    def _conn(self) -> http.client.HTTPConnection:
        c = http.client.HTTPConnection(self.host, self.port, timeout=READ_TIMEOUT_S)
        c.connect()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return c

    def _headers(self) -> dict:
        h = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "MCP-Protocol-Version": PROTOCOL_VERSION,
        }
        if self.session_id:
            h["Mcp-Session-Id"] = self.session_id
        return h

    def _id(self) -> int:
        with self.lock:
            self.next_id += 1
            return self.next_id

    def _post(self, conn: http.client.HTTPConnection, obj: dict) -> tuple[http.client.HTTPResponse, dict | None]:
        body = json.dumps(obj, separators=(",", ":")).encode()
        conn.request("POST", self.path, body=body, headers=self._headers())
        resp = conn.getresponse()
        raw = resp.read()  # the whole body, JSON or SSE, so the connection can be reused
        return resp, _parse_http_reply(resp, raw, obj.get("id"))

    def _call(self, conn, name: str, args: dict) -> dict:
        rid = self._id()
        obj = {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": {"name": name, "arguments": args}}
        try:
            _, msg = self._post(conn, obj)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
            # The server closed an idle keep-alive connection (uvicorn does after 5 s, paylink
            # after its header timeout): reconnect once, as any HTTP client does.
            conn.close()
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _, msg = self._post(conn, obj)
        return _result_of(msg, name)

    @contextlib.asynccontextmanager
    async def connected(self):
        self.conn = self._conn()
        try:
            resp, msg = self._post(
                self.conn, {"jsonrpc": "2.0", "id": self._id(), "method": "initialize", "params": _init_params()}
            )
            if msg is None or "result" not in msg:
                raise BenchError(f"initialize failed: {msg}")
            self.session_id = resp.getheader("Mcp-Session-Id")
            if not self.session_id:
                raise BenchError("the server sent no Mcp-Session-Id (stateless?)")
            self._post(self.conn, {"jsonrpc": "2.0", "method": "notifications/initialized"})
            yield self
        finally:
            if self.session_id:
                with contextlib.suppress(Exception):
                    self.conn.request("DELETE", self.path, headers=self._headers())
                    self.conn.getresponse().read()
            self.conn.close()

    async def call(self, name, args):
        return self._call(self.conn, name, args)

    async def seq(self, name, args_fn, warmup, n, deadline):
        for i in range(warmup):
            if time.monotonic() > deadline:
                raise BenchError("sequential phase timed out")
            self._call(self.conn, name, args_fn(i))
        out = []
        pc = time.perf_counter
        for i in range(n):
            if time.monotonic() > deadline:
                raise BenchError("sequential phase timed out")
            t0 = pc()
            self._call(self.conn, name, args_fn(warmup + i))
            out.append(pc() - t0)
        return out

    async def burst(self, name, args_fn, total, inflight, deadline):
        counter = iter(range(total))
        counter_lock = threading.Lock()
        errors: list[BaseException] = []
        conns = [self._conn() for _ in range(inflight)]  # opened before the clock starts
        start = threading.Barrier(inflight)

        def worker(conn):
            try:
                start.wait(timeout=30)
                while time.monotonic() < deadline and not errors:
                    with counter_lock:
                        i = next(counter, None)
                    if i is None:
                        return
                    self._call(conn, name, args_fn(i))
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(0.1, deadline - time.monotonic() + 5))
        for c in conns:
            c.close()
        if errors:
            raise BenchError(f"burst failed: {errors[0]!r}")
        if any(t.is_alive() for t in threads) or next(counter, None) is not None:
            raise BenchError("burst phase timed out")


class SdkClient(Client):
    """The official Python SDK client: mcp.ClientSession over stdio or streamable HTTP."""

    kind = "sdk"

    def __init__(self, transport: str, spec: Spec, server: HttpServer | None):
        self.transport = transport
        self.spec = spec
        self.server = server

    @contextlib.asynccontextmanager
    async def connected(self):
        import mcp
        from mcp.client.stdio import StdioServerParameters, stdio_client

        async with contextlib.AsyncExitStack() as stack:
            if self.transport == "stdio":
                known = {p for p, _ in children_of(os.getpid())}
                errlog = stack.enter_context(open(self.spec.log, "w"))
                params = StdioServerParameters(
                    command=self.spec.argv[0], args=self.spec.argv[1:], env=self.spec.env, cwd=self.spec.cwd
                )
                streams = await stack.enter_async_context(stdio_client(params, errlog=errlog))
                self.pid = find_server_child(self.spec.argv, known)
            else:
                try:
                    from mcp.client.streamable_http import streamable_http_client as connect
                except ImportError:  # mcp 1.x
                    from mcp.client.streamable_http import streamablehttp_client as connect
                self.pid = self.server.pid
                streams = await stack.enter_async_context(connect(self.server.url))
            read, write = streams[0], streams[1]
            self.session = await stack.enter_async_context(mcp.ClientSession(read, write))
            await asyncio.wait_for(self.session.initialize(), 30)
            self.pid = real_server_pid(self.pid)  # a wrapper has spawned its child by now
            # Caches the tools' output schemas, which call_tool validates results against.
            await asyncio.wait_for(self.session.list_tools(), 30)
            yield self

    async def _call(self, name: str, args: dict) -> dict:
        r = await self.session.call_tool(name, args)
        is_error = getattr(r, "is_error", None)
        if is_error is None:
            is_error = getattr(r, "isError", False)
        if is_error:
            raise BenchError(f"{name}: tool error {r}")
        sc = getattr(r, "structured_content", None)
        if sc is None:
            sc = getattr(r, "structuredContent", None)
        return sc or {}

    async def call(self, name, args):
        return await asyncio.wait_for(self._call(name, args), READ_TIMEOUT_S)

    async def seq(self, name, args_fn, warmup, n, deadline):
        async def run():
            for i in range(warmup):
                await self._call(name, args_fn(i))
            out = []
            pc = time.perf_counter
            for i in range(n):
                t0 = pc()
                await self._call(name, args_fn(warmup + i))
                out.append(pc() - t0)
            return out

        return await asyncio.wait_for(run(), max(1.0, deadline - time.monotonic()))

    async def burst(self, name, args_fn, total, inflight, deadline):
        counter = iter(range(total))

        async def worker():
            for i in counter:  # shared iterator: each index is taken once
                await self._call(name, args_fn(i))

        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(inflight))), max(1.0, deadline - time.monotonic())
        )


# --------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------


@dataclass
class Plan:
    warmup: int
    seq: int
    burst: int
    inflight: int
    create_warmup: int
    creates: int
    phase_timeout_s: float


@dataclass
class Row:
    target: str
    transport: str
    client: str
    ok: bool = False
    error: str | None = None
    figures: dict = field(default_factory=dict)


def _ms(v: float) -> float:
    return round(v * 1000, 4)


async def run_one(target: Target, transport: str, client_kind: str, plan: Plan, keep: bool) -> Row:
    row = Row(target.name, transport, client_kind)
    why = target.available()
    if why:
        row.error = f"skipped: {why}"
        return row
    work = Path(tempfile.mkdtemp(prefix=f"peers-{target.name}-{transport}-{client_kind}-"))
    server: HttpServer | None = None
    try:
        spec = target.build(transport, work)
        if transport == "http":
            server = HttpServer(spec)
        if client_kind == "plain":
            client: Any = PlainStdio(spec) if transport == "stdio" else PlainHttp(server)
        else:
            client = SdkClient(transport, spec, server)
        async with client.connected():
            pid = client.pid
            f = row.figures
            f["server_pid"] = pid
            f["server_cmd"] = " ".join(cmdline(pid))
            f["idle_rss_kib"] = status_kib(pid, "VmRSS")
            entity = await target.prepare(client, spec)
            f["entity_id"] = entity

            def phase_deadline() -> float:
                return time.monotonic() + plan.phase_timeout_s

            get_args = lambda i: {"entityId": entity}  # noqa: E731
            lat = await client.seq("payment.getStatus", get_args, plan.warmup, plan.seq, phase_deadline())
            lat.sort()
            f["get_seq_n"] = len(lat)
            f["get_p50_ms"] = _ms(percentile(lat, 50))
            f["get_p99_ms"] = _ms(percentile(lat, 99))
            f["get_mean_ms"] = _ms(sum(lat) / len(lat))

            c0, t0, m0 = cpu_ticks(pid), time.perf_counter(), os.times()
            await client.burst("payment.getStatus", get_args, plan.burst, plan.inflight, phase_deadline())
            wall = time.perf_counter() - t0
            c1, m1 = cpu_ticks(pid), os.times()
            f["burst_calls"] = plan.burst
            f["burst_inflight"] = plan.inflight
            f["burst_wall_s"] = round(wall, 4)
            f["burst_calls_per_s"] = round(plan.burst / wall, 1)
            f["server_cpu_us_per_call"] = round((c1 - c0) / CLK_TCK / plan.burst * 1e6, 1)
            f["driver_cpu_us_per_call"] = round(
                ((m1.user - m0.user) + (m1.system - m0.system)) / plan.burst * 1e6, 1
            )

            nonce = os.urandom(4).hex()
            create_args = lambda i: {  # noqa: E731
                "amount": 5000,
                "description": f"Bench create {nonce} #{i}",  # distinct: no dedupe shortcut
                "customerEmail": CUSTOMER_EMAIL,
            }
            clat = await client.seq("payment.create", create_args, plan.create_warmup, plan.creates, phase_deadline())
            clat.sort()
            f["create_n"] = len(clat)
            f["create_p50_ms"] = _ms(percentile(clat, 50))
            f["create_p99_ms"] = _ms(percentile(clat, 99))
            f["peak_rss_kib"] = status_kib(pid, "VmHWM")
            f["end_rss_kib"] = status_kib(pid, "VmRSS")
        row.ok = True
    except Exception as e:  # noqa: BLE001 - one failed run must not stop the others
        leaf: BaseException = e
        while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:  # anyio task groups
            leaf = leaf.exceptions[0]
        row.error = f"{type(leaf).__name__}: {leaf}"
        if os.environ.get("PEERS_DEBUG"):
            traceback.print_exc()
        with contextlib.suppress(Exception):
            tail = (work / "server.log").read_text(errors="replace")[-800:]
            if tail.strip():
                row.error += f" | server log tail: {tail.strip()}"
    finally:
        if server is not None:
            server.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return row


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _mib(kib: int | None) -> str:
    return "–" if kib is None else f"{kib / 1024:.1f}"


def render(rows: list[Row], plan: Plan) -> str:
    out = []
    out.append(
        f"getStatus: {plan.seq} sequential calls after {plan.warmup} warm-up; "
        f"{plan.burst} calls with {plan.inflight} in flight; "
        f"create: {plan.creates} sequential calls after {plan.create_warmup} warm-up.\n"
    )
    out.append(
        "| target | transport | client | getStatus p50 ms | getStatus p99 ms | calls/s @"
        f"{plan.inflight} | server CPU µs/call | driver CPU µs/call | idle RSS MiB | peak RSS MiB "
        "| create p50 ms | create p99 ms |"
    )
    out.append("|" + "---|" * 12)
    for r in rows:
        f = r.figures
        if not r.ok:
            err = " ".join((r.error or "").split()).replace("|", "\\|")
            out.append(f"| {r.target} | {r.transport} | {r.client} | {err[:200]} |" + " |" * 8)
            continue
        out.append(
            f"| {r.target} | {r.transport} | {r.client} | {_fmt(f['get_p50_ms'])} | {_fmt(f['get_p99_ms'])} "
            f"| {_fmt(f['burst_calls_per_s'], 0)} | {_fmt(f['server_cpu_us_per_call'], 0)} "
            f"| {_fmt(f['driver_cpu_us_per_call'], 0)} | {_mib(f['idle_rss_kib'])} | {_mib(f['peak_rss_kib'])} "
            f"| {_fmt(f['create_p50_ms'])} | {_fmt(f['create_p99_ms'])} |"
        )
    ratios = compute_ratios(rows)
    if ratios:
        out.append("")
        out.append(
            "Ratios against paylink (> 1: paylink is better by that factor). Latency, CPU and RSS: "
            "peer / paylink; calls/s: paylink / peer."
        )
        out.append("")
        out.append(
            "| peer | transport | client | getStatus p50 | getStatus p99 | calls/s | server CPU/call "
            "| idle RSS | peak RSS | create p50 | create p99 |"
        )
        out.append("|" + "---|" * 11)
        for r in ratios:
            v = r["ratios"]
            out.append(
                f"| {r['peer']} | {r['transport']} | {r['client']} | "
                + " | ".join(
                    "–" if v.get(k) is None else f"{v[k]:.2f}×"
                    for k in (
                        "get_p50",
                        "get_p99",
                        "calls_per_s",
                        "server_cpu_per_call",
                        "idle_rss",
                        "peak_rss",
                        "create_p50",
                        "create_p99",
                    )
                )
                + " |"
            )
    notes = [f"- {t.name}: {t.note}" for t in TARGETS.values() if t.note and any(r.target == t.name for r in rows)]
    if notes:
        out.append("")
        out.extend(notes)
    return "\n".join(out)


def compute_ratios(rows: list[Row]) -> list[dict]:
    by_key = {(r.target, r.transport, r.client): r for r in rows if r.ok}
    out = []
    for r in rows:
        if not r.ok or r.target == "paylink":
            continue
        p = by_key.get(("paylink", r.transport, r.client))
        if p is None:
            continue
        a, b = r.figures, p.figures

        def div(x, y):
            return None if not x or not y else round(x / y, 3)

        out.append(
            {
                "peer": r.target,
                "transport": r.transport,
                "client": r.client,
                "ratios": {
                    "get_p50": div(a["get_p50_ms"], b["get_p50_ms"]),
                    "get_p99": div(a["get_p99_ms"], b["get_p99_ms"]),
                    "calls_per_s": div(b["burst_calls_per_s"], a["burst_calls_per_s"]),
                    "server_cpu_per_call": div(a["server_cpu_us_per_call"], b["server_cpu_us_per_call"]),
                    "idle_rss": div(a["idle_rss_kib"], b["idle_rss_kib"]),
                    "peak_rss": div(a["peak_rss_kib"], b["peak_rss_kib"]),
                    "create_p50": div(a["create_p50_ms"], b["create_p50_ms"]),
                    "create_p99": div(a["create_p99_ms"], b["create_p99_ms"]),
                },
            }
        )
    return out


def versions() -> dict:
    v: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine()}
    with contextlib.suppress(Exception):
        from importlib.metadata import version

        v["mcp (python)"] = version("mcp")
    with contextlib.suppress(Exception):
        pj = json.loads((HERE / "typescript/node_modules/@modelcontextprotocol/sdk/package.json").read_text())
        v["@modelcontextprotocol/sdk"] = pj["version"]
    with contextlib.suppress(Exception):
        v["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    with contextlib.suppress(Exception):
        v["paylink"] = subprocess.run(
            [str(PAYLINK_BIN), "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    with contextlib.suppress(Exception):
        v["cpus"] = os.cpu_count()
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.+)", f.read())
            if m:
                v["cpu"] = m.group(1).strip()
    return v


# --------------------------------------------------------------------------------------


def main() -> int:
    global PAYLINK_BIN
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="paylink,python-sdk,typescript-sdk", help="comma list of " + ",".join(TARGETS))
    ap.add_argument("--transports", default="stdio,http", help="comma list of stdio,http")
    ap.add_argument("--clients", default="sdk,plain", help="comma list of sdk,plain")
    ap.add_argument("--quick", action="store_true", help="a small run for smoke tests")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    ap.add_argument("--paylink-bin", default=str(PAYLINK_BIN), help="the paylink binary (default: %(default)s)")
    ap.add_argument("--seq", type=int, help="timed sequential getStatus calls (default 2000; quick 200)")
    ap.add_argument("--warmup", type=int, help="warm-up getStatus calls (default 200; quick 20)")
    ap.add_argument("--burst", type=int, help="getStatus calls in the in-flight phase (default 4000; quick 320)")
    ap.add_argument("--inflight", type=int, default=32, help="calls in flight (default 32)")
    ap.add_argument("--creates", type=int, help="timed sequential creates (default 300; quick 30)")
    ap.add_argument("--phase-timeout", type=float, help="seconds allowed per phase (default 180; quick 60)")
    ap.add_argument("--keep", action="store_true", help="keep each run's work dir (logs, data)")
    a = ap.parse_args()

    PAYLINK_BIN = Path(a.paylink_bin).resolve()
    q = a.quick
    plan = Plan(
        warmup=a.warmup if a.warmup is not None else (20 if q else 200),
        seq=a.seq if a.seq is not None else (200 if q else 2000),
        burst=a.burst if a.burst is not None else (320 if q else 4000),
        inflight=a.inflight,
        create_warmup=5 if q else 10,
        creates=a.creates if a.creates is not None else (30 if q else 300),
        phase_timeout_s=a.phase_timeout if a.phase_timeout is not None else (60.0 if q else 180.0),
    )
    for name, lo, hi in (("seq", 1, 100_000), ("warmup", 0, 100_000), ("burst", 1, 200_000),
                         ("inflight", 1, 256), ("creates", 1, 20_000)):
        v = getattr(plan, name)
        if not lo <= v <= hi:
            ap.error(f"--{name} must be within {lo}..{hi}")

    targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    transports = [t.strip() for t in a.transports.split(",") if t.strip()]
    clients = [c.strip() for c in a.clients.split(",") if c.strip()]
    for t in targets:
        if t not in TARGETS:
            ap.error(f"unknown target {t!r} (known: {', '.join(TARGETS)})")
    for t in transports:
        if t not in ("stdio", "http"):
            ap.error(f"unknown transport {t!r}")
    for c in clients:
        if c not in ("sdk", "plain"):
            ap.error(f"unknown client {c!r}")
    if "sdk" in clients:
        try:
            import mcp  # noqa: F401
        except ImportError:
            ap.error("the sdk client needs the mcp package: run with benches/peers/.venv/bin/python")

    rows: list[Row] = []
    started = time.time()
    for transport in transports:
        for client_kind in clients:
            for t in targets:
                t0 = time.monotonic()
                row = asyncio.run(run_one(TARGETS[t], transport, client_kind, plan, a.keep))
                status = "ok" if row.ok else row.error
                print(f"# {t} / {transport} / {client_kind}: {status} ({time.monotonic() - t0:.1f} s)",
                      file=sys.stderr, flush=True)
                rows.append(row)

    report = render(rows, plan)
    print(report)
    if a.json:
        doc = {
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "quick": q,
            "plan": plan.__dict__,
            "versions": versions(),
            "clk_tck": CLK_TCK,
            "rows": [r.__dict__ for r in rows],
            "ratios": compute_ratios(rows),
        }
        Path(a.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"\nJSON written to {a.json}", file=sys.stderr)
    return 0 if all(r.ok or (r.error or "").startswith("skipped") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
