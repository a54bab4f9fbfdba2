//! The return page is public: a burst of requests for one token, or for tokens nobody
//! issued, must not become a burst of signed Flow calls. Real binary, real side listener,
//! the offline Flow sandbox counting what reaches it.

use paylink::sandbox::Outcome;
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::json;

use crate::support::{World, call, structured, token_of};

fn get_status_calls(w: &World) -> usize {
    w.sandbox
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint == "payment/getStatus")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_page_storm_makes_a_bounded_number_of_gateway_calls() {
    let w = World::new().await;
    let (_child, url, side) = w.http_with_listener(&[], &[]).await;
    let client = ().serve(StreamableHttpClientTransport::from_uri(url)).await.unwrap();
    let created = call(
        &client,
        "payment.create",
        json!({"amount": 5000, "description": "Clase", "customerEmail": "ana@gmail.com"}),
    )
    .await;
    let token = token_of(&structured(&created));

    // The payer pays, but Flow's confirmation never reaches paylink: only a live check
    // can show the page "paid".
    w.sandbox.sandbox.drop_next_confirmations(1);
    w.sandbox
        .sandbox
        .settle(&token, Outcome::Paid)
        .await
        .unwrap();
    let before = get_status_calls(&w);

    let http = reqwest::Client::new();
    let mut pages = Vec::new();
    for i in 0..400 {
        let t = if i % 2 == 0 {
            token.clone()
        } else {
            format!("UNKNOWN{i:04}{}", rand_suffix(i))
        };
        let (http, url) = (http.clone(), format!("{side}/payment/return?token={t}"));
        pages.push(tokio::spawn(async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    for (i, page) in pages.into_iter().enumerate() {
        let (status, html) = page.await.unwrap();
        if i % 2 == 0 {
            assert_eq!(status, 200, "{html}");
            assert!(html.contains("data-state=\"paid\""), "{html}");
        } else {
            assert_eq!(status, 404, "{html}");
        }
    }
    let calls = get_status_calls(&w) - before;
    assert!(
        (1..=3).contains(&calls),
        "400 return-page requests made {calls} getStatus calls"
    );
    let _ = client.cancel().await;
}

/// A token-shaped suffix that differs per request.
fn rand_suffix(i: usize) -> String {
    format!("{:x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}
