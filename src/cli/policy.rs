//! `paylink integration policy`: set, show or clear an organization's spending policy
//! (stored in the ledger; it wins over the `PAYLINK_POLICY_*` settings).

use std::io::Write;

use super::{open_existing_store, open_store};
use crate::config::Settings;

/// The limits `paylink integration policy` was given to set.
pub(super) struct PolicyFlags {
    pub(super) max_per_payment: Option<String>,
    pub(super) max_per_day: Option<String>,
    pub(super) currencies: Option<String>,
    pub(super) confirm_above: Option<String>,
}

/// `paylink integration policy`: set (the limits given), show or clear.
pub(super) async fn run(
    settings: &Settings,
    organization: &str,
    flags: PolicyFlags,
    show: bool,
    clear: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use crate::domain::policy::{parse_currencies, parse_limits};
    use crate::payments::policy as stored;
    crate::config::checks_organization(organization)
        .map_err(|problem| anyhow::anyhow!("--organization: {problem}"))?;
    if show {
        let store = open_existing_store(settings).await?;
        let (policy, from) = match stored::stored(&store, organization).await? {
            Some(p) => (p, "stored in the ledger".to_string()),
            None if organization == settings.organization && !settings.policy.is_empty() => (
                settings.policy.clone(),
                "from the PAYLINK_POLICY_* settings".to_string(),
            ),
            None => (Default::default(), "none set".to_string()),
        };
        writeln!(
            out,
            "Spending policy of {organization:?} ({from}):\n{policy}"
        )?;
        return Ok(());
    }
    let store = open_store(settings).await?;
    if clear {
        let had = stored::clear(&store, organization).await?;
        writeln!(
            out,
            "{} the spending policy stored for {organization:?}.",
            if had { "Removed" } else { "There was no" }
        )?;
        return Ok(());
    }
    if flags.max_per_payment.is_none()
        && flags.max_per_day.is_none()
        && flags.currencies.is_none()
        && flags.confirm_above.is_none()
    {
        anyhow::bail!(
            "give --max-per-payment, --max-per-day, --currencies or --confirm-above to set, --show to print, or --clear to remove the policy"
        );
    }
    let mut policy = stored::stored(&store, organization)
        .await?
        .unwrap_or_default();
    if let Some(t) = &flags.max_per_payment {
        policy.max_per_payment =
            parse_limits(t).map_err(|p| anyhow::anyhow!("--max-per-payment: {p}"))?;
    }
    if let Some(t) = &flags.max_per_day {
        policy.max_per_day = parse_limits(t).map_err(|p| anyhow::anyhow!("--max-per-day: {p}"))?;
    }
    if let Some(t) = &flags.currencies {
        policy.currencies =
            parse_currencies(t).map_err(|p| anyhow::anyhow!("--currencies: {p}"))?;
    }
    if let Some(t) = &flags.confirm_above {
        policy.confirm_above = crate::domain::policy::parse_thresholds(t)
            .map_err(|p| anyhow::anyhow!("--confirm-above: {p}"))?;
    }
    stored::store(&store, organization, &policy).await?;
    writeln!(
        out,
        "Stored the spending policy of {organization:?}; new payments follow it now:\n{policy}"
    )?;
    Ok(())
}
