//! Operator commands on the ledger: `payments list|show|reconcile`, `confirmations list`,
//! and `doctor`. Each writes a readable table, or JSON with `--json`, to the writer it is
//! given. The ledger is opened by one process at a time (sled's lock): run these while
//! `paylink serve` is stopped, or against a copy of the data directory.

use std::borrow::Cow;
use std::io::Write;

use anyhow::Context;
use paylink_tools::NameStyle;
use paylink_tools::validate::is_unsafe_char;
use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::config::Settings;
use crate::domain::{Payment, PaymentStatus, Timestamp};
use crate::payments::GatewayMode;
use crate::reconcile::{Reconciler, reconcile_once, reconcile_one};
use crate::store::Store;

/// Opens the ledger; the error says whether another process holds it, it is damaged, or
/// something else failed (see [`crate::store::StoreError`]).
fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    Ok(Store::open_with_cache(
        &settings.data_dir,
        settings.cache_bytes(),
    )?)
}

/// Stored text as it may reach the operator's terminal: every character that input
/// validation refuses (controls, bidirectional controls, tags; see
/// [`paylink_tools::validate::is_unsafe_char`]) is shown as a visible escape such as
/// `\u{1b}`, so a ledger written before that validation, or edited by hand, cannot move
/// the cursor, recolour the screen or forge table rows.
pub(crate) fn shown(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn row(p: &Payment) -> String {
    format!(
        "{:<24}  {:<8}  {:>14}  {:<20}  {:<10}  {}",
        shown(&p.id),
        p.status.as_str(),
        p.amount.to_string(),
        p.updated_at.rfc3339().chars().take(19).collect::<String>(),
        p.failure_reason.map(|r| r.as_str()).unwrap_or(""),
        shown(&p.description.chars().take(40).collect::<String>())
    )
}

pub fn payments_list(
    settings: &Settings,
    status: Option<PaymentStatus>,
    limit: usize,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = open_store(settings)?;
    let list = store.list(None, status, limit)?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<24}  {:<8}  {:>14}  {:<20}  {:<10}  DESCRIPTION",
        "ID", "STATUS", "AMOUNT", "UPDATED (UTC)", "REASON"
    )?;
    for p in &list {
        writeln!(out, "{}", row(p))?;
    }
    let counts = store.status_counts();
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    writeln!(
        out,
        "\n{} shown; ledger holds {}",
        list.len(),
        summary.join(", ")
    )?;
    Ok(())
}

pub fn payments_show(
    settings: &Settings,
    id: &str,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = open_store(settings)?;
    let p = store
        .get(id)?
        .with_context(|| format!("no payment {id:?} in the ledger"))?;
    let events = store.events(id)?;
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"payment": p, "events": events}))?
        )?;
        return Ok(());
    }
    writeln!(out, "payment        {}", shown(&p.id))?;
    writeln!(
        out,
        "status         {}{}",
        p.status,
        p.failure_reason
            .map(|r| format!(" ({})", r.as_str()))
            .unwrap_or_default()
    )?;
    writeln!(out, "amount         {}", p.amount)?;
    writeln!(out, "description    {}", shown(&p.description))?;
    writeln!(
        out,
        "organization   {} / {}",
        shown(&p.organization),
        p.environment.as_str()
    )?;
    writeln!(out, "customer       {}", shown(&p.customer_email))?;
    writeln!(
        out,
        "entity         {}",
        shown(p.entity_id.as_deref().unwrap_or("-"))
    )?;
    writeln!(
        out,
        "flow order     {}",
        shown(p.gateway_ref.as_deref().unwrap_or("-"))
    )?;
    writeln!(out, "commerce order {}", shown(&p.reference))?;
    writeln!(
        out,
        "link           {}",
        shown(p.payment_link_url.as_deref().unwrap_or("-"))
    )?;
    writeln!(out, "created        {}", p.created_at.rfc3339())?;
    if let Some(t) = p.paid_at {
        writeln!(out, "paid           {}", t.rfc3339())?;
    }
    writeln!(out, "events:")?;
    for e in events {
        writeln!(
            out,
            "  #{} {:<24} {:<9} by {:<10} {}",
            e.seq,
            e.at.rfc3339(),
            format!("{:?}", e.kind).to_lowercase(),
            format!("{:?}", e.source).to_lowercase(),
            shown(e.detail.as_deref().unwrap_or_default())
        )?;
    }
    Ok(())
}

/// One reconciliation pass by hand (seed 003's manual reconciliation).
pub async fn payments_reconcile(
    settings: Settings,
    id: Option<String>,
    json: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let settings = Settings {
        listener_addr: "127.0.0.1:0".parse()?,
        ..settings
    };
    let app = Application::build(
        settings,
        NameStyle::Dotted,
        Vec::new(),
        CancellationToken::new(),
    )
    .await?;
    if app.mode == GatewayMode::OfflineSandbox {
        writeln!(
            out,
            "note: no Flow credentials: checking against a fresh offline sandbox, which knows no earlier orders"
        )?;
    }
    let reconciler = Reconciler::new(app.payments.clone());
    let open = app
        .payments
        .status_counts()
        .iter()
        .filter(|(s, _)| !s.is_final())
        .map(|(_, n)| n)
        .sum::<u64>();
    if !json {
        writeln!(
            out,
            "asking Flow about {open} open payment(s), {} at a time…",
            reconciler.concurrency
        )?;
    }
    match id {
        Some(id) => {
            let r = reconcile_one(&reconciler, &id, Timestamp::now()).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
            } else {
                writeln!(
                    out,
                    "{}: now {} ({:?})",
                    r.payment.id, r.payment.status, r.checked
                )?;
            }
        }
        None => {
            // Everything that is not final counts as due for a pass by hand.
            let far = Timestamp::now().plus_secs(100 * 365 * 24 * 3600);
            let report = reconcile_once(&reconciler, far).await;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                writeln!(
                    out,
                    "checked {}, changed {}, still pending {}, errors {}",
                    report.checked, report.changed, report.still_pending, report.errors
                )?;
            }
        }
    }
    Ok(())
}

pub fn confirmations_list(
    settings: &Settings,
    limit: usize,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = open_store(settings)?;
    let list = crate::webhook::list_confirmations(&store, limit)?;
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

/// `paylink ledger verify`: opens the ledger (which fails, saying so, when sled finds it
/// damaged or another process holds it), decodes every payment, event and claim, checks
/// every index, and reports counts and problems. Returns whether the ledger is sound.
pub fn ledger_verify(settings: &Settings, json: bool, out: &mut dyn Write) -> anyhow::Result<bool> {
    let dir = &settings.data_dir;
    if !dir.join("db").exists() {
        anyhow::bail!(
            "no ledger at {}: give the data directory with --data-dir or PAYLINK_DATA_DIR",
            dir.display()
        );
    }
    let store = open_store(settings)?;
    let v = store.verify()?;
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

/// Checks the configuration, the ledger, the public URL and (with credentials) a signed
/// call to Flow. Returns whether everything passed.
/// What `serve` does with the integrations stored in the ledger: open each active one's
/// sealed secret with the master key (never creating a key), and make a signed call with it.
async fn check_stored_integrations(
    settings: &Settings,
    stored: &[crate::integrations::StoredIntegration],
    out: &mut (dyn Write + Send),
    check: &mut impl FnMut(&mut (dyn Write + Send), &str, Result<String, String>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let active: Vec<_> = stored.iter().filter(|s| s.active).collect();
    if active.is_empty() {
        return Ok(());
    }
    let key = match settings.master_key() {
        Ok(k) => {
            check(
                out,
                "master key",
                Ok(settings.key_file().display().to_string()),
            )?;
            k
        }
        Err(e) => return check(out, "master key", Err(e.to_string())),
    };
    let http = reqwest::Client::builder()
        .timeout(settings.flow_timeout)
        .build()
        .map_err(std::io::Error::other)?;
    for s in active {
        let name = format!(
            "integration {} ({})",
            s.organization,
            s.environment.as_str()
        );
        if s.environment == crate::domain::Environment::Production && !settings.allow_live {
            check(
                out,
                &name,
                Err("a production (live money) integration: serve refuses to start without --allow-live or PAYLINK_ALLOW_LIVE=1".into()),
            )?;
            continue;
        }
        let entry = match crate::integrations::gateway_entry(
            s,
            &key,
            http.clone(),
            settings.flow_timeout,
        ) {
            Ok(e) => e,
            Err(e) => {
                check(out, &name, Err(e.to_string()))?;
                continue;
            }
        };
        let result = match entry
            .gateway
            .status(crate::gateway::Lookup::Reference {
                reference: "paylink-doctor-probe",
                created_after: crate::domain::Timestamp::now(),
            })
            .await
        {
            Ok(_) => Ok(format!("{} accepted a signed call", s.api_url)),
            Err(e @ crate::gateway::GatewayError::Misconfigured { .. }) => Err(format!(
                "{} refused the stored credentials: {e}; store the right keys with `paylink integration flow`",
                s.api_url
            )),
            Err(e) => Err(format!("{} could not be used: {e}", s.api_url)),
        };
        check(out, &name, result)?;
    }
    Ok(())
}

pub async fn doctor(
    settings: Result<Settings, anyhow::Error>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<bool> {
    let mut ok = true;
    let mut check = |out: &mut (dyn Write + Send),
                     name: &str,
                     result: Result<String, String>|
     -> std::io::Result<()> {
        match result {
            Ok(detail) => writeln!(out, "  ok    {name}: {detail}"),
            Err(problem) => {
                ok = false;
                writeln!(out, "  FAIL  {name}: {problem}")
            }
        }
    };
    writeln!(out, "paylink doctor")?;
    let settings = match settings {
        Ok(s) => {
            check(out, "configuration", Ok("valid".into()))?;
            s
        }
        Err(e) => {
            check(out, "configuration", Err(format!("{e:#}")))?;
            writeln!(out, "\nVerdict: NOT READY — fix the configuration first.")?;
            return Ok(false);
        }
    };
    let store = open_store(&settings).map_err(|e| format!("{e:#}"));
    check(
        out,
        "ledger",
        store
            .as_ref()
            .map(|s| format!("{} ({} payments)", settings.data_dir.display(), s.len()))
            .map_err(Clone::clone),
    )?;
    let stored = match &store {
        Ok(s) => crate::integrations::list(s).unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    drop(store);
    check_stored_integrations(&settings, &stored, out, &mut check).await?;
    let public = settings.public_base(settings.listener_addr);
    let public_note = if public.contains("127.0.0.1") || public.contains("localhost") {
        format!(
            "{public} — loopback only: real Flow cannot reach it; set PAYLINK_PUBLIC_URL before going live"
        )
    } else {
        public.clone()
    };
    check(out, "public URL", Ok(public_note))?;
    match &settings.flow {
        None => check(
            out,
            "Flow",
            Ok("no credentials: the built-in offline sandbox will be used".into()),
        )?,
        Some(f) => {
            let cfg = crate::gateway::flow::FlowClientConfig::new(
                f.api_url.clone(),
                f.api_key.clone(),
                f.secret_key.clone(),
            );
            let result = match crate::gateway::flow::FlowClient::new(cfg) {
                Err(e) => Err(e.to_string()),
                Ok(client) => match client.find_by_commerce_order("paylink-doctor-probe").await {
                    Ok(_) => Ok(format!(
                        "{} answered a signed call; credentials accepted",
                        f.api_url
                    )),
                    Err(e) if e.is_auth() => {
                        Err(format!("{} refused the credentials: {e}", f.api_url))
                    }
                    Err(e) => Err(format!("{} could not be used: {e}", f.api_url)),
                },
            };
            check(out, "Flow", result)?;
        }
    }
    writeln!(
        out,
        "\nVerdict: {}",
        if ok {
            "READY"
        } else {
            "NOT READY — see FAIL lines above."
        }
    )?;
    Ok(ok)
}
