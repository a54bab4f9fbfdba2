//! `paylink ledger verify`: the ledger itself, record by record and index by index.
//! `paylink ledger export` / `import`: the whole ledger as JSON lines, to move it between
//! backends (sled to PostgreSQL) without losing history (see `store::transfer`).

use std::io::Write;

use clap::Subcommand;

use super::{open_existing_store, open_store, shown};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Open the ledger, decode every payment, event and claim, check every index, and
    /// report counts and problems; exits non-zero when it finds any. Stop paylink first.
    Verify {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the whole ledger (payments with their events and claims, integrations still
    /// sealed) as JSON lines, to FILE or standard output. Stop paylink first on sled.
    Export {
        /// Where to write; standard output when omitted.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
    /// Read an export into the ledger these settings select (e.g. with --database-url, a
    /// PostgreSQL ledger). Payments and integrations it already holds are skipped, so a
    /// run cut short can be repeated.
    Import {
        /// An export written by `paylink ledger export`.
        file: std::path::PathBuf,
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
        Action::Export { out: file } => {
            // Only reads the ledger: none is created to export nothing from.
            let store = open_existing_store(settings).await?;
            let moved = match &file {
                Some(path) => {
                    let f = std::fs::File::create(path)
                        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
                    let mut w = std::io::BufWriter::new(f);
                    crate::store::transfer::export(&store, &mut w).await?
                }
                None => crate::store::transfer::export(&store, out).await?,
            };
            eprintln!(
                "Exported {} payments ({} events, {} claims) and {} integrations; their secrets \
                 stay sealed, so move the master key with the file.",
                moved.payments, moved.events, moved.claims, moved.configs
            );
            Ok(())
        }
        Action::Import { file } => {
            let f = std::fs::File::open(&file)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?;
            let store = open_store(settings).await?;
            let moved =
                crate::store::transfer::import(&store, &mut std::io::BufReader::new(f)).await?;
            writeln!(
                out,
                "Imported {} payments ({} events, {} claims) and {} integrations into {}; {} already there were left as they were.",
                moved.payments,
                moved.events,
                moved.claims,
                moved.configs,
                store.describe_location(&settings.data_dir),
                moved.skipped
            )?;
            let problems = store.check_consistency().await?;
            if !problems.is_empty() {
                anyhow::bail!(
                    "the ledger is inconsistent after the import: {}",
                    problems.join("; ")
                );
            }
            Ok(())
        }
    }
}

/// `paylink ledger verify`: opens the ledger (which fails, saying so, when there is none,
/// sled finds it damaged or another process holds it), decodes every payment, event and
/// claim, checks every index, and reports counts and problems. Returns whether the ledger
/// is sound.
pub async fn verify(settings: &Settings, json: bool, out: &mut dyn Write) -> anyhow::Result<bool> {
    let dir = &settings.data_dir;
    let store = open_existing_store(settings).await?;
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
