//! Gateway benchmarks: Flow signing, and one create + getStatus round trip against the
//! offline sandbox over loopback HTTP.
//!
//! Run: `cargo bench --bench gateway`

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use paylink::gateway::flow::client::CreateParams;
use paylink::gateway::flow::sign::sign;
use paylink::gateway::flow::{FlowClient, FlowClientConfig};
use paylink::sandbox::{DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Sandbox, SandboxConfig};
use secrecy::SecretString;

fn signing(c: &mut Criterion) {
    let params = [
        ("apiKey", "1F90971E-8276-4715-97FF-2BLG5030EE3B"),
        ("commerceOrder", "ORD-1"),
        ("subject", "Pago de prueba ñ"),
        ("currency", "CLP"),
        ("amount", "5000"),
        ("email", "a+b@gmail.com"),
        ("urlConfirmation", "https://m.example/confirm"),
        ("urlReturn", "https://m.example/return?x=1&y=2"),
        ("paymentMethod", "9"),
        ("optional", r#"{"rut":"9999999-9"}"#),
    ];
    c.bench_function("flow/sign_create_10_params", |b| {
        b.iter(|| sign(std::hint::black_box(params), b"test-secret"))
    });
    c.bench_function("flow/sign_get_status_2_params", |b| {
        b.iter(|| {
            sign(
                std::hint::black_box([("apiKey", "K"), ("token", "T")]),
                b"test-secret",
            )
        })
    });
}

fn round_trip(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sb = rt
        .block_on(Sandbox::start(SandboxConfig::default()))
        .unwrap();
    let cfg = FlowClientConfig::new(
        sb.api_url.clone(),
        DEFAULT_API_KEY,
        SecretString::from(DEFAULT_SECRET_KEY.to_string()),
    );
    let flow = FlowClient::new(cfg).unwrap();
    let mut n = 0u64;
    let mut group = c.benchmark_group("flow");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("create_then_get_status_loopback", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            let flow = flow.clone();
            let p = CreateParams {
                commerce_order: format!("BENCH-{n}"),
                subject: "bench".into(),
                currency: "CLP".into(),
                amount: "5000".into(),
                email: "bench@gmail.com".into(),
                url_confirmation: "http://127.0.0.1:9/c".into(),
                url_return: "http://127.0.0.1:9/r".into(),
                timeout_secs: None,
                optional: None,
                payment_method: None,
            };
            async move {
                let created = flow.create(&p).await.unwrap();
                flow.get_status(&created.token).await.unwrap()
            }
        })
    });
    group.finish();
    drop(sb);
}

criterion_group!(benches, signing, round_trip);
criterion_main!(benches);
