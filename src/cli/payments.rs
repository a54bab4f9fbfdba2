//! `paylink payments list|show|reconcile`: payments in the ledger, as a readable table or
//! as JSON with `--json` (times in RFC 3339). The ledger is opened by one process at a time
//! (sled's lock): `reconcile` goes through a running `paylink serve`; the others run while
//! it is stopped, or against a copy of the data directory. `reconcile` exits with
//! [`super::EXIT_RECONCILE_ERRORS`] when some payments could not be checked.

use std::io::Write;

use anyhow::Context;
use clap::Subcommand;
use paylink_tools::NameStyle;
use tokio_util::sync::CancellationToken;

use super::output::{clip, paint, render, status_style, table, to_json, when};
use super::{Live, open_existing_store, shown};
use crate::app::Application;
use crate::config::Settings;
use crate::domain::{Payment, PaymentStatus, Timestamp};
use crate::reconcile::{Checked, Reconciler, reconcile_all_open, reconcile_one};

#[derive(Debug, Subcommand)]
pub enum Action {
    /// List payments, newest first.
    List {
        /// Only this status: draft, pending, paid or failed.
        #[arg(long)]
        status: Option<String>,
        /// At most this many payments.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One payment with its event log.
    Show {
        /// The payment's id (ent_…).
        id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ask the gateways about open payments now (all of them, or one with --id) and record
    /// the answers. Exits with status 4 when some could not be checked.
    Reconcile {
        /// Only this payment (ent_…), open or not.
        #[arg(long)]
        id: Option<String>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        live: Live,
    },
}

impl Action {
    /// The live-money opt-in: only `reconcile` uses accounts.
    pub fn live(&self) -> Live {
        match self {
            Action::Reconcile { live, .. } => *live,
            _ => Live::default(),
        }
    }
}

/// `payments reconcile` could not check some payments; what it could check is recorded.
#[derive(Debug)]
pub struct ReconcileErrors {
    pub errors: usize,
    pub checked: usize,
}

impl std::error::Error for ReconcileErrors {}

impl std::fmt::Display for ReconcileErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} check(s) failed (the gateway did not answer or refused); those payments \
             are unchanged. See why with -v; run `paylink doctor`, then reconcile again",
            self.errors, self.checked
        )
    }
}

pub async fn run(
    action: Action,
    settings: Settings,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    match action {
        Action::List {
            status,
            limit,
            json,
        } => {
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(
                    PaymentStatus::ALL
                        .into_iter()
                        .find(|st| st.as_str() == s)
                        .ok_or_else(|| {
                            anyhow::anyhow!("--status: {s:?} is not draft, pending, paid or failed")
                        })?,
                ),
            };
            list(&settings, status, limit, json, out).await
        }
        Action::Show { id, json } => show(&settings, &id, json, out).await,
        Action::Reconcile { id, json, .. } => reconcile(settings, id, json, out).await,
    }
}

fn row(p: &Payment) -> [String; 6] {
    [
        shown(&p.id).into_owned(),
        p.status.as_str().to_string(),
        p.amount.for_people(),
        when(p.updated_at),
        p.failure_reason
            .map(|r| r.as_str())
            .unwrap_or("")
            .to_string(),
        shown(&clip(&p.description, 40)).into_owned(),
    ]
}

pub async fn list(
    settings: &Settings,
    status: Option<PaymentStatus>,
    limit: usize,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = open_existing_store(settings).await?;
    let list = store.list(None, status, limit).await?;
    if json {
        writeln!(out, "{}", to_json(&list)?)?;
        return Ok(());
    }
    let mut t = table(&["ID", "STATUS", "AMOUNT", "UPDATED", "REASON", "DESCRIPTION"]);
    if let Some(amount) = t.column_mut(2) {
        amount.set_cell_alignment(comfy_table::CellAlignment::Right);
    }
    for p in &list {
        t.add_row(row(p));
    }
    write!(out, "{}", render(&t))?;
    let counts = store.status_counts().await?;
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    writeln!(
        out,
        "\n{} shown; ledger holds {}",
        list.len(),
        summary.join(", ")
    )?;
    Ok(())
}

pub async fn show(
    settings: &Settings,
    id: &str,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = open_existing_store(settings).await?;
    let p = store
        .get(id)
        .await?
        .with_context(|| format!("no payment {id:?} in the ledger"))?;
    let events = store.events(id).await?;
    if json {
        writeln!(
            out,
            "{}",
            to_json(&serde_json::json!({"payment": p, "events": events}))?
        )?;
        return Ok(());
    }
    writeln!(out, "payment        {}", shown(&p.id))?;
    writeln!(
        out,
        "status         {}{}",
        paint(status_style(p.status), p.status.as_str()),
        p.failure_reason
            .map(|r| format!(" ({})", r.as_str()))
            .unwrap_or_default()
    )?;
    writeln!(out, "amount         {}", p.amount.for_people())?;
    writeln!(out, "description    {}", shown(&p.description))?;
    writeln!(
        out,
        "organization   {} / {}",
        shown(&p.organization),
        p.environment.as_str()
    )?;
    writeln!(out, "customer       {}", shown(&p.customer_email))?;
    writeln!(
        out,
        "entity         {}",
        shown(p.entity_id.as_deref().unwrap_or("-"))
    )?;
    writeln!(out, "gateway        {}", p.gateway)?;
    writeln!(
        out,
        "gateway order  {}",
        shown(p.gateway_ref.as_deref().unwrap_or("-"))
    )?;
    writeln!(out, "our reference  {}", shown(&p.reference))?;
    writeln!(
        out,
        "link           {}",
        shown(p.payment_link_url.as_deref().unwrap_or("-"))
    )?;
    writeln!(out, "created        {}", when(p.created_at))?;
    if let Some(t) = p.paid_at {
        writeln!(out, "paid           {}", when(t))?;
    }
    writeln!(out, "\nevents:")?;
    let mut t = table(&["#", "AT", "EVENT", "BY", "STATUS", "DETAIL"]);
    for e in events {
        t.add_row([
            e.seq.to_string(),
            when(e.at),
            format!("{:?}", e.kind).to_lowercase(),
            format!("{:?}", e.source).to_lowercase(),
            match e.from {
                Some(from) => format!("{} → {}", from.as_str(), e.to.as_str()),
                None => e.to.as_str().to_string(),
            },
            shown(e.detail.as_deref().unwrap_or_default()).into_owned(),
        ]);
    }
    write!(out, "{}", render(&t))?;
    Ok(())
}

/// One reconciliation pass by hand: asks Flow about every open payment (or one), through
/// the accounts `serve` would use, and records the answers.
pub async fn reconcile(
    settings: Settings,
    id: Option<String>,
    json: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let settings = Settings {
        listener_addr: "127.0.0.1:0".parse()?,
        ..settings
    };
    let app = match Application::build(
        settings.clone(),
        NameStyle::Dotted,
        CancellationToken::new(),
    )
    .await
    {
        Ok(app) => app,
        // A running paylink serve holds the ledger: it reconciles, with its own accounts.
        Err(e) if crate::owner::is_locked(&e) => {
            let Some(answer) =
                crate::owner::reconcile_through_owner(&settings.data_dir, id.as_deref()).await
            else {
                return Err(e);
            };
            let answer = answer?;
            print_reconciled(&answer, id.is_some(), json, out)?;
            return match id {
                Some(_) if outcome(&answer) == "error" => fails_on_errors(1, 1),
                Some(_) => Ok(()),
                None => fails_on_errors(
                    answer["errors"].as_u64().unwrap_or(0) as usize,
                    answer["checked"].as_u64().unwrap_or(0) as usize,
                ),
            };
        }
        Err(e) => return Err(e),
    };
    if !app.on_built_in_sandbox.is_empty() {
        writeln!(
            out,
            "note: no Flow account for {}: their payments are checked against a fresh built-in offline sandbox, which knows no earlier orders",
            app.on_built_in_sandbox.join(", ")
        )?;
    }
    let reconciler = Reconciler::new(app.payments.clone());
    let open = app
        .payments
        .status_counts()
        .await?
        .iter()
        .filter(|(s, _)| !s.is_final())
        .map(|(_, n)| n)
        .sum::<u64>();
    match id {
        Some(id) => {
            let r = reconcile_one(&reconciler, &id, Timestamp::now()).await?;
            if json {
                writeln!(out, "{}", to_json(&r)?)?;
            } else {
                writeln!(
                    out,
                    "{}: now {} ({})",
                    shown(&r.payment.id),
                    paint(status_style(r.payment.status), r.payment.status.as_str()),
                    checked_text(&r.checked)
                )?;
            }
            match r.checked {
                Checked::Error { .. } => Err(ReconcileErrors {
                    errors: 1,
                    checked: 1,
                }
                .into()),
                _ => Ok(()),
            }
        }
        None => {
            if !json {
                writeln!(
                    out,
                    "asking the gateways about {open} open payment(s), {} at a time…",
                    reconciler.concurrency
                )?;
            }
            let report = with_progress(&app, open, reconcile_all_open(&reconciler)).await;
            if json {
                writeln!(out, "{}", to_json(&report)?)?;
            } else {
                writeln!(
                    out,
                    "checked {}, changed {}, still pending {}, errors {}",
                    report.checked,
                    report.changed,
                    report.still_pending,
                    if report.errors == 0 {
                        "0".to_string()
                    } else {
                        paint(super::output::BAD, &report.errors.to_string())
                    }
                )?;
            }
            fails_on_errors(report.errors, report.checked)
        }
    }
}

/// What one check came to, in words.
fn checked_text(c: &Checked) -> String {
    match c {
        Checked::Changed => "changed".into(),
        Checked::StillPending => "still pending".into(),
        Checked::Unchanged => "unchanged".into(),
        Checked::Error { message } => format!("not checked: {}", shown(message)),
    }
}

/// A pass that had errors fails the command with [`ReconcileErrors`].
fn fails_on_errors(errors: usize, checked: usize) -> anyhow::Result<()> {
    if errors == 0 {
        Ok(())
    } else {
        Err(ReconcileErrors { errors, checked }.into())
    }
}

/// Runs `pass` while a bar on stderr (a terminal only) counts the checks made, read from
/// the reconciler's own counter.
async fn with_progress<T>(app: &Application, open: u64, pass: impl Future<Output = T>) -> T {
    let metrics = app.payments.metrics().clone();
    let start = metrics.reconciler_checked.get();
    let bar = super::progress::bar(open, "reconciling".into());
    let tick = async {
        loop {
            bar.set_position(metrics.reconciler_checked.get().saturating_sub(start));
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let result = tokio::select! {
        r = pass => r,
        _ = tick => unreachable!("the progress loop never ends"),
    };
    bar.finish_and_clear();
    result
}

/// The outcome of one check in a running paylink serve's answer (flattened beside the
/// payment, as [`crate::reconcile::Reconciled`] serializes it).
fn outcome(r: &serde_json::Value) -> &str {
    r["outcome"]
        .as_str()
        .or_else(|| r["checked"]["outcome"].as_str())
        .unwrap_or("?")
}

/// Prints what a running paylink serve answered to `payments reconcile`.
fn print_reconciled(
    r: &serde_json::Value,
    one: bool,
    json: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", to_json(r)?)?;
    } else if one {
        writeln!(
            out,
            "{}: now {} ({}) (checked by the running paylink serve)",
            shown(r["payment"]["id"].as_str().unwrap_or("?")),
            r["payment"]["status"].as_str().unwrap_or("?"),
            outcome(r)
        )?;
    } else {
        writeln!(
            out,
            "checked {}, changed {}, still pending {}, errors {} (by the running paylink serve)",
            r["checked"], r["changed"], r["stillPending"], r["errors"]
        )?;
    }
    Ok(())
}
