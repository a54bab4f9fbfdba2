// Benchmark peer: paylink's two MCP tools on the official TypeScript MCP SDK.
//
// McpServer from the SDK in its documented setup: stdio, or streamable HTTP at /mcp
// on Express with stateful sessions (one transport and one McpServer per session, as
// the SDK's stateful example does). The only work besides the SDK is one SQLite row
// read per payment.getStatus and one durable SQLite commit per payment.create
// (better-sqlite3, WAL, synchronous=FULL).
//
//   node server.mjs stdio
//   node server.mjs http --port 8932      # http://127.0.0.1:8932/mcp
//
// The data file is $PEER_DB (default: a fresh file in the temp directory). On start,
// an empty table gets one paid payment, ent_peer_paid, so getStatus has a row to read.

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { z } from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

const SEED_ID = 'ent_peer_paid';
const CURRENCY = 'CLP'; // zero-decimal currency: minor units == units
const LINK_BASE = 'https://sandbox.example.invalid/app/web/pay.php?token=';
const NEXT_STEP = {
  paid: 'The payment is complete; nothing more to do.',
  pending: 'Send paymentLinkUrl to the customer and check again after they say they paid.',
};

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

// ---- storage -------------------------------------------------------------------

const dbPath = process.env.PEER_DB || join(mkdtempSync(join(tmpdir(), 'paylink-peer-ts-')), 'peer.db');
const db = new Database(dbPath);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 10000');
db.exec(`CREATE TABLE IF NOT EXISTS payments (
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
)`);

const insert = db.prepare(
  `INSERT INTO payments (id, status, amount_minor, currency, description, customer_email,
     idempotency_key, link_url, created_at, paid_at)
   VALUES (@id, @status, @amount_minor, @currency, @description, @customer_email,
     @idempotency_key, @link_url, @created_at, @paid_at)`,
);
const byId = db.prepare(
  'SELECT id, status, amount_minor, currency, description, paid_at FROM payments WHERE id = ?',
);
const byKey = db.prepare(
  'SELECT id, status, amount_minor, currency, link_url FROM payments WHERE idempotency_key = ?',
);
const count = db.prepare('SELECT COUNT(*) AS n FROM payments').pluck();

db.transaction(() => {
  if (count.get() === 0) {
    const t = now();
    insert.run({
      id: SEED_ID, status: 'paid', amount_minor: 5000, currency: CURRENCY, description: 'Bench',
      customer_email: 'ana@gmail.com', idempotency_key: null, link_url: LINK_BASE + 'seed',
      created_at: t, paid_at: t,
    });
  }
}).immediate();

// One transaction, committed before the tool answers (synchronous=FULL: durable).
const createTx = db.transaction((amountMinor, description, customerEmail, idempotencyKey) => {
  if (idempotencyKey != null) {
    const row = byKey.get(idempotencyKey);
    if (row) return { existing: true, row };
  }
  const row = {
    id: 'ent_' + randomBytes(10).toString('hex'),
    status: 'pending', amount_minor: amountMinor, currency: CURRENCY, description,
    customer_email: customerEmail, idempotency_key: idempotencyKey ?? null,
    link_url: LINK_BASE + randomBytes(16).toString('hex'), created_at: now(), paid_at: null,
  };
  insert.run(row);
  return { existing: false, row };
});

// ---- tools ---------------------------------------------------------------------

function result(obj) {
  return { content: [{ type: 'text', text: JSON.stringify(obj) }], structuredContent: obj };
}

function fail(message) {
  return { content: [{ type: 'text', text: message }], isError: true };
}

function buildServer() {
  const server = new McpServer({ name: 'paylink-peer-typescript', version: '0.0.0' });

  server.registerTool(
    'payment.getStatus',
    {
      description:
        'Check whether a payment created with payment.create has been paid. Pass the paymentId as entityId.',
      inputSchema: { entityId: z.string() },
      outputSchema: {
        entityId: z.string(),
        status: z.string(),
        amount: z.number(),
        amountMinor: z.number().int(),
        currency: z.string(),
        description: z.string(),
        paidAt: z.string().nullable(),
        nextStep: z.string(),
      },
    },
    async ({ entityId }) => {
      const row = byId.get(entityId);
      if (!row) return fail(`no payment with id ${entityId}`);
      return result({
        entityId: row.id,
        status: row.status,
        amount: row.amount_minor,
        amountMinor: row.amount_minor,
        currency: row.currency,
        description: row.description,
        paidAt: row.paid_at,
        nextStep: NEXT_STEP[row.status] ?? 'Check again later.',
      });
    },
  );

  server.registerTool(
    'payment.create',
    {
      description:
        'Create a payment link for an amount in CLP and return paymentId and paymentLinkUrl.',
      inputSchema: {
        amount: z.number(),
        description: z.string(),
        customerEmail: z.string(),
        idempotencyKey: z.string().optional(),
      },
      outputSchema: {
        paymentId: z.string(),
        paymentLinkUrl: z.string(),
        status: z.string(),
        amount: z.number(),
        currency: z.string(),
      },
    },
    async ({ amount, description, customerEmail, idempotencyKey }) => {
      if (!(amount > 0) || !Number.isInteger(amount)) {
        return fail('amount must be a positive whole number of CLP');
      }
      const { row } = createTx.immediate(amount, description, customerEmail, idempotencyKey);
      return result({
        paymentId: row.id,
        paymentLinkUrl: row.link_url,
        status: row.status,
        amount: row.amount_minor,
        currency: row.currency,
      });
    },
  );
  return server;
}

// ---- transports ----------------------------------------------------------------

async function serveStdio() {
  const server = buildServer();
  await server.connect(new StdioServerTransport());
}

function serveHttp(port) {
  const app = createMcpExpressApp(); // 127.0.0.1, DNS-rebinding protection
  const transports = {}; // session id -> transport

  app.post('/mcp', async (req, res) => {
    const sessionId = req.headers['mcp-session-id'];
    let transport;
    if (sessionId && transports[sessionId]) {
      transport = transports[sessionId];
    } else if (!sessionId && isInitializeRequest(req.body)) {
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          transports[id] = transport;
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) delete transports[transport.sessionId];
      };
      await buildServer().connect(transport);
    } else {
      res.status(400).json({
        jsonrpc: '2.0',
        error: { code: -32000, message: 'Bad Request: No valid session ID provided' },
        id: null,
      });
      return;
    }
    await transport.handleRequest(req, res, req.body);
  });

  // GET opens the server-to-client SSE stream; DELETE ends the session.
  const bySession = async (req, res) => {
    const sessionId = req.headers['mcp-session-id'];
    const transport = sessionId && transports[sessionId];
    if (!transport) {
      res.status(400).send('Invalid or missing session ID');
      return;
    }
    await transport.handleRequest(req, res);
  };
  app.get('/mcp', bySession);
  app.delete('/mcp', bySession);

  const listener = app.listen(port, '127.0.0.1', (err) => {
    if (err) {
      console.error(`paylink-peer-typescript: cannot listen: ${err}`);
      process.exit(1);
    }
    const { port: bound } = listener.address();
    console.error(`paylink-peer-typescript: MCP over streamable HTTP at http://127.0.0.1:${bound}/mcp`);
  });
}

function main() {
  const argv = process.argv.slice(2);
  const mode = argv[0];
  console.error(`paylink-peer-typescript: db ${dbPath}`);
  if (mode === 'stdio') {
    serveStdio().catch((e) => {
      console.error(e);
      process.exit(1);
    });
  } else if (mode === 'http') {
    const i = argv.indexOf('--port');
    const port = i >= 0 ? Number(argv[i + 1]) : 3000;
    serveHttp(port);
  } else {
    console.error('usage: node server.mjs stdio | http --port N');
    process.exit(2);
  }
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    try { db.close(); } catch { /* already closed */ }
    process.exit(0);
  });
}

main();
