//! `paylink migrate`: creates or upgrades the PostgreSQL ledger's tables, alone (for a
//! deploy step before the replicas start; `serve` runs the same migrations on start).

use std::io::Write;

use crate::config::Settings;
use crate::store::Store;

pub async fn run(settings: &Settings, out: &mut dyn Write) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let Some(url) = &settings.database_url else {
        anyhow::bail!(
            "paylink migrate is for the PostgreSQL ledger: set PAYLINK_DATABASE_URL or \
             --database-url (the sled ledger in {} upgrades itself when it is opened)",
            settings.data_dir.display()
        );
    };
    let store = Store::connect(url.expose_secret()).await?;
    let pg = store.postgres().expect("a database URL opens PostgreSQL");
    let status = pg.migration_status().await?;
    writeln!(
        out,
        "Ledger database {}: migrations applied.",
        pg.describe()
    )?;
    for (version, description, applied) in status {
        let mark = if applied { "applied" } else { "PENDING" };
        writeln!(out, "  {version:>4}  {description}  {mark}")?;
    }
    Ok(())
}
