// A billing agent's tool calls through the official TypeScript MCP SDK client, against
// `paylink serve` over stdio on its built-in offline sandbox (no credentials, no money):
// list the tools, create a payment link, have the "payer" pay it (`paylink trigger paid`,
// as `stripe trigger` does), and check the status until it is paid.
//
//   cd agent-examples
//   npm install
//   PAYLINK_BIN=../target/debug/paylink npm start     # or `paylink` on PATH
//
// Dotted names (payment.create) are what paylink lists to this client; clients that reject
// dots (Claude, Codex, Copilot) are listed payment_create etc. Both spellings always work.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

/** What a model driving these tools is told (give it to your LLM with the tool list). */
export const SYSTEM_PROMPT =
  "You help users make payments. Amounts are in ordinary units: 5000 CLP is five thousand pesos. " +
  "Create a link with payment.create, give the customer the paymentLinkUrl, and check later with payment.getStatus. " +
  "If a call fails, follow error.nextStep; retry with the same idempotencyKey.";

const bin = process.env.PAYLINK_BIN ? resolve(process.env.PAYLINK_BIN) : "paylink";
// A throw-away ledger; the side listener on a free port.
const env = {
  ...(process.env as Record<string, string>),
  PAYLINK_DATA_DIR: mkdtempSync(join(tmpdir(), "paylink-billing-agent-")),
  PAYLINK_LISTEN: "127.0.0.1:0",
};

type Structured = Record<string, any>;

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<Structured> {
  const result = await client.callTool({ name, arguments: args });
  const structured = result.structuredContent as Structured;
  if (result.isError) {
    throw new Error(`${name} failed: ${JSON.stringify(structured.error)}`);
  }
  return structured;
}

async function main(): Promise<void> {
  const transport = new StdioClientTransport({ command: bin, args: ["serve"], env, stderr: "ignore" });
  const client = new Client({ name: "billing-agent", version: "0.1.0" });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    console.log("tools:", tools.map((t) => t.name).join(", "));

    const created = await call(client, "payment.create", {
      amount: 5000,
      description: "Clase de matemáticas, martes 10:00",
      customerEmail: "apoderado@gmail.com",
      idempotencyKey: "billing-agent-session-42",
    });
    console.log(`created ${created.paymentId}: ${created.paymentLinkUrl} (${created.status})`);

    // The payer pays. On the offline sandbox `paylink trigger` does it from the shell,
    // through this paylink's socket in the same data directory.
    console.log(execFileSync(bin, ["trigger", "paid", created.paymentId], { env }).toString().trim());

    // Check until paid, for at most 20 s.
    const deadline = Date.now() + 20_000;
    let status: Structured;
    for (;;) {
      status = await call(client, "payment.getStatus", { entityId: created.paymentId });
      if (status.status === "paid" || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`status: ${status.status}, paidAt ${status.paidAt}`);
    if (status.status !== "paid") {
      throw new Error(`the payment did not turn paid: ${JSON.stringify(status)}`);
    }
  } finally {
    await client.close();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
