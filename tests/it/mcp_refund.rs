//! `payment.refund` through the real binary against the offline Flow sandbox: always
//! approved by a person, made once however often it is retried, never more than the
//! payment, and moved on only by a signed read — a forged callback changes nothing.

use std::process::Stdio;
use std::time::Duration;

use paylink::sandbox::{Outcome, RefundAction};
use serde_json::{Value, json};

use crate::mcp_approval::{Person, answer, open_page, stdio_person};
use crate::support::*;

fn refund_creates(w: &World) -> usize {
    w.sandbox
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint == "refund/create")
        .count()
}

/// A paid payment of CLP 10.000 made through `client`.
async fn paid_payment<H: rmcp::ClientHandler>(
    w: &World,
    client: &rmcp::service::RunningService<rmcp::service::RoleClient, H>,
) -> String {
    let created = structured(
        &call(
            client,
            "payment.create",
            json!({"amount": 10000, "description": "Clase", "customerEmail": "ana@gmail.com"}),
        )
        .await,
    );
    w.sandbox
        .sandbox
        .settle(&token_of(&created), Outcome::Paid)
        .await
        .unwrap();
    let id = created["paymentId"].as_str().unwrap().to_string();
    let id_ref = &id;
    wait_for("the payment to be paid", Duration::from_secs(10), || async move {
        structured(&call(client, "payment.getStatus", json!({"entityId": id_ref})).await)["status"] == "paid"
    })
    .await;
    id
}

fn refund_args(payment: &str, amount: Option<i64>, key: &str) -> Value {
    match amount {
        Some(a) => json!({"paymentId": payment, "amount": a, "idempotencyKey": key}),
        None => json!({"paymentId": payment, "idempotencyKey": key}),
    }
}

#[tokio::test]
async fn a_refund_waits_for_approval_is_made_once_under_retries_and_a_forged_callback_changes_nothing()
 {
    let w = World::new().await;
    let (client, _) = w.stdio_with(&[], &[], Stdio::null()).await;
    let payment = paid_payment(&w, &client).await;

    // Too much is refused before anyone is asked.
    let e = error_of(
        &call(
            &client,
            "payment.refund",
            refund_args(&payment, Some(10001), "too-much"),
        )
        .await,
    );
    assert_eq!(e["code"], "invalid_amount", "{e}");
    assert!(e["message"].as_str().unwrap().contains("CLP 10.000"), "{e}");

    // Every refund needs a person: this client cannot ask, so it gets the link.
    let e = error_of(
        &call(
            &client,
            "payment.refund",
            refund_args(&payment, Some(4000), "r1"),
        )
        .await,
    );
    assert_eq!(e["code"], "confirmation_required", "{e}");
    assert_eq!(
        refund_creates(&w),
        0,
        "nothing reached the gateway before approval"
    );
    let url = e["approval"]["approvalUrl"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let (html, form) = open_page(&http, &url).await;
    assert!(
        html.contains("Approve a refund") && html.contains("ana@gmail.com"),
        "{html}"
    );
    let (status, page) = answer(&http, &url, &form.unwrap(), "approve", None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(refund_creates(&w), 1);

    // Retries, some at once, return the same refund; Flow saw one request.
    let mut ids = Vec::new();
    let calls = (0..5).map(|_| {
        call(
            &client,
            "payment.refund",
            refund_args(&payment, Some(4000), "r1"),
        )
    });
    for r in futures::future::join_all(calls).await {
        let r = structured(&r);
        assert_eq!(r["reused"], true);
        assert_eq!(r["status"], "created");
        ids.push(r["refundId"].as_str().unwrap().to_string());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let refund_id = ids.pop().unwrap();
    assert_eq!(
        refund_creates(&w),
        1,
        "one refund at Flow however often it was retried"
    );

    // A forged callback — the real token, but Flow has not changed the refund — and an
    // unknown token change nothing.
    let side = url.split("/approve/").next().unwrap().to_string();
    let token = w
        .sandbox
        .sandbox
        .refund_token_for(&refund_id)
        .expect("Flow holds the refund");
    for t in [token.as_str(), "FORGEDTOKEN0123456789"] {
        let r = http
            .post(format!("{side}/webhook/flow/refund"))
            .form(&[("token", t)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let status =
        structured(&call(&client, "payment.getStatus", json!({"entityId": payment})).await);
    assert_eq!(status["refunds"][0]["status"], "created", "{status}");
    assert_eq!(status["amountRefunded"], 4000);

    // The receiver accepts and Flow pays out: its callbacks move the refund on.
    w.sandbox
        .sandbox
        .settle_refund(&token, RefundAction::Accept)
        .await
        .unwrap();
    w.sandbox
        .sandbox
        .settle_refund(&token, RefundAction::Refund)
        .await
        .unwrap();
    let (c, p) = (&client, &payment);
    wait_for(
        "the refund to be refunded",
        Duration::from_secs(10),
        || async move {
            let s = structured(&call(c, "payment.getStatus", json!({"entityId": p})).await);
            s["refunds"][0]["status"] == "refunded"
        },
    )
    .await;

    // What remains (CLP 6.000) can be refunded; more cannot.
    let e = error_of(
        &call(
            &client,
            "payment.refund",
            refund_args(&payment, Some(6001), "r2"),
        )
        .await,
    );
    assert_eq!(e["code"], "invalid_amount");
    assert!(e["message"].as_str().unwrap().contains("CLP 6.000"), "{e}");
}

#[tokio::test]
async fn a_person_approves_a_full_refund_in_the_client_and_a_declined_one_makes_nothing() {
    let w = World::new().await;
    let no = Person::new(false);
    let client = stdio_person(&w, no.clone()).await;
    let payment = paid_payment(&w, &client).await;
    let e = error_of(
        &call(
            &client,
            "payment.refund",
            refund_args(&payment, None, "full-1"),
        )
        .await,
    );
    assert_eq!(e["code"], "confirmation_declined", "{e}");
    let q = no.question.lock().unwrap().clone();
    assert!(
        q.contains("refund of CLP 10.000") && q.contains("ana@gmail.com"),
        "{q}"
    );
    assert_eq!(refund_creates(&w), 0);
    drop(client);

    let yes = Person::new(true);
    let client = stdio_person(&w, yes.clone()).await;
    let r = structured(
        &call(
            &client,
            "payment.refund",
            refund_args(&payment, None, "full-2"),
        )
        .await,
    );
    assert_eq!(r["amount"], 10000, "leaving amount out refunds everything");
    assert_eq!(r["amountRefunded"], 10000);
    assert_eq!(refund_creates(&w), 1);
    // Nothing is left to refund.
    let e = error_of(
        &call(
            &client,
            "payment.refund",
            refund_args(&payment, None, "full-3"),
        )
        .await,
    );
    assert_eq!(e["code"], "invalid_amount", "{e}");
    assert_eq!(yes.asked.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unpaid_payment_cannot_be_refunded_and_another_organizations_is_not_found() {
    let w = World::new().await;
    let (client, _) = w.stdio_with(&[], &[], Stdio::null()).await;
    let created = structured(
        &call(
            &client,
            "payment.create",
            json!({"amount": 5000, "description": "Clase", "customerEmail": "ana@gmail.com"}),
        )
        .await,
    );
    let id = created["paymentId"].as_str().unwrap();
    let e = error_of(&call(&client, "payment.refund", json!({"paymentId": id})).await);
    assert_eq!(e["code"], "invalid_arguments", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("only a paid payment"),
        "{e}"
    );
    let e = error_of(
        &call(
            &client,
            "payment.refund",
            json!({"paymentId": "ent_doesnotexist00000000"}),
        )
        .await,
    );
    assert_eq!(e["code"], "not_found", "{e}");
    assert_eq!(refund_creates(&w), 0);
}

#[tokio::test]
async fn without_an_idempotency_key_identical_refunds_are_one_within_the_window_and_new_after_it() {
    use rmcp::ServiceExt;
    use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
    use std::sync::atomic::Ordering;
    let w = World::new().await;
    let yes = Person::new(true);
    let mut env = w.env();
    env.push(("PAYLINK_IDEMPOTENCY_WINDOW_SECS".into(), "1".into()));
    let cmd = tokio::process::Command::new(BIN).configure(|c| {
        c.arg("serve").envs(env).kill_on_drop(true);
    });
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = yes.clone().serve(transport).await.unwrap();
    let payment = paid_payment(&w, &client).await;
    let args = json!({"paymentId": payment, "amount": 2000});
    let first = structured(&call(&client, "payment.refund", args.clone()).await);
    let again = structured(&call(&client, "payment.refund", args.clone()).await);
    assert_eq!(again["refundId"], first["refundId"]);
    assert_eq!(again["reused"], true);
    assert_eq!(
        (yes.asked.load(Ordering::SeqCst), refund_creates(&w)),
        (1, 1)
    );
    let made = std::time::Instant::now();
    wait_for(
        "the idempotency window to pass",
        Duration::from_secs(5),
        || async move { made.elapsed() > Duration::from_millis(1_500) },
    )
    .await;
    let later = structured(&call(&client, "payment.refund", args).await);
    assert_ne!(
        later["refundId"], first["refundId"],
        "a new refund after the window"
    );
    assert_eq!(later["amountRefunded"], 4000);
    assert_eq!(
        (yes.asked.load(Ordering::SeqCst), refund_creates(&w)),
        (2, 2),
        "asked again"
    );
}
