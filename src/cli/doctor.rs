//! `paylink doctor`: is this configuration ready? It checks the settings, the ledger
//! (never creating one: a missing ledger is a `note`, since `serve` makes it), the
//! master key, the public URL, and every Flow account `serve` would use, as
//! [`crate::accounts::plan`] assigns them (stored integrations of every organization and
//! environment, and the `FLOW_*` account), each with a signed call within a deadline.
//! Every account is tried at once, so `doctor` waits at most one key-check deadline
//! ([`crate::accounts::KEY_CHECK_LIMIT`], or `PAYLINK_FLOW_TIMEOUT_SECS` when shorter),
//! however many accounts there are. Results go to stdout, in plan order, and end with a
//! verdict; while it waits, a spinner on stderr (a terminal) or one line per check
//! (piped) says what it waits for.
//! The verdict is READY only if `serve` would start and every account it uses accepts its
//! keys.

use std::io::Write;
use std::time::Instant;

use super::output::{BAD, GOOD, paint};
use super::{NoLedger, open_existing_store};
use crate::accounts::{
    Account, Assignment, Connection, KeyCheck, Origin, StripeAccount, check_deadline, check_keys,
};
use crate::config::Settings;
use crate::domain::Environment;

/// One result line, made while the checks run and written once they are all done.
enum Finding {
    Ok(String, String),
    Fail(String, String),
    Skip(String, String),
}

/// Result lines, and whether any failed.
struct Report<'a> {
    out: &'a mut (dyn Write + Send),
    ready: bool,
}

impl Report<'_> {
    fn ok(&mut self, name: &str, detail: &str) -> std::io::Result<()> {
        writeln!(self.out, "  {}    {name}: {detail}", paint(GOOD, "ok"))
    }

    fn fail(&mut self, name: &str, problem: &str) -> std::io::Result<()> {
        self.ready = false;
        writeln!(self.out, "  {}  {name}: {problem}", paint(BAD, "FAIL"))
    }

    /// A finding that does not stop `serve`.
    fn note(&mut self, name: &str, detail: &str) -> std::io::Result<()> {
        writeln!(self.out, "  note  {name}: {detail}")
    }

    fn skip(&mut self, name: &str, why: &str) -> std::io::Result<()> {
        writeln!(self.out, "  skip  {name}: {why}")
    }

    fn write(&mut self, finding: Finding) -> std::io::Result<()> {
        match finding {
            Finding::Ok(name, detail) => self.ok(&name, &detail),
            Finding::Fail(name, problem) => self.fail(&name, &problem),
            Finding::Skip(name, why) => self.skip(&name, &why),
        }
    }
}

/// Runs every check; returns whether everything passed.
pub async fn run(
    settings: anyhow::Result<Settings>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<bool> {
    writeln!(out, "paylink doctor")?;
    let mut r = Report { out, ready: true };
    let settings = match settings {
        Ok(s) => {
            r.ok("configuration", "valid")?;
            s
        }
        Err(e) => {
            r.fail("configuration", &format!("{e:#}"))?;
            writeln!(r.out, "\nVerdict: NOT READY — fix the configuration first.")?;
            return Ok(false);
        }
    };
    // Looked at, never created: `serve` makes the ledger on its first start.
    let (stored, stored_stripe) = match open_existing_store(&settings).await {
        Ok(store) => {
            r.ok(
                "ledger",
                &format!(
                    "{} ({} payments)",
                    store.describe_location(&settings.data_dir),
                    store
                        .status_counts()
                        .await
                        .map(|c| c.iter().map(|(_, n)| n).sum::<u64>())
                        .unwrap_or(0)
                ),
            )?;
            let flow = match crate::integrations::list(&store).await {
                Ok(all) => all,
                Err(e) => {
                    r.fail("stored integrations", &e.to_string())?;
                    Vec::new()
                }
            };
            let stripe = match crate::integrations::list_stripe(&store).await {
                Ok(all) => all,
                Err(e) => {
                    r.fail("stored Stripe integrations", &e.to_string())?;
                    Vec::new()
                }
            };
            (flow, stripe)
        }
        Err(e) => {
            match e.downcast_ref::<NoLedger>() {
                // Not yet made: a finding, unless an earlier paylink's ledger sits in
                // ./paylink-data, beside which serve would start on a new, empty one.
                Some(missing) if !missing.former_default_has_one => {
                    r.note("ledger", &missing.to_string())?
                }
                _ => r.fail("ledger", &format!("{e:#}"))?,
            }
            (Vec::new(), Vec::new())
        }
    };
    // As serve does: the master key only when a sealed secret must be opened, never made.
    let key = if stored.iter().any(|s| s.active) || stored_stripe.iter().any(|s| s.active) {
        match settings.master_key() {
            Ok(k) => {
                r.ok("master key", &settings.key_file().display().to_string())?;
                Some(k)
            }
            Err(e) => {
                r.fail("master key", &e.to_string())?;
                None
            }
        }
    } else {
        None
    };
    let conn = Connection::new(settings.flow_timeout)?;
    // Every account is tried at once: the wait is one deadline, however many there are.
    let mut checks = Vec::new();
    for slot in crate::accounts::plan(&settings, &stored, &stored_stripe, key.as_ref()) {
        let orgs = slot.organizations.join(", ");
        let (settings, conn) = (&settings, &conn);
        checks.push(async move {
            match slot.serves {
                Assignment::Account(account) => {
                    let name = match account.origin {
                        Origin::Stored { .. } => account.label(),
                        _ => format!("{} for {orgs}", account.label()),
                    };
                    vec![check_account(&name, &account, settings, conn).await]
                }
                Assignment::Stripe(account) => check_stripe(&orgs, &account, settings, conn).await,
                Assignment::BuiltInSandbox => vec![Finding::Ok(
                    format!("organization {orgs}"),
                    "no Flow account: serve starts the built-in offline sandbox (no real money)"
                        .into(),
                )],
                Assignment::Refused { label, problem } => vec![Finding::Fail(label, problem)],
                Assignment::Unused { label, why } => vec![Finding::Skip(label, why.into())],
            }
        });
    }
    let waiting = (!checks.is_empty()).then(|| {
        let deadline = check_deadline(settings.flow_timeout).as_secs();
        super::progress::spinner(format!(
            "doctor: trying {} account(s) (at most {deadline} s)",
            checks.len()
        ))
    });
    let found = futures::future::join_all(checks).await;
    if let Some(bar) = waiting {
        bar.finish_and_clear();
    }
    for finding in found.into_iter().flatten() {
        r.write(finding)?;
    }
    let public = settings.public_base(settings.listener_addr);
    if crate::net::is_loopback_url(&public) {
        r.ok(
            "public URL",
            &format!(
                "{public} — loopback only: Flow and Stripe cannot reach it; set PAYLINK_PUBLIC_URL before taking real payments"
            ),
        )?;
    } else {
        r.ok("public URL", &public)?;
    }
    let ready = r.ready;
    writeln!(
        r.out,
        "\nVerdict: {}",
        if ready {
            "READY"
        } else {
            "NOT READY — see FAIL lines above."
        }
    )?;
    Ok(ready)
}

/// Announces a check on stderr where no progress is drawn (piped: a log, a test); on a
/// terminal the spinner says it.
fn announce(line: String) {
    if !super::progress::shown() {
        eprintln!("{line}");
    }
}

/// One signed call with the account's keys, announced on stderr as it starts and ends.
async fn check_account(
    name: &str,
    account: &Account,
    settings: &Settings,
    conn: &Connection,
) -> Finding {
    let deadline = check_deadline(settings.flow_timeout);
    announce(format!(
        "doctor: {name}: signed call to {} (at most {} s)…",
        account.api_url,
        deadline.as_secs()
    ));
    let started = Instant::now();
    let result = check_keys(account, conn, deadline).await;
    announce(format!(
        "doctor: {name}: done in {:.1} s",
        started.elapsed().as_secs_f32()
    ));
    let url = &account.api_url;
    match result {
        KeyCheck::Accepted => Finding::Ok(
            name.into(),
            format!(
                "{url} accepted a signed call ({}, {})",
                account.endpoint.describe(),
                account.environment.as_str()
            ),
        ),
        KeyCheck::Refused(why) => Finding::Fail(
            name.into(),
            format!("{url} refused the keys ({why}); {}", fix(account)),
        ),
        KeyCheck::Unanswered(why) => Finding::Fail(
            name.into(),
            format!(
                "{url} could not be used ({why}); payments through this account will fail until it answers"
            ),
        ),
    }
}

/// How to replace refused keys.
fn fix(account: &Account) -> String {
    match &account.origin {
        Origin::Stored { organization } => format!(
            "store the right ones with `paylink integration flow --organization {organization}{}`",
            match account.environment {
                Environment::Development => " --test",
                Environment::Production => " --allow-live",
            }
        ),
        Origin::Environment => "set the right FLOW_API_KEY and FLOW_SECRET_KEY".into(),
        Origin::BuiltInSandbox | Origin::Given => "give the right keys".into(),
    }
}

/// One signed read with a Stripe account's key, and whether its events can be verified.
async fn check_stripe(
    orgs: &str,
    account: &StripeAccount,
    settings: &Settings,
    conn: &Connection,
) -> Vec<Finding> {
    let name = match &account.organization {
        Some(_) => account.label(),
        None => format!("{} for {orgs}", account.label()),
    };
    let deadline = check_deadline(settings.flow_timeout);
    announce(format!(
        "doctor: {name}: signed call to {} (at most {} s)…",
        account.api_base,
        deadline.as_secs()
    ));
    let url = &account.api_base;
    let (fix_key, fix_webhook) = match &account.organization {
        None => (
            "set STRIPE_SECRET_KEY to a key of this account (Stripe dashboard → Developers → API keys)".to_string(),
            "STRIPE_WEBHOOK_SECRET is not set: Stripe's events cannot be verified, so payments are only learned by polling; set the endpoint's signing secret (whsec_…)".to_string(),
        ),
        Some(org) => {
            let env = account.environment.as_str();
            (
                format!("store a key of this account with `paylink integration stripe rotate-key --organization {org} --secret-key-file FILE` (Stripe dashboard → Developers → API keys)"),
                format!("no webhook secret: Stripe's events cannot be verified, so payments are only learned by polling; create the endpoint {}/webhook/stripe/{org}/{env} in Stripe's dashboard and store its signing secret with `paylink integration stripe rotate-webhook-secret --organization {org} --environment {env} --webhook-secret-file FILE`", settings.public_base(settings.listener_addr)),
            )
        }
    };
    let mut found = vec![match account.check_key(conn, deadline).await {
        KeyCheck::Accepted => Finding::Ok(
            name.clone(),
            format!("{url} accepted the key ({})", account.environment.as_str()),
        ),
        KeyCheck::Refused(why) => Finding::Fail(
            name.clone(),
            format!("{url} refused the key ({why}); {fix_key}"),
        ),
        KeyCheck::Unanswered(why) => Finding::Fail(
            name.clone(),
            format!("{url} could not be used ({why}); Stripe payments will fail until it answers"),
        ),
    }];
    if account.webhook_secrets.is_empty() {
        found.push(Finding::Fail(name, fix_webhook));
    }
    found
}
