//! Fuzzing on the stable toolchain: property tests with large generated inputs (proptest)
//! at every place paylink reads bytes it does not control.
//!
//! cargo-fuzz (libFuzzer) needs a nightly toolchain, which this machine cannot fetch, so
//! these run under `cargo test` instead. Default case counts keep the file under 20 s;
//! `PROPTEST_CASES=N` raises every count to N (`scripts/bench.sh` runs 20,000).
//!
//! - The webhook: arbitrary bodies and content types POSTed over loopback to the real side
//!   listener answer 200 (a well-formed token), 400 (anything else) or 413 (over its 16 KiB
//!   limit); never a 5xx, never a dropped connection; a 10 MB body is refused unread.
//! - Flow's answers: arbitrary bytes and JSON decode to a value or an error, and through the
//!   real client (against a tiny server answering fuzzed statuses and bodies) always come
//!   back as a typed result, exactly as the status and body call for.
//! - Tool arguments and amounts: arbitrary JSON objects are parsed or refused with a
//!   nextStep; arbitrary text is an amount or a refusal, and an accepted amount keeps its
//!   exact decimal value.
//! - Signatures: verification never panics and never accepts a signature for changed
//!   parameters. (Flow's scheme concatenates names and values without separators, so moving
//!   characters across a name/value boundary is invisible to it by design; that is not
//!   tested as a change. paylink only verifies in its sandbox, over fixed parameter names.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use paylink::domain::money::{CURRENCIES, MAX_MINOR};
use paylink::domain::{Currency, Money};
use paylink::gateway::flow::client::{CreateParams, order_status};
use paylink::gateway::flow::notification::valid_token;
use paylink::gateway::flow::sign::{sign, verify};
use paylink::gateway::flow::wire::{ErrorBody, PayResponse, PaymentStatus};
use paylink::gateway::flow::{FlowClient, FlowClientConfig, FlowError};
use paylink::gateway::retry::RetryPolicy;
use paylink::sandbox::{DEFAULT_API_KEY, DEFAULT_SECRET_KEY};
use paylink_tools::validate::{email_is_plausible, first_unsafe_char};
use paylink_tools::{parse_create, parse_get_status};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::fuzz_inputs::*;
use crate::support::webhook::Harness;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// What the listener must answer to `body`, judged independently of its code.
fn expected_webhook_status(body: &[u8]) -> u16 {
    if body.len() > WEBHOOK_BODY_LIMIT {
        return 413;
    }
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "token"))
        .map(|(_, v)| v);
    if token.is_some_and(|t| valid_token(&t)) {
        200
    } else {
        400
    }
}

#[test]
fn the_webhook_answers_any_body_with_200_400_or_413_and_keeps_serving() {
    let rt = runtime();
    let h = rt.block_on(Harness::start());
    let url = format!("{}/webhook/flow", h.base);
    let strategy = (webhook_body(), content_type());
    let result = runner(1_024).run(&strategy, |(body, content_type)| {
        let expected = expected_webhook_status(&body);
        let mut req = h.http.post(&url).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let answer = rt.block_on(req.send());
        let status = answer
            .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?
            .status()
            .as_u16();
        prop_assert!(matches!(status, 200 | 400 | 413 | 415), "HTTP {}", status);
        prop_assert_eq!(status, expected);
        Ok(())
    });
    let health = rt.block_on(h.http.get(format!("{}/healthz", h.base)).send());
    assert_eq!(health.unwrap().status(), 200, "the listener still serves");
    drop(h);
    result.unwrap();
}

/// Reads from `stream` until the status line has arrived; returns its code.
async fn status_line(stream: &mut (impl AsyncReadExt + Unpin)) -> u16 {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf).await.expect("an answer");
        assert!(n > 0, "closed without an answer");
        got.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&got);
    line.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap()
}

#[tokio::test]
async fn a_ten_megabyte_confirmation_is_refused_with_413_without_being_read() {
    let h = Harness::start().await;
    let addr = h.base.trim_start_matches("http://").to_string();
    let head = "POST /webhook/flow HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                Content-Type: application/x-www-form-urlencoded\r\n";

    // Declared up front: the first 64 KiB are sent, the other 9.9 MB never are.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let declared = format!("{head}Content-Length: {}\r\n\r\ntoken=", 10 << 20);
    s.write_all(declared.as_bytes()).await.unwrap();
    s.write_all(&vec![b'A'; 64 << 10]).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), status_line(&mut s)).await;
    assert_eq!(status.expect("answered before the body ends"), 413);

    // Streamed without a length: chunks until the listener answers, 10 MB at most.
    let s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut rx, mut tx) = s.into_split();
    let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = answered.clone();
    let reader = tokio::spawn(async move {
        let code = status_line(&mut rx).await;
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        code
    });
    let chunked = format!("{head}Transfer-Encoding: chunked\r\n\r\n");
    tx.write_all(chunked.as_bytes()).await.unwrap();
    let chunk = [
        format!("{:x}\r\n", 64 << 10).into_bytes(),
        vec![b'A'; 64 << 10],
        b"\r\n".to_vec(),
    ]
    .concat();
    let mut sent = 0usize;
    while sent < 10 << 20 && !answered.load(std::sync::atomic::Ordering::SeqCst) {
        if tx.write_all(&chunk).await.is_err() {
            break; // The listener stopped reading and closed: its answer is on its way.
        }
        sent += 64 << 10;
        tokio::task::yield_now().await;
    }
    let code = tokio::time::timeout(Duration::from_secs(10), reader).await;
    assert_eq!(code.expect("an answer").unwrap(), 413);
    let health = h.http.get(format!("{}/healthz", h.base)).send().await;
    assert_eq!(health.unwrap().status(), 200);
}

#[test]
fn flow_bodies_of_any_shape_decode_to_a_value_or_an_error_never_a_panic() {
    runner(8_192)
        .run(&flow_body(), |bytes| {
            if let Ok(s) = serde_json::from_slice::<PaymentStatus>(&bytes) {
                // Mapping to a verdict refuses unknown statuses instead of guessing.
                match order_status(&s) {
                    Ok(_) => prop_assert!((1..=4).contains(&s.status)),
                    Err(e) => prop_assert!(matches!(e, FlowError::Malformed(_))),
                }
            }
            let _ = serde_json::from_slice::<PayResponse>(&bytes);
            let _ = serde_json::from_slice::<ErrorBody>(&bytes);
            Ok(())
        })
        .unwrap();
}

/// What the tiny "Flow" answers next: status, content type, body.
type Canned = Arc<Mutex<(u16, Option<String>, Vec<u8>)>>;

async fn canned_flow(canned: Canned) -> String {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(move || {
        let canned = canned.clone();
        async move {
            let (status, ct, body) = canned.lock().unwrap().clone();
            let mut r = (StatusCode::from_u16(status).unwrap(), body).into_response();
            if let Some(ct) = ct.and_then(|c| c.parse().ok()) {
                r.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            r
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// The typed result the client owes for an answer, given how the body decodes as `T`.
fn owed<T: serde::de::DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, &'static str> {
    match status {
        200 => serde_json::from_slice::<T>(body).map_err(|_| "malformed"),
        400 | 401 => match serde_json::from_slice::<ErrorBody>(body) {
            Ok(_) => Err("api"),
            Err(_) => Err("malformed"),
        },
        _ => Err("http"),
    }
}

fn kind(e: &FlowError) -> &'static str {
    match e {
        FlowError::Api { .. } => "api",
        FlowError::Malformed(_) => "malformed",
        FlowError::Http { .. } => "http",
        _ => "other",
    }
}

#[test]
fn the_flow_client_turns_any_answer_into_the_typed_result_it_calls_for() {
    let rt = runtime();
    let canned: Canned = Arc::new(Mutex::new((200, None, Vec::new())));
    let base = rt.block_on(canned_flow(canned.clone()));
    let mut cfg =
        FlowClientConfig::new(base, DEFAULT_API_KEY, DEFAULT_SECRET_KEY.to_string().into());
    cfg.timeout = Duration::from_secs(5);
    cfg.read_retry = RetryPolicy::NONE;
    cfg.create_retry = RetryPolicy::NONE;
    let client = FlowClient::new(cfg).unwrap();
    let params = CreateParams {
        commerce_order: "ent_fuzz".into(),
        subject: "fuzz".into(),
        currency: "CLP".into(),
        amount: "5000".into(),
        email: "a@gmail.com".into(),
        url_confirmation: "http://127.0.0.1:9/webhook/flow".into(),
        url_return: "http://127.0.0.1:9/payment/return".into(),
        timeout_secs: None,
        optional: None,
        payment_method: None,
    };
    let status = prop_oneof![
        4 => Just(200u16),
        1 => proptest::sample::select(vec![400u16, 401, 404, 429, 500, 503]),
        1 => 200u16..600,
    ];
    let strategy = (status, content_type(), flow_body());
    runner(1_024)
        .run(&strategy, |(status, ct, body)| {
            *canned.lock().unwrap() = (status, ct, body.clone());
            let no_body = matches!(status, 204 | 205 | 304);
            let body = if no_body { Vec::new() } else { body };
            let got = rt.block_on(client.get_status("TOKEN"));
            let want = owed::<PaymentStatus>(status, &body);
            match (&got, &want) {
                (Ok(g), Ok(w)) => prop_assert_eq!(g, w),
                (Err(e), Err(k)) => prop_assert_eq!(kind(e), *k, "{}", e),
                _ => prop_assert!(false, "HTTP {}: got {:?}, owed {:?}", status, got, want),
            }
            let created = rt.block_on(client.create(&params));
            let want = owed::<PayResponse>(status, &body);
            match (&created, &want) {
                (Ok(g), Ok(w)) => prop_assert_eq!(g, w),
                (Err(e), Err(k)) => prop_assert_eq!(kind(e), *k, "{}", e),
                _ => prop_assert!(false, "HTTP {}: got {:?}, owed {:?}", status, created, want),
            }
            for e in [got.err(), created.err()].into_iter().flatten() {
                let text = e.to_string();
                prop_assert!(!text.contains(DEFAULT_SECRET_KEY) && !text.contains(DEFAULT_API_KEY));
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn tool_arguments_of_any_shape_are_parsed_or_refused_with_a_next_step() {
    runner(8_192)
        .run(&tool_args(), |args| {
            match parse_create(&args) {
                Ok(req) => {
                    let chars = req.description.chars().count();
                    prop_assert!((1..=255).contains(&chars));
                    prop_assert!(first_unsafe_char(&req.description).is_none());
                    prop_assert!(email_is_plausible(&req.customer_email));
                    for info in CURRENCIES {
                        let c = Currency::from_code(info.code).unwrap();
                        let _ = Money::parse_major(&req.amount_text, c);
                    }
                }
                Err(e) => {
                    prop_assert!(!e.message.is_empty() && !e.next_step.is_empty(), "{:?}", e);
                    prop_assert!(e.to_json()["error"]["code"].is_string());
                }
            }
            match parse_get_status(&args) {
                Ok(r) => {
                    prop_assert!(!r.payment_id.is_empty() && r.payment_id.chars().count() <= 128)
                }
                Err(e) => prop_assert!(!e.next_step.is_empty()),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_text_is_an_amount_or_a_refusal_and_accepted_amounts_keep_their_exact_value() {
    let text = prop_oneof![
        3 => numeric_text(),
        1 => ".{0,40}",
        2 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map(|n| n.to_string()).unwrap_or_default()),
        // Valid amounts written with extra zeros or an exponent.
        2 => (1i64..=MAX_MINOR, 0usize..4, 0i32..4).prop_map(|(minor, zeros, shift)| {
            format!("{minor}{}e{}", "0".repeat(zeros), -(zeros as i32) - shift)
        }),
    ];
    let currency =
        (0..CURRENCIES.len()).prop_map(|i| Currency::from_code(CURRENCIES[i].code).unwrap());
    runner(16_384)
        .run(&(text, currency), |(text, c)| {
            if let Ok(m) = Money::parse_major(&text, c) {
                prop_assert!(m.minor >= 1 && m.minor <= MAX_MINOR, "{:?}", m);
                prop_assert_eq!(m.currency, c);
                let (digits, power) = exact_value(text.trim());
                let (m_digits, m_power) = exact_value(&m.major_text());
                prop_assert_eq!(
                    (digits, power),
                    (m_digits, m_power),
                    "{} became {}",
                    text,
                    m.major_text()
                );
                prop_assert_eq!(Money::parse_major(&m.major_text(), c), Ok(m));
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_signature_verifies_only_the_parameters_it_was_made_for() {
    let strategy = (
        params(),
        proptest::collection::vec(any::<u8>(), 0..80),
        tamper(),
        ".{0,80}",
    );
    runner(8_192)
        .run(&strategy, |(params, secret, tamper, junk)| {
            let s = sign(pairs(&params), &secret);
            prop_assert!(verify(pairs(&params), &secret, &s));
            // Anything else in `s` is refused (hex is read case-insensitively).
            prop_assert_eq!(
                verify(pairs(&params), &secret, &junk),
                junk.eq_ignore_ascii_case(&s)
            );
            let mut changed = params.clone();
            match tamper {
                Tamper::Value(i, v) if !params.is_empty() => {
                    let at = i.index(params.len());
                    if changed[at].0 == "s" {
                        return Ok(()); // `s` itself is never signed.
                    }
                    changed[at].1 = if changed[at].1 == v {
                        format!("{v}x")
                    } else {
                        v
                    };
                }
                Tamper::Add(name, v) => {
                    if name == "s" {
                        return Ok(());
                    }
                    changed.push((name, v));
                }
                Tamper::Remove(i) if !params.is_empty() => {
                    let (name, value) = changed.remove(i.index(params.len()));
                    if name == "s" || (name.is_empty() && value.is_empty()) {
                        return Ok(()); // Nothing signed was removed.
                    }
                }
                Tamper::Value(..) | Tamper::Remove(_) => return Ok(()),
            }
            prop_assert!(
                !verify(pairs(&changed), &secret, &s),
                "{:?} accepted for {:?}",
                s,
                changed
            );
            Ok(())
        })
        .unwrap();
}
