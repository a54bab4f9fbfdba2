//! The real binary over streamable HTTP, driven by rmcp's client.

use paylink::sandbox::Outcome;
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

use crate::support::*;

const ACME: &str = "acme-token-0123456789abcdef";
const GLOBEX: &str = "globex-token-0123456789abcdef";

async fn connect(url: &str, token: Option<&str>) -> Result<Client, String> {
    let mut cfg = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(t) = token {
        cfg = cfg.auth_header(t.to_string());
    }
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    Recorder(tx)
        .serve(StreamableHttpClientTransport::from_config(cfg))
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_payment_created_over_http_turns_paid() {
    let w = World::new().await;
    let (_child, url) = w.http(&[], &[]).await;
    let client = connect(&url, None).await.unwrap();
    assert_eq!(
        tool_names(&client).await,
        [
            "payment.create",
            "payment.getStatus",
            "payment.list",
            "payment.refund"
        ]
    );
    let created = structured(
        &call(&client, "payment.create", json!({"amount": 15000, "description": "Inscripción MTB", "customerEmail": "juan@gmail.com"}))
            .await,
    );
    let token = token_of(&created);
    w.sandbox
        .sandbox
        .settle(&token, Outcome::Paid)
        .await
        .unwrap();
    let s = structured(
        &call(
            &client,
            "payment.getStatus",
            json!({"entityId": created["paymentId"]}),
        )
        .await,
    );
    assert_eq!(s["status"], "paid");
    assert_eq!(s["amount"], 15000);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn organizations_are_isolated_by_bearer_token() {
    let w = World::new().await;
    let tokens = format!("{ACME}=acme,{GLOBEX}=globex");
    let (_child, url) = w
        .http(
            &[("PAYLINK_HTTP_TOKENS", &tokens)],
            &["--tool-names", "snake"],
        )
        .await;

    assert!(connect(&url, None).await.is_err(), "no token, no session");
    assert!(
        connect(&url, Some("wrong-token-0123456789")).await.is_err(),
        "a wrong token is refused"
    );

    let acme = connect(&url, Some(ACME)).await.unwrap();
    let globex = connect(&url, Some(GLOBEX)).await.unwrap();
    assert_eq!(
        tool_names(&acme).await,
        [
            "payment_create",
            "payment_get_status",
            "payment_list",
            "payment_refund"
        ]
    );

    let mine = structured(
        &call(&acme, "payment_create", json!({"amount": 5000, "description": "acme", "customerEmail": "a@gmail.com", "idempotencyKey": "same-key"})).await,
    );
    let id = mine["paymentId"].as_str().unwrap();
    assert_eq!(
        structured(&call(&acme, "payment_get_status", json!({"entityId": id})).await)["status"],
        "pending"
    );
    // Another organization cannot see it, nor reach it through the resource.
    assert_eq!(
        error_code(&call(&globex, "payment_get_status", json!({"entityId": id})).await),
        "not_found"
    );
    let read = globex
        .read_resource(rmcp::model::ReadResourceRequestParams::new(format!(
            "payment://{id}"
        )))
        .await;
    assert!(read.is_err(), "globex must not read acme's payment");
    // Idempotency keys are per organization: the same key makes globex its own payment.
    let theirs = structured(
        &call(&globex, "payment_create", json!({"amount": 5000, "description": "acme", "customerEmail": "a@gmail.com", "idempotencyKey": "same-key"})).await,
    );
    assert_ne!(theirs["paymentId"], mine["paymentId"]);

    // Nor refund it, nor look at the approval of acme's own refund.
    w.sandbox
        .sandbox
        .settle(&token_of(&mine), Outcome::Paid)
        .await
        .unwrap();
    let acme_ref = &acme;
    wait_for("acme's payment to be paid", std::time::Duration::from_secs(10), || async move {
        structured(&call(acme_ref, "payment_get_status", json!({"entityId": id})).await)["status"] == "paid"
    })
    .await;
    assert_eq!(
        error_code(&call(&globex, "payment_refund", json!({"paymentId": id})).await),
        "not_found"
    );
    let asked = error_of(&call(&acme, "payment_refund", json!({"paymentId": id})).await);
    assert_eq!(asked["code"], "confirmation_required");
    let approval = asked["approval"]["approvalId"].as_str().unwrap();
    assert_eq!(
        error_code(&call(&globex, "payment_get_status", json!({"entityId": approval})).await),
        "not_found"
    );
    acme.cancel().await.unwrap();
    globex.cancel().await.unwrap();
}

#[tokio::test]
async fn serving_beyond_loopback_without_a_token_is_refused() {
    let w = World::new().await;
    let out = tokio::process::Command::new(BIN)
        .args(["serve", "--http", "0.0.0.0:0"])
        .envs(w.env())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without a bearer token"), "{err}");
}

#[tokio::test]
async fn a_foreign_host_header_is_refused() {
    let w = World::new().await;
    let (_child, url) = w.http(&[], &[]).await;
    let r = reqwest::Client::new()
        .post(&url)
        .header("Host", "evil.example")
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let big = "x".repeat(300 * 1024);
    let r = reqwest::Client::new()
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{big}"}}}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "request bodies are size-limited");
}

#[tokio::test]
async fn a_2026_client_listening_to_a_payment_hears_when_it_is_paid() {
    use rmcp::model::{ClientConfig, ProtocolVersion, ServerNotification, SubscriptionFilter};
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};

    let w = World::new().await;
    let (_child, url) = w.http(&[], &[]).await;
    let agent = connect(&url, None).await.unwrap();
    let created = structured(
        &call(
            &agent,
            "payment.create",
            json!({"amount": 5000, "description": "listen", "customerEmail": "a@gmail.com"}),
        )
        .await,
    );
    let uri = created["resourceUri"].as_str().unwrap().to_string();

    // A 2026-07-28 client: server/discover, then subscriptions/listen for the payment.
    let modern = ClientConfig::default()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(url.clone()),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .unwrap();
    let mut sub = modern
        .listen(
            SubscriptionFilter::builder()
                .resource_subscription(uri.clone())
                .build(),
        )
        .await
        .unwrap();

    // The payer pays; Flow's confirmation reaches the listener, which records it.
    let token = token_of(&created);
    w.sandbox
        .sandbox
        .settle(&token, Outcome::Paid)
        .await
        .unwrap();

    let got = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match sub.next().await.unwrap() {
                Some(ServerNotification::ResourceUpdatedNotification(n)) if n.params.uri == uri => {
                    return n.params.uri;
                }
                Some(_) => continue,
                None => panic!("the subscription ended"),
            }
        }
    })
    .await
    .expect("notifications/resources/updated through subscriptions/listen");
    assert_eq!(got, uri);
    let s = structured(
        &call(
            &agent,
            "payment.getStatus",
            json!({"entityId": created["paymentId"]}),
        )
        .await,
    );
    assert_eq!(s["status"], "paid");
    agent.cancel().await.unwrap();
}

#[tokio::test]
async fn metrics_beyond_loopback_need_the_metrics_token() {
    let w = World::new().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // Bound to every interface without a token: refused, with the fix named.
    let (mut child, _, side) = w
        .http_with_listener(&[("PAYLINK_LISTEN", "0.0.0.0:0")], &[])
        .await;
    let r = http.get(format!("{side}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("PAYLINK_METRICS_TOKEN"));
    child.kill().await.unwrap();

    // With a token: 401 without it or with another, metrics with it (any scheme case).
    let token = "metrics-token-0123456789abcdef";
    let (mut child, _, side) = w
        .http_with_listener(
            &[
                ("PAYLINK_LISTEN", "0.0.0.0:0"),
                ("PAYLINK_METRICS_TOKEN", token),
            ],
            &[],
        )
        .await;
    let url = format!("{side}/metrics");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let wrong = http
        .get(&url)
        .header("authorization", "Bearer metrics-token-0123456789abcdeX")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = http
        .get(&url)
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("paylink_"));
    child.kill().await.unwrap();
}

#[tokio::test]
async fn a_short_metrics_token_stops_paylink_at_start() {
    let w = World::new().await;
    let out = tokio::process::Command::new(BIN)
        .args(["serve", "--http", "127.0.0.1:0"])
        .envs(w.env())
        .env("PAYLINK_METRICS_TOKEN", "too-short-token")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PAYLINK_METRICS_TOKEN") && stderr.contains("shorter than 16"),
        "{stderr}"
    );
    assert!(!stderr.contains("too-short-token"), "{stderr}");
}

#[tokio::test]
async fn a_listener_never_hears_of_another_organizations_payment() {
    use rmcp::model::{ClientConfig, ProtocolVersion, ServerNotification, SubscriptionFilter};
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};

    let w = World::new().await;
    let tokens = format!("{ACME}=acme,{GLOBEX}=globex");
    let (_child, url) = w.http(&[("PAYLINK_HTTP_TOKENS", &tokens)], &[]).await;
    let acme = connect(&url, Some(ACME)).await.unwrap();
    let created = structured(
        &call(
            &acme,
            "payment.create",
            json!({"amount": 5000, "description": "listen", "customerEmail": "a@gmail.com"}),
        )
        .await,
    );
    let uri = created["resourceUri"].as_str().unwrap().to_string();
    let listen_as = |token: &'static str| {
        let (url, uri) = (url.clone(), uri.clone());
        async move {
            let cfg = StreamableHttpClientTransportConfig::with_uri(url).auth_header(token);
            let client = ClientConfig::default()
                .serve_with_lifecycle(
                    StreamableHttpClientTransport::from_config(cfg),
                    ClientLifecycleMode::Discover {
                        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                    },
                )
                .await
                .unwrap();
            let sub = client
                .listen(
                    SubscriptionFilter::builder()
                        .resource_subscription(uri)
                        .build(),
                )
                .await
                .unwrap();
            (client, sub)
        }
    };
    let (_own_client, mut own) = listen_as(ACME).await;
    let (_spy_client, mut spy) = listen_as(GLOBEX).await;

    let token = token_of(&created);
    w.sandbox
        .sandbox
        .settle(&token, Outcome::Paid)
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if let Some(ServerNotification::ResourceUpdatedNotification(n)) =
                own.next().await.unwrap()
                && n.params.uri == uri
            {
                return;
            }
        }
    })
    .await
    .expect("acme's listener hears its payment");
    // Both listeners are served by the same forwarding step: had globex been sent the
    // update, it would have arrived with acme's.
    let heard = tokio::time::timeout(std::time::Duration::from_millis(500), async {
        loop {
            match spy.next().await {
                Ok(Some(ServerNotification::ResourceUpdatedNotification(n)))
                    if n.params.uri == uri =>
                {
                    return true;
                }
                Ok(Some(_)) => continue,
                _ => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(!heard, "globex heard of acme's payment");
    acme.cancel().await.unwrap();
}
