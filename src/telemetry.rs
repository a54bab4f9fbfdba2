//! Every metric paylink exports, named in this one place, served by the side listener at
//! `/metrics` in the Prometheus text format.
//!
//! One [`Metrics`] belongs to each [`Payments`](crate::payments::Payments) (behind an
//! `Arc`) and is shared by everything that counts: the confirmation listener, the
//! reconciler, the notifier, the MCP tools. Every gateway call goes through `payments`,
//! which times it ([`Metrics::observe_gateway`]); every tool call is timed per tool
//! ([`Metrics::observe_tool`]). Every metric is registered once, at construction. Payments by status are a gauge refreshed at scrape time
//! from [`Store::status_counts`](crate::store::Store::status_counts), which is in memory, so
//! a scrape never touches the ledger.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::PaymentStatus;
use crate::gateway::GatewayKind;
use crate::store::Store;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

/// Which gateway call a latency was observed for.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabel {
    /// `flow`, ...
    gateway: &'static str,
    /// `create_checkout`, `status_by_token`, `status_by_gateway_ref` or `status_by_reference`.
    call: &'static str,
    /// `ok`, `not_found`, `unavailable`, `rejected`, `misconfigured` or `link_lost`.
    outcome: &'static str,
}

/// Which tool a latency was observed for.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabel {
    /// The tool's canonical (dotted) name.
    tool: &'static str,
    /// `ok` or `error` (a tool result with `isError`).
    outcome: &'static str,
}

type HistogramFamily = Family<CallLabel, Histogram, fn() -> Histogram>;
type ToolHistogramFamily = Family<ToolLabel, Histogram, fn() -> Histogram>;

fn tool_histogram() -> Histogram {
    // 50 µs .. ~1.6 s: a read from the ledger is well under a millisecond.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

fn latency_histogram() -> Histogram {
    // 1 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every counter paylink exports. Clone the counters freely: clones share their value.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    payments: Family<StatusLabel, Gauge>,
    /// Confirmations POSTed to `/webhook/<gateway>` with a well-formed token.
    pub confirmations_received: Counter,
    /// Confirmations refused with 400 (missing or malformed token).
    pub confirmations_rejected: Counter,
    /// Confirmations whose token the gateway confirmed for one of our payments.
    pub confirmations_verified: Counter,
    /// Confirmations that changed nothing: unknown or foreign tokens, rate-limited lookups.
    pub confirmations_ignored: Counter,
    /// Confirmations folded into one already queued or in flight for the same token.
    pub confirmations_coalesced: Counter,
    /// Confirmations answered 200 but not queued because the queue was full.
    pub confirmations_queue_full: Counter,
    /// Confirmations whose verification failed (the gateway or the ledger).
    pub confirmations_errors: Counter,
    pub reconciler_runs: Counter,
    pub reconciler_checked: Counter,
    pub reconciler_changed: Counter,
    pub reconciler_errors: Counter,
    pub duplicate_orders: Counter,
    pub notifications_sent: Counter,
    pub notifications_failed: Counter,
    /// Approvals asked of a person (policy threshold or refund).
    pub approvals_asked: Counter,
    pub approvals_approved: Counter,
    pub approvals_declined: Counter,
    gateway_latency: HistogramFamily,
    tool_latency: ToolHistogramFamily,
    /// Set from the store at scrape time (the store counts; this only exports).
    ledger_write_failures: Counter,
    ledger_writable: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("paylink");
        let payments = Family::<StatusLabel, Gauge>::default();
        registry.register(
            "payments",
            "Payments in the ledger by status",
            payments.clone(),
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let r = &mut registry;
        let confirmations_received = counter(
            r,
            "confirmations_received",
            "Gateway confirmations received with a well-formed token",
        );
        let confirmations_rejected = counter(
            r,
            "confirmations_rejected",
            "Gateway confirmations refused with 400 (missing or malformed token)",
        );
        let confirmations_verified = counter(
            r,
            "confirmations_verified",
            "Confirmations verified with a signed getStatus for one of our payments",
        );
        let confirmations_ignored = counter(
            r,
            "confirmations_ignored",
            "Confirmations that changed nothing (unknown or foreign tokens)",
        );
        let confirmations_coalesced = counter(
            r,
            "confirmations_coalesced",
            "Confirmations folded into one already queued or in flight for the same token",
        );
        let confirmations_queue_full = counter(
            r,
            "confirmations_queue_full",
            "Confirmations acknowledged but not queued because the queue was full",
        );
        let confirmations_errors = counter(
            r,
            "confirmations_errors",
            "Confirmations whose verification failed (gateway or ledger)",
        );
        let reconciler_runs = counter(r, "reconciler_runs", "Reconciliation passes");
        let reconciler_checked = counter(
            r,
            "reconciler_checked",
            "Payments checked by the reconciler",
        );
        let reconciler_changed = counter(
            r,
            "reconciler_changed",
            "Payments whose status the reconciler changed",
        );
        let reconciler_errors = counter(
            r,
            "reconciler_errors",
            "Reconciler checks that failed (gateway or ledger)",
        );
        let duplicate_orders = counter(
            r,
            "duplicate_orders",
            "Payments for which the gateway holds a second order (its link never shown)",
        );
        let notifications_sent = counter(
            r,
            "notifications_sent",
            "Outbound lifecycle notifications delivered",
        );
        let notifications_failed = counter(
            r,
            "notifications_failed",
            "Outbound lifecycle notifications abandoned after every retry",
        );
        let approvals_asked = counter(
            r,
            "approvals_asked",
            "Approvals asked of a person before money moves",
        );
        let approvals_approved = counter(r, "approvals_approved", "Approvals a person gave");
        let approvals_declined = counter(r, "approvals_declined", "Approvals a person refused");
        let gateway_latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "gateway_request_duration_seconds",
            "Latency of gateway calls (checkout creation and status reads), retries included",
            gateway_latency.clone(),
        );
        let tool_latency: ToolHistogramFamily = Family::new_with_constructor(tool_histogram);
        registry.register(
            "tool_call_duration_seconds",
            "Latency of MCP tool calls, per tool, as the server handled them",
            tool_latency.clone(),
        );
        let ledger_write_failures = counter(
            &mut registry,
            "ledger_write_failures",
            "Ledger writes that failed or were refused because the ledger could not write (e.g. a full disk)",
        );
        let ledger_writable = Gauge::default();
        registry.register(
            "ledger_writable",
            "1 while the ledger can write, 0 while writes are refused (see the error log)",
            ledger_writable.clone(),
        );
        Metrics {
            registry,
            ledger_write_failures,
            ledger_writable,
            payments,
            confirmations_received,
            confirmations_rejected,
            confirmations_verified,
            confirmations_ignored,
            confirmations_coalesced,
            confirmations_queue_full,
            confirmations_errors,
            reconciler_runs,
            reconciler_checked,
            reconciler_changed,
            reconciler_errors,
            duplicate_orders,
            notifications_sent,
            notifications_failed,
            approvals_asked,
            approvals_approved,
            approvals_declined,
            gateway_latency,
            tool_latency,
        }
    }

    /// Records how long a gateway call took and how it ended.
    pub fn observe_gateway(
        &self,
        gateway: GatewayKind,
        call: &'static str,
        outcome: &'static str,
        started: Instant,
    ) {
        self.gateway_latency
            .get_or_create(&CallLabel {
                gateway: gateway.as_str(),
                call,
                outcome,
            })
            .observe(started.elapsed().as_secs_f64());
    }

    /// Records how long a tool call took.
    pub fn observe_tool(&self, tool: &'static str, ok: bool, started: Instant) {
        let outcome = if ok { "ok" } else { "error" };
        self.tool_latency
            .get_or_create(&ToolLabel { tool, outcome })
            .observe(started.elapsed().as_secs_f64());
    }

    /// The text exposition, with the payment gauges refreshed from the store's counts.
    pub async fn render(&self, store: &Store) -> String {
        let counts = match store.status_counts().await {
            Ok(counts) => counts,
            Err(e) => {
                tracing::warn!(error = %e, "cannot count payments for /metrics");
                PaymentStatus::ALL.map(|s| (s, 0))
            }
        };
        for (status, n) in counts {
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            self.payments
                .get_or_create(&StatusLabel {
                    status: status.as_str(),
                })
                .set(n);
        }
        self.ledger_writable.set(i64::from(store.writable()));
        self.ledger_write_failures
            .inner()
            .store(store.write_failures(), std::sync::atomic::Ordering::Relaxed);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        out
    }
}
