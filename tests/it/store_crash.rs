//! Crash safety: a writer process is killed with SIGKILL at random moments, and every write
//! it acknowledged must be there when the ledger is reopened, with every index consistent.
//!
//! The test binary re-runs itself with a filter that selects only `crash_child_writer`,
//! which does nothing unless `PAYLINK_CRASH_DIR` is set; then it writes forever from four
//! tasks and prints one `ACK` line per acknowledged write. The parent kills it after a
//! random number of ACK lines, reopens the directory, checks, and starts the next child on
//! the same directory.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use paylink::domain::{
    Currency, Environment, FailureReason, Money, Payment, PaymentStatus, Source, Timestamp,
    Transition, new_payment_id,
};
use paylink::store::{ApplyOutcome, DraftOutcome, Store};
use rand::Rng;

const DIR_VAR: &str = "PAYLINK_CRASH_DIR";
const ROUNDS: usize = 24;
const WRITERS: usize = 4;

/// Prints an acknowledgement and flushes it; exits if the parent is gone.
fn ack(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn new_draft() -> Payment {
    let id = new_payment_id();
    let now = Timestamp::now();
    Payment {
        organization: "default".into(),
        environment: Environment::Development,
        amount: Money::from_minor(5000, Currency::CLP),
        description: "crash test".into(),
        status: PaymentStatus::Draft,
        gateway: paylink::gateway::GatewayKind::Flow,
        gateway_ref: None,
        reference: format!("PL-{id}"),
        payment_link_url: None,
        gateway_token: None,
        customer_email: "a@b.cl".into(),
        entity_id: Some(format!("entity_{}", &id[4..6])),
        paid_at: None,
        failure_reason: None,
        created_at: now,
        updated_at: now,
        idempotency_key: id.clone(),
        expires_at: None,
        next_check_at: Some(now.plus_secs(60)),
        check_attempts: 0,
        create_attempt: 1,
        version: 1,
        id,
    }
}

async fn write_forever(store: Store, give_up: Instant) {
    while Instant::now() < give_up {
        let draft = new_draft();
        let outcome = store
            .create_draft(&draft, "fp", None, Source::Tool)
            .await
            .unwrap();
        assert!(matches!(outcome, DraftOutcome::Created(_)), "{outcome:?}");
        ack(&format!("ACK create {}", draft.id));
        let pending = Transition::Pending {
            gateway_ref: format!("{}", rand::rng().random_range(1..1_000_000u32)),
            gateway_token: format!("tok_{}", draft.id),
            payment_link_url: "https://sandbox.flow.cl/pay".into(),
            expires_at: Some(Timestamp::now().plus_secs(600)),
            next_check_at: Some(Timestamp::now().plus_secs(60)),
        };
        let outcome = store
            .apply(&draft.id, &pending, Source::Tool, Timestamp::now())
            .await
            .unwrap();
        assert!(
            matches!(outcome, ApplyOutcome::Changed { .. }),
            "{outcome:?}"
        );
        ack(&format!("ACK apply {} pending", draft.id));
        let last = if rand::rng().random_bool(0.5) {
            Transition::Paid {
                paid_at: Timestamp::now(),
            }
        } else {
            Transition::Failed {
                reason: FailureReason::Rejected,
            }
        };
        let outcome = store
            .apply(&draft.id, &last, Source::Webhook, Timestamp::now())
            .await
            .unwrap();
        assert!(
            matches!(outcome, ApplyOutcome::Changed { .. }),
            "{outcome:?}"
        );
        ack(&format!("ACK apply {} {}", draft.id, last.target()));
    }
}

/// The child: writes until killed (or for a minute, should the parent vanish).
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = Store::open(Path::new(&dir)).unwrap();
        let give_up = Instant::now() + Duration::from_secs(60);
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| tokio::spawn(write_forever(store.clone(), give_up)))
            .collect();
        for w in writers {
            w.await.unwrap();
        }
    });
}

/// The libtest name of [`crash_child_writer`] in this binary (`store_crash::crash_child_writer`):
/// its module path without the crate's name.
fn child_test_name() -> String {
    let module = module_path!()
        .split_once("::")
        .map_or("", |(_crate, module)| module);
    format!("{module}::crash_child_writer")
}

fn parse_status(s: &str) -> PaymentStatus {
    PaymentStatus::ALL
        .into_iter()
        .find(|st| st.as_str() == s)
        .unwrap_or_else(|| panic!("status {s:?}"))
}

/// Records one ACK line; returns whether it was one.
fn record(line: &str, acked: &mut HashMap<String, PaymentStatus>) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["ACK", "create", id] => acked.insert((*id).to_owned(), PaymentStatus::Draft),
        ["ACK", "apply", id, status] => acked.insert((*id).to_owned(), parse_status(status)),
        _ => return false,
    };
    true
}

#[test]
fn acknowledged_writes_survive_sigkill_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: HashMap<String, PaymentStatus> = HashMap::new();
    let mut rng = rand::rng();
    for round in 0..ROUNDS {
        let target = rng.random_range(1..=200);
        let stderr_path = logs.path().join(format!("child-{round}.stderr"));
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                &child_test_name(),
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = 0;
        while seen < target {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => seen += usize::from(record(&line, &mut acked)),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                    panic!(
                        "round {round}: {seen} of {target} acknowledgements before the deadline; child stderr:\n{stderr}"
                    );
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        // Lines the child printed before it died were acknowledged too.
        for line in rx.try_iter() {
            record(&line, &mut acked);
        }

        let store = Store::open(dir.path()).unwrap();
        for (id, status) in &acked {
            let Some(p) = store.expect_sled().get(id).unwrap() else {
                panic!("round {round}: acknowledged payment {id} ({status}) is gone")
            };
            assert!(
                status.change_to(p.status).is_ok(),
                "round {round}: payment {id} was acknowledged {status} but is {}",
                p.status
            );
        }
        let problems = store.expect_sled().check_consistency().unwrap();
        assert!(problems.is_empty(), "round {round}: {problems:#?}");
        assert!(store.expect_sled().len() >= acked.len());
    }
}
