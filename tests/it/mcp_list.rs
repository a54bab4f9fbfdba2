//! `payment.list` through the real binary over HTTP: filters, pages that neither overlap
//! nor skip, refused arguments, and never another organization's payments.

use std::collections::BTreeSet;

use paylink::sandbox::Outcome;
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::support::*;

const ACME: &str = "acme-token-0123456789abcdef";
const GLOBEX: &str = "globex-token-0123456789abcdef";

async fn connect(url: &str, token: &str) -> Client {
    let cfg = StreamableHttpClientTransportConfig::with_uri(url.to_string())
        .auth_header(token.to_string());
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    Recorder(tx)
        .serve(StreamableHttpClientTransport::from_config(cfg))
        .await
        .unwrap()
}

async fn create(c: &Client, n: u32, email: &str, entity: &str) -> Value {
    structured(
        &call(
            c,
            "payment.create",
            json!({"amount": 1000 + n, "description": format!("Clase {n}"), "customerEmail": email, "entityId": entity, "idempotencyKey": format!("list-{n}")}),
        )
        .await,
    )
}

async fn list(c: &Client, args: Value) -> Value {
    structured(&call(c, "payment.list", args).await)
}

fn ids(page: &Value) -> Vec<String> {
    page["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["paymentId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn payment_list_filters_pages_and_never_shows_another_organizations_payments() {
    let w = World::new().await;
    let tokens = format!("{ACME}=acme,{GLOBEX}=globex");
    let (_child, url) = w.http(&[("PAYLINK_HTTP_TOKENS", &tokens)], &[]).await;
    let acme = connect(&url, ACME).await;
    let globex = connect(&url, GLOBEX).await;

    let mut made = Vec::new();
    for n in 0..5 {
        let email = if n % 2 == 0 {
            "ana@gmail.com"
        } else {
            "beto@gmail.com"
        };
        made.push(create(&acme, n, email, &format!("booking-{}", n % 3)).await);
    }
    let theirs = create(&globex, 99, "ana@gmail.com", "booking-0").await;
    w.sandbox
        .sandbox
        .settle(&token_of(&made[2]), Outcome::Paid)
        .await
        .unwrap();
    // The payment is paid at the gateway; getStatus records it.
    call(
        &acme,
        "payment.getStatus",
        json!({"entityId": made[2]["paymentId"]}),
    )
    .await;

    // Everything of acme's, newest first, and nothing of globex's.
    let all = list(&acme, json!({})).await;
    let want: Vec<String> = made
        .iter()
        .rev()
        .map(|m| m["paymentId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids(&all), want);
    assert!(all.get("nextCursor").is_none());
    let r = call(&acme, "payment.list", json!({})).await;
    let text = r.content[0].as_text().unwrap().text.clone();
    assert!(
        text.starts_with("5 payments, newest first; 1 of them paid."),
        "{text}"
    );

    // Filters.
    let ana = list(&acme, json!({"customerEmail": "ANA@gmail.com"})).await;
    assert_eq!(ids(&ana).len(), 3);
    assert!(!ids(&ana).contains(&theirs["paymentId"].as_str().unwrap().to_string()));
    let paid = list(&acme, json!({"status": "paid"})).await;
    assert_eq!(ids(&paid), [made[2]["paymentId"].as_str().unwrap()]);
    assert_eq!(paid["payments"][0]["amount"], 1002);
    assert_eq!(paid["payments"][0]["currency"], "CLP");
    let booking = list(&acme, json!({"entityId": "booking-0"})).await;
    assert_eq!(ids(&booking).len(), 2);
    let future = list(&acme, json!({"createdFrom": "2099-01-01T00:00:00Z"})).await;
    assert!(ids(&future).is_empty());

    // Pages of two: all five, in order, no overlap.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut args = json!({"limit": 2});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = list(&acme, args).await;
        seen.extend(ids(&page));
        cursor = page
            .get("nextCursor")
            .and_then(|c| c.as_str())
            .map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, want);

    // globex sees its own only, even with a cursor taken from acme's listing.
    let g = list(&globex, json!({})).await;
    assert_eq!(ids(&g), [theirs["paymentId"].as_str().unwrap()]);
    let acme_page = list(&acme, json!({"limit": 1})).await;
    let acme_cursor = acme_page["nextCursor"].as_str().unwrap();
    let g2 = list(&globex, json!({"cursor": acme_cursor})).await;
    let g2_ids: BTreeSet<String> = ids(&g2).into_iter().collect();
    assert!(
        g2_ids
            .iter()
            .all(|id| *id == theirs["paymentId"].as_str().unwrap()),
        "{g2}"
    );

    // Refused arguments say which and change nothing.
    for (args, field) in [
        (json!({"limit": 500}), "limit"),
        (json!({"cursor": "garbage"}), "cursor"),
        (json!({"organization": "acme"}), "organization"),
        (json!({"status": "refunded"}), "status"),
    ] {
        let r = call(&globex, "payment.list", args.clone()).await;
        assert_eq!(error_code(&r), "invalid_arguments", "{args}");
        assert_eq!(error_of(&r)["field"], field, "{args}");
    }
    // The snake spelling works too.
    let r = call(&acme, "payment_list", json!({"limit": 1})).await;
    assert_ne!(r.is_error, Some(true));
}
