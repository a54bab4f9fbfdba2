//! A minimal MCP Apps host (`io.modelcontextprotocol/ui`, 2026-01-26) for the payment
//! card's browser test: an MCP client that declares the extension, and a page on loopback
//! that shows a view's HTML in a sandboxed iframe and speaks the host's side of the
//! postMessage protocol.
//!
//! The page answers `ui/initialize` (with `serverTools` and `openLinks`), sends
//! `ui/notifications/tool-input` and `ui/notifications/tool-result` once the view says
//! `ui/notifications/initialized`, and forwards the view's `tools/call` to this harness,
//! which makes the call on the real server through the MCP client, after refusing tools
//! whose `_meta.ui.visibility` leaves out `"app"` as the spec tells hosts to. The view runs
//! in `sandbox="allow-scripts"` (an opaque origin) under the spec's default Content
//! Security Policy for views that declare no `csp`, so it can load nothing from anywhere.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Json, Router};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ExtensionCapabilities,
    Implementation, Tool,
};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

/// The extension and the one MIME type of its views.
pub const EXTENSION: &str = "io.modelcontextprotocol/ui";
pub const MIME_TYPE: &str = "text/html;profile=mcp-app";

/// The policy the specification tells hosts to apply to a view that declares no `csp`.
pub const DEFAULT_CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data:; media-src 'self' data:; connect-src 'none'";

/// The client of a host: declares the extension with its MIME type, named `name`.
pub fn client_config(name: &str) -> ClientConfig {
    let mut extensions = ExtensionCapabilities::new();
    let settings = json!({"mimeTypes": [MIME_TYPE]});
    extensions.insert(EXTENSION.to_string(), settings.as_object().unwrap().clone());
    let caps = ClientCapabilities::builder()
        .enable_extensions_with(extensions)
        .build();
    ClientConfig::new(caps, Implementation::new(name, "1.0.0"))
}

pub type HostClient = RunningService<RoleClient, ClientConfig>;

/// The `_meta.ui` of a listed tool, if it has one.
pub fn ui_meta<'a>(tools: &'a [Tool], name: &str) -> Option<&'a Value> {
    tools
        .iter()
        .find(|t| t.name == name)
        .and_then(|t| t.meta.as_ref())
        .and_then(|m| m.get("ui"))
}

#[derive(Clone)]
struct Shared {
    client: Arc<HostClient>,
    tools: Arc<Vec<Tool>>,
    page: Arc<String>,
    calls: Arc<Mutex<Vec<Value>>>,
}

/// The host page, serving on loopback until dropped.
pub struct AppHost {
    /// The page's address.
    pub url: String,
    calls: Arc<Mutex<Vec<Value>>>,
    server: tokio::task::JoinHandle<()>,
}

impl AppHost {
    /// Serves a page showing the view `html` for a call made with `input` that returned
    /// `result`; the view's own calls go through `client`, which listed `tools`.
    pub async fn start(
        client: Arc<HostClient>,
        tools: Vec<Tool>,
        html: &str,
        input: &Value,
        result: &CallToolResult,
    ) -> AppHost {
        let data = json!({
            "html": html,
            "csp": DEFAULT_CSP,
            "toolInput": input,
            "toolResult": result,
        });
        // Inside <script>: no "<" at all, so nothing in the view's HTML can close it.
        let data = data.to_string().replace('<', "\\u003c");
        let shared = Shared {
            client,
            tools: Arc::new(tools),
            page: Arc::new(PAGE.replace("__DATA__", &data)),
            calls: Arc::default(),
        };
        let calls = shared.calls.clone();
        let app = Router::new()
            .route(
                "/",
                get(|State(s): State<Shared>| async move { Html(s.page.to_string()) }),
            )
            .route("/tools/call", post(call_tool))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        AppHost { url, calls, server }
    }

    /// The `tools/call` params the view sent, in order.
    pub fn calls(&self) -> Vec<Value> {
        self.calls.lock().unwrap().clone()
    }
}

impl Drop for AppHost {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A view's `tools/call`, answered as the JSON-RPC `result` or `error` member.
async fn call_tool(State(s): State<Shared>, Json(params): Json<Value>) -> Json<Value> {
    s.calls.lock().unwrap().push(params.clone());
    let name = params["name"].as_str().unwrap_or_default().to_string();
    let Some(tool) = s.tools.iter().find(|t| t.name == name) else {
        return Json(json!({"error": {"code": -32602, "message": format!("no tool {name}")}}));
    };
    // Absent visibility means ["model", "app"].
    let callable = tool
        .meta
        .as_ref()
        .and_then(|m| m.get("ui"))
        .and_then(|ui| ui.get("visibility"))
        .and_then(Value::as_array)
        .is_none_or(|v| v.iter().any(|x| x == "app"));
    if !callable {
        return Json(
            json!({"error": {"code": -32000, "message": format!("{name} is not callable by apps")}}),
        );
    }
    let mut request = CallToolRequestParams::new(name);
    if let Some(args) = params["arguments"].as_object() {
        request = request.with_arguments(args.clone());
    }
    match s.client.call_tool(request).await {
        Ok(r) => Json(json!({"result": r})),
        Err(e) => Json(json!({"error": {"code": -32603, "message": e.to_string()}})),
    }
}

const PAGE: &str = r#"<!doctype html>
<html>
<head><meta charset="utf-8"><title>MCP Apps test host</title></head>
<body>
<iframe id="view" sandbox="allow-scripts" style="width: 390px; height: 640px; border: 0"></iframe>
<script id="data" type="application/json">__DATA__</script>
<script>
  const data = JSON.parse(document.getElementById('data').textContent);
  const frame = document.getElementById('view');
  window.hostSeen = [];
  window.openedLinks = [];
  const post = (msg) => frame.contentWindow.postMessage(Object.assign({ jsonrpc: '2.0' }, msg), '*');
  window.addEventListener('message', async (event) => {
    const m = event.data;
    if (event.source !== frame.contentWindow || !m || m.jsonrpc !== '2.0') return;
    window.hostSeen.push(m.method || 'response');
    switch (m.method) {
      case 'ui/initialize':
        post({ id: m.id, result: {
          protocolVersion: '2026-01-26',
          hostInfo: { name: 'paylink-test-host', version: '1.0.0' },
          hostCapabilities: { serverTools: {}, openLinks: {} },
          hostContext: { theme: 'light', displayMode: 'inline', platform: 'web',
                         containerDimensions: { width: 390, maxHeight: 800 } },
        } });
        break;
      case 'ui/notifications/initialized':
        post({ method: 'ui/notifications/tool-input', params: { arguments: data.toolInput } });
        post({ method: 'ui/notifications/tool-result', params: data.toolResult });
        break;
      case 'tools/call': {
        const r = await fetch('/tools/call', { method: 'POST',
          headers: { 'content-type': 'application/json' }, body: JSON.stringify(m.params) });
        post(Object.assign({ id: m.id }, await r.json()));
        break;
      }
      case 'ui/open-link':
        window.openedLinks.push(m.params.url);
        post({ id: m.id, result: {} });
        break;
      case 'ui/notifications/size-changed':
        window.viewSize = m.params;
        break;
      default:
        if (m.method && m.id !== undefined) post({ id: m.id, error: { code: -32601, message: 'Method not found' } });
    }
  });
  const csp = '<meta http-equiv="Content-Security-Policy" content="' + data.csp + '">';
  frame.srcdoc = data.html.replace(/<head>/i, (head) => head + csp);
</script>
</body>
</html>
"#;
