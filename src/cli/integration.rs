//! `paylink integration flow|show|disable`: each organization's Flow account, stored in
//! the ledger with its secret key sealed. `flow` tries the keys with a signed call before
//! it stores them (unless `--no-verify`), so keys Flow refuses never reach the ledger.

use std::io::Write;

use clap::Subcommand;
use secrecy::SecretString;

use super::{open_store, shown};
use crate::accounts::{Account, Connection, KeyCheck, check_deadline, check_keys};
use crate::config::Settings;
use crate::domain::Environment;
use crate::gateway::flow::{PRODUCTION_BASE_URL, SANDBOX_BASE_URL};
use crate::integrations::{NewIntegration, list, save, set_active};

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Store a Flow account: `--test` for Flow's sandbox, otherwise live (needs --allow-live).
    /// The keys are tried with a signed call first; keys Flow refuses are not stored.
    Flow {
        /// Flow's API base: https://www.flow.cl/api (live), https://sandbox.flow.cl/api, or
        /// http://127.0.0.1:PORT/api for a Flow-compatible server on this machine.
        /// Defaults to the sandbox URL with --test, else the live one.
        #[arg(long)]
        api_url: Option<String>,
        /// Your Flow apiKey (Flow: Mis datos → Integración). [env: FLOW_API_KEY]
        #[arg(long)]
        api_key: Option<String>,
        /// Your Flow secretKey. Prefer --secret-key-file or FLOW_SECRET_KEY so it stays out
        /// of your shell history. [env: FLOW_SECRET_KEY]
        #[arg(long)]
        secret_key: Option<String>,
        /// A file holding the secretKey (one line).
        #[arg(long, conflicts_with = "secret_key")]
        secret_key_file: Option<std::path::PathBuf>,
        /// Where payers return after paying (default: paylink's own return page).
        #[arg(long)]
        return_url: Option<String>,
        #[arg(long, default_value = "CLP")]
        currency: String,
        /// Use Flow's sandbox (development environment, test money).
        #[arg(long)]
        test: bool,
        #[arg(long, default_value = "default")]
        organization: String,
        /// Store the keys without trying them (for setups that cannot reach Flow now).
        #[arg(long)]
        no_verify: bool,
    },
    /// List the stored integrations (secrets are never shown).
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Stop using an integration for new payments (its payments are kept).
    Disable {
        #[arg(long, default_value = "default")]
        organization: String,
        /// development or production.
        #[arg(long, default_value = "development")]
        environment: String,
    },
}

pub async fn run(action: Action, settings: &Settings, out: &mut dyn Write) -> anyhow::Result<()> {
    match action {
        Action::Flow {
            api_url,
            api_key,
            secret_key,
            secret_key_file,
            return_url,
            currency,
            test,
            organization,
            no_verify,
        } => {
            let env_account = settings.flow.as_ref();
            let secret = match (secret_key, secret_key_file) {
                (_, Some(path)) => SecretString::from(
                    std::fs::read_to_string(&path)
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "--secret-key-file {}: cannot be read: {e}",
                                path.display()
                            )
                        })?
                        .trim()
                        .to_string(),
                ),
                (Some(s), None) => SecretString::from(s),
                (None, None) => match env_account {
                    Some(f) => f.secret_key.clone(),
                    None => anyhow::bail!(
                        "--secret-key: missing; give --secret-key-file, FLOW_SECRET_KEY or --secret-key"
                    ),
                },
            };
            let api_key = match (api_key, env_account) {
                (Some(k), _) => k,
                (None, Some(f)) => f.api_key.clone(),
                (None, None) => anyhow::bail!("--api-key: missing; give --api-key or FLOW_API_KEY"),
            };
            let api_url = api_url.unwrap_or_else(|| {
                if test {
                    SANDBOX_BASE_URL
                } else {
                    PRODUCTION_BASE_URL
                }
                .to_string()
            });
            let account = crate::integrations::check(
                NewIntegration {
                    organization,
                    environment: test.then_some(Environment::Development),
                    api_url,
                    api_key,
                    secret_key: secret,
                    return_url,
                    default_currency: currency,
                },
                settings.allow_live,
            )?;
            let store = open_store(settings)?;
            // A new master key only for a ledger with no sealed secret: otherwise the key
            // that opens them must be there. Loaded before Flow is called, so a local
            // problem is reported without waiting on the network.
            let key = if list(&store)?.is_empty() {
                settings.master_key_or_create()?
            } else {
                settings.master_key()?
            };
            if no_verify {
                writeln!(
                    out,
                    "Not trying the keys (--no-verify): `paylink doctor` tries them later."
                )?;
            } else {
                try_keys(&account, settings, out).await?;
            }
            let stored = save(&store, &key, &account)?;
            let public = settings.public_base(settings.listener_addr);
            writeln!(
                out,
                "Stored the Flow integration of {:?} ({}, {}).",
                stored.organization,
                stored.environment.as_str(),
                stored.api_url
            )?;
            writeln!(
                out,
                "Paste this confirmation URL into Flow's settings (urlConfirmation):"
            )?;
            writeln!(out, "  {public}/webhook/flow")?;
            if crate::net::is_loopback_url(&public) {
                writeln!(
                    out,
                    "Note: that URL is loopback. Set PAYLINK_PUBLIC_URL (or --public-url) to the address Flow can reach."
                )?;
            }
            Ok(())
        }
        Action::Show { json } => {
            let store = open_store(settings)?;
            let all = list(&store)?;
            if json {
                let shown: Vec<_> = all
                    .iter()
                    .map(|s| serde_json::json!({"organization": s.organization, "environment": s.environment, "apiUrl": s.api_url, "apiKey": s.api_key, "secretKey": "(sealed)", "returnUrl": s.return_url, "currency": s.default_currency, "active": s.active, "updatedAt": s.updated_at.rfc3339()}))
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&shown)?)?;
            } else if all.is_empty() {
                let serves = if settings.flow.is_some() {
                    "the FLOW_* account serves the default organization and those of PAYLINK_HTTP_TOKENS"
                } else {
                    "paylink runs on its built-in offline sandbox"
                };
                writeln!(
                    out,
                    "No integrations stored: {serves}. Add one with `paylink integration flow --test ...`."
                )?;
            } else {
                writeln!(
                    out,
                    "{:<16} {:<12} {:<8} {:<32} {:<8} SECRET",
                    "ORGANIZATION", "ENVIRONMENT", "ACTIVE", "API URL", "CURRENCY"
                )?;
                for s in all {
                    writeln!(
                        out,
                        "{:<16} {:<12} {:<8} {:<32} {:<8} (sealed)",
                        shown(&s.organization),
                        s.environment.as_str(),
                        s.active,
                        shown(&s.api_url),
                        shown(&s.default_currency)
                    )?;
                }
            }
            Ok(())
        }
        Action::Disable {
            organization,
            environment,
        } => {
            let env = Environment::parse(&environment).ok_or_else(|| {
                anyhow::anyhow!("--environment: {environment:?} is not development or production")
            })?;
            let store = open_store(settings)?;
            set_active(&store, &organization, env, false)?;
            writeln!(
                out,
                "Disabled the {} integration of {organization:?}; its payments are kept.",
                env.as_str()
            )?;
            Ok(())
        }
    }
}

/// One signed call with the new keys; anything but Flow's acceptance stops the command
/// before the keys are stored.
async fn try_keys(
    account: &Account,
    settings: &Settings,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let deadline = check_deadline(settings.flow_timeout);
    writeln!(
        out,
        "Trying the keys with a signed call to {} (at most {} s)…",
        account.api_url,
        deadline.as_secs()
    )?;
    out.flush()?;
    let conn = Connection::new(settings.flow_timeout)?;
    match check_keys(account, &conn, deadline).await {
        KeyCheck::Accepted => {
            writeln!(out, "Flow accepted the keys.")?;
            Ok(())
        }
        KeyCheck::Refused(why) => anyhow::bail!(
            "--secret-key: {} refused these keys ({why}); nothing was stored. Give the apiKey and secretKey of the same {} account (Flow: Mis datos → Integración; Flow's sandbox and live accounts have different keys)",
            account.api_url,
            account.environment.as_str()
        ),
        KeyCheck::Unanswered(why) => anyhow::bail!(
            "could not try the keys at {}: {why}; nothing was stored. Try again once Flow answers, or pass --no-verify to store them untried",
            account.api_url
        ),
    }
}
