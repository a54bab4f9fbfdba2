//! Several paylink replicas on one PostgreSQL ledger, as a merchant runs them behind a load
//! balancer: real `paylink serve --http` processes on a throwaway cluster
//! (`support::postgres`), the offline Flow sandbox, and rmcp's HTTP client.
//!
//! Without PostgreSQL binaries each test says so loudly and returns (a failure under CI).
//! `resources/subscribe` is the 2025-11-25 way a subscriber listens; still served.
#![allow(deprecated)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use paylink::accounts::{Account, Connection, gateway_entry};
use paylink::domain::{Environment, PaymentStatus, Source, Timestamp};
use paylink::payments::{CreateInput, Gateways, PaymentSettings, Payments};
use paylink::reconcile::{Reconciler, reconcile_once};
use paylink::sandbox::{DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Outcome};
use paylink::store::Store;
use rmcp::ServiceExt;
use rmcp::model::SubscribeRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use secrecy::SecretString;
use serde_json::json;

use crate::support::postgres;
use crate::support::*;

async fn connect(url: &str) -> (Client, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let client = Recorder(tx)
        .serve(StreamableHttpClientTransport::from_uri(url.to_string()))
        .await
        .expect("MCP handshake over HTTP");
    (client, rx)
}

struct Replica {
    child: tokio::process::Child,
    mcp: String,
    side: String,
}

async fn replicas(w: &World, db: &str, n: usize) -> Vec<Replica> {
    replicas_with(w, db, n, &[]).await
}

async fn replicas_with(w: &World, db: &str, n: usize, env: &[(&str, &str)]) -> Vec<Replica> {
    let mut all = Vec::new();
    for _ in 0..n {
        let mut env = env.to_vec();
        env.push(("PAYLINK_DATABASE_URL", db));
        let (child, mcp, side) = w.http_with_listener(&env, &[]).await;
        all.push(Replica { child, mcp, side });
    }
    all
}

fn creates_at_gateway(w: &World) -> usize {
    w.sandbox
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint == "payment/create")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_creates_with_sixteen_keys_over_three_replicas_make_sixteen_payments_and_orders()
{
    let Some(db) = postgres::database().await else {
        return;
    };
    let w = World::new().await;
    let rs = replicas(&w, &db, 3).await;
    let mut clients = Vec::new();
    for r in &rs {
        clients.push(Arc::new(connect(&r.mcp).await.0));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let mut calls = Vec::new();
    for i in 0..64usize {
        let key = i % 16;
        let client = clients[i % 3].clone();
        let barrier = barrier.clone();
        calls.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = call(
                &client,
                "payment.create",
                json!({
                    "amount": 1000 + key,
                    "description": format!("Clase {key}"),
                    "customerEmail": "payer@gmail.com",
                    "idempotencyKey": format!("key-{key}"),
                }),
            )
            .await;
            (key, r)
        }));
    }
    let mut ids: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for c in calls {
        let (key, r) = c.await.unwrap();
        assert_ne!(r.is_error, Some(true), "key {key}: {:?}", r.content);
        let s = structured(&r);
        assert_eq!(s["status"], "pending", "{s}");
        ids.entry(key)
            .or_default()
            .insert(s["paymentId"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 16);
    assert!(ids.values().all(|set| set.len() == 1), "{ids:?}");
    assert_eq!(creates_at_gateway(&w), 16, "one gateway order per key");
    let ledger = Store::connect(&db).await.unwrap();
    assert_eq!(ledger.len().await.unwrap(), 16);
    assert!(ledger.check_consistency().await.unwrap().is_empty());
    drop(rs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_load_loses_nothing_it_acknowledged() {
    let Some(db) = postgres::database().await else {
        return;
    };
    let w = World::new().await;
    // Short gateway timeouts, so that a create the dead replica left in flight is settled
    // (and may be re-sent) within seconds rather than a minute.
    let mut rs = replicas_with(
        &w,
        &db,
        3,
        &[
            ("PAYLINK_FLOW_TIMEOUT_SECS", "2"),
            ("PAYLINK_CREATE_SETTLE_SECS", "1"),
        ],
    )
    .await;
    let mut clients = Vec::new();
    for r in &rs {
        clients.push(Arc::new(connect(&r.mcp).await.0));
    }
    // 90 creates, 30 per replica, each with its own key; replica 1 is killed once it has
    // acknowledged 10.
    let acked_on_victim = Arc::new(tokio::sync::Notify::new());
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut calls = Vec::new();
    for i in 0..90usize {
        let client = clients[i % 3].clone();
        let (notify, count) = (acked_on_victim.clone(), count.clone());
        calls.push(tokio::spawn(async move {
            let body = json!({
                "amount": 2000,
                "description": format!("Inscripción {i}"),
                "customerEmail": "payer@gmail.com",
                "idempotencyKey": format!("load-{i}"),
            });
            let r = client
                .call_tool(
                    rmcp::model::CallToolRequestParams::new("payment.create")
                        .with_arguments(args(body)),
                )
                .await;
            if i % 3 == 1
                && matches!(&r, Ok(r) if r.is_error != Some(true))
                && count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == 10
            {
                notify.notify_one();
            }
            (i, r)
        }));
    }
    acked_on_victim.notified().await;
    rs[1].child.start_kill().unwrap();
    rs[1].child.wait().await.unwrap();

    let mut acked = HashMap::new();
    let mut unanswered = Vec::new();
    for c in calls {
        let (i, r) = c.await.unwrap();
        match r {
            Ok(r) if r.is_error != Some(true) => {
                acked.insert(i, structured(&r)["paymentId"].as_str().unwrap().to_string());
            }
            _ => unanswered.push(i),
        }
    }
    assert!(
        acked.len() >= 70,
        "the two live replicas answered: {}",
        acked.len()
    );
    let ledger = Store::connect(&db).await.unwrap();
    for (i, id) in &acked {
        let p = ledger
            .get(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("create {i} acknowledged {id}, which is lost"));
        assert_eq!(p.status, PaymentStatus::Pending, "create {i}");
    }
    // The calls the dead replica never answered are retried at a live one with the same
    // key. Each ends as one payment: pending, or, when the dead replica had already made
    // the order but died before recording its link, failed as payment_link_lost (Flow
    // cannot give a link again). Never a second order for one key.
    let mut lost_links = 0;
    for i in unanswered {
        let body = json!({
            "amount": 2000,
            "description": format!("Inscripción {i}"),
            "customerEmail": "payer@gmail.com",
            "idempotencyKey": format!("load-{i}"),
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let r = clients[0]
                .call_tool(
                    rmcp::model::CallToolRequestParams::new("payment.create")
                        .with_arguments(args(body.clone())),
                )
                .await
                .unwrap();
            if r.is_error != Some(true) {
                assert_eq!(structured(&r)["status"], "pending", "retry of {i}");
                break;
            }
            let e = error_of(&r);
            match e["code"].as_str() {
                Some("payment_link_lost") => {
                    lost_links += 1;
                    break;
                }
                // Told to come back once the dead replica's attempt has settled.
                Some("gateway_unavailable") if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                _ => panic!("retry of {i}: {e}"),
            }
        }
    }
    let mut orders: HashMap<String, usize> = HashMap::new();
    for r in w.sandbox.sandbox.requests() {
        if r.endpoint == "payment/create" {
            let order = r
                .params
                .iter()
                .find(|(k, _)| k == "commerceOrder")
                .map(|(_, v)| v.clone())
                .unwrap();
            *orders.entry(order).or_default() += 1;
        }
    }
    assert!(
        orders.values().all(|n| *n == 1),
        "a second order for one key: {orders:?}"
    );
    assert!(
        orders.len() >= 90 - lost_links && orders.len() <= 90,
        "{} orders",
        orders.len()
    );
    assert_eq!(ledger.len().await.unwrap(), 90);
    assert!(ledger.check_consistency().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmation_received_by_replica_a_is_pushed_to_a_subscriber_on_replica_c() {
    let Some(db) = postgres::database().await else {
        return;
    };
    let w = World::new().await;
    let rs = replicas(&w, &db, 3).await;
    let (on_a, _) = connect(&rs[0].mcp).await;
    let (on_c, mut updates) = connect(&rs[2].mcp).await;
    let created = structured(
        &call(
            &on_a,
            "payment.create",
            json!({"amount": 15000, "description": "Inscripción MTB", "customerEmail": "juan@gmail.com"}),
        )
        .await,
    );
    let uri = format!("payment://{}", created["paymentId"].as_str().unwrap());
    on_c.subscribe(SubscribeRequestParams::new(uri.clone()))
        .await
        .expect("subscribe on replica C");
    // The sandbox confirms to the replica that created the order: A.
    let settled = w
        .sandbox
        .sandbox
        .settle(&token_of(&created), Outcome::Paid)
        .await
        .unwrap();
    let confirmation = settled.confirmation.expect("a confirmation was sent");
    assert!(
        confirmation.url.starts_with(&rs[0].side),
        "{} vs {}",
        confirmation.url,
        rs[0].side
    );
    hears_update(&mut updates, &uri).await;
    let s = structured(
        &call(
            &on_c,
            "payment.getStatus",
            json!({"entityId": created["paymentId"]}),
        )
        .await,
    );
    assert_eq!(s["status"], "paid");
}

/// Three in-process replicas (each its own pool on the one database) run a reconciliation
/// round at the same moment: each due payment is checked at the gateway exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_due_payment_is_reconciled_exactly_once_per_round_across_replicas() {
    let Some(db) = postgres::database().await else {
        return;
    };
    let sandbox = paylink::sandbox::Sandbox::start(Default::default())
        .await
        .unwrap();
    let account = Account::new(
        &sandbox.api_url,
        DEFAULT_API_KEY,
        SecretString::from(DEFAULT_SECRET_KEY),
        Environment::Development,
    )
    .unwrap();
    let conn = Connection::new(Duration::from_secs(5)).unwrap();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let gateways = Gateways::new();
        gateways.insert("default", gateway_entry(&account, &conn).unwrap());
        let store = Store::connect(&db).await.unwrap();
        let settings = PaymentSettings::with_public_base("http://127.0.0.1:9");
        replicas.push(Payments::new(store, gateways, settings));
    }
    let mut tokens = BTreeSet::new();
    for i in 0..30 {
        let out = replicas[i % 3]
            .create(
                CreateInput {
                    organization: "default".into(),
                    amount_text: "5000".into(),
                    currency: None,
                    description: format!("Clase {i}"),
                    customer_email: "payer@gmail.com".into(),
                    entity_id: None,
                    idempotency_key: Some(format!("due-{i}")),
                    allow_paid_entity: false,
                    gateway: None,
                },
                Source::Tool,
            )
            .await
            .unwrap();
        tokens.insert(out.payment.gateway_token.unwrap());
    }
    let status_calls = || {
        let mut per_token: BTreeMap<String, usize> = BTreeMap::new();
        for r in sandbox.sandbox.requests() {
            if r.endpoint == "payment/getStatus" {
                let t = r
                    .params
                    .iter()
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                *per_token.entry(t).or_default() += 1;
            }
        }
        per_token
    };
    assert!(status_calls().is_empty());
    // Two hours on, every payment is due: one round on all three replicas at once.
    let now = Timestamp::now().plus_secs(2 * 3600);
    let rounds: Vec<_> = replicas
        .iter()
        .map(|p| {
            let r = Reconciler::new(p.clone());
            tokio::spawn(async move { reconcile_once(&r, now).await })
        })
        .collect();
    let mut checked = 0;
    for r in rounds {
        let report = r.await.unwrap();
        assert_eq!(report.errors, 0, "{report:?}");
        checked += report.checked;
    }
    assert_eq!(checked, 30, "each due payment checked by one replica");
    let calls = status_calls();
    assert_eq!(calls.keys().cloned().collect::<BTreeSet<_>>(), tokens);
    assert!(calls.values().all(|n| *n == 1), "{calls:?}");
    // The next round finds nothing due: every payment was rescheduled (and its lease ended).
    let again = reconcile_once(&Reconciler::new(replicas[0].clone()), now).await;
    assert_eq!(again.checked, 0, "{again:?}");
}

/// A plain round-robin load balancer: each HTTP request goes to the next replica, with no
/// stickiness of any kind. Replies are streamed back as they come.
async fn round_robin(backends: Vec<String>) -> String {
    use axum::body::Body;
    use axum::extract::Request;
    use futures::TryStreamExt;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |req: Request| {
        let (next, http, backends) = (next.clone(), http.clone(), backends.clone());
        async move {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % backends.len();
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let mut out =
                http.request(parts.method, format!("{}{}", backends[i], parts.uri.path()));
            for (k, v) in &parts.headers {
                if k != "host" && k != "content-length" {
                    out = out.header(k, v);
                }
            }
            let reply = out.body(body).send().await.unwrap();
            let mut r = axum::response::Response::builder().status(reply.status());
            for (k, v) in reply.headers() {
                r = r.header(k, v);
            }
            r.body(Body::from_stream(
                reply.bytes_stream().map_err(std::io::Error::other),
            ))
            .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// MCP over HTTP behind a round-robin balancer: a 2026-07-28 client is served statelessly,
/// so any replica answers any request, and a payment it created through one replica is
/// seen (and heard paid) through the others. A 2025-11-25 client keeps its session in the
/// replica that opened it, so it needs sticky sessions (by `mcp-session-id`): README.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_2026_client_behind_a_round_robin_balancer_is_served_by_every_replica() {
    use rmcp::model::{ClientConfig, ProtocolVersion, ServerNotification, SubscriptionFilter};
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};

    let Some(db) = postgres::database().await else {
        return;
    };
    let w = World::new().await;
    let rs = replicas(&w, &db, 3).await;
    let balancer = round_robin(
        rs.iter()
            .map(|r| r.mcp.trim_end_matches("/mcp").to_string())
            .collect(),
    )
    .await;
    let client = ClientConfig::default()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(balancer.clone()),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("server/discover through the balancer");
    let mut created = Vec::new();
    for i in 0..6 {
        let r = call(
            &client,
            "payment.create",
            json!({"amount": 3000 + i, "description": format!("Clase {i}"), "customerEmail": "a@gmail.com", "idempotencyKey": format!("rr-{i}")}),
        )
        .await;
        created.push(structured(&r));
    }
    // Each one read back through the balancer, so through another replica than made it.
    for c in &created {
        let s = structured(
            &call(
                &client,
                "payment.getStatus",
                json!({"entityId": c["paymentId"]}),
            )
            .await,
        );
        assert_eq!(s["status"], "pending");
    }
    let uri = created[0]["resourceUri"].as_str().unwrap().to_string();
    let mut sub = client
        .listen(
            SubscriptionFilter::builder()
                .resource_subscription(uri.clone())
                .build(),
        )
        .await
        .expect("subscriptions/listen through the balancer");
    w.sandbox
        .sandbox
        .settle(&token_of(&created[0]), Outcome::Paid)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match sub.next().await.unwrap() {
                Some(ServerNotification::ResourceUpdatedNotification(n)) if n.params.uri == uri => {
                    return;
                }
                Some(_) => continue,
                None => panic!("the subscription ended"),
            }
        }
    })
    .await
    .expect("the paid change reaches the listening replica, whichever it is");
    let orders = creates_at_gateway(&w);
    assert_eq!(orders, 6);
}

/// Outbound lifecycle notifications with three replicas on one ledger: each paid change is
/// delivered to the operator's URL once, whichever replica recorded it and however many
/// replicas run notifiers (the outbox hands each row to one replica at a time).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_lifecycle_notification_leaves_once_across_three_replicas() {
    use std::sync::Mutex;
    let Some(db) = postgres::database().await else {
        return;
    };
    // The operator's receiver: counts deliveries by webhook-id.
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let recorder = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let recorder = recorder.clone();
            async move {
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                *recorder.lock().unwrap().entry(id).or_default() += 1;
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let w = World::new().await;
    let rs = replicas_with(
        &w,
        &db,
        3,
        &[
            ("PAYLINK_NOTIFY_URL", &hook),
            (
                "PAYLINK_NOTIFY_SECRET",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
        ],
    )
    .await;
    let mut clients = Vec::new();
    for r in &rs {
        clients.push(connect(&r.mcp).await.0);
    }
    let mut made = Vec::new();
    for i in 0..12usize {
        let s = structured(
            &call(
                &clients[i % 3],
                "payment.create",
                json!({"amount": 4000 + i, "description": format!("Clase {i}"), "customerEmail": "a@gmail.com", "idempotencyKey": format!("n-{i}")}),
            )
            .await,
        );
        made.push(s);
    }
    for m in &made {
        // Each confirmation goes to the replica that created the order.
        w.sandbox
            .sandbox
            .settle(&token_of(m), Outcome::Paid)
            .await
            .unwrap();
    }
    let ledger = Store::connect(&db).await.unwrap();
    let pool_check = || async {
        let paid = ledger
            .status_counts()
            .await
            .unwrap()
            .iter()
            .find(|(s, _)| *s == PaymentStatus::Paid)
            .map_or(0, |(_, n)| *n);
        let delivered = seen.lock().unwrap().len();
        paid == 12 && delivered == 12
    };
    wait_for(
        "12 paid payments, 12 notifications delivered",
        Duration::from_secs(30),
        pool_check,
    )
    .await;
    // And the outbox is empty: nothing is left for another replica to send again.
    let outbox = ledger
        .postgres()
        .unwrap()
        .claim_outbox(
            Timestamp::now().plus_secs(86_400),
            Duration::from_secs(1),
            100,
        )
        .await
        .unwrap();
    assert!(
        outbox.is_empty(),
        "{} notifications left in the outbox",
        outbox.len()
    );
    let counts = seen.lock().unwrap().clone();
    assert_eq!(counts.len(), 12, "{counts:?}");
    assert!(
        counts.values().all(|n| *n == 1),
        "a notification left twice: {counts:?}"
    );
}

/// The database goes away under a running replica: calls fail with storage_unavailable
/// (retryable, nothing recorded), /healthz answers 503, and both recover by themselves once
/// the database is back; the retried create makes one payment.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_database_is_reported_and_recovered_without_a_restart() {
    let Some(cluster) = postgres::own_cluster() else {
        return;
    };
    let db = postgres::database_on(&cluster).await;
    let w = World::new().await;
    let rs = replicas(&w, &db, 1).await;
    let (client, _) = connect(&rs[0].mcp).await;
    let http = reqwest::Client::new();
    let health = format!("{}/healthz", rs[0].side);
    let create = |key: &'static str| json!({"amount": 7000, "description": "Clase", "customerEmail": "a@gmail.com", "idempotencyKey": key});
    let first = structured(&call(&client, "payment.create", create("db-1")).await);
    assert_eq!(first["status"], "pending");

    cluster.stop_server();
    let r = call(&client, "payment.create", create("db-2")).await;
    let e = error_of(&r);
    assert_eq!(e["code"], "storage_unavailable", "{e}");
    assert_eq!(e["retryable"], true);
    let answered = |want: u16| {
        let (http, health) = (http.clone(), health.clone());
        async move {
            http.get(&health)
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() == want)
        }
    };
    wait_for("/healthz to say 503", Duration::from_secs(10), || {
        answered(503)
    })
    .await;

    cluster.start_server();
    wait_for("/healthz to say 200 again", Duration::from_secs(30), || {
        answered(200)
    })
    .await;
    let again = structured(&call(&client, "payment.create", create("db-2")).await);
    assert_eq!(again["status"], "pending");
    let ledger = Store::connect(&db).await.unwrap();
    assert_eq!(ledger.len().await.unwrap(), 2);
}
