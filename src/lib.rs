//! paylink: an MCP server that lets LLM agents take Flow (flow.cl) and Stripe payments.
//!
//! # Layout
//!
//! - [`cli`]: the command line, one file per command (serve, demo, payments,
//!   confirmations, doctor, ledger, migrate, integration, tools, sandbox).
//! - [`config`]: one declarative `Settings`: every variable, validated once, refused when
//!   invalid.
//! - [`app`]: `Application::build(settings)`: the ledger, the gateways, the listeners and
//!   loops, under one cancellation tree.
//! - [`accounts`]: which gateway account serves which organization, the one factory from
//!   an account to a gateway entry, and the signed key check.
//! - [`integrations`]: Flow and Stripe accounts stored in the ledger per organization,
//!   secrets sealed ([`secrets`]).
//! - [`domain`]: money and currencies, payments, their status machine and events.
//! - [`payments`]: the payment use cases and the gateway registry.
//! - [`gateway`]: the `Gateway` boundary, neutral verdicts and errors; [`gateway::flow`]
//!   and [`gateway::stripe`] speak to each gateway.
//! - [`store`]: the ledger contract; [`store::sled`] (the embedded default, one process)
//!   and [`store::postgres`] (replicas on one database); [`store::remote`] reaches the
//!   ledger of a running serve; [`store::transfer`] exports and imports a whole ledger.
//! - [`telemetry`]: every metric, named in one place.
//! - [`mcp`]: the rmcp server: tools, resources, subscriptions, HTTP transport, and the
//!   payment card for hosts that render MCP Apps.
//! - [`webhook`]: the side listener: Flow confirmations, return page, health, metrics.
//! - [`reconcile`]: one reconciliation pass and the loop around it.
//! - [`notify`]: signed lifecycle notifications to the operator's URL.
//! - [`owner`]: the first `paylink serve` owns the sled ledger and listens on a socket in
//!   the data directory; later serves attach (and take over), operator commands read
//!   through it.
//! - [`net`]: serving sockets that face the internet; the loopback test for URLs.
//! - [`sandbox`]: the offline Flow and Stripe emulators (API, pay page, confirmations or
//!   signed events, control API).
//! - [`payer`]: what a payer reads: the page language from `Accept-Language`, amounts
//!   as payers write them, the merchant a page names.
//! - [`html`], [`logging`]: escaping and the one stylesheet of the pages payers see;
//!   stderr logs with e-mails redacted.

pub mod accounts;
pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod gateway;
pub mod html;
pub mod integrations;
pub mod logging;
pub mod mcp;
pub mod net;
pub mod notify;
pub mod owner;
pub mod payer;
pub mod payments;
pub mod reconcile;
pub mod sandbox;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod webhook;
