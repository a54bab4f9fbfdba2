//! Moving a ledger between backends (`paylink ledger export` / `paylink ledger import`),
//! e.g. from sled to PostgreSQL, without losing history.
//!
//! The format is JSON lines. The first line is a header
//! (`{"kind":"paylink-ledger","format":1,...}`); then one line per payment, oldest first,
//! carrying the payment as stored, all its events and the idempotency claim that names it;
//! then one line per integration config, still sealed (the master key is not in the file:
//! move `master.key` or `PAYLINK_MASTER_KEY` with it); then (format 2) one line per record
//! kept beside the payments — approvals and refunds ([`super::records::KINDS`]). The confirmation log is not moved:
//! it holds hints already acted on.
//!
//! Import inserts each record as it is and skips a payment whose id the target already
//! holds, so an import cut short can simply be run again. A config already in the target
//! is left as it is (the target's own keys win) and counted as skipped.

use std::io::{BufRead, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::{ClaimRecord, Store, StoreError};
use crate::domain::{Payment, PaymentEvent};

/// The version of the file format.
pub const FORMAT: u32 = 2;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum Line {
    #[serde(rename = "paylink-ledger")]
    Header {
        format: u32,
        #[serde(rename = "exportedAt")]
        exported_at: String,
        payments: u64,
    },
    Payment {
        payment: Box<Payment>,
        events: Vec<PaymentEvent>,
        claim: Option<ClaimRecord>,
    },
    Config {
        organization: String,
        environment: String,
        /// The sealed config bytes, base64.
        sealed: String,
    },
    Record {
        #[serde(rename = "recordKind")]
        record_kind: String,
        key: String,
        /// The record's bytes, base64.
        value: String,
    },
}

/// What an export or import moved.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Moved {
    pub payments: u64,
    pub events: u64,
    pub claims: u64,
    pub configs: u64,
    /// Approvals, refunds and their indexes.
    pub records: u64,
    /// Payments, configs and records the target already held (left untouched).
    pub skipped: u64,
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Io(format!("cannot write the export: {e}"))
}

/// Writes the whole ledger to `out`.
pub async fn export(store: &Store, out: &mut dyn Write) -> Result<Moved, StoreError> {
    let mut payments = store.list(None, None, usize::MAX).await?;
    payments.reverse(); // oldest first
    let mut moved = Moved::default();
    let header = Line::Header {
        format: FORMAT,
        exported_at: crate::domain::Timestamp::now().rfc3339(),
        payments: payments.len() as u64,
    };
    writeln!(
        out,
        "{}",
        serde_json::to_string(&header).map_err(|e| StoreError::Io(e.to_string()))?
    )
    .map_err(io)?;
    for p in payments {
        let events = store.events(&p.id).await?;
        let claim = store.claim_of(&p).await?;
        moved.payments += 1;
        moved.events += events.len() as u64;
        moved.claims += u64::from(claim.is_some());
        let line = Line::Payment {
            payment: Box::new(p),
            events,
            claim,
        };
        writeln!(
            out,
            "{}",
            serde_json::to_string(&line).map_err(|e| StoreError::Io(e.to_string()))?
        )
        .map_err(io)?;
    }
    for (organization, environment, bytes) in store.list_configs().await? {
        moved.configs += 1;
        let line = Line::Config {
            organization,
            environment,
            sealed: BASE64.encode(bytes),
        };
        writeln!(
            out,
            "{}",
            serde_json::to_string(&line).map_err(|e| StoreError::Io(e.to_string()))?
        )
        .map_err(io)?;
    }
    for kind in super::records::KINDS {
        for (key, bytes) in store.record_scan(kind).await? {
            moved.records += 1;
            let line = Line::Record {
                record_kind: kind.to_string(),
                key,
                value: BASE64.encode(bytes),
            };
            writeln!(
                out,
                "{}",
                serde_json::to_string(&line).map_err(|e| StoreError::Io(e.to_string()))?
            )
            .map_err(io)?;
        }
    }
    out.flush().map_err(io)?;
    Ok(moved)
}

/// Reads an export from `input` into `store`. A line that does not parse stops the import
/// with its line number; what was imported before it stays (and is skipped by a rerun).
pub async fn import(store: &Store, input: &mut dyn BufRead) -> Result<Moved, StoreError> {
    let mut moved = Moved::default();
    let mut saw_header = false;
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|e| StoreError::Io(format!("cannot read the export: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |e: String| {
            StoreError::InvalidInput(format!(
                "line {} of the export is not a paylink ledger record: {e}",
                n + 1
            ))
        };
        let parsed: Line = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        match parsed {
            Line::Header { format, .. } => {
                // Format 1 is format 2 without records.
                if !(1..=FORMAT).contains(&format) {
                    return Err(bad(format!(
                        "it is format {format}; this paylink reads formats 1 to {FORMAT}"
                    )));
                }
                saw_header = true;
            }
            _ if !saw_header => {
                return Err(bad("the file does not start with a paylink-ledger header; is it an export of `paylink ledger export`?".into()));
            }
            Line::Payment {
                payment,
                events,
                claim,
            } => {
                if store
                    .import_payment(&payment, claim.as_ref(), &events)
                    .await?
                {
                    moved.payments += 1;
                    moved.events += events.len() as u64;
                    moved.claims += u64::from(claim.is_some());
                } else {
                    moved.skipped += 1;
                }
            }
            Line::Config {
                organization,
                environment,
                sealed,
            } => {
                let bytes = BASE64
                    .decode(sealed.as_bytes())
                    .map_err(|e| bad(e.to_string()))?;
                if store
                    .get_config(&organization, &environment)
                    .await?
                    .is_some()
                {
                    moved.skipped += 1;
                } else {
                    store
                        .put_config(&organization, &environment, &bytes)
                        .await?;
                    moved.configs += 1;
                }
            }
            Line::Record {
                record_kind,
                key,
                value,
            } => {
                if !super::records::KINDS.contains(&record_kind.as_str()) {
                    return Err(bad(format!(
                        "{record_kind:?} is not a kind of record paylink keeps"
                    )));
                }
                let bytes = BASE64
                    .decode(value.as_bytes())
                    .map_err(|e| bad(e.to_string()))?;
                if store.record_swap(&record_kind, &key, None, &bytes).await? {
                    moved.records += 1;
                } else {
                    moved.skipped += 1;
                }
            }
        }
    }
    if !saw_header {
        return Err(StoreError::InvalidInput(
            "the export is empty: it has no paylink-ledger header".into(),
        ));
    }
    Ok(moved)
}
