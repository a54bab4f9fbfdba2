// The billing agent of seed 000, pointing at paylink's tools.
// Dotted names are the seed's; clients that reject dots use payment_create / payment_get_status
// (start paylink with `--tool-names snake`).
export default defineAgent({
  name: "Billing Agent",
  slug: "billing",
  version: "0.1.0",
  systemPrompt:
    "You help users make payments. Amounts are in ordinary units: 5000 CLP is five thousand pesos. " +
    "Create a link with payment.create, give the customer the paymentLinkUrl, and check later with payment.getStatus. " +
    "If a call fails, follow error.nextStep; retry with the same idempotencyKey.",
  tools: ["payment.create", "payment.getStatus"],
})
