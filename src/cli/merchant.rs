//! `paylink integration merchant`: the merchant an organization's payers see on the
//! return page (its name, and the site the page links back to), stored in the ledger
//! ([`crate::payments::merchant`]).

use std::io::Write;

use super::{open_existing_store, open_store};
use crate::config::Settings;
use crate::payer::Merchant;
use crate::payments::merchant as stored;

/// What `--name` and `--url` were given (an empty value removes that part).
pub(super) struct Set {
    pub name: Option<String>,
    pub url: Option<String>,
}

pub(super) async fn run(
    settings: &Settings,
    organization: &str,
    set: Set,
    show: bool,
    clear: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    crate::config::checks_organization(organization)
        .map_err(|problem| anyhow::anyhow!("--organization: {problem}"))?;
    if show {
        let store = open_existing_store(settings).await?;
        let (merchant, from) = match stored::stored(&store, organization).await? {
            Some(m) => (m, "stored in the ledger"),
            None if organization == settings.organization
                && settings.merchant != Merchant::default() =>
            {
                (
                    settings.merchant.clone(),
                    "from the PAYLINK_MERCHANT_* settings",
                )
            }
            None => (Merchant::default(), "none set: the return page is neutral"),
        };
        writeln!(out, "Merchant of {organization:?} ({from}):")?;
        writeln!(out, "  name: {}", merchant.name.as_deref().unwrap_or("-"))?;
        writeln!(out, "  url:  {}", merchant.url.as_deref().unwrap_or("-"))?;
        return Ok(());
    }
    // Check what was given before opening the ledger.
    let name = set
        .name
        .map(|t| match t.trim() {
            "" => Ok(None),
            t => crate::payer::merchant_name(t).map(Some),
        })
        .transpose()
        .map_err(|p| anyhow::anyhow!("--name: {p}"))?;
    let url = set
        .url
        .map(|t| match t.trim() {
            "" => Ok(None),
            t => crate::config::checks_url(t).map(Some),
        })
        .transpose()
        .map_err(|p| anyhow::anyhow!("--url: {p}"))?;
    if !clear && name.is_none() && url.is_none() {
        anyhow::bail!(
            "give --name or --url to set, --show to print, or --clear to remove the merchant"
        );
    }
    let store = open_store(settings).await?;
    if clear {
        let had = stored::clear(&store, organization).await?;
        writeln!(
            out,
            "{} the merchant stored for {organization:?}.",
            if had { "Removed" } else { "There was no" }
        )?;
        return Ok(());
    }
    let mut merchant = stored::stored(&store, organization)
        .await?
        .unwrap_or_default();
    if let Some(n) = name {
        merchant.name = n;
    }
    if let Some(u) = url {
        merchant.url = u;
    }
    stored::store(&store, organization, &merchant).await?;
    writeln!(
        out,
        "Stored the merchant of {organization:?}: name {}, url {}.",
        merchant.name.as_deref().unwrap_or("-"),
        merchant.url.as_deref().unwrap_or("-")
    )?;
    Ok(())
}
