//! The agent-facing tool catalog of paylink: `payment.create`, `payment.getStatus` and
//! `payment.list`.
//!
//! Everything an LLM sees of paylink's tools is defined here: names (dotted, and snake for
//! clients that reject dots, chosen per client by its `clientInfo.name` from the one table
//! [`CLIENTS_REJECTING_DOTS`]), descriptions written for a model, explicit annotations,
//! the argument and result types whose doc comments become the JSON Schemas, stable error
//! codes, and the validation of raw arguments. The server (`paylink::mcp`) only wires this
//! catalog to rmcp and to the ledger. `manifests/*.json` are generated from this crate and
//! a test keeps them from drifting.

pub mod args;
pub mod catalog;
pub mod errors;
pub mod refund_args;
pub mod results;
pub mod validate;

pub use args::{CreatePaymentArgs, GetStatusArgs, ListPaymentsArgs, RefundPaymentArgs, StatusArg};
pub use catalog::{
    CLIENTS_REJECTING_DOTS, NameStyle, ToolAnnotationsSpec, ToolId, ToolSpec, catalog,
    client_rejects_dots, manifest,
};
pub use errors::{ErrorCode, PendingApproval, ToolError};
pub use refund_args::{RefundRequest, parse_refund};
pub use results::{
    CreatePaymentResult, GetStatusResult, ListPaymentsResult, ListedPayment, RefundLine,
    RefundResult,
};
pub use validate::{
    CreateRequest, Cursor, ListRequest, StatusRequest, parse_create, parse_get_status, parse_list,
};
