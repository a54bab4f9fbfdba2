//! `paylink trigger paid|rejected|cancelled <paymentId>`: settles a payment made on an
//! offline sandbox from the shell, as `stripe trigger` does, while `paylink serve` (or
//! `paylink demo --keep-open`) runs.
//!
//! The payment is read from the ledger (through the running serve's owner socket when it
//! holds the ledger, see [`crate::owner`]); its link names the sandbox that made it (the
//! built-in sandbox runs inside `paylink serve` on a loopback port, `paylink sandbox` on
//! the ports it prints), and that sandbox's control API settles it: Flow's
//! `POST /sandbox/settle {"token","outcome"}`, Stripe's `{"session","outcome"}`. The
//! sandbox then sends its confirmation (Flow) or signed event (Stripe) to paylink, which
//! records the change as it would a real one.
//!
//! It refuses, before anything is sent: an unknown payment, one already paid or failed,
//! one with no gateway order yet, one of the production environment, and one whose link
//! is not on loopback over plain http (a real gateway is never called). A loopback
//! server that is not one of paylink's sandboxes (its `GET /sandbox/` does not name the
//! payment's gateway) is refused too.

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{open_existing_store, shown};
use crate::config::Settings;
use crate::domain::{Environment, Payment, PaymentStatus};
use crate::gateway::GatewayKind;

/// What the payer did, as the sandbox's pay page would record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Outcome {
    /// The payer paid.
    Paid,
    /// The payment was rejected (Flow status 3; Stripe: the card is declined, and the
    /// Checkout Session stays open as Stripe's does).
    Rejected,
    /// The payer cancelled (Flow status 4; Stripe: the Checkout Session expires).
    Cancelled,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Paid => "paid",
            Outcome::Rejected => "rejected",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// The body of the sandbox's `POST /sandbox/settle` for this gateway.
    fn settle_body(self, gateway: GatewayKind, token: &str) -> Value {
        match gateway {
            GatewayKind::Flow => json!({"token": token, "outcome": self.as_str()}),
            GatewayKind::Stripe => {
                let outcome = match self {
                    Outcome::Paid => "paid",
                    Outcome::Rejected => "declined",
                    Outcome::Cancelled => "expired",
                };
                json!({"session": token, "outcome": outcome})
            }
        }
    }
}

/// The base URL (`http://127.0.0.1:PORT`) of the sandbox a payment link points at, or why
/// the link cannot be an offline sandbox's: only plain http on a loopback address (or
/// `localhost`) is accepted, so a real gateway is never called.
pub(crate) fn sandbox_base(link: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(link).map_err(|_| format!("its link {link:?} is not a URL"))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() != "http" || !loopback {
        return Err(format!(
            "its link {link} is not on an offline sandbox on this machine; trigger never \
             touches a real gateway (pay it on the gateway's own page)"
        ));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    Ok(format!("http://{host}:{port}"))
}

/// Why `p` cannot be triggered, before anything is sent; else the sandbox's base URL and
/// the payment's gateway token.
fn target(p: &Payment) -> anyhow::Result<(String, String)> {
    let id = shown(&p.id);
    if p.status.is_final() {
        bail!(
            "payment {id} is already {}: only a pending payment can be settled",
            p.status.as_str()
        );
    }
    if p.environment == Environment::Production {
        bail!("payment {id} is a production payment: trigger only settles sandbox payments");
    }
    let (Some(link), Some(token), PaymentStatus::Pending) =
        (&p.payment_link_url, &p.gateway_token, p.status)
    else {
        bail!("payment {id} has no gateway order yet (status draft): nothing to settle");
    };
    let base = sandbox_base(link).map_err(|why| anyhow::anyhow!("payment {id}: {why}"))?;
    Ok((base, token.clone()))
}

pub async fn run(
    outcome: Outcome,
    id: &str,
    settings: &Settings,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let payment = {
        let store = open_existing_store(settings).await?;
        store.get(id).await?.with_context(|| {
            format!(
                "no payment {:?} in the ledger at {}",
                shown(id),
                shown(&settings.data_dir.display().to_string())
            )
        })?
        // The store is closed here: with nothing running, the ledger is free again for
        // a serve that receives the sandbox's confirmation.
    };
    let (base, token) = target(&payment)?;
    let gateway = payment.gateway;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;

    // Is this one of paylink's sandboxes, for this gateway? Its index says which.
    let index = http.get(format!("{base}/sandbox/")).send().await;
    let which = match index {
        Err(e) if e.is_connect() => bail!(
            "payment {}: its sandbox at {base} is not running (the built-in sandbox lives \
             inside the paylink serve that made the payment, and its orders die with it)",
            shown(&payment.id)
        ),
        Err(e) => bail!("cannot reach the sandbox at {base}: {e}"),
        Ok(r) => r.json::<Value>().await.ok(),
    };
    if which.as_ref().and_then(|v| v["sandbox"].as_str()) != Some(gateway.as_str()) {
        bail!(
            "payment {}: {base} is not paylink's offline {gateway} sandbox; trigger only \
             settles payments made on one",
            shown(&payment.id)
        );
    }

    let resp = http
        .post(format!("{base}/sandbox/settle"))
        .json(&outcome.settle_body(gateway, &token))
        .send()
        .await
        .with_context(|| format!("cannot reach the sandbox at {base}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let why = body["error"].as_str().unwrap_or("no reason given");
        bail!(
            "the {gateway} sandbox refused to settle payment {} (HTTP {}): {why}",
            shown(&payment.id),
            status.as_u16()
        );
    }
    writeln!(
        out,
        "payment {} settled {} on the offline {gateway} sandbox at {base}",
        shown(&payment.id),
        outcome.as_str()
    )?;
    if gateway == GatewayKind::Flow {
        match body["confirmation"]["url"].as_str() {
            Some(url) => writeln!(
                out,
                "Flow's confirmation went to {} (HTTP {})",
                shown(url),
                body["confirmation"]["http_status"]
            )?,
            None => writeln!(out, "no confirmation was sent")?,
        }
    } else if outcome == Outcome::Rejected {
        writeln!(
            out,
            "the card was declined; the Checkout Session stays open, as Stripe's does"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sandbox_base;

    #[test]
    fn only_plain_http_on_loopback_is_taken_for_a_sandbox() {
        for (link, base) in [
            (
                "http://127.0.0.1:41234/app/web/pay.php?token=T",
                "http://127.0.0.1:41234",
            ),
            ("http://localhost:9200/c/pay/cs_1", "http://localhost:9200"),
            ("http://[::1]:9100/app/web/pay.php", "http://[::1]:9100"),
        ] {
            assert_eq!(sandbox_base(link).as_deref(), Ok(base), "{link}");
        }
        for link in [
            "https://www.flow.cl/app/web/pay.php?token=T",
            "https://sandbox.flow.cl/app/web/pay.php?token=T",
            "https://checkout.stripe.com/c/pay/cs_test_1",
            "https://127.0.0.1:9100/app/web/pay.php",
            "http://10.0.0.5:9100/app/web/pay.php",
            "http://127.0.0.1.example.com/app/web/pay.php",
            "not a url",
        ] {
            assert!(sandbox_base(link).is_err(), "{link}");
        }
    }
}
