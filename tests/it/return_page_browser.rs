//! The return page as payers see it, in headless Chromium at a desktop width (1280 px)
//! and a phone's (390 px): Spanish by default, English when the browser asks for it; the
//! merchant named and linked; no internal id; nothing wider than the screen. Screenshots
//! go to `target/tmp/return-page-screenshots/` for a person to look at (never committed).
//! Everything runs on loopback: the in-process side listener and the offline Flow sandbox.

use std::path::PathBuf;

use base64::Engine;
use paylink::domain::PaymentStatus;
use paylink::payer::Merchant;
use paylink::sandbox::Outcome;
use serde_json::{Value, json};

use crate::support::browser::{Browser, chromium_path};
use crate::support::webhook::Harness;

/// A word with no break opportunity, longer than a phone is wide.
const LONG_WORD: &str = "Referencia:MATRICULA2026ACADEMIASOLPROGRAMAINTENSIVODEMATEMATICAS";

/// What the page shows, read from the DOM.
const READ_PAGE: &str = r#"(() => {
  const d = document.documentElement;
  const text = id => (document.getElementById(id) || {}).textContent || null;
  const over = [...document.querySelectorAll('body, body *')]
    .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth)
    .map(e => e.tagName + '#' + e.id + ' ' + e.scrollWidth + '>' + e.clientWidth);
  return JSON.stringify({
    href: location.href, ready: document.readyState, lang: d.lang,
    state: document.body && document.body.dataset.state || null,
    title: text('title'), message: text('message'), amount: text('amount'),
    description: text('description'), merchant: text('merchant'), back: text('back'),
    backHref: (document.getElementById('back') || {}).href || null,
    text: document.body ? document.body.innerText : '',
    html: d.outerHTML, viewport: window.innerWidth,
    docFits: d.scrollWidth <= d.clientWidth, over,
  });
})()"#;

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("return-page-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Sets the viewport width (a phone's is a touch device), asks for `accept_language`.
async fn set_up(browser: &mut Browser, width: u32, accept_language: &str) {
    let mobile = width < 600;
    browser
        .send(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": if mobile { 844 } else { 900 },
                   "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await
        .unwrap();
    browser.send("Network.enable", json!({})).await.unwrap();
    browser
        .send(
            "Network.setExtraHTTPHeaders",
            json!({"headers": {"Accept-Language": accept_language}}),
        )
        .await
        .unwrap();
}

/// Opens `url` and returns what the page shows once that document has loaded.
async fn open(browser: &mut Browser, url: &str) -> Value {
    browser
        .send("Page.navigate", json!({"url": url}))
        .await
        .unwrap();
    let seen = browser
        .wait_until(&format!("{url} to load"), READ_PAGE, 20, |v| {
            v.as_str()
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .is_some_and(|p| p["href"] == json!(url) && p["ready"] == json!("complete"))
        })
        .await;
    serde_json::from_str(seen.as_str().unwrap()).unwrap()
}

async fn screenshot(browser: &mut Browser, name: &str) {
    let shot = browser
        .send("Page.captureScreenshot", json!({"format": "png"}))
        .await
        .unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// One expected page: its state and, per language, its heading, a piece of its sentence
/// and its amount.
struct Expect {
    state: &'static str,
    es: [&'static str; 3],
    en: [&'static str; 3],
}

#[tokio::test]
async fn payers_read_the_return_page_in_spanish_or_english_on_a_desktop_and_a_phone() {
    if chromium_path().is_none() {
        return;
    }
    let h = Harness::start_with_options(
        |_| {},
        |o| {
            o.merchant_organization = "default".into();
            o.merchant = Merchant {
                name: Some("Academia Sol".into()),
                url: Some("https://academiasol.example".into()),
            };
        },
    )
    .await;
    let description = format!("Clase de matemáticas — {LONG_WORD}");
    let paid = h.create_described(15990, &description).await;
    let rejected = h.create_described(15990, &description).await;
    let pending = h.create_described(2500, &description).await;
    for (p, outcome) in [(&paid, Outcome::Paid), (&rejected, Outcome::Rejected)] {
        h.sandbox
            .sandbox
            .settle(&Harness::token(p), outcome)
            .await
            .unwrap();
    }
    h.wait_for(&paid.id, "paid", |p| p.status == PaymentStatus::Paid)
        .await;
    h.wait_for(&rejected.id, "rejected", |p| {
        p.status == PaymentStatus::Failed
    })
    .await;

    let cases = [
        (
            &paid,
            Expect {
                state: "paid",
                es: ["Pago recibido", "Recibimos tu pago", "$15.990"],
                en: [
                    "Payment received",
                    "We received your payment",
                    "CLP $15,990",
                ],
            },
        ),
        (
            &pending,
            Expect {
                state: "pending",
                es: [
                    "Pago pendiente",
                    "si ya pagaste, esta página se actualizará",
                    "$2.500",
                ],
                en: [
                    "Payment pending",
                    "if you already paid, this page will update",
                    "CLP $2,500",
                ],
            },
        ),
        (
            &rejected,
            Expect {
                state: "rejected",
                es: ["Pago rechazado", "no se hizo ningún cargo", "$15.990"],
                en: ["Payment declined", "nothing was charged", "CLP $15,990"],
            },
        ),
    ];

    let mut browser = Browser::launch().await;
    let mut visit = 0;
    for (lang, accept_language) in [("es", "es-CL,es;q=0.9"), ("en", "en-US,en;q=0.9")] {
        for width in [1280u32, 390] {
            set_up(&mut browser, width, accept_language).await;
            for (payment, want) in &cases {
                visit += 1;
                // A distinct address per visit, so the wait sees this load, not the last.
                let url = format!(
                    "{}/payment/return?token={}&visit={visit}",
                    h.base,
                    Harness::token(payment)
                );
                let page = open(&mut browser, &url).await;
                let name = format!("return-{}-{lang}-{width}", want.state);
                screenshot(&mut browser, &name).await;
                let [title, sentence, amount] = if lang == "es" { want.es } else { want.en };
                assert_eq!(page["lang"], lang, "{name}");
                assert_eq!(page["state"], want.state, "{name}");
                assert_eq!(page["viewport"], width, "{name}");
                assert_eq!(page["title"], title, "{name}");
                assert!(
                    page["message"].as_str().unwrap().contains(sentence),
                    "{name}: {}",
                    page["message"]
                );
                assert_eq!(page["amount"], amount, "{name}");
                assert_eq!(page["merchant"], "Academia Sol", "{name}");
                let back = if lang == "es" {
                    "Volver a Academia Sol"
                } else {
                    "Back to Academia Sol"
                };
                assert_eq!(page["back"], back, "{name}");
                assert_eq!(page["backHref"], "https://academiasol.example/", "{name}");
                let html = page["html"].as_str().unwrap();
                assert!(!html.contains("ent_"), "{name}: an internal id shows");
                assert!(!html.contains(&payment.id), "{name}: the payment id shows");
                if lang == "es" {
                    let text = page["text"].as_str().unwrap().to_lowercase();
                    for raw in ["paid", "pending", "rejected", "failed", "status"] {
                        assert!(!text.contains(raw), "{name} says {raw:?}: {text}");
                    }
                }
                assert_eq!(page["docFits"], true, "{name}: the page scrolls sideways");
                assert_eq!(page["over"], json!([]), "{name}: text overflows");
            }
        }
    }

    // The sandbox's pay page, which leads here, fits a phone too.
    set_up(&mut browser, 390, "es-CL").await;
    let link = pending.payment_link_url.clone().expect("a pay link");
    let page = open(&mut browser, &link).await;
    screenshot(&mut browser, "sandbox-pay-page-390").await;
    assert!(
        page["html"]
            .as_str()
            .unwrap()
            .contains("name=\"viewport\" content=\"width=device-width, initial-scale=1\""),
        "{page}"
    );
    assert_eq!(page["viewport"], 390, "{page}");
    assert_eq!(page["docFits"], true, "the pay page scrolls sideways");
    assert_eq!(page["over"], json!([]), "the pay page overflows");
    browser.close().await;
}
