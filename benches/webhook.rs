//! End-to-end load on the side listener and the reconciler, over loopback HTTP with the
//! offline sandbox as Flow and a real sled ledger (durable writes, batched commit).
//!
//! 1. **Confirmations.** This process hosts the sandbox and the listener; it creates
//!    `PAYMENTS` payments, settles them paid in the sandbox with the confirmations dropped,
//!    then re-executes itself as a load generator (a second process, env
//!    `PAYLINK_BENCH_LOADGEN=1`) that POSTs `CONFIRMATIONS` confirmations (each token
//!    several times, shuffled) over `CONNECTIONS` concurrent connections, bounded by 60 s,
//!    and reports acknowledgement latency percentiles. This process measures how fast the
//!    payments become paid: verifications (a signed getStatus each) and durable writes.
//! 2. **Reconciliation.** 10,000 due pending payments (half paid at Flow) reconciled with
//!    the default reconciler (8 checks at once, 500 per pass) until none is due.
//!
//! Run: `cargo bench --bench webhook` (about a minute). Under `cargo test` (no `--bench`
//! argument) it runs a small smoke version.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use paylink::accounts::{Account, Connection, gateway_entry};
use paylink::domain::{
    Currency, Environment, Money, Payment, PaymentStatus, Source, Timestamp, new_payment_id,
};
use paylink::gateway::flow::client::CreateParams;
use paylink::gateway::flow::client::DEFAULT_TIMEOUT;
use paylink::gateway::flow::{FlowClient, FlowClientConfig};
use paylink::payments::{CreateInput, Gateways, PaymentSettings, Payments};
use paylink::reconcile::{Reconciler, reconcile_once};
use paylink::sandbox::{
    DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Outcome, RunningSandbox, Sandbox, SandboxConfig,
};
use paylink::store::Store;
use paylink::webhook::{self, WebhookOptions, WebhookState};
use rand::seq::SliceRandom;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

const LOADGEN_ENV: &str = "PAYLINK_BENCH_LOADGEN";

struct Size {
    payments: usize,
    confirmations: usize,
    connections: usize,
    reconcile: usize,
}

fn main() {
    if std::env::var_os(LOADGEN_ENV).is_some() {
        loadgen();
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let size = if full {
        Size {
            payments: 5_000,
            confirmations: 20_000,
            connections: 64,
            reconcile: 10_000,
        }
    } else {
        Size {
            payments: 50,
            confirmations: 200,
            connections: 8,
            reconcile: 200,
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
        confirmations(&sb, &size).await;
        stripe_events(&size).await;
        reconciliation(&sb, size.reconcile).await;
    });
}

fn flow(sb: &RunningSandbox) -> FlowClient {
    let cfg = FlowClientConfig::new(
        sb.api_url.clone(),
        DEFAULT_API_KEY,
        SecretString::from(DEFAULT_SECRET_KEY),
    );
    FlowClient::new(cfg).unwrap()
}

fn payments_on(sb: &RunningSandbox, dir: &std::path::Path, base: &str) -> (Payments, Store) {
    let store = Store::open(dir).unwrap();
    let gateways = Gateways::new();
    let account = Account::new(
        &sb.api_url,
        DEFAULT_API_KEY,
        SecretString::from(DEFAULT_SECRET_KEY),
        Environment::Development,
    )
    .unwrap();
    let conn = Connection::new(DEFAULT_TIMEOUT).unwrap();
    gateways.insert("default", gateway_entry(&account, &conn).unwrap());
    let payments = Payments::new(
        store.clone(),
        gateways,
        PaymentSettings::with_public_base(base),
    );
    (payments, store)
}

async fn confirmations(sb: &RunningSandbox, size: &Size) {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (payments, _store) = payments_on(sb, dir.path(), &base);
    let metrics = payments.metrics().clone();
    let shutdown = CancellationToken::new();
    let options = WebhookOptions {
        workers: 32,
        queue_capacity: size.confirmations,
        ..WebhookOptions::default()
    };
    let state = WebhookState::start(payments.clone(), options, shutdown.child_token());
    let router = webhook::router(state.clone());
    let stop = shutdown.child_token();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    });

    let started = Instant::now();
    let created: Vec<Payment> = futures::stream::iter(0..size.payments)
        .map(|i| {
            let payments = payments.clone();
            async move {
                let input = CreateInput {
                    organization: "default".into(),
                    amount_text: "5000".into(),
                    currency: None,
                    description: format!("bench {i}"),
                    customer_email: "bench@gmail.com".into(),
                    entity_id: None,
                    idempotency_key: Some(format!("bench-{i}")),
                    allow_paid_entity: false,
                    gateway: None,
                };
                payments.create(input, Source::Tool).await.unwrap().payment
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let setup = started.elapsed();
    sb.sandbox
        .drop_next_confirmations(u32::try_from(size.payments).unwrap());
    for p in &created {
        sb.sandbox
            .settle(p.gateway_token.as_deref().unwrap(), Outcome::Paid)
            .await
            .unwrap();
    }
    let per_token = size.confirmations.div_ceil(size.payments);
    let mut tokens: Vec<&str> = created
        .iter()
        .flat_map(|p| std::iter::repeat_n(p.gateway_token.as_deref().unwrap(), per_token))
        .collect();
    tokens.truncate(size.confirmations);
    tokens.shuffle(&mut rand::rng());
    let tokens_file = dir.path().join("tokens.txt");
    std::fs::write(&tokens_file, tokens.join("\n")).unwrap();

    println!(
        "== confirmations: {} payments (created in {:.1} s), {} confirmations, {} connections, second process",
        size.payments,
        setup.as_secs_f64(),
        tokens.len(),
        size.connections
    );
    let load_started = Instant::now();
    let loader = tokio::process::Command::new(std::env::current_exe().unwrap())
        .env(LOADGEN_ENV, "1")
        .env("LOADGEN_URL", format!("{base}/webhook/flow"))
        .env("LOADGEN_TOKENS", &tokens_file)
        .env("LOADGEN_CONNECTIONS", size.connections.to_string())
        .env("LOADGEN_MAX_SECS", "60")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    let all_paid = async {
        let deadline = Instant::now() + Duration::from_secs(120);
        while paid(&payments).await < size.payments as u64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        load_started.elapsed()
    };
    let (out, paid_after) = tokio::join!(loader, all_paid);
    let out = out.unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let deadline = Instant::now() + Duration::from_secs(60);
    while state.pending_confirmations() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = load_started.elapsed();
    for line in report.lines() {
        println!("  load generator: {line}");
    }
    let n_paid = paid(&payments).await;
    let verified = metrics.confirmations_verified.get();
    println!(
        "  payments paid: {n_paid}/{} after {:.2} s = {:.0} verified transitions/s (signed getStatus + durable write each)",
        size.payments,
        paid_after.as_secs_f64(),
        n_paid as f64 / paid_after.as_secs_f64()
    );
    println!(
        "  verifications: {verified} in {:.2} s = {:.0}/s; coalesced {}, queue full {}, errors {}",
        drained.as_secs_f64(),
        verified as f64 / drained.as_secs_f64(),
        metrics.confirmations_coalesced.get(),
        metrics.confirmations_queue_full.get(),
        metrics.confirmations_errors.get()
    );
    shutdown.cancel();
}

/// Stripe's signed events for paid Checkout Sessions, posted by 64 concurrent senders to
/// the account's endpoint: each is signature-checked, then verified by reading the session
/// back from the (offline) Stripe sandbox and recorded durably.
async fn stripe_events(size: &Size) {
    use hmac::{Hmac, Mac};
    use paylink::accounts::StripeAccount;
    use paylink::sandbox::stripe::{
        DEFAULT_STRIPE_TEST_KEY, Outcome as StripeOutcome, StripeSandbox, StripeSandboxConfig,
    };
    const SECRET: &str = "whsec_bench_0123456789abcdef";
    let sb = StripeSandbox::start(StripeSandboxConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Store::open(dir.path()).unwrap();
    let gateways = Gateways::new();
    let account = StripeAccount {
        api_base: sb.api_base.clone(),
        secret_key: DEFAULT_STRIPE_TEST_KEY.into(),
        webhook_secrets: vec![SECRET.into()],
        retiring_webhook_secrets: Vec::new(),
        environment: Environment::Development,
        default_currency: Currency::CLP,
        organization: None,
    };
    let conn = Connection::new(Duration::from_secs(30)).unwrap();
    gateways.insert("default", account.gateway_entry(&conn).unwrap());
    let payments = Payments::new(store, gateways, PaymentSettings::with_public_base(&base));
    let metrics = payments.metrics().clone();
    let shutdown = CancellationToken::new();
    let options = WebhookOptions {
        workers: 32,
        queue_capacity: size.confirmations,
        ..WebhookOptions::default()
    };
    let state = WebhookState::start(payments.clone(), options, shutdown.child_token());
    let router = webhook::router(state.clone());
    let stop = shutdown.child_token();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    });
    let n = (size.payments / 5).max(10);
    let started = Instant::now();
    let created: Vec<Payment> = futures::stream::iter(0..n)
        .map(|i| {
            let payments = payments.clone();
            async move {
                let input = CreateInput {
                    organization: "default".into(),
                    amount_text: "12.50".into(),
                    currency: Some("USD".into()),
                    description: format!("bench {i}"),
                    customer_email: "bench@gmail.com".into(),
                    entity_id: None,
                    idempotency_key: Some(format!("stripe-bench-{i}")),
                    allow_paid_entity: false,
                    gateway: None,
                };
                payments.create(input, Source::Tool).await.unwrap().payment
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let setup = started.elapsed();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let events: Vec<(String, String)> = created
        .iter()
        .map(|p| {
            let session = p.gateway_token.clone().unwrap();
            sb.sandbox.settle(&session, StripeOutcome::Paid).unwrap();
            let body = serde_json::json!({
                "id": format!("evt_{session}"), "object": "event",
                "type": "checkout.session.completed", "created": now, "livemode": false,
                "data": {"object": {"id": session, "object": "checkout.session",
                                    "metadata": {"paymentId": p.id}}}
            })
            .to_string();
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(format!("{now}.{body}").as_bytes());
            let sig = format!("t={now},v1={}", hex::encode(mac.finalize().into_bytes()));
            (body, sig)
        })
        .collect();
    println!(
        "== Stripe events: {n} paid sessions (created in {:.1} s), one signed checkout.session.completed each, 64 senders",
        setup.as_secs_f64()
    );
    let url = format!("{base}/webhook/stripe/default/development");
    let http = reqwest::Client::new();
    let load_started = Instant::now();
    let mut latencies: Vec<f64> = futures::stream::iter(events)
        .map(|(body, sig)| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .header("stripe-signature", sig)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                t.elapsed().as_secs_f64() * 1000.0
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let acked = load_started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    while paid(&payments).await < n as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let paid_after = load_started.elapsed();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "  acknowledged {n} in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms",
        acked.as_secs_f64(),
        n as f64 / acked.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
    println!(
        "  payments paid: {}/{n} after {:.2} s = {:.0} verified transitions/s (signature + session read back + durable write each); errors {}",
        paid(&payments).await,
        paid_after.as_secs_f64(),
        paid(&payments).await as f64 / paid_after.as_secs_f64(),
        metrics.confirmations_errors.get()
    );
    shutdown.cancel();
}

async fn paid(payments: &Payments) -> u64 {
    payments
        .status_counts()
        .await
        .expect("counts")
        .iter()
        .find(|(s, _)| *s == PaymentStatus::Paid)
        .map_or(0, |(_, n)| *n)
}

async fn reconciliation(sb: &RunningSandbox, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (payments, store) = payments_on(sb, dir.path(), "http://127.0.0.1:9");
    let client = flow(sb);
    let run = new_payment_id();
    let orders: Vec<(String, String, i64)> = futures::stream::iter(0..n)
        .map(|i| {
            let (client, commerce_order) = (client.clone(), format!("R-{run}-{i}"));
            async move {
                let r = client
                    .create(&CreateParams {
                        commerce_order: commerce_order.clone(),
                        subject: "reconcile bench".into(),
                        currency: "CLP".into(),
                        amount: "5000".into(),
                        email: "bench@gmail.com".into(),
                        url_confirmation: "http://127.0.0.1:9/webhook/flow".into(),
                        url_return: "http://127.0.0.1:9/payment/return".into(),
                        timeout_secs: None,
                        optional: None,
                        payment_method: None,
                    })
                    .await
                    .unwrap();
                (commerce_order, r.token, r.flow_order)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    sb.sandbox
        .drop_next_confirmations(u32::try_from(n).unwrap());
    for (_, token, _) in orders.iter().step_by(2) {
        sb.sandbox.settle(token, Outcome::Paid).await.unwrap();
    }
    let now = Timestamp::now();
    let rows: Vec<Payment> = orders
        .iter()
        .map(|(co, token, flow_order)| pending(co, token, *flow_order, now))
        .collect();
    store.expect_sled().bulk_insert_unflushed(&rows).unwrap();
    store.flush().await.unwrap();

    let rec = Reconciler::new(payments.clone());
    println!(
        "== reconciliation: {n} due pending payments, half paid at Flow; {} checks at once, {} per pass",
        rec.concurrency, rec.batch_limit
    );
    let started = Instant::now();
    let mut totals: HashMap<&str, usize> = HashMap::new();
    let mut passes = 0;
    loop {
        let r = reconcile_once(&rec, now).await;
        if r.checked == 0 {
            break;
        }
        passes += 1;
        *totals.entry("checked").or_default() += r.checked;
        *totals.entry("changed").or_default() += r.changed;
        *totals.entry("still_pending").or_default() += r.still_pending;
        *totals.entry("errors").or_default() += r.errors;
    }
    let took = started.elapsed();
    println!(
        "  {} checked in {passes} passes, {:.2} s = {:.0} checks/s; changed {}, still pending {}, errors {} (target < 30 s)",
        totals["checked"],
        took.as_secs_f64(),
        totals["checked"] as f64 / took.as_secs_f64(),
        totals["changed"],
        totals["still_pending"],
        totals["errors"]
    );
}

fn pending(commerce_order: &str, token: &str, flow_order: i64, now: Timestamp) -> Payment {
    let id = new_payment_id();
    Payment {
        organization: "default".into(),
        environment: Environment::Development,
        amount: Money::from_minor(5000, Currency::CLP),
        description: "reconcile bench".into(),
        status: PaymentStatus::Pending,
        gateway: paylink::gateway::GatewayKind::Flow,
        gateway_ref: Some(flow_order.to_string()),
        reference: commerce_order.to_string(),
        payment_link_url: Some(format!("http://127.0.0.1:9/app/web/pay.php?token={token}")),
        gateway_token: Some(token.to_string()),
        customer_email: "bench@gmail.com".into(),
        entity_id: None,
        paid_at: None,
        failure_reason: None,
        created_at: now.plus_secs(-7200),
        updated_at: now.plus_secs(-7200),
        idempotency_key: format!("key:{id}"),
        expires_at: None,
        next_check_at: Some(now.plus_secs(-3600)),
        check_attempts: 0,
        create_attempt: 1,
        version: 2,
        id,
    }
}

/// The load generator (the second process): POSTs every token in the file, prints one
/// summary line.
fn loadgen() {
    let url = std::env::var("LOADGEN_URL").unwrap();
    let tokens: Vec<String> = std::fs::read_to_string(std::env::var("LOADGEN_TOKENS").unwrap())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let connections: usize = std::env::var("LOADGEN_CONNECTIONS")
        .unwrap()
        .parse()
        .unwrap();
    let max = Duration::from_secs(std::env::var("LOADGEN_MAX_SECS").unwrap().parse().unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let http = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(connections).build().unwrap();
        let tokens = Arc::new(tokens);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let workers = (0..connections).map(|_| {
            let (http, tokens, next, url) = (http.clone(), tokens.clone(), next.clone(), url.clone());
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= tokens.len() || started.elapsed() > max {
                        return (lat, errors);
                    }
                    let t = Instant::now();
                    match http.post(&url).form(&[("token", tokens[i].as_str())]).send().await {
                        Ok(r) if r.status() == 200 => lat.push(t.elapsed()),
                        _ => errors += 1,
                    }
                }
            })
        });
        let mut all = Vec::with_capacity(tokens.len());
        let mut errors = 0;
        for w in futures::future::join_all(workers).await {
            let (lat, e) = w.unwrap();
            all.extend(lat);
            errors += e;
        }
        let elapsed = started.elapsed();
        all.sort();
        let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or_default();
        println!(
            "{} acknowledged (200), {errors} failed, in {:.2} s = {:.0} acks/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            all.len(),
            elapsed.as_secs_f64(),
            all.len() as f64 / elapsed.as_secs_f64(),
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.90).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            all.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    });
}
