//! Flow misbehaving, over the real binary and a real ledger. Faults come from the sandbox's
//! switches (a delay past paylink's one-second Flow timeout, HTTP 500, a malformed JSON body,
//! a connection closed without an answer) and from stopping the sandbox's server (nothing
//! listening), each during `payment.create`, `payment.getStatus` and the verification of a
//! Flow confirmation.
//!
//! What must hold:
//! - a create Flow fails answers `isError` with code `gateway_unavailable`,
//!   `retryable: true`, a `nextStep` and the saved `paymentId`; the same key later finishes
//!   that payment, or ends `payment_link_lost` when Flow made the order but its link was lost;
//! - a getStatus that cannot reach Flow answers the last known status from the ledger,
//!   says it was not checked live, and tells the agent to check again;
//! - a confirmation is acknowledged at once (200) even when its verification fails, and a
//!   failed verification changes nothing;
//! - nothing is stuck: once the faults clear, one `paylink payments reconcile` resolves every
//!   draft and every payment Flow settled, and the ledger stays consistent;
//! - one idempotency key never yields two Flow orders (successful `payment/create` requests
//!   per commerceOrder in the sandbox's request log).

use std::time::{Duration, Instant};

use paylink::domain::{EventKind, FailureReason, PaymentStatus};
use paylink::sandbox::{FaultKind, FaultTarget, Outcome};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::faults::*;
use crate::support::{error_of, structured, token_of, wait_for};

const CREATE: &str = "payment.create";
const STATUS: &str = "payment.getStatus";
/// Longer than [`FLOW_TIMEOUT`]: paylink stops waiting, the sandbox still answers later.
const SLOW_MS: u64 = 1_500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trouble {
    Slow,
    Http500,
    MalformedBody,
    ClosedConnection,
    NothingListening,
}

impl Trouble {
    /// Makes Flow misbehave for `target` until [`Trouble::end`].
    async fn begin(self, w: &mut World, target: FaultTarget) {
        let kind = match self {
            Trouble::Slow => FaultKind::Delay { ms: SLOW_MS },
            Trouble::Http500 => FaultKind::Http500,
            Trouble::MalformedBody => FaultKind::MalformedBody,
            Trouble::ClosedConnection => FaultKind::CloseConnection,
            Trouble::NothingListening => return w.flow.go_dark().await,
        };
        w.flow.fault(target, kind, None);
    }

    async fn end(self, w: &mut World) {
        w.flow.sandbox.clear_faults();
        w.flow.come_back().await;
    }
}

fn create_args(key: &str) -> Value {
    json!({"amount": 5000, "description": format!("Clase {key}"),
           "customerEmail": "ana@gmail.com", "idempotencyKey": key})
}

/// Checks the retryable gateway error; returns the payment it saved.
fn gateway_unavailable(e: &Value) -> String {
    assert_eq!(e["code"], "gateway_unavailable", "{e}");
    assert_eq!(e["retryable"], true, "{e}");
    let next = e["nextStep"].as_str().unwrap_or("");
    assert!(next.contains("SAME idempotencyKey"), "{e}");
    e["paymentId"]
        .as_str()
        .expect("the saved payment is named")
        .to_string()
}

fn link_lost(e: &Value, id: &str) {
    assert_eq!(e["code"], "payment_link_lost", "{e}");
    assert_eq!(e["retryable"], false, "{e}");
    assert_eq!(e["paymentId"], id, "{e}");
    assert!(!e["nextStep"].as_str().unwrap_or("").is_empty(), "{e}");
}

/// The whole story for one kind of trouble: create, getStatus and a confirmation while Flow
/// misbehaves, then reconciliation once it behaves again.
async fn scenario(trouble: Trouble) {
    let mut w = World::new().await;
    let server = w.serve().await;
    let slow = trouble == Trouble::Slow;

    // 1. Creates while Flow misbehaves: retryable errors; `b` is never retried.
    trouble.begin(&mut w, FaultTarget::Create).await;
    let a = gateway_unavailable(&error_of(&server.call(CREATE, create_args("a")).await));
    let b = gateway_unavailable(&error_of(&server.call(CREATE, create_args("b")).await));
    trouble.end(&mut w).await;
    if slow {
        wait_for(
            "Flow to finish the slow creates",
            Duration::from_secs(10),
            || async { w.flow.orders_for(&a) == 1 && w.flow.orders_for(&b) == 1 },
        )
        .await;
        link_lost(&error_of(&server.call(CREATE, create_args("a")).await), &a);
    } else {
        // After a broken connection paylink waits until the first attempt has certainly
        // ended at Flow before it sends another; it says so with a retryable error.
        let deadline = Instant::now() + Duration::from_secs(20);
        let retried = loop {
            let r = server.call(CREATE, create_args("a")).await;
            if r.is_error != Some(true) {
                break structured(&r);
            }
            let e = gateway_unavailable_error(&r);
            assert!(
                Instant::now() < deadline,
                "the retry never went through: {e}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        assert_eq!(
            retried["paymentId"],
            a.as_str(),
            "the retry finishes the same payment"
        );
        assert_eq!(retried["status"], "pending");
    }

    // 2. getStatus while Flow misbehaves: the ledger's answer, marked as not live.
    let c = structured(&server.call(CREATE, create_args("c")).await);
    let c_id = c["paymentId"].as_str().unwrap().to_string();
    trouble.begin(&mut w, FaultTarget::GetStatus).await;
    let s = structured(&server.call(STATUS, json!({"entityId": c_id})).await);
    assert_eq!(s["status"], "pending", "{s}");
    assert_eq!(s["checkedLive"], false, "{s}");
    let next = s["nextStep"].as_str().unwrap_or("");
    assert!(next.contains("could not be reached"), "{s}");

    // 3. Flow confirms a payment while its getStatus misbehaves: acknowledged at once,
    //    verification fails, nothing changes.
    let report = w.flow.sandbox.settle(&token_of(&c), Outcome::Paid).await;
    let confirmation = report
        .unwrap()
        .confirmation
        .expect("a confirmation was sent");
    assert_eq!(confirmation.http_status, Some(200), "{confirmation:?}");
    assert!(confirmation.latency_ms < 1_000, "{confirmation:?}");
    wait_for(
        "the confirmation's verification to fail",
        Duration::from_secs(20),
        || async { w.metric("paylink_confirmations_errors_total").await >= 1 },
    )
    .await;
    assert_eq!(
        w.metric("paylink_payments{status=\"paid\"}").await,
        0,
        "a verification that failed must not change the payment"
    );
    trouble.end(&mut w).await;
    server.stop().await;

    // 4. Nothing stuck: one reconciliation pass by hand resolves everything.
    let report = w.reconcile().await;
    assert_eq!(report["errors"], 0, "{report}");
    let store = w.ledger();
    let get = |id: &str| {
        store
            .expect_sled()
            .get(id)
            .unwrap()
            .expect("the payment exists")
    };
    let (pa, pb, pc) = (get(&a), get(&b), get(&c_id));
    if slow {
        // Flow made both orders, but their links never reached paylink.
        for p in [&pa, &pb] {
            assert_eq!(p.status, PaymentStatus::Failed, "{p:?}");
            assert_eq!(p.failure_reason, Some(FailureReason::LinkLost), "{p:?}");
        }
    } else {
        assert_eq!(pa.status, PaymentStatus::Pending, "{pa:?}");
        assert!(pa.payment_link_url.is_some(), "{pa:?}");
        assert_eq!(pb.status, PaymentStatus::Failed, "{pb:?}");
        assert_eq!(pb.failure_reason, Some(FailureReason::NotCreated), "{pb:?}");
    }
    assert_eq!(pc.status, PaymentStatus::Paid, "{pc:?}");
    let paid_events = store.events(&pc.id).await.unwrap();
    let paid_events = paid_events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Paid | EventKind::Corrected));
    assert_eq!(paid_events.count(), 1, "paid exactly once");
    for p in store.list(None, None, 1_000).await.unwrap() {
        assert_ne!(
            p.status,
            PaymentStatus::Draft,
            "a draft was left behind: {p:?}"
        );
        assert!(w.flow.orders_for(&p.reference) <= 1, "two orders: {p:?}");
        if let (PaymentStatus::Pending, Some(token)) = (p.status, &p.gateway_token) {
            let order = w.flow.sandbox.order(token).expect("Flow knows the order");
            assert_eq!(
                order["status"], 1,
                "Flow settled it but it is pending: {p:?}"
            );
        }
    }
    assert_eq!(
        store.check_consistency().await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn flow_slower_than_the_timeout_is_a_retryable_error_and_nothing_is_left_stuck() {
    scenario(Trouble::Slow).await;
}

#[tokio::test]
async fn flow_answering_http_500_is_a_retryable_error_and_nothing_is_left_stuck() {
    scenario(Trouble::Http500).await;
}

#[tokio::test]
async fn flow_answering_malformed_json_is_a_retryable_error_and_nothing_is_left_stuck() {
    scenario(Trouble::MalformedBody).await;
}

#[tokio::test]
async fn flow_closing_the_connection_is_a_retryable_error_and_nothing_is_left_stuck() {
    scenario(Trouble::ClosedConnection).await;
}

#[tokio::test]
async fn flow_with_nothing_listening_is_a_retryable_error_and_nothing_is_left_stuck() {
    scenario(Trouble::NothingListening).await;
}

#[tokio::test]
async fn a_create_retried_after_flow_made_the_order_late_ends_link_lost_with_one_order() {
    let w = World::new().await;
    let server = w.serve().await;
    w.flow
        .fault(FaultTarget::Create, FaultKind::Delay { ms: 2_000 }, Some(1));
    let started = Instant::now();
    let a = gateway_unavailable(&error_of(&server.call(CREATE, create_args("late")).await));
    assert!(
        started.elapsed() < Duration::from_millis(1_900),
        "paylink stops waiting at its Flow timeout"
    );
    wait_for(
        "Flow to make the order after all",
        Duration::from_secs(10),
        || async { w.flow.orders_for(&a) == 1 },
    )
    .await;
    // Every later retry says the same, and is not an invitation to retry again.
    for _ in 0..2 {
        link_lost(
            &error_of(&server.call(CREATE, create_args("late")).await),
            &a,
        );
    }
    assert_eq!(w.flow.orders_for(&a), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_create_retried_while_flow_is_still_making_the_order_never_makes_a_second_order() {
    let w = World::new().await;
    let server = w.serve().await;
    w.flow
        .fault(FaultTarget::Create, FaultKind::Delay { ms: 3_000 }, Some(1));
    let a = gateway_unavailable(&error_of(&server.call(CREATE, create_args("eager")).await));
    // The agent retries at once, as told, while Flow is still working on the first request.
    let retry_started = OffsetDateTime::now_utc();
    let retry = server.call(CREATE, create_args("eager")).await;
    let first_request_done = || async {
        w.flow.sandbox.requests().iter().any(|r| {
            r.endpoint == "payment/create"
                && r.params
                    .iter()
                    .any(|(k, v)| k == "commerceOrder" && *v == a)
                && OffsetDateTime::parse(&r.at, &Rfc3339).is_ok_and(|at| at < retry_started)
        })
    };
    wait_for(
        "Flow to finish the slow request",
        Duration::from_secs(10),
        first_request_done,
    )
    .await;
    let orders = w.flow.orders_for(&a);
    assert_eq!(
        orders, 1,
        "one idempotency key made {orders} Flow orders for payment {a}: the retry re-sent \
         payment/create while the first request was still in flight (retry answered {:?})",
        retry.structured_content
    );
    match retry.is_error {
        Some(true) => {
            let e = error_of(&retry);
            assert!(
                e["code"] == "payment_link_lost" || e["retryable"] == true,
                "{e}"
            );
        }
        _ => assert!(structured(&retry)["paymentLinkUrl"].is_string()),
    }
    server.stop().await;
}

/// Retries a create as an agent told "retry" would, until it stops saying so; the last
/// answer.
async fn retry_until_settled(server: &Server, key: &str, within: Duration) -> CallToolResult {
    let deadline = Instant::now() + within;
    loop {
        let r = server.call(CREATE, create_args(key)).await;
        if r.is_error != Some(true) || error_of(&r)["retryable"] != true {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "still told to retry after {within:?}: {:?}",
            r.structured_content
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_proxy_answering_504_and_delivering_late_never_makes_a_second_order() {
    let w = World::new().await;
    let server = w.serve().await;
    // A proxy in front of Flow gives up at once with 504, and hands the request to Flow
    // 1.5 s later anyway.
    w.flow.fault(
        FaultTarget::Create,
        FaultKind::GatewayTimeoutThenDeliver { ms: 1_500 },
        Some(1),
    );
    let first = error_of(&server.call(CREATE, create_args("proxied")).await);
    let a = gateway_unavailable(&first);
    let message = first["message"].as_str().unwrap_or("");
    assert!(
        !message.contains("twice"),
        "paylink cannot know nothing was sent twice: {first}"
    );
    // The agent retries at once and keeps retrying while told to.
    let last = retry_until_settled(&server, "proxied", Duration::from_secs(20)).await;
    assert_eq!(w.flow.orders_for(&a), 1, "one key, one Flow order");
    link_lost(&error_of(&last), &a);
    server.stop().await;
}

#[tokio::test]
async fn a_create_reaching_flow_long_after_the_timeout_is_covered_by_the_settle_window() {
    // Flow receives the request 4 s after paylink gave up at 1 s; the operator set a
    // settle window of 6 s for such a network.
    let w = World::with_settle(Duration::from_secs(6)).await;
    let server = w.serve().await;
    w.flow
        .fault(FaultTarget::Create, FaultKind::Delay { ms: 4_000 }, Some(1));
    let a = gateway_unavailable(&error_of(&server.call(CREATE, create_args("slow")).await));
    let last = retry_until_settled(&server, "slow", Duration::from_secs(20)).await;
    assert_eq!(w.flow.orders_for(&a), 1, "one key, one Flow order");
    link_lost(&error_of(&last), &a);
    server.stop().await;
}

/// The error of a retryable `gateway_unavailable` result (anything else fails the test).
fn gateway_unavailable_error(r: &rmcp::model::CallToolResult) -> serde_json::Value {
    let e = error_of(r);
    assert_eq!(e["code"], "gateway_unavailable", "{e}");
    assert_eq!(e["retryable"], true, "{e}");
    e
}
