//! The MCP server: the catalog's tools wired to the payment use cases, the
//! `payment://{id}` resources, and push of `notifications/resources/updated` (2025-11-25
//! `resources/subscribe` and 2026-07-28 `subscriptions/listen`).
//!
//! Hosts that render MCP Apps also get the payment card ([`card`]): a `ui://` view of a
//! payment that create's and getStatus's results show; other clients see none of it.
//!
//! Tools are listed from `paylink_tools::catalog()` in the configured name style (`auto`:
//! decided per client from its `clientInfo.name`) and called under either spelling. A tool that ran and failed returns `isError` with the catalog's
//! error JSON; JSON-RPC errors are kept for requests that cannot be routed at all.

#![allow(deprecated)] // resources/subscribe and logging are the 2025-11-25 wire; rmcp marks them deprecated.

mod card;
mod confirm;
pub mod duplicates;
mod errors;
pub mod http;
mod refund;
mod resources;
mod summary;
mod tools;

use std::sync::Arc;

use card::CardHost;
use paylink_tools::NameStyle;
use rmcp::model::*;
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

pub use errors::tool_error;
pub use resources::Subscriptions;

use crate::payments::Payments;

/// The organization a request acts for. The HTTP transport's auth layer inserts it into
/// the request's extensions; stdio serves the default organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization(pub String);

/// What every server instance shares.
#[derive(Clone)]
pub struct McpContext {
    pub payments: Payments,
    pub subscriptions: Subscriptions,
    /// How tool names are listed; `Auto` is resolved per client.
    pub name_style: NameStyle,
    /// The organization when no transport says otherwise (stdio).
    pub default_organization: String,
}

impl McpContext {
    /// What `organization`'s payments go through right now, in words (its own account's
    /// mode: organizations of one server may be live and in a sandbox side by side).
    pub fn mode_of(&self, organization: &str) -> String {
        match self.payments.active_account(organization) {
            Some(account) => account.describe(),
            None => {
                "no payment gateway configured for this organization: payment.create will fail until the operator configures one".to_string()
            }
        }
    }

    /// The gateway new payments of `organization` go to, in words for the instructions.
    fn gateway_of(&self, organization: &str) -> &'static str {
        match self.payments.active_account(organization).map(|a| a.kind) {
            Some(crate::gateway::GatewayKind::Flow) | None => "Flow (flow.cl)",
            Some(crate::gateway::GatewayKind::Stripe) => "Stripe (stripe.com)",
        }
    }
}

/// One MCP server instance (per stdio connection, or per HTTP session/request).
#[derive(Clone)]
pub struct PaylinkServer {
    ctx: Arc<McpContext>,
}

impl PaylinkServer {
    pub fn new(ctx: Arc<McpContext>) -> PaylinkServer {
        PaylinkServer { ctx }
    }

    fn organization(&self, rc: &RequestContext<RoleServer>) -> String {
        rc.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Organization>())
            .map(|o| o.0.clone())
            .unwrap_or_else(|| self.ctx.default_organization.clone())
    }

    /// The name style for the client behind `rc`: the configured style, resolved for the
    /// `clientInfo.name` that client sent (see [`NameStyle::for_client`]). The name comes
    /// from the request's own `_meta` (2026-07-28 requests may carry
    /// `io.modelcontextprotocol/clientInfo`), else from the session's initialize (stdio,
    /// and each HTTP session). A 2026-07-28 stateless request without one has no real
    /// client name (rmcp fills in its own), so `auto` lists dotted names for it.
    fn name_style(&self, rc: &RequestContext<RoleServer>) -> NameStyle {
        let from_meta = rc.meta.client_info().map(|i| i.name);
        let from_session = || rc.peer.peer_info().map(|p| p.client_info.name.clone());
        let name = from_meta.or_else(from_session);
        self.ctx.name_style.for_client(name.as_deref())
    }

    /// The capabilities of the client behind `rc`: from the request's own `_meta` (a
    /// 2026-07-28 request), else from the session's initialize.
    fn client_capabilities(&self, rc: &RequestContext<RoleServer>) -> Option<ClientCapabilities> {
        rc.meta
            .client_capabilities()
            .or_else(|| rc.peer.peer_info().map(|p| p.capabilities.clone()))
    }

    /// The client behind `rc` as a host of the payment card, if it negotiated MCP Apps.
    fn card_host(&self, rc: &RequestContext<RoleServer>) -> Option<CardHost> {
        CardHost::of(self.client_capabilities(rc).as_ref(), self.name_style(rc))
    }

    /// The instructions for `organization`'s agents, naming its own mode and the tools as
    /// they are listed in `style`.
    pub fn instructions(&self, organization: &str, style: NameStyle) -> String {
        let (create, status) = match style.for_client(None) {
            NameStyle::Dotted | NameStyle::Auto => ("payment.create", "payment.getStatus"),
            NameStyle::Snake => ("payment_create", "payment_get_status"),
        };
        format!(
            "paylink takes payments through {gateway}. Mode: {mode}.\n\
             Rules: amounts are in the currency's ordinary units (5000 with CLP is CLP 5.000; CLP has no decimals; never multiply by 100). \
             Call {create} with amount, description and customerEmail; give the returned paymentLinkUrl to the customer. \
             If a call fails or times out, call again with the same idempotencyKey and arguments: you get the same payment, never a second charge. \
             Later call {status} with the paymentId (as entityId), or subscribe to the payment's resourceUri to be told when it changes. \
             Refunds, and payments above the merchant's limit, wait for a person's approval: you can never approve them yourself; give the user the approval link when you get confirmation_required. \
             On an error, follow error.nextStep; error.retryable says whether trying again can help.",
            gateway = self.ctx.gateway_of(organization),
            mode = self.ctx.mode_of(organization)
        )
    }
}

impl ServerHandler for PaylinkServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new("paylink", env!("CARGO_PKG_VERSION")))
        .with_instructions(self.instructions(&self.ctx.default_organization, self.ctx.name_style))
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        // The instructions name the mode of the organization whose token opened the
        // session, and the tools in the spelling this client will see listed.
        let org = self.organization(&context);
        let style = self
            .ctx
            .name_style
            .for_client(Some(&request.client_info.name));
        context.peer.set_peer_info(request.clone());
        let mut result = self.negotiate_initialize(&request)?;
        result.instructions = Some(self.instructions(&org, style));
        if card::negotiated(Some(&request.capabilities)) {
            result
                .capabilities
                .extensions
                .get_or_insert_default()
                .insert(card::EXTENSION.to_string(), card::server_settings());
        }
        Ok(result)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools::list(
            self.name_style(&context),
            self.card_host(&context).is_some(),
        )))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools::get(self.ctx.name_style, name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let org = self.organization(&context);
        let card_host = self.card_host(&context);
        let channel = confirm::channel(&context);
        tools::call(&self.ctx, &org, request, channel, card_host).await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let org = self.organization(&context);
        let mut listed = resources::list(&self.ctx, &org).await?;
        if self.card_host(&context).is_some() {
            listed.resources.insert(0, card::resource());
        }
        Ok(listed)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            resources::template(),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        if request.uri == card::URI {
            return Ok(card::read().into());
        }
        let org = self.organization(&context);
        resources::read(&self.ctx, &org, &request.uri)
            .await
            .map(Into::into)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let org = self.organization(&context);
        resources::check_readable(&self.ctx, &org, &request.uri).await?;
        self.ctx
            .subscriptions
            .add_peer(&org, &request.uri, context.peer.clone())
            .await;
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.ctx
            .subscriptions
            .remove_peer(&request.uri, &context.peer)
            .await;
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    async fn listen(&self, context: rmcp::service::SubscriptionContext) -> Result<(), McpError> {
        let org = self.organization(context.request_context());
        let key = self
            .ctx
            .subscriptions
            .add_sink(&org, context.sink().clone())
            .await;
        context.cancelled().await;
        self.ctx.subscriptions.remove_sink(key).await;
        Ok(())
    }

    async fn set_level(
        &self,
        _request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        Ok(())
    }
}
