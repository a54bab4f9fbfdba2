//! paylink: an MCP server that lets LLM agents take Flow (flow.cl) payments.
//!
//! # Layout
//!
//! - [`cli`]: the command line (`paylink sandbox`, ...).
//! - [`domain`]: money and currencies, payments, their status machine and events.
//! - [`gateway`]: the `PaymentGateway` boundary; [`gateway::flow`] signs and calls Flow.
//! - [`sandbox`]: the offline Flow emulator (API, pay page, confirmations, control API).

pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod gateway;
pub mod html;
pub mod integrations;
pub mod logging;
pub mod mcp;
pub mod net;
pub mod notify;
pub mod ops;
pub mod payments;
pub mod reconcile;
pub mod sandbox;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod webhook;
