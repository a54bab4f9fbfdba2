//! Building and running the application: the ledger, the gateways, the payment use cases,
//! the side listener, the subscription forwarder, and an MCP transport. One cancellation
//! tree: every task gets a child of the root token, which Ctrl-C and SIGTERM cancel.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use paylink_tools::NameStyle;
use rmcp::ServiceExt;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::accounts::{Account, Assignment, Connection};
use crate::config::Settings;
use crate::mcp::http::{HttpOptions, check_bind};
use crate::mcp::{McpContext, PaylinkServer, Subscriptions};
use crate::payments::{GatewayMode, Gateways, PaymentSettings, Payments};
use crate::sandbox::{RunningSandbox, Sandbox, SandboxConfig};
use crate::store::Store;
use crate::webhook;

/// A built application, not yet serving MCP.
pub struct Application {
    pub payments: Payments,
    pub mcp: Arc<McpContext>,
    /// The bound side listener's address.
    pub listener_addr: SocketAddr,
    pub public_base_url: String,
    /// The built-in offline sandbox, when some organization has no Flow account.
    pub sandbox: Option<RunningSandbox>,
    /// The organizations the built-in offline sandbox serves.
    pub on_built_in_sandbox: Vec<String>,
    /// The default organization's mode.
    pub mode: GatewayMode,
    listener: Option<TcpListener>,
    shutdown: CancellationToken,
    settings: Settings,
    store: Store,
}

impl Application {
    /// Opens the ledger, binds the side listener and registers the gateway accounts that
    /// [`crate::accounts::plan`] assigns: stored integrations, the `FLOW_*` account for
    /// the default organization and every bearer token's organization, and the built-in
    /// offline sandbox for those with neither.
    pub async fn build(
        settings: Settings,
        name_style: NameStyle,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Application> {
        // sled in the data directory, or PostgreSQL; the error says what to do.
        let store = Store::open_for(&settings).await?;
        let listener =
            bind_with_backlog(settings.listener_addr, LISTENER_BACKLOG).with_context(|| {
                format!(
                    "cannot listen on {} (PAYLINK_LISTEN / --listen)",
                    settings.listener_addr
                )
            })?;
        let listener_addr = listener.local_addr()?;
        let public_base_url = settings.public_base(listener_addr);

        let stored = crate::integrations::list(&store).await?;
        let stored_stripe = crate::integrations::list_stripe(&store).await?;
        // The key only when a sealed secret must be opened; never created here.
        let key = if stored.iter().any(|s| s.active) || stored_stripe.iter().any(|s| s.active) {
            Some(settings.master_key()?)
        } else {
            None
        };
        // Every account on one connection pool.
        let conn = Connection::new(settings.flow_timeout)?;
        let gateways = Gateways::new();
        let mut sandbox = None;
        let mut on_built_in_sandbox = Vec::new();
        for slot in crate::accounts::plan(&settings, &stored, &stored_stripe, key.as_ref()) {
            let account = match slot.serves {
                Assignment::Account(a) => a,
                Assignment::Stripe(s) => {
                    let entry = s.gateway_entry(&conn)?;
                    for org in &slot.organizations {
                        gateways.insert(org, entry.clone());
                    }
                    continue;
                }
                Assignment::Unused { .. } => continue,
                Assignment::Refused { problem, .. } => anyhow::bail!(problem),
                Assignment::BuiltInSandbox => {
                    let sb = Sandbox::start(SandboxConfig::default())
                        .await
                        .context("cannot start the offline sandbox")?;
                    let account = Account::built_in_sandbox(&sb);
                    sandbox = Some(sb);
                    on_built_in_sandbox.extend(slot.organizations.iter().cloned());
                    account
                }
            };
            let entry = crate::accounts::gateway_entry(&account, &conn)?;
            for org in &slot.organizations {
                gateways.insert(org, entry.clone());
            }
        }
        let mode = gateways
            .active(&settings.organization)
            .map(|e| e.mode)
            .unwrap_or(GatewayMode::OfflineSandbox);
        let mut ps = PaymentSettings::with_public_base(&public_base_url);
        ps.idempotency_window = settings.idempotency_window;
        ps.order_timeout = settings.order_timeout;
        ps.pending_check_after = settings.pending_check_after;
        ps.create_settle_window = settings.create_settle_window;
        ps.default_organization = settings.organization.clone();
        ps.default_policy = settings.policy.clone();
        ps.approval_ttl = settings.approval_ttl;
        // A draft is reconciled only once a late create can no longer arrive.
        ps.draft_check_after = ps
            .draft_check_after
            .max(settings.create_settle_window + settings.flow_timeout);
        let payments = Payments::new(store.clone(), gateways, ps);
        // On PostgreSQL, every replica's changes reach this one's subscribers.
        payments
            .follow_shared_ledger(shutdown.child_token())
            .await
            .context("cannot follow the ledger's changes (LISTEN paylink_changes)")?;
        let mcp = Arc::new(McpContext {
            payments: payments.clone(),
            subscriptions: Subscriptions::default(),
            name_style,
            default_organization: settings.organization.clone(),
        });
        Ok(Application {
            payments,
            mcp,
            listener_addr,
            public_base_url,
            sandbox,
            on_built_in_sandbox,
            mode,
            listener: Some(listener),
            shutdown,
            settings,
            store,
        })
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Starts the side listener (with its confirmation workers), the reconciler, the
    /// outbound notifier (when configured), the subscription forwarder, and (sled only)
    /// the owner socket other paylink processes attach to.
    pub fn spawn_background(&mut self, tasks: &mut JoinSet<anyhow::Result<()>>) {
        let metrics = self.payments.metrics().clone();
        if let Some(listener) = self.listener.take() {
            let options = webhook::WebhookOptions {
                metrics_access: webhook::MetricsAccess::new(
                    self.settings.metrics_token.as_ref(),
                    self.listener_addr,
                ),
                merchant_organization: self.settings.organization.clone(),
                merchant: self.settings.merchant.clone(),
                ..Default::default()
            };
            let state = webhook::WebhookState::start(
                self.payments.clone(),
                options,
                self.shutdown.child_token(),
            );
            let router = webhook::router(state);
            let token = self.shutdown.child_token();
            let limits = self.settings.net.limits(webhook::MAX_BODY_BYTES);
            tasks.spawn(async move {
                webhook::serve(listener, router, limits, token)
                    .await
                    .context("the side listener failed")
            });
        }
        let reconciler = crate::reconcile::Reconciler::new(self.payments.clone());
        let (interval, token) = (
            self.settings.reconcile_interval,
            self.shutdown.child_token(),
        );
        tasks.spawn(async move {
            crate::reconcile::run(reconciler, interval, token).await;
            Ok(())
        });
        if let Some(target) = self.settings.notify.clone() {
            let handle =
                crate::notify::Notifier::for_organization(&self.settings.organization, target)
                    .with_metrics(metrics)
                    .start(&self.payments, self.shutdown.child_token());
            tasks.spawn(async move { handle.await.context("the notifier failed") });
        }
        // The owner of a sled ledger lets later paylink processes attach (src/owner).
        crate::owner::spawn(
            &self.settings.data_dir,
            self.mcp.clone(),
            self.store.clone(),
            self.shutdown.child_token(),
            tasks,
        );
        let subs = self.mcp.subscriptions.clone();
        let payments = self.payments.clone();
        let token = self.shutdown.child_token();
        tasks.spawn(async move {
            subs.forward(payments, token).await;
            Ok(())
        });
    }

    pub(crate) fn announce(&self) {
        tracing::info!(
            listener = %self.listener_addr,
            confirmations = %format!("{}/webhook/flow", self.public_base_url),
            "paylink ready"
        );
        // Each organization's own mode: one may be live while another is in a sandbox.
        for org in &self.settings.organizations() {
            let mode = self.mcp.mode_of(org);
            match self.payments.active_account(org).map(|a| a.mode) {
                Some(GatewayMode::Live) => {
                    tracing::warn!(organization = %org, mode, "LIVE: real money")
                }
                _ if self.on_built_in_sandbox.contains(org) => tracing::warn!(
                    organization = %org,
                    mode,
                    "no Flow credentials for this organization: its payments go to the built-in offline sandbox (no real money)"
                ),
                _ => tracing::info!(organization = %org, mode, "payments"),
            }
        }
        // Where each gateway that signs per account sends its events (to paste into its
        // dashboard), as the Flow confirmation URL is announced above.
        for (org, account) in self.payments.accounts() {
            if account.kind.shared_webhook_path().is_none() {
                let url =
                    account
                        .kind
                        .webhook_url(&self.public_base_url, &org, account.environment);
                tracing::info!(organization = %org, gateway = %account.kind, webhook = %url, "webhook endpoint");
                eprintln!(
                    "paylink: {} events for {org} ({}) at {url}",
                    account.kind,
                    account.environment.as_str()
                );
            }
        }
    }

    /// Serves MCP over stdio until the client closes stdin or the process is stopped.
    pub async fn run_stdio(mut self) -> anyhow::Result<()> {
        let mut tasks = JoinSet::new();
        self.spawn_background(&mut tasks);
        self.announce();
        let server = PaylinkServer::new(self.mcp.clone());
        let running = server
            .serve({
                let (read, write) = rmcp::transport::io::stdio_pipes();
                (crate::mcp::duplicates::MarkDuplicates::new(read), write)
            })
            .await
            .context("MCP handshake over stdio failed")?;
        let cancel = running.cancellation_token();
        let shutdown = self.shutdown.clone();
        tokio::select! {
            r = running.waiting() => { r.context("the stdio session failed")?; }
            _ = shutdown.cancelled() => { cancel.cancel(); }
        }
        self.shutdown.cancel();
        drain(tasks).await;
        Ok(())
    }

    /// Serves MCP over streamable HTTP at `/mcp` on `listener`.
    pub async fn run_http(
        mut self,
        listener: TcpListener,
        opts: HttpOptions,
    ) -> anyhow::Result<()> {
        let addr = listener.local_addr()?;
        check_bind(addr, &opts)?;
        let mut tasks = JoinSet::new();
        self.spawn_background(&mut tasks);
        self.announce();
        tracing::info!(%addr, "MCP over streamable HTTP at /mcp");
        let router = crate::mcp::http::router(self.mcp.clone(), &opts, self.shutdown.child_token())
            .route("/health", axum::routing::get(|| async { "ok" }));
        let limits = self.settings.net.limits(crate::mcp::http::READ_BODY_BYTES);
        crate::net::serve(listener, router, limits, self.shutdown.clone())
            .await
            .context("the MCP HTTP server failed")?;
        self.shutdown.cancel();
        drain(tasks).await;
        Ok(())
    }
}

/// Pending connections the side listener's kernel queue holds. Flow storms of thousands of
/// simultaneous confirmations overflow the usual 1,024 and cost a 1 s SYN retry each.
const LISTENER_BACKLOG: u32 = 8192;

/// Binds like `TcpListener::bind`, with a larger accept backlog (the kernel caps it at
/// `net.core.somaxconn`).
fn bind_with_backlog(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Waits for background tasks to finish, at most 10 s.
pub(crate) async fn drain(mut tasks: JoinSet<anyhow::Result<()>>) {
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(10));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                None => return,
                Some(Ok(Err(e))) => tracing::error!(error = %e, "background task failed"),
                Some(_) => {}
            },
            _ = &mut deadline => {
                tracing::warn!("background tasks did not stop within 10 s; abandoning them");
                tasks.abort_all();
                return;
            }
        }
    }
}
