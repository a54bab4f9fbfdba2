//! Outbound lifecycle notifications: a local receiver gets Standard-Webhooks-signed POSTs
//! when a payment becomes paid or failed, and failed deliveries are retried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use paylink::domain::PaymentStatus;
use paylink::notify::{Notifier, NotifyRetry, NotifyTarget};
use paylink::sandbox::Outcome;
use secrecy::SecretString;
use sha2::Sha256;

use crate::support::webhook::*;

const SECRET: &str = "receiver-shared-secret-0123456789";

#[derive(Clone, Default)]
struct Receiver {
    /// Answers 500 to this many requests first.
    fail_first: usize,
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let mut got = r.got.lock().unwrap();
    got.push((headers, body));
    if got.len() <= r.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// Serves a receiver on 127.0.0.1:0; returns its URL.
async fn serve(receiver: Receiver) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/paylink", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/hooks/paylink", axum::routing::post(receive))
        .with_state(receiver);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn start_notifier(h: &Harness, url: String) {
    let targets = HashMap::from([(
        "default".to_string(),
        NotifyTarget {
            url,
            secret: SecretString::from(SECRET),
        },
    )]);
    let retry = NotifyRetry {
        attempts: 5,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        timeout: Duration::from_secs(5),
    };
    Notifier::new(targets)
        .with_retry(retry)
        .with_metrics(h.metrics.clone())
        .start(&h.payments, h.shutdown.child_token());
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn a_paid_payment_is_notified_with_a_valid_standard_webhooks_signature() {
    let h = Harness::start().await;
    let receiver = Receiver::default();
    start_notifier(&h, serve(receiver.clone()).await);
    let p = h.create(5000).await;
    h.sandbox
        .sandbox
        .settle(&Harness::token(&p), Outcome::Paid)
        .await
        .unwrap();
    eventually("the receiver gets the notification", || async {
        !receiver.got.lock().unwrap().is_empty()
    })
    .await;

    let (headers, body) = receiver.got.lock().unwrap()[0].clone();
    let id = header(&headers, "webhook-id");
    let timestamp = header(&headers, "webhook-timestamp");
    let signature = header(&headers, "webhook-signature");
    assert_eq!(header(&headers, "content-type"), "application/json");
    assert!(id.starts_with(&p.id), "{id}");
    let ts: u64 = timestamp.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(ts) < 60);

    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(signature, expected);

    let event: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["type"], "payment.paid");
    assert_eq!(event["data"]["id"], p.id.as_str());
    assert_eq!(event["data"]["status"], "paid");
    assert_eq!(event["data"]["amount"], "5000");
    assert_eq!(event["data"]["currency"], "CLP");
    assert!(event["data"]["paidAt"].is_string());
    assert!(event["data"].get("idempotencyKey").is_none());
    assert!(
        !body.contains(SECRET)
            && !headers
                .iter()
                .any(|(_, v)| v.to_str().unwrap_or("").contains(SECRET))
    );
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_three_attempts_with_the_same_event_id() {
    let h = Harness::start().await;
    let receiver = Receiver {
        fail_first: 2,
        ..Receiver::default()
    };
    start_notifier(&h, serve(receiver.clone()).await);
    let p = h.create(5000).await;
    h.sandbox
        .sandbox
        .settle(&Harness::token(&p), Outcome::Rejected)
        .await
        .unwrap();
    h.wait_for(&p.id, "failed", |q| q.status == PaymentStatus::Failed)
        .await;
    eventually("the notifier succeeds", || async {
        h.metrics.notifications_sent.get() == 1
    })
    .await;
    let got = receiver.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "two failures, then success, then no more");
    let ids: Vec<&str> = got.iter().map(|(hd, _)| header(hd, "webhook-id")).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    let event: serde_json::Value = serde_json::from_str(&got[2].1).unwrap();
    assert_eq!(event["type"], "payment.failed");
    assert_eq!(event["data"]["failureReason"], "rejected");
    assert_eq!(h.metrics.notifications_failed.get(), 0);
}
