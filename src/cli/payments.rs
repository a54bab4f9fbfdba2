//! `paylink payments list|show|reconcile`: payments in the ledger, as a readable table or
//! as JSON with `--json`. The ledger is opened by one process at a time (sled's lock): run
//! these while `paylink serve` is stopped, or against a copy of the data directory.

use std::io::Write;

use anyhow::Context;
use clap::Subcommand;
use paylink_tools::NameStyle;
use tokio_util::sync::CancellationToken;

use super::{open_existing_store, shown};
use crate::app::Application;
use crate::config::Settings;
use crate::domain::{Payment, PaymentStatus, Timestamp};
use crate::reconcile::{Reconciler, reconcile_all_open, reconcile_one};

#[derive(Debug, Subcommand)]
pub enum Action {
    /// List payments, newest first.
    List {
        /// Only this status: draft, pending, paid or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One payment with its event log.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Ask Flow about open payments now (all of them, or one with --id) and record the answers.
    Reconcile {
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        json: bool,
    },
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
        Action::Reconcile { id, json } => reconcile(settings, id, json, out).await,
    }
}

fn row(p: &Payment) -> String {
    format!(
        "{:<24}  {:<8}  {:>14}  {:<20}  {:<10}  {}",
        shown(&p.id),
        p.status.as_str(),
        p.amount.to_string(),
        p.updated_at.rfc3339().chars().take(19).collect::<String>(),
        p.failure_reason.map(|r| r.as_str()).unwrap_or(""),
        shown(&p.description.chars().take(40).collect::<String>())
    )
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
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<24}  {:<8}  {:>14}  {:<20}  {:<10}  DESCRIPTION",
        "ID", "STATUS", "AMOUNT", "UPDATED (UTC)", "REASON"
    )?;
    for p in &list {
        writeln!(out, "{}", row(p))?;
    }
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
            serde_json::to_string_pretty(&serde_json::json!({"payment": p, "events": events}))?
        )?;
        return Ok(());
    }
    writeln!(out, "payment        {}", shown(&p.id))?;
    writeln!(
        out,
        "status         {}{}",
        p.status,
        p.failure_reason
            .map(|r| format!(" ({})", r.as_str()))
            .unwrap_or_default()
    )?;
    writeln!(out, "amount         {}", p.amount)?;
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
    writeln!(out, "created        {}", p.created_at.rfc3339())?;
    if let Some(t) = p.paid_at {
        writeln!(out, "paid           {}", t.rfc3339())?;
    }
    writeln!(out, "events:")?;
    for e in events {
        writeln!(
            out,
            "  #{} {:<24} {:<9} by {:<10} {}",
            e.seq,
            e.at.rfc3339(),
            format!("{:?}", e.kind).to_lowercase(),
            format!("{:?}", e.source).to_lowercase(),
            shown(e.detail.as_deref().unwrap_or_default())
        )?;
    }
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
            return print_reconciled(&answer?, id.is_some(), json, out);
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
    if !json {
        writeln!(
            out,
            "asking Flow about {open} open payment(s), {} at a time…",
            reconciler.concurrency
        )?;
    }
    match id {
        Some(id) => {
            let r = reconcile_one(&reconciler, &id, Timestamp::now()).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
            } else {
                writeln!(
                    out,
                    "{}: now {} ({:?})",
                    r.payment.id, r.payment.status, r.checked
                )?;
            }
        }
        None => {
            let report = reconcile_all_open(&reconciler).await;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                writeln!(
                    out,
                    "checked {}, changed {}, still pending {}, errors {}",
                    report.checked, report.changed, report.still_pending, report.errors
                )?;
            }
        }
    }
    Ok(())
}

/// Prints what a running paylink serve answered to `payments reconcile`.
fn print_reconciled(
    r: &serde_json::Value,
    one: bool,
    json: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(r)?)?;
    } else if one {
        writeln!(
            out,
            "{}: now {} ({}) (checked by the running paylink serve)",
            shown(r["payment"]["id"].as_str().unwrap_or("?")),
            r["payment"]["status"].as_str().unwrap_or("?"),
            r["checked"]["outcome"].as_str().unwrap_or("?")
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
