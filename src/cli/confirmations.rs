//! `paylink confirmations list`: Flow's confirmations as the side listener received them,
//! newest first, with what became of each.

use std::io::Write;

use clap::Subcommand;

use super::output::{render, table, to_json, when};
use super::{open_existing_store, shown};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum Action {
    /// List received confirmations, newest first.
    List {
        /// At most this many confirmations.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// JSON instead of a table (times in RFC 3339).
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
        writeln!(out, "{}", to_json(&list)?)?;
        return Ok(());
    }
    let mut t = table(&["RECEIVED", "TOKEN", "PAYMENT", "OUTCOME"]);
    for c in &list {
        t.add_row([
            when(c.received_at),
            shown(&c.token).into_owned(),
            shown(c.payment_id.as_deref().unwrap_or("-")).into_owned(),
            shown(&c.outcome).into_owned(),
        ]);
    }
    write!(out, "{}", render(&t))?;
    writeln!(out, "\n{} shown", list.len())?;
    Ok(())
}
