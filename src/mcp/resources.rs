//! `payment://{id}` resources and their subscribers. A payment resource is the same shape
//! as `payment.getStatus`'s result (plus the payer, dates and the event log), never the
//! ledger's own encoding.
//!
//! [`Subscriptions`] keeps the peers that called `resources/subscribe` (2025-11-25) and the
//! sinks of `subscriptions/listen` (2026-07-28). [`Subscriptions::forward`] turns every
//! committed payment change into `notifications/resources/updated` for the subscribers of
//! that payment's URI, and only to subscribers of the payment's own organization: a
//! `resources/subscribe` is refused for a payment the caller cannot read, and a listen
//! filter naming another organization's payment hears nothing of it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rmcp::model::{
    ListResourcesResult, ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::SubscriptionSink;
use rmcp::{ErrorData as McpError, Peer, RoleServer};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::McpContext;
use crate::domain::PaymentStatus;
use crate::payments::Payments;

pub const SCHEME: &str = "payment://";

pub fn payment_uri(id: &str) -> String {
    format!("{SCHEME}{id}")
}

pub fn template() -> ResourceTemplate {
    ResourceTemplate::new("payment://{id}", "payment")
        .with_title("A payment")
        .with_description("A payment's current record (status, amount, link, events) as JSON; subscribe to hear when it changes.")
        .with_mime_type("application/json")
}

fn id_of(uri: &str) -> Result<&str, McpError> {
    uri.strip_prefix(SCHEME)
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| {
            McpError::invalid_params(
                format!("unknown resource {uri:?}; payments are payment://<paymentId>"),
                None,
            )
        })
}

pub async fn check_readable(ctx: &McpContext, org: &str, uri: &str) -> Result<(), McpError> {
    let id = id_of(uri)?;
    ctx.payments
        .find(org, id)
        .await
        .map(|_| ())
        .map_err(|_| McpError::resource_not_found(format!("no payment {id:?}"), None))
}

pub async fn read(ctx: &McpContext, org: &str, uri: &str) -> Result<ReadResourceResult, McpError> {
    let id = id_of(uri)?;
    let p = ctx
        .payments
        .find(org, id)
        .await
        .map_err(|_| McpError::resource_not_found(format!("no payment {id:?}"), None))?;
    let events = ctx
        .payments
        .events(id)
        .await
        .map_err(|e| McpError::internal_error(e.to_string(), None))?;
    // The shape getStatus returns (RFC 3339 times, amounts in ordinary units, the
    // environment as sandbox or live), with the payer and the log added.
    let view = super::tools::status_view(ctx, &p, None, None).await;
    let mut payment =
        serde_json::to_value(&view).map_err(|e| McpError::internal_error(e.to_string(), None))?;
    if let Some(obj) = payment.as_object_mut() {
        obj.insert("paymentId".into(), p.id.clone().into());
        obj.insert("customerEmail".into(), p.customer_email.clone().into());
        obj.insert("gateway".into(), p.gateway.as_str().into());
        obj.insert(
            "environment".into(),
            super::tools::environment_label(ctx, &p).into(),
        );
        obj.insert("createdAt".into(), p.created_at.rfc3339().into());
        obj.insert("expiresAt".into(), p.expires_at.map(|t| t.rfc3339()).into());
    }
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "seq": e.seq,
                "kind": e.kind,
                "source": e.source,
                "at": e.at.rfc3339(),
                "from": e.from.map(|s| s.as_str()),
                "to": e.to.as_str(),
                "detail": e.detail,
            })
        })
        .collect();
    let body = serde_json::json!({ "payment": payment, "events": events });
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(body.to_string(), uri).with_mime_type("application/json"),
    ]))
}

/// The organization's 50 most recent open payments (those worth subscribing to).
pub async fn list(ctx: &McpContext, org: &str) -> Result<ListResourcesResult, McpError> {
    let payments = ctx
        .payments
        .list(Some(org), Some(PaymentStatus::Pending), 50)
        .await
        .map_err(|e| McpError::internal_error(e.to_string(), None))?;
    Ok(ListResourcesResult::with_all_items(
        payments
            .into_iter()
            .map(|p| {
                Resource::new(payment_uri(&p.id), format!("payment {}", p.id))
                    .with_description(format!("{} for {} ({})", p.amount, p.description, p.status))
                    .with_mime_type("application/json")
            })
            .collect(),
    ))
}

#[derive(Default)]
struct Registry {
    /// URI → (organization, peer).
    peers: HashMap<String, Vec<(String, Peer<RoleServer>)>>,
    /// key → (organization, sink).
    sinks: HashMap<u64, (String, SubscriptionSink)>,
}

/// Subscribers of payment resources; cheap to clone.
#[derive(Clone, Default)]
pub struct Subscriptions {
    registry: Arc<Mutex<Registry>>,
    next_key: Arc<AtomicU64>,
}

impl Subscriptions {
    pub async fn add_peer(&self, org: &str, uri: &str, peer: Peer<RoleServer>) {
        self.registry
            .lock()
            .await
            .peers
            .entry(uri.to_string())
            .or_default()
            .push((org.to_string(), peer));
    }

    pub async fn remove_peer(&self, uri: &str, peer: &Peer<RoleServer>) {
        if let Some(list) = self.registry.lock().await.peers.get_mut(uri) {
            list.retain(|(_, p)| !same_peer(p, peer));
        }
    }

    pub async fn add_sink(&self, org: &str, sink: SubscriptionSink) -> u64 {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        self.registry
            .lock()
            .await
            .sinks
            .insert(key, (org.to_string(), sink));
        key
    }

    pub async fn remove_sink(&self, key: u64) {
        self.registry.lock().await.sinks.remove(&key);
    }

    /// Sends `notifications/resources/updated` for `uri`, a payment of `org`, to everyone
    /// of `org` subscribed to it.
    pub async fn notify_updated(&self, org: &str, uri: &str) {
        // Collect under the lock, send without it.
        let (peers, sinks) = {
            let mut r = self.registry.lock().await;
            let peers = match r.peers.get_mut(uri) {
                Some(list) => {
                    list.retain(|(_, p)| !p.is_transport_closed());
                    list.iter()
                        .filter(|(o, _)| o == org)
                        .map(|(_, p)| p.clone())
                        .collect()
                }
                None => Vec::new(),
            };
            let sinks: Vec<SubscriptionSink> = r
                .sinks
                .values()
                .filter(|(o, _)| o == org)
                .map(|(_, s)| s)
                .filter(|s| {
                    s.accepted()
                        .resource_subscriptions
                        .as_ref()
                        .is_some_and(|u| u.iter().any(|x| x == uri))
                })
                .cloned()
                .collect();
            (peers, sinks)
        };
        for p in peers {
            let _ = p
                .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                .await;
        }
        for s in sinks {
            let _ = s.notify_resource_updated(uri).await;
        }
    }

    /// Forwards every committed payment change to its subscribers until cancelled.
    pub async fn forward(self, payments: Payments, shutdown: CancellationToken) {
        let mut changes = payments.subscribe();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                change = changes.recv() => match change {
                    Ok(c) => {
                        self.notify_updated(&c.payment.organization, &payment_uri(&c.payment.id))
                            .await
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "subscription forwarder lagged; some updates were not pushed");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }
}

fn same_peer(a: &Peer<RoleServer>, b: &Peer<RoleServer>) -> bool {
    // Peers have no identity of their own; two handles of one connection share its info.
    match (a.peer_info(), b.peer_info()) {
        (Some(x), Some(y)) => std::sync::Arc::ptr_eq(&x, &y),
        _ => false,
    }
}
