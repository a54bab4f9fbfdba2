// The billing agent of seed 000, pointing at paylink's tools.
// Dotted names are the seed's; clients that reject dots see payment_create / payment_get_status
// (paylink's default `--tool-names auto` lists those to Claude, Codex and Copilot; any client may
// force them with `--tool-names snake`). Both spellings are always callable.
export default defineAgent({
  name: "Billing Agent",
  slug: "billing",
  version: "0.1.0",
  systemPrompt:
    "You help users make payments. Amounts are in ordinary units: 5000 CLP is five thousand pesos. " +
    "Create a link with payment.create, give the customer the paymentLinkUrl, and check later with payment.getStatus. " +
    "If a call fails, follow error.nextStep; retry with the same idempotencyKey.",
  tools: ["payment.create", "payment.getStatus", "payment.list"],
})
