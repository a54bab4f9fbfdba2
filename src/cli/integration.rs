//! `paylink integration flow|stripe|show|disable|remove`: each organization's Flow and
//! Stripe accounts, stored in the ledger with their secrets sealed. `flow` and `stripe`
//! try the keys with a signed call before they store them (unless `--no-verify`), so keys
//! the gateway refuses never reach the ledger. `stripe rotate-key` and
//! `stripe rotate-webhook-secret` replace one secret of a stored Stripe integration (a
//! rotated-out webhook secret stays accepted for a grace period).

use std::io::Write;

use clap::{Args, Subcommand};
use secrecy::SecretString;

use super::output::{render, table, to_json, when};
use super::{Live, Reach, open_existing_store, open_store, shown};
use crate::accounts::{Account, Connection, KeyCheck, StripeAccount, check_deadline, check_keys};
use crate::config::Settings;
use crate::domain::{Environment, Timestamp};
use crate::gateway::flow::{PRODUCTION_BASE_URL, SANDBOX_BASE_URL};
use crate::integrations::{
    GatewayChoice, NewIntegration, NewStripeIntegration, list, list_stripe, save, set_active,
};

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
        /// The currency of payments that name none.
        #[arg(long, default_value = "CLP")]
        currency: String,
        /// Use Flow's sandbox (development environment, test money).
        #[arg(long)]
        test: bool,
        /// The organization whose account this is.
        #[arg(long, default_value = "default")]
        organization: String,
        /// Store the keys without trying them (for setups that cannot reach Flow now).
        #[arg(long)]
        no_verify: bool,
        #[command(flatten)]
        reach: Reach,
        #[command(flatten)]
        live: Live,
    },
    /// Store a Stripe account: a test key (sk_test_/rk_test_) is the development
    /// environment, a live one production (needs --allow-live). The key is tried with a
    /// signed read first; a key Stripe refuses is not stored. Subcommands rotate the key
    /// or the webhook secret of a stored one.
    Stripe(StripeArgs),
    /// List the stored integrations (secrets are never shown).
    Show {
        /// JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Stop using an integration for new payments (its payments are kept).
    Disable {
        /// The organization whose integration stops.
        #[arg(long, default_value = "default")]
        organization: String,
        /// development or production.
        #[arg(long, default_value = "development")]
        environment: String,
        /// Which gateway's integration.
        #[arg(long, value_enum, default_value = "flow")]
        gateway: GatewayChoice,
    },
    /// Set, show (--show) or clear (--clear) an organization's spending policy, stored in
    /// the ledger; it wins over the PAYLINK_POLICY_* settings. Setting changes only the
    /// limits given (an empty value removes that limit) and keeps the others.
    Policy {
        /// The organization whose policy this is.
        #[arg(long, default_value = "default")]
        organization: String,
        /// At most this per payment, per currency: "CLP 500000,USD 1000".
        #[arg(long)]
        max_per_payment: Option<String>,
        /// At most this total of payments created per UTC day, per currency: "CLP 2000000".
        #[arg(long)]
        max_per_day: Option<String>,
        /// Only these currencies: "CLP,USD".
        #[arg(long)]
        currencies: Option<String>,
        /// A person must approve each payment above this, per currency: "CLP 100000"
        /// ("CLP 0": every CLP payment).
        #[arg(long)]
        confirm_above: Option<String>,
        /// Print the policy in force for the organization and where it comes from.
        #[arg(long, conflicts_with_all = ["max_per_payment", "max_per_day", "currencies", "confirm_above", "clear"])]
        show: bool,
        /// Remove the stored policy (the settings' one applies again to the default
        /// organization).
        #[arg(long, conflicts_with_all = ["max_per_payment", "max_per_day", "currencies", "confirm_above"])]
        clear: bool,
    },
    /// Set, show (--show) or clear (--clear) the merchant an organization's payers see on
    /// the return page: its name and the site the page links back to. Stored in the
    /// ledger; it wins over PAYLINK_MERCHANT_NAME / PAYLINK_MERCHANT_URL. Setting changes
    /// only what is given (an empty value removes it).
    Merchant {
        #[arg(long, default_value = "default")]
        organization: String,
        /// The name payers know the merchant by: "Academia Sol".
        #[arg(long)]
        name: Option<String>,
        /// The merchant's site, http:// or https://: "https://academiasol.cl".
        #[arg(long)]
        url: Option<String>,
        /// Print the merchant in force for the organization and where it comes from.
        #[arg(long, conflicts_with_all = ["name", "url", "clear"])]
        show: bool,
        /// Remove the stored merchant (the settings' one applies again to the default
        /// organization).
        #[arg(long, conflicts_with_all = ["name", "url"])]
        clear: bool,
    },
    /// Delete a stored integration and its sealed secrets (its payments are kept).
    Remove {
        /// The organization whose integration is deleted.
        #[arg(long, default_value = "default")]
        organization: String,
        /// development or production.
        #[arg(long, default_value = "development")]
        environment: String,
        /// Which gateway's integration.
        #[arg(long, value_enum, default_value = "flow")]
        gateway: GatewayChoice,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct StripeArgs {
    #[command(subcommand)]
    action: Option<StripeAction>,
    /// A file holding the secret (sk_…) or restricted (rk_…) API key, one line.
    #[arg(long, required = true)]
    secret_key_file: Option<std::path::PathBuf>,
    /// A file holding the webhook endpoint's signing secret (whsec_…). May be added later
    /// with `rotate-webhook-secret`; storing the key again keeps the one stored.
    #[arg(long)]
    webhook_secret_file: Option<std::path::PathBuf>,
    /// The organization whose account this is.
    #[arg(long, default_value = "default")]
    organization: String,
    /// The currency of Stripe payments that name none.
    #[arg(long, default_value = "CLP")]
    currency: String,
    /// Stripe's API (default https://api.stripe.com), or http://127.0.0.1:PORT for a
    /// Stripe-compatible server on this machine such as the offline Stripe sandbox.
    #[arg(long)]
    api_base: Option<String>,
    /// Store the key without trying it (for setups that cannot reach Stripe now).
    #[arg(long)]
    no_verify: bool,
    #[command(flatten)]
    reach: Reach,
    #[command(flatten)]
    live: Live,
}

#[derive(Debug, Subcommand)]
pub enum StripeAction {
    /// Replace the API key of a stored Stripe integration (tried first unless --no-verify).
    RotateKey {
        /// A file holding the new secret (sk_…) or restricted (rk_…) API key, one line.
        #[arg(long)]
        secret_key_file: std::path::PathBuf,
        /// The organization whose integration this is.
        #[arg(long, default_value = "default")]
        organization: String,
        /// Store the key without trying it.
        #[arg(long)]
        no_verify: bool,
    },
    /// Add the webhook endpoint's new signing secret; the old one stays accepted for
    /// --grace-hours, then only the new one is.
    RotateWebhookSecret {
        /// A file holding the endpoint's new signing secret (whsec_…), one line.
        #[arg(long)]
        webhook_secret_file: std::path::PathBuf,
        /// The organization whose integration this is.
        #[arg(long, default_value = "default")]
        organization: String,
        /// development or production.
        #[arg(long, default_value = "development")]
        environment: String,
        /// How long the previous secret stays accepted, in hours.
        #[arg(long, default_value_t = 24)]
        grace_hours: u64,
    },
}

impl Action {
    /// The listener and live-money flags given to this action (`flow` and `stripe` take
    /// them; the others use none).
    pub fn reach(&self) -> (Reach, Live) {
        match self {
            Action::Flow { reach, live, .. } => (reach.clone(), *live),
            Action::Stripe(args) => (args.reach.clone(), args.live),
            _ => (Reach::default(), Live::default()),
        }
    }
}

/// A secret read from a file, trimmed; the error names the flag, never the content.
fn read_secret(flag: &str, path: &std::path::Path) -> anyhow::Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{flag} {}: cannot be read: {e}", path.display()))?;
    Ok(SecretString::from(text.trim().to_string()))
}

fn parse_environment(environment: &str) -> anyhow::Result<Environment> {
    Environment::parse(environment).ok_or_else(|| {
        anyhow::anyhow!("--environment: {environment:?} is not development or production")
    })
}

/// The master key: made only for a ledger with no sealed secret yet.
async fn master_key(
    settings: &Settings,
    store: &crate::store::Store,
) -> anyhow::Result<crate::secrets::MasterKey> {
    Ok(
        if list(store).await?.is_empty() && list_stripe(store).await?.is_empty() {
            settings.master_key_or_create()?
        } else {
            settings.master_key()?
        },
    )
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
            ..
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
            let store = open_store(settings).await?;
            // A new master key only for a ledger with no sealed secret: otherwise the key
            // that opens them must be there. Loaded before Flow is called, so a local
            // problem is reported without waiting on the network.
            let key = master_key(settings, &store).await?;
            if no_verify {
                writeln!(
                    out,
                    "Not trying the keys (--no-verify): `paylink doctor` tries them later."
                )?;
            } else {
                try_keys(&account, settings, out).await?;
            }
            let stored = save(&store, &key, &account).await?;
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
        Action::Stripe(args) => stripe(args, settings, out).await,
        Action::Show { json } => {
            let store = open_existing_store(settings).await?;
            let all = list(&store).await?;
            let stripe = list_stripe(&store).await?;
            if json {
                let mut shown: Vec<_> = all
                    .iter()
                    .map(|s| serde_json::json!({"gateway": "flow", "organization": s.organization, "environment": s.environment, "apiUrl": s.api_url, "apiKey": s.api_key, "secretKey": "(sealed)", "returnUrl": s.return_url, "currency": s.default_currency, "active": s.active, "updatedAt": s.updated_at.rfc3339()}))
                    .collect();
                let now = Timestamp::now();
                shown.extend(stripe.iter().map(|s| {
                    let webhook: Vec<_> = crate::integrations::live_webhook_secrets(s, now)
                        .map(|w| serde_json::json!({"secret": "(sealed)", "addedAt": w.added_at.rfc3339(), "expiresAt": w.expires_at.map(|e| e.rfc3339())}))
                        .collect();
                    serde_json::json!({"gateway": "stripe", "organization": s.organization, "environment": s.environment, "apiBase": s.api_base, "secretKey": s.secret_key_masked, "webhookSecrets": webhook, "currency": s.default_currency, "active": s.active, "updatedAt": s.updated_at.rfc3339()})
                }));
                writeln!(out, "{}", to_json(&shown)?)?;
            } else if all.is_empty() && stripe.is_empty() {
                let serves = if settings.flow.is_some() {
                    "the FLOW_* account serves the default organization and those of PAYLINK_HTTP_TOKENS"
                } else {
                    "paylink runs on its built-in offline sandbox"
                };
                writeln!(
                    out,
                    "No integrations stored: {serves}. Add one with `paylink integration flow --test ...` or `paylink integration stripe ...`."
                )?;
            } else {
                print_tables(&all, &stripe, out)?;
            }
            Ok(())
        }
        Action::Disable {
            organization,
            environment,
            gateway,
        } => {
            let env = parse_environment(&environment)?;
            let store = open_store(settings).await?;
            match gateway {
                GatewayChoice::Flow => {
                    set_active(&store, &organization, env, false).await?;
                }
                GatewayChoice::Stripe => {
                    crate::integrations::set_stripe_active(&store, &organization, env, false)
                        .await?;
                }
            }
            writeln!(
                out,
                "Disabled the {} {} integration of {organization:?}; its payments are kept.",
                env.as_str(),
                gateway_name(gateway)
            )?;
            Ok(())
        }
        Action::Policy {
            organization,
            max_per_payment,
            max_per_day,
            currencies,
            confirm_above,
            show,
            clear,
        } => {
            let limits = super::policy::PolicyFlags {
                max_per_payment,
                max_per_day,
                currencies,
                confirm_above,
            };
            super::policy::run(settings, &organization, limits, show, clear, out).await
        }
        Action::Merchant {
            organization,
            name,
            url,
            show,
            clear,
        } => {
            let set = super::merchant::Set { name, url };
            super::merchant::run(settings, &organization, set, show, clear, out).await
        }
        Action::Remove {
            organization,
            environment,
            gateway,
        } => {
            let env = parse_environment(&environment)?;
            let store = open_store(settings).await?;
            crate::integrations::remove(&store, gateway, &organization, env).await?;
            writeln!(
                out,
                "Removed the {} {} integration of {organization:?} and its sealed secrets; its payments are kept.",
                env.as_str(),
                gateway_name(gateway)
            )?;
            Ok(())
        }
    }
}

/// `integration show`: a table of the Flow integrations, then one of the Stripe ones.
fn print_tables(
    flow: &[crate::integrations::StoredIntegration],
    stripe: &[crate::integrations::StoredStripeIntegration],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let active = |a: bool| if a { "yes" } else { "no" };
    if !flow.is_empty() {
        writeln!(out, "Flow:")?;
        let mut t = table(&[
            "ORGANIZATION",
            "ENVIRONMENT",
            "ACTIVE",
            "API URL",
            "CURRENCY",
            "SECRET",
            "UPDATED",
        ]);
        for s in flow {
            t.add_row([
                shown(&s.organization).into_owned(),
                s.environment.as_str().to_string(),
                active(s.active).to_string(),
                shown(&s.api_url).into_owned(),
                shown(&s.default_currency).into_owned(),
                "(sealed)".to_string(),
                when(s.updated_at),
            ]);
        }
        write!(out, "{}", render(&t))?;
    }
    if !stripe.is_empty() {
        if !flow.is_empty() {
            writeln!(out)?;
        }
        writeln!(out, "Stripe:")?;
        let mut t = table(&[
            "ORGANIZATION",
            "ENVIRONMENT",
            "ACTIVE",
            "API BASE",
            "CURRENCY",
            "KEY",
            "WEBHOOK SECRETS",
            "UPDATED",
        ]);
        let now = Timestamp::now();
        for s in stripe {
            let live = crate::integrations::live_webhook_secrets(s, now).count();
            t.add_row([
                shown(&s.organization).into_owned(),
                s.environment.as_str().to_string(),
                active(s.active).to_string(),
                shown(&s.api_base).into_owned(),
                shown(&s.default_currency).into_owned(),
                shown(&s.secret_key_masked).into_owned(),
                match live {
                    0 => "none".to_string(),
                    n => format!("{n} (sealed)"),
                },
                when(s.updated_at),
            ]);
        }
        write!(out, "{}", render(&t))?;
    }
    Ok(())
}

fn gateway_name(g: GatewayChoice) -> &'static str {
    match g {
        GatewayChoice::Flow => "Flow",
        GatewayChoice::Stripe => "Stripe",
    }
}

/// `paylink integration stripe [rotate-key|rotate-webhook-secret]`.
async fn stripe(args: StripeArgs, settings: &Settings, out: &mut dyn Write) -> anyhow::Result<()> {
    match args.action {
        None => {
            let Some(key_file) = args.secret_key_file else {
                anyhow::bail!("--secret-key-file: missing");
            };
            let secret_key = read_secret("--secret-key-file", &key_file)?;
            let webhook_secret = args
                .webhook_secret_file
                .as_deref()
                .map(|p| read_secret("--webhook-secret-file", p))
                .transpose()?;
            let account = crate::integrations::check_stripe(
                NewStripeIntegration {
                    organization: args.organization,
                    api_base: args.api_base,
                    secret_key,
                    webhook_secret,
                    default_currency: args.currency,
                },
                settings.allow_live,
            )?;
            let store = open_store(settings).await?;
            let key = master_key(settings, &store).await?;
            if args.no_verify {
                writeln!(
                    out,
                    "Not trying the key (--no-verify): `paylink doctor` tries it later."
                )?;
            } else {
                try_stripe_key(&account, settings, out).await?;
            }
            let stored = crate::integrations::save_stripe(&store, &key, &account).await?;
            writeln!(
                out,
                "Stored the Stripe integration of {:?} ({}, {}, key {}).",
                shown(&stored.organization),
                stored.environment.as_str(),
                shown(&stored.api_base),
                stored.secret_key_masked
            )?;
            webhook_instructions(&stored, settings, out)
        }
        Some(StripeAction::RotateKey {
            secret_key_file,
            organization,
            no_verify,
        }) => {
            let secret_key = read_secret("--secret-key-file", &secret_key_file)?;
            let env = crate::integrations::stripe_key_environment(&secret_key)?;
            let store = open_store(settings).await?;
            let mut stored = crate::integrations::get_stripe(&store, &organization, env)
                .await?
                .ok_or_else(|| {
                    crate::integrations::IntegrationError::MissingStripe(
                        organization.clone(),
                        env.as_str(),
                    )
                })?;
            let key = settings.master_key()?;
            let mut account = crate::integrations::stripe_account(&stored, &key, Timestamp::now())?;
            account.secret_key = secret_key;
            if no_verify {
                writeln!(
                    out,
                    "Not trying the key (--no-verify): `paylink doctor` tries it later."
                )?;
            } else {
                try_stripe_key(&account, settings, out).await?;
            }
            stored.secret_key_sealed = key.seal(&account.secret_key);
            stored.secret_key_masked = crate::integrations::mask_stripe_key(
                secrecy::ExposeSecret::expose_secret(&account.secret_key),
            );
            stored.updated_at = Timestamp::now();
            crate::integrations::put_stripe(&store, &stored).await?;
            writeln!(
                out,
                "Replaced the API key of the Stripe integration of {:?} ({}): now {}. Restart `paylink serve` to use it; then roll the old key in Stripe's dashboard.",
                shown(&stored.organization),
                env.as_str(),
                stored.secret_key_masked
            )?;
            Ok(())
        }
        Some(StripeAction::RotateWebhookSecret {
            webhook_secret_file,
            organization,
            environment,
            grace_hours,
        }) => {
            let env = parse_environment(&environment)?;
            let secret = crate::integrations::check_webhook_secret(&read_secret(
                "--webhook-secret-file",
                &webhook_secret_file,
            )?)?;
            let store = open_store(settings).await?;
            let mut stored = crate::integrations::get_stripe(&store, &organization, env)
                .await?
                .ok_or_else(|| {
                    crate::integrations::IntegrationError::MissingStripe(
                        organization.clone(),
                        env.as_str(),
                    )
                })?;
            let key = settings.master_key()?;
            let now = Timestamp::now();
            let had = crate::integrations::live_webhook_secrets(&stored, now).count();
            let grace = std::time::Duration::from_secs(grace_hours.saturating_mul(3600));
            crate::integrations::rotate_webhook_secret(&mut stored, &key, &secret, now, grace);
            crate::integrations::put_stripe(&store, &stored).await?;
            if had == 0 {
                writeln!(
                    out,
                    "Stored the webhook secret of the Stripe integration of {:?} ({}).",
                    shown(&organization),
                    env.as_str()
                )?;
            } else {
                writeln!(
                    out,
                    "Stored the new webhook secret of the Stripe integration of {:?} ({}); the previous one stays accepted until {}.",
                    shown(&organization),
                    env.as_str(),
                    now.plus_secs(i64::try_from(grace.as_secs()).unwrap_or(i64::MAX))
                        .rfc3339()
                )?;
            }
            writeln!(out, "Restart `paylink serve` to use it.")?;
            Ok(())
        }
    }
}

/// Where Stripe's events go, and what is still missing.
fn webhook_instructions(
    stored: &crate::integrations::StoredStripeIntegration,
    settings: &Settings,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let public = settings.public_base(settings.listener_addr);
    let env = stored.environment.as_str();
    let org = shown(&stored.organization);
    writeln!(
        out,
        "Create this webhook endpoint in Stripe's dashboard (Developers → Webhooks), with the checkout.session.* and payment_intent.* events:"
    )?;
    writeln!(out, "  {public}/webhook/stripe/{org}/{env}")?;
    if stored.webhook_secrets_sealed.is_empty() {
        writeln!(
            out,
            "Then store its signing secret: paylink integration stripe rotate-webhook-secret --organization {org} --environment {env} --webhook-secret-file FILE"
        )?;
    }
    if crate::net::is_loopback_url(&public) {
        writeln!(
            out,
            "Note: that URL is loopback. Set PAYLINK_PUBLIC_URL (or --public-url) to the address Stripe can reach."
        )?;
    }
    Ok(())
}

/// One signed read with the key; anything but Stripe's acceptance stops the command
/// before the key is stored.
async fn try_stripe_key(
    account: &StripeAccount,
    settings: &Settings,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let deadline = check_deadline(settings.flow_timeout);
    writeln!(
        out,
        "Trying the key with a signed read at {} (at most {} s)…",
        account.api_base,
        deadline.as_secs()
    )?;
    out.flush()?;
    let conn = Connection::new(settings.flow_timeout)?;
    match account.check_key(&conn, deadline).await {
        KeyCheck::Accepted => {
            writeln!(out, "Stripe accepted the key.")?;
            Ok(())
        }
        KeyCheck::Refused(why) => anyhow::bail!(
            "--secret-key-file: {} refused this key ({why}); nothing was stored. Give a secret or restricted key of the Stripe account (Stripe dashboard → Developers → API keys; test and live keys differ)",
            account.api_base
        ),
        KeyCheck::Unanswered(why) => anyhow::bail!(
            "could not try the key at {}: {why}; nothing was stored. Try again once Stripe answers, or pass --no-verify to store it untried",
            account.api_base
        ),
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
