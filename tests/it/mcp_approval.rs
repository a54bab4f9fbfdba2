//! Human confirmation through the real binary: a payment above the policy's threshold is
//! made only after a person says yes — in the client (elicitation on 2025-11-25, the input
//! request of 2026-07-28) or on the approval page — and never by the model alone.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::{
    ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationAction,
    Implementation, ProtocolVersion,
};
use rmcp::service::{RequestContext, RoleClient};
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ErrorData, ServiceExt};
use serde_json::{Value, json};

use crate::support::*;

const THRESHOLD: (&str, &str) = ("PAYLINK_POLICY_CONFIRM_ABOVE", "CLP 100000");

fn gateway_creates(w: &World) -> usize {
    w.sandbox
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint == "payment/create")
        .count()
}

fn big(key: &str) -> Value {
    json!({"amount": 150000, "description": "Bicicleta", "customerEmail": "ana@gmail.com", "idempotencyKey": key})
}

/// A client whose person answers every approval with `yes` (true) or no (false), and
/// counts what it was asked.
#[derive(Clone)]
pub(crate) struct Person {
    yes: bool,
    pub(crate) asked: Arc<AtomicUsize>,
    pub(crate) question: Arc<std::sync::Mutex<String>>,
}

impl Person {
    pub(crate) fn new(yes: bool) -> Person {
        Person {
            yes,
            asked: Arc::default(),
            question: Arc::default(),
        }
    }
}

impl ClientHandler for Person {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("approval-test", "1.0"),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if let ElicitRequestParams::FormElicitationParams { message, .. } = request {
            *self.question.lock().unwrap() = message;
        }
        Ok(if self.yes {
            ElicitResult::new(ElicitationAction::Accept).with_content(json!({"approve": true}))
        } else {
            ElicitResult::new(ElicitationAction::Decline)
        })
    }
}

pub(crate) async fn stdio_person(
    w: &World,
    person: Person,
) -> rmcp::service::RunningService<RoleClient, Person> {
    let mut env = w.env();
    env.push((THRESHOLD.0.into(), THRESHOLD.1.into()));
    let cmd = tokio::process::Command::new(BIN).configure(|c| {
        c.arg("serve").envs(env).kill_on_drop(true);
    });
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    person.serve(transport).await.expect("MCP handshake")
}

/// The approval page's form: its CSRF field and the cookie that must come with it.
pub(crate) struct Form {
    csrf: String,
    cookie: String,
}

pub(crate) async fn open_page(http: &reqwest::Client, url: &str) -> (String, Option<Form>) {
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
    let html = r.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .map(|rest| rest.split('"').next().unwrap().to_string());
    let form = match (csrf, cookie) {
        (Some(csrf), Some(cookie)) => Some(Form { csrf, cookie }),
        _ => None,
    };
    (html, form)
}

pub(crate) async fn answer(
    http: &reqwest::Client,
    url: &str,
    form: &Form,
    decision: &str,
    origin: Option<&str>,
) -> (u16, String) {
    let mut req = http
        .post(url)
        .header("cookie", &form.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}&decision={decision}", form.csrf));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn without_elicitation_the_approval_link_works_once_and_the_payment_is_made_only_after_it() {
    let w = World::new().await;
    let (client, _) = w.stdio_with(&[], &[THRESHOLD], Stdio::null()).await;
    // At the threshold: no approval needed.
    let small = structured(
        &call(
            &client,
            "payment.create",
            json!({"amount": 100000, "description": "Casco", "customerEmail": "ana@gmail.com"}),
        )
        .await,
    );
    assert_eq!(small["status"], "pending");
    assert_eq!(gateway_creates(&w), 1);

    let e = error_of(&call(&client, "payment.create", big("bike-1")).await);
    assert_eq!(e["code"], "confirmation_required", "{e}");
    assert_eq!(e["retryable"], true);
    assert!(
        e["nextStep"]
            .as_str()
            .unwrap()
            .contains("cannot approve it yourself"),
        "{e}"
    );
    let approval_id = e["approval"]["approvalId"].as_str().unwrap().to_string();
    let url = e["approval"]["approvalUrl"].as_str().unwrap().to_string();
    assert!(url.ends_with(&format!("/approve/{approval_id}")), "{url}");
    assert_eq!(
        gateway_creates(&w),
        1,
        "nothing reached the gateway before approval"
    );

    // The same call again: the same approval, still nothing at the gateway.
    let again = error_of(&call(&client, "payment.create", big("bike-1")).await);
    assert_eq!(again["approval"]["approvalId"], approval_id.as_str());
    // getStatus on the approval says it is still waiting.
    let waiting = error_of(
        &call(
            &client,
            "payment.getStatus",
            json!({"entityId": approval_id}),
        )
        .await,
    );
    assert_eq!(waiting["code"], "confirmation_required");

    let http = reqwest::Client::new();
    let (html, form) = open_page(&http, &url).await;
    assert!(
        html.contains("CLP 150.000") || html.contains("150"),
        "{html}"
    );
    assert!(
        html.contains("ana@gmail.com") && html.contains("Bicicleta") && html.contains("sandbox"),
        "{html}"
    );
    let form = form.expect("a form with a CSRF token and its cookie");

    // A cross-site post and a post without the cookie are refused and change nothing.
    let (status, _) = answer(&http, &url, &form, "approve", Some("https://evil.example")).await;
    assert_eq!(status, 403);
    let no_cookie = Form {
        csrf: form.csrf.clone(),
        cookie: "paylink_approval_csrf=forged".into(),
    };
    let (status, _) = answer(&http, &url, &no_cookie, "approve", None).await;
    assert_eq!(status, 403);
    assert_eq!(gateway_creates(&w), 1);
    let still = error_of(
        &call(
            &client,
            "payment.getStatus",
            json!({"entityId": approval_id}),
        )
        .await,
    );
    assert_eq!(still["code"], "confirmation_required");

    // The person approves: the payment is made once.
    let (status, page) = answer(&http, &url, &form, "approve", None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Approved"), "{page}");
    assert_eq!(gateway_creates(&w), 2);
    // The link works once.
    let (status, page) = answer(&http, &url, &form, "decline", None).await;
    assert_eq!(status, 409, "{page}");

    // The agent learns it through getStatus on the approval id, and its retry returns the
    // same payment: nothing charged twice.
    let status = structured(
        &call(
            &client,
            "payment.getStatus",
            json!({"entityId": approval_id}),
        )
        .await,
    );
    assert_eq!(status["status"], "pending");
    let payment_id = status["entityId"].as_str().unwrap().to_string();
    let retried = structured(&call(&client, "payment.create", big("bike-1")).await);
    assert_eq!(retried["paymentId"], payment_id.as_str());
    assert_eq!(retried["reused"], true);
    assert_eq!(gateway_creates(&w), 2);
}

#[tokio::test]
async fn an_approval_expires_and_then_cannot_be_given() {
    let w = World::new().await;
    let (client, _) = w
        .stdio_with(
            &[],
            &[THRESHOLD, ("PAYLINK_APPROVAL_TTL_SECS", "1")],
            Stdio::null(),
        )
        .await;
    let e = error_of(&call(&client, "payment.create", big("late")).await);
    let id = e["approval"]["approvalId"].as_str().unwrap().to_string();
    let url = e["approval"]["approvalUrl"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let (_, form) = open_page(&http, &url).await;
    let form = form.unwrap();
    let client_ref = &client;
    let id_ref = &id;
    wait_for(
        "the approval to expire",
        std::time::Duration::from_secs(10),
        || async move {
            let r = call(client_ref, "payment.getStatus", json!({"entityId": id_ref})).await;
            error_code(&r) == "confirmation_declined"
        },
    )
    .await;
    let (status, page) = answer(&http, &url, &form, "approve", None).await;
    assert_eq!(status, 410, "{page}");
    assert_eq!(gateway_creates(&w), 0, "an expired approval makes nothing");
    // The same call afterwards asks a person again, with a new approval.
    let again = error_of(&call(&client, "payment.create", big("late")).await);
    assert_eq!(again["code"], "confirmation_required");
    assert_ne!(again["approval"]["approvalId"], id.as_str());
}

#[tokio::test]
async fn a_declined_elicitation_creates_nothing_and_an_accepted_one_creates_the_payment() {
    let w = World::new().await;
    let no = Person::new(false);
    let client = stdio_person(&w, no.clone()).await;
    let e = error_of(&call(&client, "payment.create", big("ask-1")).await);
    assert_eq!(e["code"], "confirmation_declined", "{e}");
    assert_eq!(no.asked.load(Ordering::SeqCst), 1);
    let q = no.question.lock().unwrap().clone();
    assert!(
        q.contains("150")
            && q.contains("ana@gmail.com")
            && q.contains("Bicicleta")
            && q.contains("sandbox"),
        "{q}"
    );
    assert_eq!(
        gateway_creates(&w),
        0,
        "a declined request reaches no gateway"
    );
    // Retrying the declined request does not ask again and makes nothing.
    let e = error_of(&call(&client, "payment.create", big("ask-1")).await);
    assert_eq!(e["code"], "confirmation_declined");
    assert_eq!(gateway_creates(&w), 0);
    drop(client);

    let yes = Person::new(true);
    let client = stdio_person(&w, yes.clone()).await;
    let ok = structured(&call(&client, "payment.create", big("ask-2")).await);
    assert_eq!(ok["status"], "pending");
    assert_eq!(yes.asked.load(Ordering::SeqCst), 1);
    assert_eq!(gateway_creates(&w), 1);
    // A retry is the same payment and asks nobody again.
    let again = structured(&call(&client, "payment.create", big("ask-2")).await);
    assert_eq!(again["paymentId"], ok["paymentId"]);
    assert_eq!(yes.asked.load(Ordering::SeqCst), 1);
    assert_eq!(gateway_creates(&w), 1);
}

#[tokio::test]
async fn a_2026_client_is_asked_through_an_input_request_and_its_answer_decides() {
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    let w = World::new().await;
    let (_child, url) = w.http(&[THRESHOLD], &[]).await;
    for (yes, key) in [(false, "mrtr-no"), (true, "mrtr-yes")] {
        let person = Person::new(yes);
        let client = person
            .clone()
            .serve_with_lifecycle(
                StreamableHttpClientTransport::from_uri(url.clone()),
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                },
            )
            .await
            .unwrap();
        let r = call(&client, "payment.create", big(key)).await;
        assert_eq!(
            person.asked.load(Ordering::SeqCst),
            1,
            "asked once (yes = {yes})"
        );
        if yes {
            assert_eq!(structured(&r)["status"], "pending");
            assert_eq!(gateway_creates(&w), 1);
        } else {
            assert_eq!(error_code(&r), "confirmation_declined");
            assert_eq!(gateway_creates(&w), 0);
        }
    }
}

#[tokio::test]
async fn without_an_idempotency_key_an_approval_covers_identical_calls_only_within_the_window() {
    let w = World::new().await;
    let yes = Person::new(true);
    let mut env = w.env();
    env.push((THRESHOLD.0.into(), THRESHOLD.1.into()));
    env.push(("PAYLINK_IDEMPOTENCY_WINDOW_SECS".into(), "1".into()));
    let cmd = tokio::process::Command::new(BIN).configure(|c| {
        c.arg("serve").envs(env).kill_on_drop(true);
    });
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = yes.clone().serve(transport).await.unwrap();
    let args =
        json!({"amount": 150000, "description": "Bicicleta", "customerEmail": "ana@gmail.com"});
    let first = structured(&call(&client, "payment.create", args.clone()).await);
    let again = structured(&call(&client, "payment.create", args.clone()).await);
    assert_eq!(
        again["paymentId"], first["paymentId"],
        "within the window: the same payment"
    );
    assert_eq!(yes.asked.load(Ordering::SeqCst), 1);
    // Once the window has passed, identical arguments are a new payment: asked again.
    let decided = std::time::Instant::now();
    wait_for(
        "the idempotency window to pass",
        std::time::Duration::from_secs(5),
        || async move { decided.elapsed() > std::time::Duration::from_millis(1_500) },
    )
    .await;
    let later = structured(&call(&client, "payment.create", args).await);
    assert_ne!(later["paymentId"], first["paymentId"]);
    assert_eq!(
        yes.asked.load(Ordering::SeqCst),
        2,
        "a new payment needs a new yes"
    );
    assert_eq!(gateway_creates(&w), 2);
}

/// The approval page in a real browser: Chromium keeps the `SameSite=Strict` cookie and
/// sends its own `Origin`, and the click on Approve makes the payment once.
#[tokio::test]
async fn a_person_approves_in_headless_chromium_and_the_payment_is_made() {
    use crate::support::browser::{Browser, chromium_path};
    if chromium_path().is_none() {
        return;
    }
    let w = World::new().await;
    let (client, _) = w.stdio_with(&[], &[THRESHOLD], Stdio::null()).await;
    let e = error_of(&call(&client, "payment.create", big("browser-1")).await);
    let url = e["approval"]["approvalUrl"].as_str().unwrap().to_string();
    let approval = e["approval"]["approvalId"].as_str().unwrap().to_string();
    let mut browser = Browser::launch().await;
    browser
        .send("Page.navigate", json!({"url": url}))
        .await
        .unwrap();
    browser
        .wait_until(
            "the approval page",
            "document.getElementById('approve') !== null",
            20,
            |v| v == &json!(true),
        )
        .await;
    browser
        .eval("document.getElementById('approve').click(); true")
        .await
        .expect("click Approve");
    browser
        .wait_until(
            "the page to say approved",
            "document.getElementById('result') && document.getElementById('result').textContent",
            20,
            |v| v.as_str().is_some_and(|t| t.starts_with("Approved")),
        )
        .await;
    browser.close().await;
    assert_eq!(gateway_creates(&w), 1);
    let status =
        structured(&call(&client, "payment.getStatus", json!({"entityId": approval})).await);
    assert_eq!(status["status"], "pending");
}
