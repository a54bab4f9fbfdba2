//! paylink: an MCP server that lets LLM agents take Flow (flow.cl) payments.
//!
//! # Layout
//!
//! - [`cli`]: the command line (`paylink sandbox`, ...).
//! - [`domain`]: money and currencies, payments, their status machine and events.
//! - [`gateway`]: the `PaymentGateway` boundary; [`gateway::flow`] signs and calls Flow.
//! - [`sandbox`]: the offline Flow emulator (API, pay page, confirmations, control API).

pub mod cli;
pub mod domain;
pub mod gateway;
pub mod sandbox;
