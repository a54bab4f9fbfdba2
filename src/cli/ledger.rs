//! `paylink ledger verify`: the ledger itself, record by record and index by index.

use std::io::Write;

use clap::Subcommand;

use super::{open_store, shown};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Open the ledger, decode every payment, event and claim, check every index, and
    /// report counts and problems; exits non-zero when it finds any. Stop paylink first.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(action: Action, settings: &Settings, out: &mut dyn Write) -> anyhow::Result<()> {
    match action {
        Action::Verify { json } => {
            if verify(settings, json, out).await? {
                Ok(())
            } else {
                anyhow::bail!("the ledger has problems (listed above)")
            }
        }
    }
}

/// `paylink ledger verify`: opens the ledger (which fails, saying so, when sled finds it
/// damaged or another process holds it), decodes every payment, event and claim, checks
/// every index, and reports counts and problems. Returns whether the ledger is sound.
pub async fn verify(settings: &Settings, json: bool, out: &mut dyn Write) -> anyhow::Result<bool> {
    let dir = &settings.data_dir;
    if !dir.join("db").exists() {
        anyhow::bail!(
            "no ledger at {}: give the data directory with --data-dir or PAYLINK_DATA_DIR",
            dir.display()
        );
    }
    let store = open_store(settings).await?;
    let v = store.verify().await?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(v.problems.is_empty());
    }
    let total: u64 = v.payments.iter().map(|(_, n)| n).sum();
    let by_status: Vec<String> = v.payments.iter().map(|(s, n)| format!("{n} {s}")).collect();
    writeln!(out, "ledger    {}", shown(&dir.display().to_string()))?;
    writeln!(out, "payments  {total} ({})", by_status.join(", "))?;
    writeln!(out, "events    {}", v.events)?;
    if v.problems.is_empty() {
        writeln!(out, "problems  none")?;
        writeln!(
            out,
            "\nVerdict: OK — every record decodes and every index agrees."
        )?;
    } else {
        writeln!(out, "problems  {}", v.problems.len())?;
        for p in &v.problems {
            writeln!(out, "  - {}", shown(p))?;
        }
        writeln!(
            out,
            "\nVerdict: DAMAGED — see \"Recovering a damaged ledger\" in README.md."
        )?;
    }
    Ok(v.problems.is_empty())
}
