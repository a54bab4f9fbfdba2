//! Ledger benchmarks: durable write latency, concurrent write throughput (batched commit
//! against a flush per write), the due scan at 10k and 1M payments, JSON cost, and a
//! one-shot footprint figure (disk bytes and resident memory per 100,000 payments).
//!
//! Run: `cargo bench --bench ledger` (needs `[[bench]] name = "ledger" harness = false`).
//! Sample sizes and times are set in code so the whole run stays within a few minutes on
//! a 2-core machine. Directories are created under `$PAYLINK_BENCH_DIR` or the system temp
//! directory, which must be a real disk for the fsync figures to mean anything.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use paylink::domain::{
    Currency, Environment, Money, Payment, PaymentStatus, Source, Timestamp, Transition,
    new_payment_id,
};
use paylink::store::{CommitMode, Store};

/// Payments per `bulk_insert_unflushed` call. One batch of 10,000 left ~1.4 GB resident
/// inside sled (measured, even after `malloc_trim`); 1,000 keeps it near the data size.
const BATCH: usize = 1_000;

/// "Now" for the due scans: 100 payments are due at or before it.
const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("PAYLINK_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("temp dir")
}

/// A realistic draft: a few hundred bytes of JSON.
fn draft(i: u64, next_check_at: Option<Timestamp>) -> Payment {
    let id = new_payment_id();
    Payment {
        organization: "default".into(),
        environment: Environment::Development,
        amount: Money::from_minor(5000 + i as i64, Currency::CLP),
        description: "Clase de matemáticas, sesión de 60 minutos".into(),
        status: PaymentStatus::Draft,
        gateway: paylink::gateway::GatewayKind::Flow,
        gateway_ref: None,
        reference: format!("PL-{i:010}"),
        payment_link_url: None,
        gateway_token: None,
        customer_email: "apoderado+curso@gmail.com".into(),
        entity_id: Some(format!("session_{}", i % 50_000)),
        paid_at: None,
        failure_reason: None,
        created_at: Timestamp(1_700_000_000_000 + i as i64),
        updated_at: Timestamp(1_700_000_000_000 + i as i64),
        idempotency_key: id.clone(),
        expires_at: Some(Timestamp(1_700_000_600_000 + i as i64)),
        next_check_at,
        check_attempts: 0,
        create_attempt: 1,
        version: 1,
        id,
    }
}

fn pending(i: u64) -> Transition {
    Transition::Pending {
        gateway_ref: format!("{}", 90_000_000 + i),
        gateway_token: format!("tok_{i:012}_{}", new_payment_id()),
        payment_link_url: "https://sandbox.flow.cl/app/web/pay.php?token=abc".into(),
        expires_at: Some(NOW.plus_secs(600)),
        next_check_at: Some(NOW.plus_secs(60)),
    }
}

/// Whether the command line's filter (if any) selects `name`.
fn wanted(name: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
        .collect();
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// `n` payments, `due` of them due at or before NOW; of the rest half are scheduled
/// later and half are final (no check). Inserted in batches, flushed once.
fn populate(store: &Store, n: u64, due: u64) {
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..n {
        let next = if i % (n / due) == 0 {
            Some(Timestamp(NOW.0 - 1_000 + (i % 997) as i64))
        } else if i % 2 == 0 {
            Some(NOW.plus_secs(3_600))
        } else {
            None
        };
        batch.push(draft(i, next));
        if batch.len() == BATCH {
            store
                .expect_sled()
                .bulk_insert_unflushed(&batch)
                .expect("bulk insert");
            batch.clear();
        }
    }
    store
        .expect_sled()
        .bulk_insert_unflushed(&batch)
        .expect("bulk insert");
}

fn footprint(rt: &tokio::runtime::Runtime) {
    const N: u64 = 100_000;
    let dir = bench_dir();
    let before = resident_bytes();
    // PAYLINK_CACHE_MB sets sled's page cache as it does for the server (same validation).
    let cache = paylink::config::Settings::load(&Default::default(), |k| {
        (k == "PAYLINK_CACHE_MB")
            .then(|| std::env::var(k).ok())
            .flatten()
    })
    .expect("PAYLINK_CACHE_MB")
    .cache_bytes();
    let store = Store::open_with_cache(dir.path(), cache).expect("open");
    let started = Instant::now();
    populate(&store, N, 100);
    rt.block_on(store.flush()).expect("flush");
    let took = started.elapsed();
    let disk = store.expect_sled().size_on_disk().expect("size");
    let rss = resident_bytes().saturating_sub(before);
    eprintln!(
        "footprint: {N} payments (draft + claim + created event + commerce/entity/created/due \
         indexes): {:.1} MB on disk ({} bytes/payment), resident memory +{:.1} MB ({} bytes/payment); \
         bulk insert + flush took {:.2?}",
        disk as f64 / 1e6,
        disk / N,
        rss as f64 / 1e6,
        rss / N,
        took
    );
}

fn json(c: &mut Criterion) {
    let p = draft(1, Some(NOW));
    let bytes = serde_json::to_vec(&p).expect("encode");
    eprintln!("json: a payment encodes to {} bytes", bytes.len());
    c.bench_function("ledger/json_encode_payment", |b| {
        b.iter(|| serde_json::to_vec(std::hint::black_box(&p)))
    });
    c.bench_function("ledger/json_decode_payment", |b| {
        b.iter(|| serde_json::from_slice::<Payment>(std::hint::black_box(&bytes)))
    });
}

fn modes() -> [(&'static str, CommitMode); 2] {
    [
        ("batched", CommitMode::Batched),
        ("flush_each", CommitMode::FlushEachWrite),
    ]
}

fn single_writer(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let dir = bench_dir();
    let store = Store::open(dir.path()).expect("open");
    let mut n = 0u64;
    let mut group = c.benchmark_group("ledger/create_draft_durable");
    for (name, mode) in modes() {
        store.expect_sled().set_commit_mode(mode);
        group.bench_function(name, |b| {
            b.to_async(rt).iter(|| {
                n += 1;
                let (store, d) = (store.clone(), draft(n, Some(NOW)));
                async move { store.create_draft(&d, "fp", None, Source::Tool).await }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("ledger/apply_durable");
    for (name, mode) in modes() {
        store.expect_sled().set_commit_mode(mode);
        group.bench_function(name, |b| {
            b.to_async(rt).iter_custom(|iters| {
                let store = store.clone();
                let drafts: Vec<Payment> = (0..iters).map(|i| draft(i, Some(NOW))).collect();
                async move {
                    store
                        .expect_sled()
                        .bulk_insert_unflushed(&drafts)
                        .expect("insert");
                    store.flush().await.expect("flush");
                    let started = Instant::now();
                    for (i, d) in drafts.iter().enumerate() {
                        let t = pending(i as u64);
                        store
                            .apply(&d.id, &t, Source::Tool, NOW)
                            .await
                            .expect("apply");
                    }
                    started.elapsed()
                }
            })
        });
    }
    group.finish();
}

fn concurrent(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let dir = bench_dir();
    let store = Store::open(dir.path()).expect("open");
    let mut group = c.benchmark_group("ledger/concurrent_writes");
    for writers in [8u64, 64] {
        // Each writer does one create and one transition per iteration.
        group.throughput(Throughput::Elements(writers * 2));
        for (name, mode) in modes() {
            store.expect_sled().set_commit_mode(mode);
            let id = BenchmarkId::new(name, format!("{writers}_writers"));
            group.bench_function(id, |b| {
                b.to_async(rt).iter_custom(|iters| {
                    let store = store.clone();
                    async move {
                        let started = Instant::now();
                        for _ in 0..iters {
                            let tasks: Vec<_> = (0..writers)
                                .map(|w| {
                                    let store = store.clone();
                                    tokio::spawn(async move {
                                        let d = draft(w, Some(NOW));
                                        store.create_draft(&d, "fp", None, Source::Tool).await?;
                                        store.apply(&d.id, &pending(w), Source::Tool, NOW).await
                                    })
                                })
                                .collect();
                            for t in tasks {
                                t.await.expect("task").expect("write");
                            }
                        }
                        started.elapsed()
                    }
                })
            });
        }
    }
    group.finish();
}

fn due_scan(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    for (name, n) in [
        ("ledger/due_scan_10k", 10_000u64),
        ("ledger/due_scan_1m", 1_000_000),
    ] {
        if !wanted(name) {
            continue;
        }
        let dir = bench_dir();
        let store = Store::open(dir.path()).expect("open");
        let started = Instant::now();
        populate(&store, n, 100);
        rt.block_on(store.flush()).expect("flush");
        let disk = store.expect_sled().size_on_disk().expect("size");
        eprintln!(
            "{name}: populated {n} payments in {:.2?}, {:.1} MB on disk",
            started.elapsed(),
            disk as f64 / 1e6
        );
        assert_eq!(store.expect_sled().due(NOW, 1000).expect("due").len(), 100);
        c.bench_function(name, |b| {
            b.iter(|| store.expect_sled().due(NOW, 1000).expect("due"))
        });
    }
}

fn main() {
    let rt = runtime();
    if wanted("footprint") {
        footprint(&rt);
    }
    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    json(&mut c);
    single_writer(&mut c, &rt);
    concurrent(&mut c, &rt);
    due_scan(&mut c, &rt);
    c.final_summary();
}
