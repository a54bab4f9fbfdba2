//! The payment card: an MCP Apps view (extension `io.modelcontextprotocol/ui`, SEP-1865,
//! specification 2026-01-26) that hosts rendering MCP Apps show beside the results of
//! `payment.create` and `payment.getStatus`: the amount, the description, a QR code of the
//! link and the status as a badge, kept live until the payment is paid or failed.
//!
//! # Only for hosts that negotiated the extension
//!
//! A client that declares `capabilities.extensions["io.modelcontextprotocol/ui"]` with
//! `mimeTypes` containing [`MIME_TYPE`] at initialize (or, on a 2026-07-28 stateless
//! request, in the request's `_meta` client capabilities) is a card host. Only a card host
//! gets any of this: the extension echoed in the initialize result's capabilities, the
//! tools' `_meta.ui`, the card in `resources/list`, and the card data in results' `_meta`.
//! Every other client sees exactly what it saw before (the spec's "servers SHOULD check
//! client capabilities before registering UI-enabled tools"). `resources/read` of
//! [`URI`] answers anyone: reading a static page harms no one, and hosts may prefetch.
//!
//! # Keys
//!
//! - On the tools: `_meta.ui.resourceUri` = [`URI`], and the same URI under the flat
//!   `_meta["ui/resourceUri"]` that the specification deprecates but older hosts still
//!   read (the official SDK's `registerAppTool` writes both too). `_meta.ui.visibility`:
//!   `["model", "app"]` on getStatus, which the card calls to refresh the status;
//!   `["model"]` on create, so a host refuses a view that tries to create payments.
//! - On the resource: MIME type [`MIME_TYPE`], `_meta.ui.prefersBorder: true`, and no
//!   `csp`: the card loads nothing from anywhere, so the host's most restrictive default
//!   policy (no connections, inline script and style, `data:` images) is all it needs.
//! - On results, for card hosts only: `_meta["paylink/card"]` = `{statusTool, amount,
//!   description, qrSvg?}`. `statusTool` is getStatus under the name this client lists
//!   (dotted or snake); `amount` is the amount as paylink writes it everywhere (`CLP
//!   5.000`, from `summary::amount`); `description` is there because create's structured
//!   result has none; `qrSvg` only while the payment can still be paid.
//!
//! # Where the QR code comes from
//!
//! The card is one static page (hosts fetch and may cache it before any call), and the
//! link exists only once a payment does. So the server draws the QR code per result, with
//! the `qrcode` crate's SVG renderer, and hands it to the view in the result's `_meta`,
//! which hosts give to the view (`ui/notifications/tool-result` carries the whole
//! `CallToolResult`) and keep out of the model's context. Not in `structuredContent`: that
//! is what models read, and the 11 KB or so of path data would only cost them tokens. Not in
//! the page's JavaScript: a QR encoder written by hand is code to get wrong. The view shows
//! the SVG as an `<img>` of a `data:` URL, so nothing in it can run.

use std::sync::LazyLock;

use paylink_tools::{NameStyle, ToolId, ToolSpec, catalog};
use rmcp::model::{ClientCapabilities, MetaObject, ReadResourceResult, Resource, ResourceContents};
use serde_json::{Value, json};

use super::summary;
use crate::domain::{Payment, PaymentStatus};

/// The extension's identifier.
pub const EXTENSION: &str = "io.modelcontextprotocol/ui";
/// The MIME type of MCP Apps HTML views.
pub const MIME_TYPE: &str = "text/html;profile=mcp-app";
/// The card's resource.
pub const URI: &str = "ui://paylink/payment-card";
/// The key of the card's data in a result's `_meta`.
pub const RESULT_KEY: &str = "paylink/card";

const HTML: &str = include_str!("card.html");

static STATUS_TOOL: LazyLock<ToolSpec> = LazyLock::new(|| {
    catalog()
        .into_iter()
        .find(|s| s.id == ToolId::GetStatus)
        .expect("the catalog has payment.getStatus")
});

/// Whether `caps` declares the extension with the card's MIME type.
pub fn negotiated(caps: Option<&ClientCapabilities>) -> bool {
    caps.and_then(|c| c.extensions.as_ref())
        .and_then(|e| e.get(EXTENSION))
        .and_then(|settings| settings.get("mimeTypes"))
        .and_then(Value::as_array)
        .is_some_and(|types| types.iter().any(|t| t.as_str() == Some(MIME_TYPE)))
}

/// A client that renders the card, with what its results' card data needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardHost {
    /// payment.getStatus as this client lists it.
    status_tool: &'static str,
}

impl CardHost {
    /// The card host behind `caps`, or `None` for a client without the extension.
    pub fn of(caps: Option<&ClientCapabilities>, style: NameStyle) -> Option<CardHost> {
        negotiated(caps).then(|| CardHost {
            status_tool: STATUS_TOOL.name(style),
        })
    }
}

/// The extension's settings as the server echoes them in its capabilities.
pub fn server_settings() -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("mimeTypes".into(), json!([MIME_TYPE]));
    m
}

fn meta(v: Value) -> MetaObject {
    match v {
        Value::Object(map) => MetaObject(map),
        _ => MetaObject::default(),
    }
}

/// A tool's `_meta` for card hosts; `None` for tools that show no card.
pub fn tool_meta(id: ToolId) -> Option<MetaObject> {
    let visibility = match id {
        ToolId::Create => json!(["model"]),
        ToolId::GetStatus => json!(["model", "app"]),
        ToolId::List | ToolId::Refund => return None,
    };
    Some(meta(json!({
        "ui": {"resourceUri": URI, "visibility": visibility},
        "ui/resourceUri": URI,
    })))
}

fn resource_meta() -> MetaObject {
    meta(json!({"ui": {"prefersBorder": true}}))
}

/// The card as `resources/list` shows it to card hosts.
pub fn resource() -> Resource {
    Resource::new(URI, "payment-card")
        .with_title("Payment card")
        .with_description("The amount, description, QR code of the link and live status of a payment, for hosts that render MCP Apps.")
        .with_mime_type(MIME_TYPE)
        .with_meta(resource_meta())
}

/// `resources/read` of [`URI`].
pub fn read() -> ReadResourceResult {
    ReadResourceResult::new(vec![
        ResourceContents::text(HTML, URI)
            .with_mime_type(MIME_TYPE)
            .with_meta(resource_meta()),
    ])
}

/// The QR code of `link` as an SVG document; `None` for data past a QR code's capacity.
fn qr_svg(link: &str) -> Option<String> {
    let code = qrcode::QrCode::new(link.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .module_dimensions(1, 1)
            .build(),
    )
}

/// The `_meta` of a result about `p` for `host`.
pub fn result_meta(host: CardHost, p: &Payment) -> MetaObject {
    let mut card = json!({
        "statusTool": host.status_tool,
        "amount": summary::amount(p.amount),
        "description": p.description,
    });
    if p.status == PaymentStatus::Pending
        && let Some(svg) = p.payment_link_url.as_deref().and_then(qr_svg)
    {
        card["qrSvg"] = Value::String(svg);
    }
    let mut m = MetaObject::default();
    m.insert(RESULT_KEY.into(), card);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(v: Value) -> ClientCapabilities {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn only_a_client_declaring_the_extension_with_the_mime_type_is_a_card_host() {
        let ui = caps(json!({"extensions": {EXTENSION: {"mimeTypes": [MIME_TYPE]}}}));
        assert_eq!(
            CardHost::of(Some(&ui), NameStyle::Snake),
            Some(CardHost {
                status_tool: "payment_get_status"
            })
        );
        assert_eq!(
            CardHost::of(Some(&ui), NameStyle::Dotted).map(|h| h.status_tool),
            Some("payment.getStatus")
        );
        for other in [
            json!({}),
            json!({"extensions": {}}),
            json!({"extensions": {EXTENSION: {}}}),
            json!({"extensions": {EXTENSION: {"mimeTypes": ["text/html"]}}}),
            json!({"extensions": {"io.modelcontextprotocol/tasks": {}}}),
        ] {
            assert!(!negotiated(Some(&caps(other.clone()))), "{other}");
        }
        assert!(!negotiated(None));
    }

    #[test]
    fn the_card_is_one_self_contained_page() {
        let lower = HTML.to_lowercase();
        assert!(lower.starts_with("<!doctype html>"));
        for remote in [
            "src=\"http",
            "href=\"http",
            "src='http",
            "href='http",
            "@import",
            "url(",
        ] {
            assert!(
                !lower.contains(remote),
                "the card must load nothing: {remote}"
            );
        }
        assert!(
            !lower.contains("innerhtml"),
            "values are shown with textContent"
        );
        assert!(HTML.len() < 16 * 1024, "{} bytes", HTML.len());
    }

    #[test]
    fn a_flow_link_makes_a_small_svg_qr_code() {
        let link = format!(
            "https://www.flow.cl/app/web/pay.php?token={}",
            "A".repeat(40)
        );
        let svg = qr_svg(&link).unwrap();
        assert!(svg.contains("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("<script"));
        assert!(svg.len() < 24 * 1024, "{} bytes", svg.len());
    }
}
