//! The four tools: names, descriptions, annotations, schemas.

use schemars::JsonSchema;
use serde::Serialize;

use crate::args::{CreatePaymentArgs, GetStatusArgs, ListPaymentsArgs, RefundPaymentArgs};
use crate::results::{CreatePaymentResult, GetStatusResult, ListPaymentsResult, RefundResult};

/// How tool names are listed. Calls under either spelling work in every style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameStyle {
    /// Decided per client from the `clientInfo.name` it sends: snake names for the clients
    /// in [`CLIENTS_REJECTING_DOTS`], dotted names for every other client (and when no
    /// name is known). See [`NameStyle::for_client`].
    #[default]
    Auto,
    /// `payment.create`, `payment.getStatus` (the seed's names).
    Dotted,
    /// `payment_create`, `payment_get_status`, for clients that reject dots.
    Snake,
}

/// The clients known to reject tool names with dots, each as a fragment of the
/// `clientInfo.name` they send at initialize. The rule: a client rejects dots when its
/// name contains one of these fragments, compared case-insensitively ("Claude Desktop",
/// "claude-code", "claude-ai" all contain "claude"). The one place this list is kept.
///
/// - `claude`: Claude Desktop and Claude Code check names against `^[a-zA-Z0-9_-]{1,64}$`
///   and refuse the whole server (loomle/loomle #168, barryw/ImmichMCP #4).
/// - `codex`: OpenAI's Codex CLI (openai/codex #8174).
/// - `openai`: OpenAI's other MCP clients, which apply the same name rule as Codex.
/// - `copilot`: GitHub Copilot CLI (github/copilot-cli #1879, #2581).
pub const CLIENTS_REJECTING_DOTS: &[&str] = &["claude", "codex", "openai", "copilot"];

impl NameStyle {
    pub fn parse(s: &str) -> Option<NameStyle> {
        match s {
            "auto" => Some(NameStyle::Auto),
            "dotted" => Some(NameStyle::Dotted),
            "snake" => Some(NameStyle::Snake),
            _ => None,
        }
    }

    /// The style to list for a client named `client_name` (its `clientInfo.name`, when
    /// known): an explicit `Dotted` or `Snake` stays as it is; `Auto` becomes `Snake` for
    /// a client in [`CLIENTS_REJECTING_DOTS`] and `Dotted` otherwise. Never `Auto`.
    pub fn for_client(self, client_name: Option<&str>) -> NameStyle {
        match self {
            NameStyle::Dotted | NameStyle::Snake => self,
            NameStyle::Auto => match client_name {
                Some(name) if client_rejects_dots(name) => NameStyle::Snake,
                _ => NameStyle::Dotted,
            },
        }
    }
}

/// Whether a client of this `clientInfo.name` is known to reject dotted tool names.
pub fn client_rejects_dots(client_name: &str) -> bool {
    let name = client_name.to_lowercase();
    CLIENTS_REJECTING_DOTS.iter().any(|f| name.contains(f))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolId {
    Create,
    GetStatus,
    List,
    Refund,
}

impl ToolId {
    /// Resolves a called name under any accepted spelling.
    pub fn from_name(name: &str) -> Option<ToolId> {
        match name {
            "payment.create" | "payment_create" => Some(ToolId::Create),
            "payment.getStatus" | "payment_get_status" | "payment_getStatus"
            | "payment.get_status" => Some(ToolId::GetStatus),
            "payment.list" | "payment_list" => Some(ToolId::List),
            "payment.refund" | "payment_refund" => Some(ToolId::Refund),
            _ => None,
        }
    }

    /// The seeds' dotted name, whatever spelling was listed or called (metrics, logs).
    pub fn canonical_name(self) -> &'static str {
        match self {
            ToolId::Create => "payment.create",
            ToolId::GetStatus => "payment.getStatus",
            ToolId::List => "payment.list",
            ToolId::Refund => "payment.refund",
        }
    }
}

/// MCP tool annotations, every one explicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotationsSpec {
    pub title: &'static str,
    pub read_only_hint: bool,
    pub destructive_hint: bool,
    pub idempotent_hint: bool,
    pub open_world_hint: bool,
}

/// One tool as the catalog defines it.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub id: ToolId,
    pub dotted: &'static str,
    pub snake: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub annotations: ToolAnnotationsSpec,
    pub input_schema: serde_json::Map<String, serde_json::Value>,
    pub output_schema: serde_json::Map<String, serde_json::Value>,
}

impl ToolSpec {
    /// The name listed in `style`; `Auto` with no client known lists the dotted name.
    pub fn name(&self, style: NameStyle) -> &'static str {
        match style.for_client(None) {
            NameStyle::Dotted | NameStyle::Auto => self.dotted,
            NameStyle::Snake => self.snake,
        }
    }
}

const CREATE_DESCRIPTION: &str = "Create a payment link with Flow (flow.cl) for a customer to pay, and record the payment. \
Amounts are in the currency's ordinary units: 5000 with CLP means CLP 5.000 (Chilean pesos have no decimals; never multiply by 100). \
Give the returned paymentLinkUrl to the customer, then call payment.getStatus with the returned paymentId later (or subscribe to resourceUri) to learn whether they paid. \
Safe to retry: if a call fails or times out, call again with the same idempotencyKey and the same arguments and you get the same payment, never a second charge. \
On error, read error.code, error.retryable and error.nextStep.";

const GET_STATUS_DESCRIPTION: &str = "Check whether a payment created with payment.create has been paid. \
Pass the paymentId as entityId. Returns status draft, pending (waiting for the customer), paid, or failed (with failureReason: rejected, cancelled, expired). \
While pending, paylink asks Flow live and records what it learns; a paid payment never changes again. \
Do not poll in a tight loop: check again after the customer says they paid, or every minute or so.";

const LIST_DESCRIPTION: &str = "List this merchant's payments, newest first, to answer questions like \"did Ana pay last week?\" or \"what is still unpaid for booking 42?\". \
Filter by entityId (the entityId given to payment.create), customerEmail, status (draft, pending, paid, failed) and a creation range (createdFrom, createdTo, RFC 3339). \
Returns compact lines (paymentId, status, amount, currency, description, payer, dates) and, when there are more, nextCursor: call again with it and the same filters for the next page. \
Read-only: it reads paylink's ledger and never asks the gateway; use payment.getStatus on one payment for a live check.";

const REFUND_DESCRIPTION: &str = "Give money back to the payer of a paid payment, in full (leave amount out) or in part. \
A person always approves a refund first: the client asks them, or the call returns confirmation_required with an approval link to give the user; you can never approve it yourself. \
Safe to retry with the same idempotencyKey and arguments: you get the same refund, never a second one. \
The refund's status moves from requested/created to refunded (or rejected/canceled); payment.getStatus on the payment shows its refunds. \
On error, read error.code, error.retryable and error.nextStep.";

fn schema_of<T: JsonSchema>() -> serde_json::Map<String, serde_json::Value> {
    let settings = schemars::generate::SchemaSettings::draft2020_12();
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = serde_json::to_value(schema).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        // The tool's own title and description say this; keep the schema lean.
        obj.remove("title");
        obj.remove("description");
    }
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// The whole catalog, in listing order.
pub fn catalog() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            id: ToolId::Create,
            dotted: "payment.create",
            snake: "payment_create",
            title: "Create payment link",
            description: CREATE_DESCRIPTION,
            annotations: ToolAnnotationsSpec {
                title: "Create payment link",
                read_only_hint: false,
                destructive_hint: false,
                // Idempotent because the server enforces it (idempotencyKey, or identical
                // arguments within the window), not because creating is naturally so.
                idempotent_hint: true,
                open_world_hint: true,
            },
            input_schema: schema_of::<CreatePaymentArgs>(),
            output_schema: schema_of::<CreatePaymentResult>(),
        },
        ToolSpec {
            id: ToolId::GetStatus,
            dotted: "payment.getStatus",
            snake: "payment_get_status",
            title: "Get payment status",
            description: GET_STATUS_DESCRIPTION,
            annotations: ToolAnnotationsSpec {
                title: "Get payment status",
                read_only_hint: true,
                destructive_hint: false,
                idempotent_hint: true,
                open_world_hint: true,
            },
            input_schema: schema_of::<GetStatusArgs>(),
            output_schema: schema_of::<GetStatusResult>(),
        },
        ToolSpec {
            id: ToolId::List,
            dotted: "payment.list",
            snake: "payment_list",
            title: "List payments",
            description: LIST_DESCRIPTION,
            annotations: ToolAnnotationsSpec {
                title: "List payments",
                read_only_hint: true,
                destructive_hint: false,
                idempotent_hint: true,
                // It reads paylink's own ledger only.
                open_world_hint: false,
            },
            input_schema: schema_of::<ListPaymentsArgs>(),
            output_schema: schema_of::<ListPaymentsResult>(),
        },
        ToolSpec {
            id: ToolId::Refund,
            dotted: "payment.refund",
            snake: "payment_refund",
            title: "Refund a payment",
            description: REFUND_DESCRIPTION,
            annotations: ToolAnnotationsSpec {
                title: "Refund a payment",
                read_only_hint: false,
                // Money leaves the merchant's account and cannot be taken back.
                destructive_hint: true,
                // The server makes it so: the same idempotencyKey is the same refund.
                idempotent_hint: true,
                open_world_hint: true,
            },
            input_schema: schema_of::<RefundPaymentArgs>(),
            output_schema: schema_of::<RefundResult>(),
        },
    ]
}

/// The JSON manifest of one tool, as `tools/list` shows it in the given style.
pub fn manifest(spec: &ToolSpec, style: NameStyle) -> serde_json::Value {
    serde_json::json!({
        "name": spec.name(style),
        "aliases": [spec.dotted, spec.snake],
        "title": spec.title,
        "description": spec.description,
        "annotations": spec.annotations,
        "inputSchema": spec.input_schema,
        "outputSchema": spec.output_schema,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_lists_snake_names_only_for_clients_that_reject_dots() {
        let table: &[(Option<&str>, NameStyle)] = &[
            (Some("claude-code"), NameStyle::Snake),
            (Some("Claude Desktop"), NameStyle::Snake),
            (Some("claude-ai"), NameStyle::Snake),
            (Some("codex-mcp-client"), NameStyle::Snake),
            (Some("OpenAI Agents"), NameStyle::Snake),
            (Some("GitHub Copilot CLI"), NameStyle::Snake),
            (Some("my-agent"), NameStyle::Dotted),
            (Some("cursor-vscode"), NameStyle::Dotted),
            (Some("mcp-inspector"), NameStyle::Dotted),
            (Some(""), NameStyle::Dotted),
            (None, NameStyle::Dotted),
        ];
        for (client, want) in table {
            assert_eq!(NameStyle::Auto.for_client(*client), *want, "{client:?}");
        }
        // Explicit choices are never overridden by the client's name.
        assert_eq!(
            NameStyle::Dotted.for_client(Some("claude-code")),
            NameStyle::Dotted
        );
        assert_eq!(
            NameStyle::Snake.for_client(Some("my-agent")),
            NameStyle::Snake
        );
        assert_eq!(NameStyle::default(), NameStyle::Auto);
        assert_eq!(NameStyle::parse("auto"), Some(NameStyle::Auto));
    }

    #[test]
    fn the_get_status_schema_requires_entity_id_and_does_not_advertise_payment_id() {
        let spec = catalog()
            .into_iter()
            .find(|s| s.id == ToolId::GetStatus)
            .unwrap();
        let schema = &spec.input_schema;
        assert_eq!(schema["required"], serde_json::json!(["entityId"]));
        assert_eq!(schema["properties"]["entityId"]["type"], "string");
        assert!(
            schema["properties"].get("paymentId").is_none(),
            "{schema:?}"
        );
        assert_eq!(
            schema["properties"].as_object().unwrap().len(),
            1,
            "{schema:?}"
        );
    }
}
