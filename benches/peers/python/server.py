"""Benchmark peer: paylink's two MCP tools on the official Python MCP SDK.

The server is the SDK's high-level `MCPServer` (called FastMCP before mcp 2) in
its documented default setup; the only work besides the SDK is one SQLite row
read per `payment.getStatus` and one durable SQLite commit per `payment.create`.

    python server.py stdio
    python server.py http --port 8931        # streamable HTTP at http://127.0.0.1:8931/mcp

The data file is `$PEER_DB` (default: a fresh file in the temp directory). On
start, an empty table gets one paid payment, `ent_peer_paid`, so getStatus has
a row to read.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sqlite3
import sys
import tempfile
import threading
from datetime import datetime, timezone
from typing import TypedDict

try:
    from mcp.server.mcpserver import MCPServer
except ImportError:  # mcp 1.x names the same class FastMCP
    from mcp.server.fastmcp import FastMCP as MCPServer  # type: ignore[no-redef]

SEED_ID = "ent_peer_paid"
CURRENCY = "CLP"  # zero-decimal currency: minor units == units
LINK_BASE = "https://sandbox.example.invalid/app/web/pay.php?token="

SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    id              TEXT PRIMARY KEY,
    status          TEXT NOT NULL,
    amount_minor    INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    description     TEXT NOT NULL,
    customer_email  TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    link_url        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    paid_at         TEXT
)
"""

NEXT_STEP = {
    "paid": "The payment is complete; nothing more to do.",
    "pending": "Send paymentLinkUrl to the customer and check again after they say they paid.",
}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _db_path() -> str:
    path = os.environ.get("PEER_DB")
    if path:
        return path
    fd, path = tempfile.mkstemp(prefix="paylink-peer-py-", suffix=".db")
    os.close(fd)
    return path


DB_PATH = _db_path()
_local = threading.local()


def _conn() -> sqlite3.Connection:
    """One connection per thread: the SDK runs sync tools in worker threads."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        # isolation_level=None: autocommit, transactions are explicit below.
        conn = sqlite3.connect(DB_PATH, isolation_level=None, timeout=10.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.row_factory = sqlite3.Row
        _local.conn = conn
    return conn


def _init_db() -> None:
    conn = _conn()
    conn.execute(SCHEMA)
    conn.execute("BEGIN IMMEDIATE")
    try:
        empty = conn.execute("SELECT COUNT(*) FROM payments").fetchone()[0] == 0
        if empty:
            now = _now()
            conn.execute(
                "INSERT INTO payments (id, status, amount_minor, currency, description,"
                " customer_email, idempotency_key, link_url, created_at, paid_at)"
                " VALUES (?, 'paid', 5000, ?, 'Bench', 'ana@gmail.com', NULL, ?, ?, ?)",
                (SEED_ID, CURRENCY, LINK_BASE + "seed", now, now),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class PaymentStatus(TypedDict):
    entityId: str
    status: str
    amount: float
    amountMinor: int
    currency: str
    description: str
    paidAt: str | None
    nextStep: str


class CreatedPayment(TypedDict):
    paymentId: str
    paymentLinkUrl: str
    status: str
    amount: float
    currency: str


mcp = MCPServer("paylink-peer-python")


@mcp.tool(
    name="payment.getStatus",
    description="Check whether a payment created with payment.create has been paid. Pass the paymentId as entityId.",
)
def get_status(entityId: str) -> PaymentStatus:
    row = _conn().execute(
        "SELECT id, status, amount_minor, currency, description, paid_at FROM payments WHERE id = ?",
        (entityId,),
    ).fetchone()
    if row is None:
        raise ValueError(f"no payment with id {entityId}")
    return PaymentStatus(
        entityId=row["id"],
        status=row["status"],
        amount=row["amount_minor"],
        amountMinor=row["amount_minor"],
        currency=row["currency"],
        description=row["description"],
        paidAt=row["paid_at"],
        nextStep=NEXT_STEP.get(row["status"], "Check again later."),
    )


@mcp.tool(
    name="payment.create",
    description="Create a payment link for an amount in CLP and return paymentId and paymentLinkUrl.",
)
def create(
    amount: float,
    description: str,
    customerEmail: str,
    idempotencyKey: str | None = None,
) -> CreatedPayment:
    if amount <= 0 or amount != int(amount):
        raise ValueError("amount must be a positive whole number of CLP")
    minor = int(amount)
    conn = _conn()
    conn.execute("BEGIN IMMEDIATE")
    try:
        if idempotencyKey is not None:
            row = conn.execute(
                "SELECT id, status, amount_minor, currency, link_url FROM payments WHERE idempotency_key = ?",
                (idempotencyKey,),
            ).fetchone()
            if row is not None:
                conn.execute("COMMIT")
                return CreatedPayment(
                    paymentId=row["id"],
                    paymentLinkUrl=row["link_url"],
                    status=row["status"],
                    amount=row["amount_minor"],
                    currency=row["currency"],
                )
        pid = "ent_" + secrets.token_hex(10)
        link = LINK_BASE + secrets.token_hex(16)
        conn.execute(
            "INSERT INTO payments (id, status, amount_minor, currency, description,"
            " customer_email, idempotency_key, link_url, created_at, paid_at)"
            " VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, NULL)",
            (pid, minor, CURRENCY, description, customerEmail, idempotencyKey, link, _now()),
        )
        conn.execute("COMMIT")  # synchronous=FULL: durable when this returns
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return CreatedPayment(
        paymentId=pid, paymentLinkUrl=link, status="pending", amount=minor, currency=CURRENCY
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("transport", choices=["stdio", "http"])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    _init_db()
    print(f"paylink-peer-python: db {DB_PATH}", file=sys.stderr, flush=True)
    if args.transport == "stdio":
        mcp.run()  # stdio is the default transport
    else:
        print(
            f"paylink-peer-python: MCP over streamable HTTP at http://127.0.0.1:{args.port}/mcp",
            file=sys.stderr,
            flush=True,
        )
        mcp.run(transport="streamable-http", host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
