//! MCP sessions over HTTP, each bound to the organization that opened it.
//!
//! [`OwnedSessions`] wraps rmcp's in-memory session manager and records, when a session's
//! `initialize` is answered, which organization's token opened it; the record goes when the
//! session ends (closed by `DELETE`, expired when idle, or shut down). The `/mcp` guard
//! ([`super::guard`]) consults it on every request that names a session: another
//! organization's token gets the same `404` as an unknown session, so it can neither read
//! the session's stream, act in it, nor end it. The same record counts each organization's
//! open sessions for the per-organization cap.
//!
//! It also keeps when each session was last used and how many GET streams it has open:
//! [`sweep`] closes a session idle longer than the limit with no stream open, while one
//! whose client holds a stream to hear about its payments stays (rmcp's own idle timer,
//! which does not count an open stream as activity, is only a long backstop).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, GetExtensions, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};

use crate::mcp::Organization;

/// One open session as the guard sees it.
#[derive(Debug)]
struct Owned {
    organization: String,
    last_seen: Instant,
    streams: usize,
}

/// Session id → who opened it, when it was last used, its open streams.
#[derive(Debug, Default)]
pub struct Owners {
    by_session: Mutex<HashMap<String, Owned>>,
}

impl Owners {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Owned>> {
        self.by_session.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(&self, session: &str, organization: String) {
        let owned = Owned {
            organization,
            last_seen: Instant::now(),
            streams: 0,
        };
        self.lock().insert(session.to_string(), owned);
    }

    /// The organization that opened `session`, if it is open.
    pub fn owner(&self, session: &str) -> Option<String> {
        self.lock().get(session).map(|o| o.organization.clone())
    }

    /// Open sessions of `organization`.
    pub fn count(&self, organization: &str) -> usize {
        self.lock()
            .values()
            .filter(|o| o.organization == organization)
            .count()
    }

    /// Notes a request in `session`.
    pub fn touch(&self, session: &str) {
        if let Some(o) = self.lock().get_mut(session) {
            o.last_seen = Instant::now();
        }
    }

    /// Notes a GET stream opened in `session`; dropping the guard notes it closed.
    pub fn stream_opened(self: &Arc<Self>, session: &str) -> StreamOpen {
        if let Some(o) = self.lock().get_mut(session) {
            o.streams += 1;
        }
        StreamOpen {
            owners: self.clone(),
            session: session.to_string(),
        }
    }

    /// Sessions with no stream open and no request for longer than `idle`.
    fn idle(&self, idle: Duration) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, o)| o.streams == 0 && o.last_seen.elapsed() > idle)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// An open GET stream of a session (see [`Owners::stream_opened`]).
pub struct StreamOpen {
    owners: Arc<Owners>,
    session: String,
}

impl Drop for StreamOpen {
    fn drop(&mut self) {
        if let Some(o) = self.owners.lock().get_mut(&self.session) {
            o.streams = o.streams.saturating_sub(1);
            o.last_seen = Instant::now();
        }
    }
}

/// Closes sessions idle longer than `idle` with no stream open, until `shutdown`.
pub async fn sweep(
    sessions: Arc<OwnedSessions>,
    idle: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for id in sessions.owners.idle(idle) {
            let _ = sessions.close_session(&SessionId::from(id)).await;
        }
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
        self.owners.insert(id.as_ref(), organization);
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
