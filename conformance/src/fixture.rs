//! The fixture server: every tool, resource, template and prompt the conformance suite's
//! server scenarios look up by name, plus logging, completion and resource subscriptions.
//!
//! The names and payloads are fixed by `@modelcontextprotocol/conformance` (each scenario's
//! "Server Implementation Requirements"). None of this belongs to paylink's product surface.

// logging/setLevel, sampling and resources/subscribe are the 2025-11-25 wire that the suite
// tests; rmcp 3.x marks their APIs deprecated (SEP-2577).
#![allow(deprecated)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::*;
use rmcp::service::RequestContext;
use rmcp::{
    ErrorData as McpError, Peer, RoleServer, ServerHandler, prompt, prompt_handler, prompt_router,
    schemars, tool, tool_handler, tool_router,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::media;

const STATIC_TEXT_URI: &str = "test://static-text";
const STATIC_BINARY_URI: &str = "test://static-binary";
const WATCHED_URI: &str = "test://watched-resource";
const TEMPLATE_URI: &str = "test://template/{id}/data";
const TEMPLATE_PREFIX: &str = "test://template/";
const TEMPLATE_SUFFIX: &str = "/data";

/// The pause between the notifications of the logging and progress fixtures: the suite
/// checks that a client sees several notifications arrive while one call is running.
const STEP: Duration = Duration::from_millis(50);

/// Payloads shared by every session.
pub struct Media {
    png: String,
    wav: String,
}

impl Media {
    pub fn generate() -> Media {
        Media {
            png: media::red_pixel_png_base64(),
            wav: media::silence_wav_base64(),
        }
    }
}

/// What one MCP session remembers.
#[derive(Default)]
struct Session {
    /// Set by `logging/setLevel`; `None` sends every level.
    log_level: Mutex<Option<LoggingLevel>>,
    subscriptions: Mutex<HashSet<String>>,
}

/// One server instance; the HTTP service makes one per session (legacy protocol) or
/// per request (stateless protocol).
#[derive(Clone)]
pub struct FixtureServer {
    media: Arc<Media>,
    session: Arc<Session>,
    tool_router: ToolRouter<Self>,
    prompt_router: PromptRouter<Self>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SamplingArgs {
    /// The prompt to send to the client's LLM.
    prompt: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ElicitationArgs {
    /// The message to show the user.
    message: String,
}

/// Arguments of `json_schema_2020_12_tool`; its advertised schema is written by hand in
/// [`json_schema_2020_12_input`], this type only reads the call.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileArgs {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<Address>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Address {
    #[serde(default)]
    street: Option<String>,
    #[serde(default)]
    city: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct TwoArgs {
    /// First test argument.
    arg1: String,
    /// Second test argument.
    arg2: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmbedArgs {
    /// URI of the resource to embed in the prompt.
    resource_uri: String,
}

/// The input schema of `json_schema_2020_12_tool`, which must keep its `$schema`, `$defs`
/// and `additionalProperties` keywords on the wire (SEP-1613).
fn json_schema_2020_12_input() -> Arc<JsonObject> {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "type": "object",
                "properties": {
                    "street": { "type": "string" },
                    "city": { "type": "string" }
                }
            }
        },
        "properties": {
            "name": { "type": "string" },
            "address": { "$ref": "#/$defs/address" }
        },
        "additionalProperties": false
    });
    match schema {
        Value::Object(map) => Arc::new(map),
        _ => unreachable!("the schema literal is an object"),
    }
}

/// The schema of `test_elicitation`'s form.
fn contact_form() -> Value {
    json!({
        "type": "object",
        "properties": {
            "username": { "type": "string", "description": "User's response" },
            "email": { "type": "string", "description": "User's email address" }
        },
        "required": ["username", "email"]
    })
}

/// A form whose every field has a default, one per primitive type (SEP-1034).
fn defaults_form() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "description": "User's name", "default": "John Doe" },
            "age": { "type": "integer", "description": "User's age", "default": 30 },
            "score": { "type": "number", "description": "User's score", "default": 95.5 },
            "status": {
                "type": "string",
                "description": "User's status",
                "enum": ["active", "inactive", "pending"],
                "default": "active"
            },
            "verified": { "type": "boolean", "description": "Whether the user is verified", "default": true }
        }
    })
}

/// A form with each of the five enum shapes of SEP-1330.
fn enums_form() -> Value {
    let titled = |labels: [&str; 3]| -> Vec<Value> {
        labels
            .iter()
            .enumerate()
            .map(|(i, label)| json!({ "const": format!("value{}", i + 1), "title": label }))
            .collect()
    };
    json!({
        "type": "object",
        "properties": {
            "untitledSingle": { "type": "string", "enum": ["option1", "option2", "option3"] },
            "titledSingle": {
                "type": "string",
                "oneOf": titled(["First Option", "Second Option", "Third Option"])
            },
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]
            },
            "untitledMulti": {
                "type": "array",
                "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
            },
            "titledMulti": {
                "type": "array",
                "items": { "anyOf": titled(["First Choice", "Second Choice", "Third Choice"]) }
            }
        }
    })
}

fn action_name(action: &ElicitationAction) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{action:?}"))
}

/// Severity order of the syslog levels MCP uses.
fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// The `{id}` of a URI matching the resource template, if it matches.
fn template_id(uri: &str) -> Option<&str> {
    uri.strip_prefix(TEMPLATE_PREFIX)?
        .strip_suffix(TEMPLATE_SUFFIX)
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

fn completions(candidates: &[&str], typed: &str) -> Vec<String> {
    candidates
        .iter()
        .filter(|c| c.starts_with(typed))
        .map(|c| (*c).to_owned())
        .collect()
}

#[tool_router]
impl FixtureServer {
    pub fn new(media: Arc<Media>) -> FixtureServer {
        FixtureServer {
            media,
            session: Arc::default(),
            tool_router: Self::tool_router(),
            prompt_router: Self::prompt_router(),
        }
    }

    /// Sends a log notification unless the session's level filters it out.
    async fn log(&self, peer: &Peer<RoleServer>, level: LoggingLevel, message: &str) {
        let threshold = *self
            .session
            .log_level
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if threshold.is_some_and(|min| severity(level) < severity(min)) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(level, json!(message))
            .with_logger("paylink-conformance");
        // A client that went away cannot be told anything; the call still completes.
        let _ = peer.notify_logging_message(param).await;
    }

    /// Sends `elicitation/create` with a form and waits for the user's answer.
    async fn elicit(
        &self,
        ctx: &RequestContext<RoleServer>,
        message: impl Into<String>,
        form: Value,
    ) -> Result<ElicitResult, String> {
        let declared = ctx
            .peer
            .peer_info()
            .map(|i| i.capabilities.elicitation.is_some());
        if declared == Some(false) {
            return Err("the client does not support elicitation".into());
        }
        let requested_schema: ElicitationSchema =
            serde_json::from_value(form).map_err(|e| format!("invalid elicitation schema: {e}"))?;
        ctx.peer
            .create_elicitation(ElicitRequestParams::FormElicitationParams {
                meta: None,
                message: message.into(),
                requested_schema,
            })
            .await
            .map_err(|e| format!("elicitation failed: {e}"))
    }

    #[tool(description = "Returns simple text content")]
    async fn test_simple_text(&self) -> String {
        "This is a simple text response for testing.".into()
    }

    #[tool(description = "Returns image content (a 1x1 red PNG)")]
    async fn test_image_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::image(
            self.media.png.clone(),
            "image/png",
        )])
    }

    #[tool(description = "Returns audio content (a short silent WAV)")]
    async fn test_audio_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::audio(
            self.media.wav.clone(),
            "audio/wav",
        )])
    }

    #[tool(description = "Returns an embedded text resource")]
    async fn test_embedded_resource(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::resource(
            ResourceContents::text(
                "This is an embedded resource content.",
                "test://embedded-resource",
            )
            .with_mime_type("text/plain"),
        )])
    }

    #[tool(description = "Returns text, image and embedded resource content together")]
    async fn test_multiple_content_types(&self) -> CallToolResult {
        let data = json!({ "test": "data", "value": 123 }).to_string();
        CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(self.media.png.clone(), "image/png"),
            ContentBlock::resource(
                ResourceContents::text(data, "test://mixed-content-resource")
                    .with_mime_type("application/json"),
            ),
        ])
    }

    #[tool(description = "Sends three info log notifications while it runs")]
    async fn test_tool_with_logging(&self, ctx: RequestContext<RoleServer>) -> String {
        let steps = [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ];
        for (i, step) in steps.into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(STEP).await;
            }
            self.log(&ctx.peer, LoggingLevel::Info, step).await;
        }
        "Logging test completed".into()
    }

    #[tool(description = "Always fails with a tool error (isError: true)")]
    async fn test_error_handling(&self) -> Result<String, String> {
        Err("This tool intentionally returns an error for testing".into())
    }

    #[tool(description = "Reports progress 0, 50 and 100 of 100 when given a progress token")]
    async fn test_tool_with_progress(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<String, McpError> {
        let token = ctx.meta.get_progress_token();
        let steps = [(0.0, "Starting"), (50.0, "Halfway"), (100.0, "Complete")];
        for (i, (progress, message)) in steps.into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(STEP).await;
            }
            if let Some(token) = &token {
                let param = ProgressNotificationParam::new(token.clone(), progress)
                    .with_total(100.0)
                    .with_message(message);
                ctx.peer
                    .notify_progress(param)
                    .await
                    .map_err(|e| McpError::internal_error(e.to_string(), None))?;
            }
        }
        Ok("Progress test completed".into())
    }

    #[tool(description = "Asks the client's LLM to answer a prompt (sampling/createMessage)")]
    async fn test_sampling(
        &self,
        Parameters(args): Parameters<SamplingArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<String, String> {
        let declared = ctx
            .peer
            .peer_info()
            .map(|i| i.capabilities.sampling.is_some());
        if declared == Some(false) {
            return Err("the client does not support sampling".into());
        }
        let request =
            CreateMessageRequestParams::new(vec![SamplingMessage::user_text(args.prompt)], 100);
        let reply = ctx
            .peer
            .create_message(request)
            .await
            .map_err(|e| format!("sampling failed: {e}"))?;
        let text: Vec<String> = reply
            .message
            .content
            .into_vec()
            .into_iter()
            .filter_map(|block| match block {
                SamplingMessageContentBlock::Text(t) => Some(t.text),
                _ => None,
            })
            .collect();
        Ok(format!("LLM response: {}", text.join("\n")))
    }

    #[tool(description = "Asks the user for a username and an email (elicitation/create)")]
    async fn test_elicitation(
        &self,
        Parameters(args): Parameters<ElicitationArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<String, String> {
        let answer = self.elicit(&ctx, args.message, contact_form()).await?;
        Ok(format!(
            "User response: action={}, content={}",
            action_name(&answer.action),
            answer.content.unwrap_or(Value::Null)
        ))
    }

    #[tool(description = "Elicits a form whose fields all have default values (SEP-1034)")]
    async fn test_elicitation_sep1034_defaults(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<String, String> {
        let answer = self
            .elicit(
                &ctx,
                "Please confirm or change these values",
                defaults_form(),
            )
            .await?;
        Ok(format!(
            "Elicitation completed: action={}, content={}",
            action_name(&answer.action),
            answer.content.unwrap_or(Value::Null)
        ))
    }

    #[tool(description = "Elicits a form using every enum schema shape (SEP-1330)")]
    async fn test_elicitation_sep1330_enums(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<String, String> {
        let answer = self
            .elicit(&ctx, "Please pick some options", enums_form())
            .await?;
        Ok(format!(
            "Elicitation completed: action={}, content={}",
            action_name(&answer.action),
            answer.content.unwrap_or(Value::Null)
        ))
    }

    #[tool(
        description = "Tool with JSON Schema 2020-12 features ($schema, $defs, additionalProperties)",
        input_schema = json_schema_2020_12_input()
    )]
    async fn json_schema_2020_12_tool(&self, Parameters(args): Parameters<ProfileArgs>) -> String {
        let name = args.name.as_deref().unwrap_or("world");
        match args.address {
            Some(Address { street, city }) => format!(
                "Hello, {name} of {}, {}!",
                street.as_deref().unwrap_or("?"),
                city.as_deref().unwrap_or("?")
            ),
            None => format!("Hello, {name}!"),
        }
    }

    #[tool(description = "Answers after a short delay (SSE polling scenario, SEP-1699)")]
    async fn test_reconnection(&self) -> String {
        tokio::time::sleep(2 * STEP).await;
        "Reconnection test completed".into()
    }
}

#[prompt_router]
impl FixtureServer {
    #[prompt(
        name = "test_simple_prompt",
        description = "A simple prompt without arguments"
    )]
    async fn test_simple_prompt(&self) -> Vec<PromptMessage> {
        vec![PromptMessage::new_text(
            Role::User,
            "This is a simple prompt for testing.",
        )]
    }

    #[prompt(
        name = "test_prompt_with_arguments",
        description = "A prompt that substitutes two arguments"
    )]
    async fn test_prompt_with_arguments(
        &self,
        Parameters(args): Parameters<TwoArgs>,
    ) -> Vec<PromptMessage> {
        vec![PromptMessage::new_text(
            Role::User,
            format!(
                "Prompt with arguments: arg1='{}', arg2='{}'",
                args.arg1, args.arg2
            ),
        )]
    }

    #[prompt(
        name = "test_prompt_with_embedded_resource",
        description = "A prompt that embeds the resource named by resourceUri"
    )]
    async fn test_prompt_with_embedded_resource(
        &self,
        Parameters(args): Parameters<EmbedArgs>,
    ) -> Vec<PromptMessage> {
        vec![
            PromptMessage::new_resource(
                Role::User,
                args.resource_uri,
                Some("text/plain".into()),
                Some("Embedded resource content for testing.".into()),
                None,
                None,
                None,
            ),
            PromptMessage::new_text(Role::User, "Please process the embedded resource above."),
        ]
    }

    #[prompt(
        name = "test_prompt_with_image",
        description = "A prompt that includes an image"
    )]
    async fn test_prompt_with_image(&self) -> Vec<PromptMessage> {
        vec![
            PromptMessage::new(
                Role::User,
                ContentBlock::image(self.media.png.clone(), "image/png"),
            ),
            PromptMessage::new_text(Role::User, "Please analyze the image above."),
        ]
    }
}

impl FixtureServer {
    fn resources(&self) -> Vec<Resource> {
        vec![
            Resource::new(STATIC_TEXT_URI, "static-text")
                .with_description("A static text resource")
                .with_mime_type("text/plain"),
            Resource::new(STATIC_BINARY_URI, "static-binary")
                .with_description("A static binary resource (a 1x1 red PNG)")
                .with_mime_type("image/png"),
            Resource::new(WATCHED_URI, "watched-resource")
                .with_description("A resource clients can subscribe to")
                .with_mime_type("text/plain"),
        ]
    }

    fn contents(&self, uri: &str) -> Option<ResourceContents> {
        let contents = match uri {
            STATIC_TEXT_URI => {
                ResourceContents::text("This is the content of the static text resource.", uri)
            }
            STATIC_BINARY_URI => {
                ResourceContents::blob(self.media.png.clone(), uri).with_mime_type("image/png")
            }
            WATCHED_URI => ResourceContents::text("The watched resource has not changed.", uri),
            _ => {
                let id = template_id(uri)?;
                let body =
                    json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") });
                ResourceContents::text(body.to_string(), uri).with_mime_type("application/json")
            }
        };
        Some(contents)
    }
}

fn not_found(uri: &str) -> McpError {
    McpError::resource_not_found(format!("no resource {uri}"), Some(json!({ "uri": uri })))
}

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for FixtureServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_logging()
                .enable_completions()
                .build(),
        )
        .with_server_info(Implementation::new(
            "paylink-conformance",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "Fixture server for the MCP conformance suite. Its tools are test fixtures, not paylink's.",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(self.resources()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(TEMPLATE_URI, "template-data")
                .with_description("JSON data for any {id}")
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let contents = self
            .contents(&request.uri)
            .ok_or_else(|| not_found(&request.uri))?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if self.contents(&request.uri).is_none() {
            return Err(not_found(&request.uri));
        }
        self.session
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.session
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&request.uri);
        Ok(())
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        *self
            .session
            .log_level
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(request.level);
        Ok(())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let typed = request.argument.value.as_str();
        let values = match (&request.r#ref, request.argument.name.as_str()) {
            (Reference::Prompt(p), "arg1" | "arg2") if p.name == "test_prompt_with_arguments" => {
                completions(&["test", "testing", "paris", "park", "party"], typed)
            }
            (Reference::Prompt(p), "resourceUri")
                if p.name == "test_prompt_with_embedded_resource" =>
            {
                completions(&[STATIC_TEXT_URI, STATIC_BINARY_URI, WATCHED_URI], typed)
            }
            (Reference::Resource(r), "id") if r.uri == TEMPLATE_URI => {
                completions(&["1", "2", "3", "123"], typed)
            }
            _ => Vec::new(),
        };
        let info = CompletionInfo::with_all_values(values)
            .map_err(|e| McpError::internal_error(e, None))?;
        Ok(CompleteResult::new(info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The elicitation forms must reach the wire exactly as written: the suite checks
    /// `default`, `enumNames`, `oneOf` and `anyOf` keywords, which a typed schema could drop.
    #[test]
    fn elicitation_forms_round_trip() {
        for form in [contact_form(), defaults_form(), enums_form()] {
            let typed: ElicitationSchema = serde_json::from_value(form.clone()).unwrap();
            assert_eq!(serde_json::to_value(&typed).unwrap(), form);
        }
    }

    #[test]
    fn template_ids() {
        assert_eq!(template_id("test://template/123/data"), Some("123"));
        assert_eq!(template_id("test://template//data"), None);
        assert_eq!(template_id("test://template/a/b/data"), None);
        assert_eq!(template_id("test://static-text"), None);
    }

    #[test]
    fn fixture_catalog_is_complete() {
        let server = FixtureServer::new(Arc::new(Media::generate()));
        let tools: HashSet<String> = server
            .tool_router
            .list_all()
            .into_iter()
            .map(|t| t.name.into_owned())
            .collect();
        for name in [
            "test_simple_text",
            "test_image_content",
            "test_audio_content",
            "test_embedded_resource",
            "test_multiple_content_types",
            "test_tool_with_logging",
            "test_error_handling",
            "test_tool_with_progress",
            "test_sampling",
            "test_elicitation",
            "test_elicitation_sep1034_defaults",
            "test_elicitation_sep1330_enums",
            "json_schema_2020_12_tool",
            "test_reconnection",
        ] {
            assert!(tools.contains(name), "missing tool {name}");
        }
        let schema = &server
            .tool_router
            .list_all()
            .into_iter()
            .find(|t| t.name == "json_schema_2020_12_tool")
            .unwrap()
            .input_schema;
        assert_eq!(schema["additionalProperties"], json!(false));
        assert!(schema.contains_key("$defs"));
    }
}
