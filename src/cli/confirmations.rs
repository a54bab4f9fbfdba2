//! `paylink confirmations list`: Flow's confirmations as the side listener received them,
//! newest first, with what became of each.

use std::io::Write;

use clap::Subcommand;

use super::{open_existing_store, shown};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum Action {
    /// List received confirmations, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(action: Action, settings: &Settings, out: &mut dyn Write) -> anyhow::Result<()> {
    match action {
        Action::List { limit, json } => list(settings, limit, json, out).await,
    }
}

pub async fn list(
    settings: &Settings,
    limit: usize,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = open_existing_store(settings).await?;
    let list = crate::webhook::list_confirmations(&store, limit).await?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<24}  {:<40}  {:<24}  OUTCOME",
        "RECEIVED (UTC)", "TOKEN", "PAYMENT"
    )?;
    for c in &list {
        writeln!(
            out,
            "{:<24}  {:<40}  {:<24}  {}",
            c.received_at.rfc3339().chars().take(24).collect::<String>(),
            shown(&c.token),
            shown(c.payment_id.as_deref().unwrap_or("-")),
            shown(&c.outcome)
        )?;
    }
    writeln!(out, "\n{} shown", list.len())?;
    Ok(())
}
