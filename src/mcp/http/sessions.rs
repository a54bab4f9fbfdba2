//! MCP sessions over HTTP, each bound to the organization that opened it.
//!
//! [`OwnedSessions`] wraps rmcp's in-memory session manager and records, when a session's
//! `initialize` is answered, which organization's token opened it; the record goes when the
//! session ends (closed by `DELETE`, expired when idle, or shut down). The `/mcp` guard
//! ([`super::guard`]) consults it on every request that names a session: another
//! organization's token gets the same `404` as an unknown session, so it can neither read
//! the session's stream, act in it, nor end it. The same record counts each organization's
//! open sessions for the per-organization cap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, GetExtensions, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};

use crate::mcp::Organization;

/// Session id → the organization that opened it.
#[derive(Debug, Default)]
pub struct Owners {
    by_session: Mutex<HashMap<String, String>>,
}

impl Owners {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.by_session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The organization that opened `session`, if it is open.
    pub fn owner(&self, session: &str) -> Option<String> {
        self.lock().get(session).cloned()
    }

    /// Open sessions of `organization`.
    pub fn count(&self, organization: &str) -> usize {
        self.lock().values().filter(|o| *o == organization).count()
    }
}

/// rmcp's local session manager, with owners recorded.
pub struct OwnedSessions {
    inner: LocalSessionManager,
    owners: Arc<Owners>,
    default_organization: String,
}

impl OwnedSessions {
    pub fn new(
        inner: LocalSessionManager,
        owners: Arc<Owners>,
        default_organization: String,
    ) -> OwnedSessions {
        OwnedSessions {
            inner,
            owners,
            default_organization,
        }
    }

    fn organization_of(&self, message: &ClientJsonRpcMessage) -> String {
        let ClientJsonRpcMessage::Request(req) = message else {
            return self.default_organization.clone();
        };
        req.request
            .extensions()
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Organization>())
            .map(|o| o.0.clone())
            .unwrap_or_else(|| self.default_organization.clone())
    }
}

impl SessionManager for OwnedSessions {
    type Error = <LocalSessionManager as SessionManager>::Error;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        let organization = self.organization_of(&message);
        // Recorded before the answer leaves, so the client's first request already finds it.
        self.owners.lock().insert(id.to_string(), organization);
        let answer = self.inner.initialize_session(id, message).await;
        if answer.is_err() {
            self.owners.lock().remove(id.as_ref());
        }
        answer
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let closed = self.inner.close_session(id).await;
        self.owners.lock().remove(id.as_ref());
        closed
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }
}
