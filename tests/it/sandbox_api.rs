//! The offline Flow sandbox over real HTTP: signed requests from reqwest, a merchant
//! receiver on port 0 for confirmations, and the control API. No test sleeps blindly.

use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use paylink::gateway::flow::sign::sign;
use paylink::sandbox::{
    DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Fault, FaultKind, FaultTarget, Merchant, Outcome,
    RunningSandbox, Sandbox, SandboxConfig,
};
use serde_json::{Value, json};

use crate::support::wait_for;

type Params = Vec<(String, String)>;

/// `params` plus apiKey and a valid `s` for the given merchant.
fn signed_as(params: &[(&str, &str)], api_key: &str, secret: &str) -> Params {
    let mut all: Params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.push(("apiKey".into(), api_key.into()));
    let s = sign(
        all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        secret.as_bytes(),
    );
    all.push(("s".into(), s));
    all
}

fn signed(params: &[(&str, &str)]) -> Params {
    signed_as(params, DEFAULT_API_KEY, DEFAULT_SECRET_KEY)
}

/// A valid create request for `amount` CLP confirming to `confirm_url`, with `extra`
/// replacing or adding parameters.
fn order<'a>(
    commerce_order: &'a str,
    confirm_url: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("commerceOrder", commerce_order),
        ("subject", "Test order"),
        ("amount", "5000"),
        ("email", "payer@gmail.com"),
        ("urlConfirmation", confirm_url),
        ("urlReturn", "http://127.0.0.1:9/return"),
    ];
    params.retain(|(k, _)| extra.iter().all(|(e, _)| e != k));
    params.extend_from_slice(extra);
    params
}

const NOWHERE: &str = "http://127.0.0.1:9/confirm";

/// A running sandbox and one HTTP client (building a client loads TLS roots: ~50 ms).
struct Env {
    sb: RunningSandbox,
    http: reqwest::Client,
}

impl Env {
    async fn start() -> Env {
        Env::with(SandboxConfig::default()).await
    }

    async fn with(config: SandboxConfig) -> Env {
        let sb = Sandbox::start(config).await.unwrap();
        Env {
            sb,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    fn sandbox(&self) -> &Sandbox {
        &self.sb.sandbox
    }

    async fn json(resp: reqwest::Response) -> (u16, Value) {
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    async fn post_api(&self, service: &str, params: &Params) -> (u16, Value) {
        let url = format!("{}/{service}", self.sb.api_url);
        Env::json(self.http.post(url).form(params).send().await.unwrap()).await
    }

    async fn get_api(&self, service: &str, params: &Params) -> (u16, Value) {
        let url = format!("{}/{service}", self.sb.api_url);
        Env::json(self.http.get(url).query(params).send().await.unwrap()).await
    }

    async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}/sandbox/{path}", self.sb.base_url);
        Env::json(self.http.post(url).json(&body).send().await.unwrap()).await
    }

    /// Creates an order and returns its token.
    async fn create(&self, params: &[(&str, &str)]) -> String {
        let (status, body) = self.post_api("payment/create", &signed(params)).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    async fn status_of(&self, token: &str) -> Value {
        let (status, body) = self
            .get_api("payment/getStatus", &signed(&[("token", token)]))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn pay_page(&self, token: &str) -> (u16, String) {
        let url = format!("{}/app/web/pay.php?token={token}", self.sb.base_url);
        let resp = self.http.get(url).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}

/// A merchant endpoint on port 0 that records the tokens confirmed to it.
struct Receiver {
    url: String,
    tokens: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let seen = tokens.clone();
        let app = axum::Router::new().route(
            "/confirm",
            post(
                move |axum::Form(form): axum::Form<Vec<(String, String)>>| async move {
                    let token = form.into_iter().find(|(k, _)| k == "token").map(|(_, v)| v);
                    seen.lock().unwrap().extend(token);
                    "ok"
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/confirm", listener.local_addr().unwrap());
        tokio::spawn(axum::serve(listener, app).into_future());
        Receiver { url, tokens }
    }

    fn received(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }

    /// Waits until `token` has been confirmed; fails the test after five seconds.
    async fn wait_for(&self, token: &str) {
        let what = format!("the confirmation of {token}");
        wait_for(&what, Duration::from_secs(5), || async {
            self.received().iter().any(|t| t == token)
        })
        .await;
    }
}

fn multipart_body(params: &Params, boundary: &str) -> Vec<u8> {
    let mut body = String::new();
    for (name, value) in params {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    body.into_bytes()
}

#[tokio::test]
async fn create_over_urlencoded_returns_pay_url_token_and_flow_order() {
    let env = Env::start().await;
    let (status, body) = env
        .post_api("payment/create", &signed(&order("A-1", NOWHERE, &[])))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["url"], format!("{}/app/web/pay.php", env.sb.base_url));
    assert_eq!(body["token"].as_str().unwrap().len(), 40);
    assert!(body["flowOrder"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn create_over_multipart_is_accepted_like_flows_php_client() {
    let env = Env::start().await;
    let params = signed(&order("A-2", NOWHERE, &[("subject", "Pago de prueba ñ")]));
    let boundary = "----paylinkBoundary7MA4YWxkTrZu0gW";
    let resp = env
        .http
        .post(format!("{}/payment/create", env.sb.api_url))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(multipart_body(&params, boundary))
        .send()
        .await
        .unwrap();
    let (status, body) = Env::json(resp).await;
    assert_eq!(status, 200, "{body}");
    let status = env.status_of(body["token"].as_str().unwrap()).await;
    assert_eq!(status["subject"], "Pago de prueba ñ");
}

#[tokio::test]
async fn wrong_signature_is_rejected_with_401_code_108() {
    let env = Env::start().await;
    let mut params = signed(&order("A-3", NOWHERE, &[]));
    params.iter_mut().find(|(k, _)| k == "amount").unwrap().1 = "6000".into();
    let answer = env.post_api("payment/create", &params).await;
    assert_eq!(
        answer,
        (401, json!({"code": 108, "message": "Invalid Signature"}))
    );
}

#[tokio::test]
async fn unknown_api_key_is_rejected_with_401_code_108() {
    let env = Env::start().await;
    let params = signed_as(&order("A-4", NOWHERE, &[]), "NOT-A-KEY", DEFAULT_SECRET_KEY);
    let (status, body) = env.post_api("payment/create", &params).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(108)));
}

#[tokio::test]
async fn json_body_is_answered_with_missing_params() {
    let env = Env::start().await;
    let params: serde_json::Map<String, Value> = signed(&order("A-5", NOWHERE, &[]))
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let url = format!("{}/payment/create", env.sb.api_url);
    let answer = Env::json(env.http.post(url).json(&params).send().await.unwrap()).await;
    assert_eq!(
        answer,
        (
            400,
            json!({"code": 100, "message": "There's some missing params"})
        )
    );
}

/// Tries a create with one parameter replaced or added.
async fn create_with(name: &str, value: &str) -> (u16, Value) {
    let env = Env::start().await;
    let params = signed(&order("B-1", NOWHERE, &[(name, value)]));
    env.post_api("payment/create", &params).await
}

#[tokio::test]
async fn clp_amount_below_350_is_refused_with_1901() {
    let expected = json!({"code": 1901, "message": "The minimum amount is 350 CLP"});
    assert_eq!(create_with("amount", "100").await, (400, expected));
}

#[tokio::test]
async fn example_com_email_is_refused_with_1620() {
    let expected =
        json!({"code": 1620, "message": "The userEmail: laboratorio@example.com is not valid."});
    assert_eq!(
        create_with("email", "laboratorio@example.com").await,
        (400, expected)
    );
}

#[tokio::test]
async fn currency_not_enabled_is_refused_with_1990() {
    let expected = json!({"code": 1990, "message": "Commerce has not this currency pay 'EUR'"});
    assert_eq!(create_with("currency", "EUR").await, (400, expected));
}

#[tokio::test]
async fn clp_amount_with_decimals_is_refused_but_zero_decimals_are_fine() {
    let (status, body) = create_with("amount", "5000.5").await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(1902)));
    let (status, body) = create_with("amount", "5000.00").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn values_with_plus_spaces_ampersands_enye_and_quotes_survive_the_round_trip() {
    let env = Env::start().await;
    let optional = r#"{"rut":"9999999-9","note":"a \"quoted\" & b"}"#;
    let subject = "Pago de prueba ñ \"único\" + 'más' & más";
    let params = [
        ("commerceOrder", "ORD 1+2&3"),
        ("subject", subject),
        ("amount", "5000"),
        ("email", "a+b@gmail.com"),
        ("urlConfirmation", "http://127.0.0.1:9/confirm?x=1&y=a+b"),
        ("urlReturn", "https://m.example/return?x=1&y=2"),
        ("optional", optional),
    ];
    let status = env.status_of(&env.create(&params).await).await;
    assert_eq!(status["commerceOrder"], "ORD 1+2&3");
    assert_eq!(status["subject"], subject);
    assert_eq!(status["payer"], "a+b@gmail.com");
    assert_eq!(
        status["optional"],
        serde_json::from_str::<Value>(optional).unwrap()
    );
    assert_eq!(status["amount"], json!(5000));
    let by_commerce = signed(&[("commerceId", "ORD 1+2&3")]);
    let (_, found) = env
        .get_api("payment/getStatusByCommerceId", &by_commerce)
        .await;
    assert_eq!(found["flowOrder"], status["flowOrder"]);
}

#[tokio::test]
async fn settling_paid_makes_get_status_report_2_with_fee_and_balance() {
    let env = Env::start().await;
    let receiver = Receiver::start().await;
    let token = env.create(&order("C-1", &receiver.url, &[])).await;
    let before = env.status_of(&token).await;
    assert_eq!(
        (before["status"].as_i64(), &before["paymentData"]),
        (Some(1), &Value::Null)
    );
    assert_eq!(before["pending_info"], json!({"media": null, "date": null}));
    env.sandbox().settle(&token, Outcome::Paid).await.unwrap();
    let after = env.status_of(&token).await;
    assert_eq!(after["status"], 2);
    let data = &after["paymentData"];
    let money = [&data["amount"], &data["fee"], &data["balance"]];
    assert_eq!(money, [&json!(5000), &json!(160), &json!(4840)]);
    assert_eq!(
        (data["media"].as_str(), data["currency"].as_str()),
        (Some("webpay"), Some("CLP"))
    );
    let by_flow_order = signed(&[("flowOrder", &after["flowOrder"].to_string())]);
    let answer = env
        .get_api("payment/getStatusByFlowOrder", &by_flow_order)
        .await;
    assert_eq!(answer, (200, after));
}

#[tokio::test]
async fn confirmation_is_delivered_to_the_merchant_receiver() {
    let env = Env::start().await;
    let receiver = Receiver::start().await;
    let token = env.create(&order("D-1", &receiver.url, &[])).await;
    let report = env
        .sandbox()
        .settle(&token, Outcome::Rejected)
        .await
        .unwrap();
    assert_eq!(report.status["status"], 3);
    receiver.wait_for(&token).await;
    let record = report.confirmation.unwrap();
    assert_eq!(
        (record.http_status, record.alert, record.dropped),
        (Some(200), false, false)
    );
    assert_eq!(env.sandbox().confirmations(), vec![record]);
}

#[tokio::test]
async fn dropped_confirmations_are_recorded_and_never_delivered() {
    let env = Env::start().await;
    let receiver = Receiver::start().await;
    let first = env.create(&order("E-1", &receiver.url, &[])).await;
    let (status, _) = env.control("confirmations/drop", json!({"count": 1})).await;
    assert_eq!(status, 200);
    let report = env.sandbox().settle(&first, Outcome::Paid).await.unwrap();
    assert!(report.confirmation.unwrap().dropped);
    // The next order is confirmed normally: once it arrives, the first provably never will.
    let second = env.create(&order("E-2", &receiver.url, &[])).await;
    env.sandbox().settle(&second, Outcome::Paid).await.unwrap();
    receiver.wait_for(&second).await;
    assert_eq!(receiver.received(), vec![second]);
    let dropped: Vec<bool> = env
        .sandbox()
        .confirmations()
        .iter()
        .map(|r| r.dropped)
        .collect();
    assert_eq!(dropped, vec![true, false]);
}

#[tokio::test]
async fn timeout_and_advanced_clock_cancel_the_order_and_settle_is_refused() {
    let env = Env::start().await;
    let token = env
        .create(&order("F-1", NOWHERE, &[("timeout", "600")]))
        .await;
    env.sandbox().advance_clock(599);
    assert_eq!(env.status_of(&token).await["status"], 1);
    assert_eq!(
        env.control("clock/advance", json!({"seconds": 1})).await.0,
        200
    );
    assert_eq!(env.status_of(&token).await["status"], 4);
    assert!(env.sandbox().settle(&token, Outcome::Paid).await.is_err());
    let (status, _) = env
        .control("settle", json!({"token": token, "outcome": "paid"}))
        .await;
    assert_eq!(status, 409);
    let (_, html) = env.pay_page(&token).await;
    assert!(
        html.contains("expired") && !html.contains("id=\"pay\""),
        "{html}"
    );
}

#[tokio::test]
async fn pay_page_shows_four_buttons_and_paying_auto_posts_the_token_to_url_return() {
    let env = Env::start().await;
    let receiver = Receiver::start().await;
    let extra = [("urlReturn", "https://shop.cl/return?a=1&b=2")];
    let token = env.create(&order("G-1 <b>", &receiver.url, &extra)).await;
    let (status, html) = env.pay_page(&token).await;
    assert_eq!(status, 200);
    assert!(html.contains("<title>Flow sandbox — pay</title>"));
    for id in ["pay", "reject", "cancel", "pending"] {
        assert!(
            html.contains(&format!("id=\"{id}\" value=\"{id}\"")),
            "{id}: {html}"
        );
    }
    assert!(html.contains("G-1 &lt;b&gt;") && html.contains("5000 CLP"));
    assert!(html.contains("payer@gmail.com"));
    let url = format!("{}/app/web/pay.php", env.sb.base_url);
    let form = [("token", token.as_str()), ("action", "pay")];
    let resp = env.http.post(&url).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    let action = "<form method=\"post\" action=\"https://shop.cl/return?a=1&amp;b=2\">";
    assert!(html.contains(action), "{html}");
    assert!(html.contains(&format!("name=\"token\" value=\"{token}\"")));
    assert!(html.contains("<script>document.forms[0].submit()</script>"));
    receiver.wait_for(&token).await;
    let (_, again) = env.pay_page(&token).await;
    assert!(again.contains("paid") && !again.contains("id=\"pay\""));
    assert_eq!(env.pay_page("NOPE").await.0, 404);
}

#[tokio::test]
async fn leaving_an_order_pending_issues_a_coupon_and_sends_no_confirmation() {
    let env = Env::start().await;
    let receiver = Receiver::start().await;
    let token = env.create(&order("H-1", &receiver.url, &[])).await;
    let (status, report) = env
        .control("settle", json!({"token": token, "outcome": "pending"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(report["confirmation"], Value::Null);
    assert_eq!(report["status"]["status"], 1);
    assert_eq!(report["status"]["pending_info"]["media"], "Multicaja");
    assert!(env.sandbox().confirmations().is_empty());
    // The coupon is paid later: now the confirmation goes out, and a final order stays final.
    env.sandbox().settle(&token, Outcome::Paid).await.unwrap();
    receiver.wait_for(&token).await;
    assert!(
        env.sandbox()
            .settle(&token, Outcome::Rejected)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn http500_fault_with_times_one_affects_exactly_one_request() {
    let env = Env::start().await;
    let fault = json!({"target": "create", "kind": {"kind": "http500"}, "times": 1});
    assert_eq!(env.control("faults", fault).await.0, 200);
    let params = signed(&order("I-1", NOWHERE, &[]));
    let url = format!("{}/payment/create", env.sb.api_url);
    let first = env.http.post(&url).form(&params).send().await.unwrap();
    assert_eq!(first.status(), 500);
    assert_eq!(first.text().await.unwrap(), "internal error");
    assert_eq!(env.post_api("payment/create", &params).await.0, 200);
    let outcomes: Vec<_> = env
        .sandbox()
        .requests()
        .into_iter()
        .map(|r| (r.http_status, r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![(500, "fault:http500".into()), (200, "ok".into())]
    );
}

#[tokio::test]
async fn close_connection_and_malformed_body_faults_break_the_answer() {
    let env = Env::start().await;
    let close = Fault {
        target: FaultTarget::GetStatus,
        kind: FaultKind::CloseConnection,
        times: Some(1),
    };
    env.sandbox().add_fault(close);
    let malformed = Fault {
        target: FaultTarget::Any,
        kind: FaultKind::MalformedBody,
        times: Some(1),
    };
    env.sandbox().add_fault(malformed);
    let params = signed(&[("token", "X")]);
    let url = format!("{}/payment/getStatus", env.sb.api_url);
    let closed = env.http.get(&url).query(&params).send().await;
    assert!(closed.is_err(), "{closed:?}");
    let malformed = env.http.get(&url).query(&params).send().await.unwrap();
    assert_eq!(malformed.status(), 200);
    assert!(malformed.json::<Value>().await.is_err());
    let (status, body) = env.get_api("payment/getStatus", &params).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Transaction not found"))
    );
}

#[tokio::test]
async fn close_connection_still_breaks_the_answer_when_the_router_is_served_elsewhere() {
    let sandbox = Sandbox::new(SandboxConfig::default());
    let close = Fault {
        target: FaultTarget::Any,
        kind: FaultKind::CloseConnection,
        times: None,
    };
    sandbox.add_fault(close);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/api/payment/getStatus",
        listener.local_addr().unwrap()
    );
    tokio::spawn(axum::serve(listener, sandbox.router()).into_future());
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let result = match http
        .get(&url)
        .query(&signed(&[("token", "X")]))
        .send()
        .await
    {
        Ok(resp) => resp.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(result.is_err());
}

#[tokio::test]
async fn orders_of_another_merchant_are_not_found() {
    let other = Merchant {
        api_key: "OTHER-KEY".into(),
        secret_key: "other-secret".into(),
        currencies: vec!["CLP".into()],
    };
    let env = Env::with(SandboxConfig {
        merchants: vec![Merchant::default(), other],
    })
    .await;
    let token = env.create(&order("J-1", NOWHERE, &[])).await;
    let params = signed_as(&[("token", &token)], "OTHER-KEY", "other-secret");
    let answer = env.get_api("payment/getStatus", &params).await;
    assert_eq!(
        answer,
        (
            400,
            json!({"code": 404, "message": "Transaction not found"})
        )
    );
}

#[tokio::test]
async fn get_status_by_commerce_id_prefers_the_paid_order_else_the_latest() {
    let env = Env::start().await;
    let first = env.create(&order("L-1", NOWHERE, &[])).await;
    let second = env
        .create(&order("L-1", NOWHERE, &[("amount", "6000")]))
        .await;
    let params = signed(&[("commerceId", "L-1")]);
    let found = env
        .get_api("payment/getStatusByCommerceId", &params)
        .await
        .1;
    assert_eq!(
        found["flowOrder"],
        env.status_of(&second).await["flowOrder"]
    );
    env.sandbox().settle(&first, Outcome::Paid).await.unwrap();
    let found = env
        .get_api("payment/getStatusByCommerceId", &params)
        .await
        .1;
    assert_eq!(found["flowOrder"], env.status_of(&first).await["flowOrder"]);
}

#[tokio::test]
async fn requests_log_lists_what_came_in_without_the_signature() {
    let env = Env::start().await;
    let token = env.create(&order("K-1", NOWHERE, &[])).await;
    env.status_of(&token).await;
    let url = format!("{}/sandbox/requests", env.sb.base_url);
    let logged: Vec<Value> = env
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let calls: Vec<_> = logged
        .iter()
        .map(|r| (r["method"].clone(), r["endpoint"].clone()))
        .collect();
    assert_eq!(
        calls,
        [
            (json!("POST"), json!("payment/create")),
            (json!("GET"), json!("payment/getStatus"))
        ]
    );
    let requests = env.sandbox().requests();
    let expected = vec![
        ("token".to_string(), token),
        ("apiKey".to_string(), DEFAULT_API_KEY.to_string()),
    ];
    assert_eq!(requests[1].params, expected);
    assert!(
        requests
            .iter()
            .all(|r| r.api_key.as_deref() == Some(DEFAULT_API_KEY) && r.outcome == "ok")
    );
    assert!(
        requests
            .iter()
            .all(|r| r.params.iter().all(|(k, _)| k != "s"))
    );
}

#[tokio::test]
async fn the_control_index_lists_every_route_and_each_listed_read_answers() {
    let env = Env::start().await;
    for index_path in ["/sandbox/", "/sandbox"] {
        let resp = env
            .http
            .get(format!("{}{index_path}", env.sb.base_url))
            .send()
            .await
            .unwrap();
        let (status, index) = Env::json(resp).await;
        assert_eq!((status, &index["sandbox"]), (200, &json!("flow")));
        let routes = index["routes"].as_array().unwrap();
        let listed: Vec<(&str, &str)> = routes
            .iter()
            .map(|r| (r["method"].as_str().unwrap(), r["path"].as_str().unwrap()))
            .collect();
        for route in [
            ("POST", "/sandbox/settle"),
            ("POST", "/sandbox/clock/advance"),
            ("POST", "/sandbox/faults"),
            ("POST", "/sandbox/confirmations/drop"),
            ("POST", "/sandbox/refunds/{token}/{action}"),
        ] {
            assert!(listed.contains(&route), "{route:?} in {listed:?}");
        }
        assert!(routes.iter().all(|r| r["description"].is_string()));
        // Every listed read that takes no path parameter answers 200: the index does not
        // advertise a route that is not served.
        for (method, path) in &listed {
            if *method == "GET" && !path.contains('{') {
                let resp = env
                    .http
                    .get(format!("{}{path}", env.sb.base_url))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 200, "GET {path}");
            }
        }
    }
}
