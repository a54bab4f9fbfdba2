//! Configuration errors, integrations stored in the ledger, and secrets that never leak.

use std::process::{Command, Output, Stdio};

use paylink::sandbox::{Merchant, Outcome, Sandbox, SandboxConfig};
use rmcp::ServiceExt;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::json;

use crate::support::*;

/// The binary with `args` and `env`, in a home of its own (a test that gives no
/// PAYLINK_DATA_DIR never reaches the real one).
fn paylink(args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = TempHome::new();
    Command::new(BIN)
        .args(args)
        .env_remove("FLOW_API_KEY")
        .env_remove("FLOW_SECRET_KEY")
        .env_remove("FLOW_BASE_URL")
        .envs(home.env())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn one_clear_line(out: &Output, must_name: &str) {
    assert!(!out.status.success(), "expected a failure");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got: {err}");
    assert!(
        lines[0].contains(must_name),
        "the error names {must_name}: {err}"
    );
}

#[test]
fn each_config_error_is_one_clear_line_and_a_failure_exit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let base = [("PAYLINK_DATA_DIR", data.as_str()), ("RUST_LOG", "off")];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        base.iter().copied().chain(extra.iter().copied()).collect()
    };

    one_clear_line(
        &paylink(&["serve"], &with(&[("FLOW_API_KEY", "K")])),
        "FLOW_SECRET_KEY",
    );
    one_clear_line(
        &paylink(
            &["serve"],
            &with(&[
                ("FLOW_API_KEY", "K"),
                ("FLOW_SECRET_KEY", "S"),
                ("FLOW_BASE_URL", "sandbox.flow.cl/api"),
            ]),
        ),
        "FLOW_BASE_URL",
    );
    one_clear_line(
        &paylink(
            &["serve"],
            &with(&[
                ("FLOW_API_KEY", "K"),
                ("FLOW_SECRET_KEY", "S"),
                ("FLOW_ENVIRONMENT", "staging"),
            ]),
        ),
        "FLOW_ENVIRONMENT",
    );
    // A key file that cannot be read (a directory stands where the file should be).
    let keydir = dir.path().join("keydir");
    std::fs::create_dir_all(&keydir).unwrap();
    let keyfile = keydir.display().to_string();
    let out = paylink(
        &[
            "integration",
            "flow",
            "--test",
            "--api-key",
            "K",
            "--secret-key-file",
            "/dev/null",
        ],
        &base
            .iter()
            .copied()
            .chain([("PAYLINK_KEY_FILE", keyfile.as_str())])
            .collect::<Vec<_>>(),
    );
    one_clear_line(&out, "--secret-key");
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "s3cret\n").unwrap();
    let sf = secret_file.display().to_string();
    let out = paylink(
        &[
            "integration",
            "flow",
            "--test",
            "--api-key",
            "K",
            "--secret-key-file",
            &sf,
        ],
        &base
            .iter()
            .copied()
            .chain([("PAYLINK_KEY_FILE", keyfile.as_str())])
            .collect::<Vec<_>>(),
    );
    one_clear_line(&out, "key file");
    one_clear_line(
        &paylink(&["serve"], &with(&[("PAYLINK_LISTEN", "port 80")])),
        "PAYLINK_LISTEN",
    );
    // Live needs an explicit opt-in.
    let out = paylink(
        &[
            "integration",
            "flow",
            "--api-key",
            "K",
            "--secret-key-file",
            &sf,
        ],
        &base,
    );
    one_clear_line(&out, "--allow-live");
}

// Two workers: the in-process sandbox must answer while this test blocks on a child
// process (`integration flow` tries the keys against it before storing them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recognisable_secret_appears_nowhere_in_a_whole_cycle() {
    const SECRET: &str = "CANARY-SECRET-7f3a9c1e5b2d4f60";
    let merchant = Merchant {
        api_key: "CANARY-APIKEY-1".into(),
        secret_key: SECRET.into(),
        currencies: vec!["CLP".into()],
    };
    let sb = Sandbox::start(SandboxConfig {
        merchants: vec![merchant],
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret_file = dir.path().join("flow-secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let data_s = data.display().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let env = [
        ("PAYLINK_DATA_DIR", data_s.as_str()),
        ("PAYLINK_LISTEN", listen.as_str()),
        ("RUST_LOG", "debug"),
    ];
    let mut captured = String::new();
    let mut record = |o: &Output| {
        captured.push_str(&String::from_utf8_lossy(&o.stdout));
        captured.push_str(&String::from_utf8_lossy(&o.stderr));
    };

    let out = paylink(
        &[
            "integration",
            "flow",
            "--test",
            "--api-url",
            &sb.api_url,
            "--api-key",
            "CANARY-APIKEY-1",
            "--secret-key-file",
            &secret_file.display().to_string(),
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    record(&out);
    record(&paylink(&["integration", "show"], &env));
    record(&paylink(&["integration", "show", "--json"], &env));

    // The server, over stdio, with debug logs captured.
    let cmd = tokio::process::Command::new(BIN).configure(|c| {
        c.arg("serve")
            .envs(env)
            .env_remove("FLOW_API_KEY")
            .env_remove("FLOW_SECRET_KEY")
            .kill_on_drop(true);
    });
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = stderr.unwrap();
    let logs = tokio::spawn(async move {
        let mut s = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut s).await;
        s
    });
    let client = ().serve(transport).await.unwrap();
    let mut results = String::new();
    let created = call(
        &client,
        "payment.create",
        json!({"amount": 5000, "description": "canary", "customerEmail": "a@gmail.com"}),
    )
    .await;
    results.push_str(&format!("{created:?}"));
    let s = structured(&created);
    sb.sandbox
        .settle(&token_of(&s), Outcome::Paid)
        .await
        .unwrap();
    for a in [
        json!({"entityId": s["paymentId"]}),
        json!({"entityId": "ent_nope"}),
        json!({"bogus": 1}),
    ] {
        let r = call(&client, "payment.getStatus", a).await;
        results.push_str(&format!("{r:?}"));
    }
    let bad = call(
        &client,
        "payment.create",
        json!({"amount": 10.5, "description": "x", "customerEmail": "a@gmail.com"}),
    )
    .await;
    results.push_str(&format!("{bad:?}"));
    client.cancel().await.unwrap();
    let server_logs = logs.await.unwrap();
    assert!(results.contains("paid"), "the cycle really ran: {results}");
    assert!(server_logs.contains("DEBUG"), "debug logs were captured");

    record(&paylink(&["payments", "list", "--json"], &env));
    record(&paylink(&["doctor"], &env));
    for haystack in [&captured, &server_logs, &results] {
        assert!(!haystack.contains(SECRET), "the secret leaked:\n{haystack}");
    }
    // At rest, too: no file of the ledger holds the secret in clear.
    for entry in walk(&data) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "{} holds the secret",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

/// `paylink integration flow --no-verify … --organization ORG` with a fresh secret file.
fn store_integration(env: &[(&str, &str)], dir: &std::path::Path, org: &str, extra: &[&str]) {
    let secret_file = dir.join(format!("secret-{org}"));
    std::fs::write(&secret_file, "s3cret-of-the-merchant\n").unwrap();
    let sf = secret_file.display().to_string();
    // Nothing here answers as Flow would: store the keys without trying them.
    let mut args = vec![
        "integration",
        "flow",
        "--no-verify",
        "--organization",
        org,
        "--api-key",
        "K",
        "--secret-key-file",
        &sf,
    ];
    args.extend_from_slice(extra);
    let out = paylink(&args, env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn every_organization_is_told_its_own_mode() {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let w = World::new().await;
    let data = w.data_dir.path().display().to_string();
    let env = [("PAYLINK_DATA_DIR", data.as_str()), ("RUST_LOG", "off")];
    // acme takes live money (the URL is Flow's production API; nothing here calls it).
    store_integration(&env, w.data_dir.path(), "acme", &["--allow-live"]);
    const ACME: &str = "acme-token-0123456789abcdef";
    const GLOBEX: &str = "globex-token-0123456789abcdef";
    let tokens = format!("{ACME}=acme,{GLOBEX}=globex");
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["serve", "--http", "127.0.0.1:0", "--allow-live"])
        .env("PAYLINK_DATA_DIR", &data)
        .env("PAYLINK_LISTEN", "127.0.0.1:0")
        .env("PAYLINK_HTTP_TOKENS", &tokens)
        .env("RUST_LOG", "warn")
        .env_remove("FLOW_API_KEY")
        .env_remove("FLOW_SECRET_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    let url = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("paylink: MCP over streamable HTTP at ") {
                return url.to_string();
            }
            log.push(line);
        }
        panic!("serve exited: {log:?}");
    })
    .await
    .expect("serve --http announces its address");
    // Each organization's mode is logged as serving starts.
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !(log.iter().any(|l| l.contains("organization=acme"))
            && log.iter().any(|l| l.contains("organization=globex")))
        {
            match lines.next_line().await {
                Ok(Some(line)) => log.push(line),
                _ => break,
            }
        }
    })
    .await
    .expect("both organizations' modes are logged");
    let log = log.join("\n");
    assert!(
        log.contains("organization=acme") && log.contains("LIVE"),
        "the log names acme's live mode: {log}"
    );
    assert!(
        log.contains("organization=globex") && log.contains("offline sandbox"),
        "the log names globex's sandbox: {log}"
    );

    let instructions = |token: &'static str| {
        let url = url.clone();
        async move {
            let cfg = StreamableHttpClientTransportConfig::with_uri(url).auth_header(token);
            let client = ().serve(StreamableHttpClientTransport::from_config(cfg)).await.unwrap();
            let text = client
                .peer_info()
                .and_then(|i| i.instructions.clone())
                .unwrap_or_default();
            client.cancel().await.unwrap();
            text
        }
    };
    let acme = instructions(ACME).await;
    assert!(acme.contains("LIVE"), "{acme}");
    assert!(!acme.contains("no real money"), "{acme}");
    let globex = instructions(GLOBEX).await;
    assert!(globex.contains("offline sandbox"), "{globex}");
}

#[test]
fn a_lost_master_key_stops_serve_and_doctor_and_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = data.display().to_string();
    let env = [
        ("PAYLINK_DATA_DIR", data_s.as_str()),
        ("RUST_LOG", "off"),
        ("PAYLINK_LISTEN", "127.0.0.1:0"),
    ];
    store_integration(&env, dir.path(), "default", &["--test"]);
    let key = data.join("master.key");
    assert!(key.exists(), "the first integration creates the key");
    std::fs::remove_file(&key).unwrap();

    let out = paylink(&["serve"], &env);
    one_clear_line(&out, "master key file");
    assert!(!key.exists(), "serve must not write a new master key");

    let doctor = paylink(&["doctor"], &env);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(!doctor.status.success(), "{text}");
    assert!(text.contains("FAIL  master key"), "{text}");
    assert!(text.contains("NOT READY"), "{text}");
    assert!(!key.exists(), "doctor must not write a new master key");

    // Storing another integration cannot paper over it with a new key either.
    let secret_file = dir.path().join("secret-2");
    std::fs::write(&secret_file, "another\n").unwrap();
    let out = paylink(
        &[
            "integration",
            "flow",
            "--test",
            "--organization",
            "globex",
            "--api-key",
            "K",
            "--secret-key-file",
            &secret_file.display().to_string(),
        ],
        &env,
    );
    one_clear_line(&out, "master key file");
    assert!(!key.exists());
}

#[test]
fn every_invalid_notification_or_token_setting_stops_serve_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    const URL: &str = "https://hooks.example.com/paylink";
    const SECRET: &str = "receiver-shared-secret-0123456789";
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("PAYLINK_NOTIFY_URL", URL)], "PAYLINK_NOTIFY_SECRET"),
        (&[("PAYLINK_NOTIFY_SECRET", SECRET)], "PAYLINK_NOTIFY_URL"),
        (
            &[
                ("PAYLINK_NOTIFY_URL", "hooks.example.com/paylink"),
                ("PAYLINK_NOTIFY_SECRET", SECRET),
            ],
            "PAYLINK_NOTIFY_URL",
        ),
        (
            &[
                ("PAYLINK_NOTIFY_URL", URL),
                ("PAYLINK_NOTIFY_SECRET", "   "),
            ],
            "PAYLINK_NOTIFY_SECRET",
        ),
        (
            &[
                ("PAYLINK_NOTIFY_URL", URL),
                ("PAYLINK_NOTIFY_SECRET", "whsec_%%%not-base64"),
            ],
            "PAYLINK_NOTIFY_SECRET",
        ),
        (
            &[("PAYLINK_HTTP_TOKENS", "acme-token-0123456789abcdef")],
            "PAYLINK_HTTP_TOKENS",
        ),
        (
            &[("PAYLINK_HTTP_TOKENS", "short=acme")],
            "PAYLINK_HTTP_TOKENS",
        ),
        (
            &[("PAYLINK_HTTP_TOKENS", "acme-token-0123456789abcdef= ")],
            "PAYLINK_HTTP_TOKENS",
        ),
        (
            &[(
                "PAYLINK_HTTP_TOKENS",
                "acme-token-0123456789abcdef=acme,acme-token-0123456789abcdef=globex",
            )],
            "PAYLINK_HTTP_TOKENS",
        ),
        (&[("PAYLINK_HTTP_TOKENS", ",")], "PAYLINK_HTTP_TOKENS"),
    ];
    for (extra, variable) in cases {
        let env: Vec<(&str, &str)> = [("PAYLINK_DATA_DIR", data.as_str()), ("RUST_LOG", "off")]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        for args in [&["serve"][..], &["serve", "--http", "127.0.0.1:0"][..]] {
            let out = paylink(args, &env);
            one_clear_line(&out, variable);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !err.contains(SECRET) && !err.contains("0123456789abcdef"),
                "{extra:?}: the error repeats a secret: {err}"
            );
        }
    }
    assert!(
        !dir.path().join("db").exists(),
        "serve stopped before it opened the ledger"
    );
}

/// `paylink sandbox --port 0` as a child process; its API base URL once it listens.
async fn sandbox_process() -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(BIN)
        .args(["sandbox", "--port", "0", "--stripe-port", "0"])
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let api = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.trim().strip_prefix("API base URL : ") {
                return url.to_string();
            }
        }
        panic!("paylink sandbox exited before it listened");
    })
    .await
    .expect("paylink sandbox announces its API base URL");
    // Keep reading: a closed pipe would fail the sandbox's next line on stderr.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, api)
}

/// `paylink integration flow` for `org` at `api` with the sandbox's apiKey and `secret`.
fn integration_flow(
    env: &[(&str, &str)],
    dir: &std::path::Path,
    org: &str,
    api: &str,
    secret: &str,
    extra: &[&str],
) -> Output {
    let secret_file = dir.join(format!("secret-{org}-{}", extra.len()));
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let sf = secret_file.display().to_string();
    let mut args = vec![
        "integration",
        "flow",
        "--test",
        "--organization",
        org,
        "--api-url",
        api,
        "--api-key",
        paylink::sandbox::DEFAULT_API_KEY,
        "--secret-key-file",
        &sf,
    ];
    args.extend_from_slice(extra);
    paylink(&args, env)
}

fn stored_organizations(env: &[(&str, &str)]) -> Vec<String> {
    let out = paylink(&["integration", "show", "--json"], env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .map(|i| i["organization"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn integration_flow_tries_the_keys_and_stores_refused_ones_only_with_no_verify() {
    let (_sandbox, api) = sandbox_process().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let env = [
        ("PAYLINK_DATA_DIR", data.as_str()),
        ("PAYLINK_LISTEN", "127.0.0.1:0"),
        ("RUST_LOG", "off"),
    ];

    let out = integration_flow(
        &env,
        dir.path(),
        "acme",
        &api,
        "not-the-sandbox-secret",
        &[],
    );
    one_clear_line(&out, "refused these keys");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing was stored"), "{err}");
    assert!(!err.contains("not-the-sandbox-secret"), "{err}");
    assert!(
        stored_organizations(&env).is_empty(),
        "refused keys were stored"
    );

    let out = integration_flow(
        &env,
        dir.path(),
        "acme",
        &api,
        "not-the-sandbox-secret",
        &["--no-verify"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored_organizations(&env), ["acme"]);

    let out = integration_flow(
        &env,
        dir.path(),
        "globex",
        &api,
        paylink::sandbox::DEFAULT_SECRET_KEY,
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored_organizations(&env), ["acme", "globex"]);
}

#[tokio::test]
async fn doctor_checks_every_stored_integration_and_names_the_one_flow_refuses() {
    let (_sandbox, api) = sandbox_process().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let env = [
        ("PAYLINK_DATA_DIR", data.as_str()),
        ("PAYLINK_LISTEN", "127.0.0.1:0"),
        ("RUST_LOG", "off"),
    ];
    let secret = paylink::sandbox::DEFAULT_SECRET_KEY;
    let out = integration_flow(&env, dir.path(), "globex", &api, secret, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let doctor = paylink(&["doctor"], &env);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success(), "{text}");
    assert!(
        text.contains("ok    integration globex (development)"),
        "{text}"
    );
    assert!(text.contains("Verdict: READY"), "{text}");

    let out = integration_flow(
        &env,
        dir.path(),
        "acme",
        &api,
        "not-the-sandbox-secret",
        &["--no-verify"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doctor = paylink(&["doctor"], &env);
    let text = String::from_utf8_lossy(&doctor.stdout);
    let progress = String::from_utf8_lossy(&doctor.stderr);
    assert!(!doctor.status.success(), "{text}");
    let acme = text
        .lines()
        .find(|l| l.contains("integration acme (development)"))
        .unwrap_or_else(|| panic!("doctor names acme's integration: {text}"));
    assert!(acme.trim_start().starts_with("FAIL"), "{text}");
    assert!(acme.contains("refused the keys"), "{text}");
    assert!(
        acme.contains("paylink integration flow --organization acme --test"),
        "{text}"
    );
    assert!(
        text.contains("ok    integration globex (development)"),
        "{text}"
    );
    assert!(text.contains("Verdict: NOT READY"), "{text}");
    assert!(
        progress.contains("doctor: integration acme (development): signed call to")
            && progress.contains("doctor: integration acme (development): done in"),
        "doctor shows progress on stderr: {progress}"
    );
}

#[test]
fn doctor_gives_up_on_a_gateway_that_never_answers_within_its_deadline() {
    // A loopback port that accepts connections (the kernel completes them) but never
    // answers a request.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api = format!("http://{}/api", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let started = std::time::Instant::now();
    let doctor = paylink(
        &["doctor"],
        &[
            ("PAYLINK_DATA_DIR", data.as_str()),
            ("PAYLINK_FLOW_TIMEOUT_SECS", "1"),
            ("FLOW_API_KEY", "K"),
            ("FLOW_SECRET_KEY", "S"),
            ("FLOW_BASE_URL", api.as_str()),
            ("RUST_LOG", "off"),
        ],
    );
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(!doctor.status.success(), "{text}");
    assert!(
        text.contains("FAIL  FLOW_* account (development) for default")
            && text.contains("could not be used"),
        "{text}"
    );
    assert!(text.contains("Verdict: NOT READY"), "{text}");
    assert!(
        took < std::time::Duration::from_secs(15),
        "doctor took {took:?} with a 1 s deadline"
    );
    drop(silent);
}

#[tokio::test]
async fn paylink_sandbox_serves_flow_and_stripe_with_their_test_credentials() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(BIN)
        .args(["sandbox", "--port", "0", "--stripe-port", "0"])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let mut stripe_base = None;
    let mut flow_base = None;
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("Flow sandbox listening on ") {
                flow_base = Some(rest.trim().to_string());
            }
            if let Some(rest) = line.trim().strip_prefix("STRIPE_API_BASE       = ") {
                stripe_base = Some(rest.trim().to_string());
            }
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
    })
    .await
    .expect("the sandboxes announce themselves");
    let (flow, stripe) = (flow_base.unwrap(), stripe_base.unwrap());
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{flow}/sandbox/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Stripe's API with the announced test key.
    let r = http
        .get(format!("{stripe}/v1/checkout/sessions"))
        .bearer_auth(paylink::sandbox::stripe::DEFAULT_STRIPE_TEST_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: serde_json::Value = r.json().await.unwrap();
    assert_eq!(list["object"], "list");
    child.kill().await.unwrap();
}
