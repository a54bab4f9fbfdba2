//! Settling an order and sending its confirmation: the one code path behind the pay page,
//! the control API's `POST /sandbox/settle` and [`Sandbox::settle`].
//!
//! Paid, rejected and cancelled POST `token=<token>` (urlencoded) to the order's
//! `urlConfirmation` once, with a 20 s timeout and no retries, and record
//! the HTTP status and latency; an answer that is not 200, takes over 15 s or never comes
//! is an "integration alert". A pending drop count swallows the confirmation instead.
//! Leaving an order pending (cash coupon) sends nothing. The state lock is released
//! before the confirmation is sent.

use std::time::{Duration, Instant};

use super::Sandbox;
use super::model::{ConfirmationRecord, Outcome, SandboxError, SettleReport};
use super::state::Delivery;

/// Flow alerts the merchant when a confirmation takes longer than this.
const ALERT_LATENCY: Duration = Duration::from_secs(15);

impl Sandbox {
    /// Settles the order with `token` and sends (or drops) its confirmation, which has
    /// been answered by the time this returns.
    pub async fn settle(
        &self,
        token: &str,
        outcome: Outcome,
    ) -> Result<SettleReport, SandboxError> {
        let now = self.now();
        let (status, delivery) = self.lock().settle(token, outcome, now)?;
        tracing::info!(token, ?outcome, "flow sandbox: order settled");
        let confirmation = match delivery {
            Delivery::None => None,
            Delivery::Drop { url } => Some(ConfirmationRecord {
                token: token.to_string(),
                url,
                http_status: None,
                latency_ms: 0,
                alert: false,
                error: None,
                dropped: true,
            }),
            Delivery::Send { url } => Some(self.confirm(token, url).await),
        };
        if let Some(record) = &confirmation {
            self.lock().confirmations.push(record.clone());
        }
        Ok(SettleReport {
            status,
            confirmation,
        })
    }

    /// POSTs `token` to `url` and measures the merchant's answer.
    pub(super) async fn confirm(&self, token: &str, url: String) -> ConfirmationRecord {
        let started = Instant::now();
        let result = self
            .http()
            .post(&url)
            .form(&[("token", token)])
            .send()
            .await;
        let (http_status, error) = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the body so the connection can be reused; its content is irrelevant.
                let _ = response.bytes().await;
                (Some(status), None)
            }
            Err(e) => (None, Some(e.to_string())),
        };
        let latency = started.elapsed();
        let alert = http_status != Some(200) || latency > ALERT_LATENCY;
        if alert {
            tracing::warn!(token, %url, ?http_status, ?error, latency_ms = latency.as_millis() as u64,
                "flow sandbox: confirmation would raise an integration alert");
        }
        ConfirmationRecord {
            token: token.to_string(),
            url,
            http_status,
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            alert,
            error,
            dropped: false,
        }
    }
}
