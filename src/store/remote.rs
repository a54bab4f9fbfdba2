//! The ledger of a running `paylink serve`, reached through its socket (see [`crate::owner`]).
//!
//! sled lets one process open a ledger. While `paylink serve` holds it, operator commands
//! (`payments list`, `integration ...`, `ledger verify`, `doctor`) open a [`RemoteStore`]
//! instead: each call of the [`super::Store`] contract they use goes to the owner as one
//! JSON line (a [`Request`]) and comes back as one JSON line (`{"ok": ...}` or
//! `{"err": StoreError}`), and the owner runs it on its own handle, so the promises of the
//! module doc hold unchanged: the owner's sled does the work.
//!
//! Payment writes (drafts, transitions, schedules, the confirmation log) are not offered:
//! only the owner's use cases record payments. [`RemoteStore::refuse`] says so.
//!
//! The socket is the owner's user's only (mode 0600), so a request is trusted as the
//! operator's; still, a request line is bounded ([`MAX_REQUEST_BYTES`]) and a connection
//! is served one request at a time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Mutex;

use super::{Store, StoreError, Verification};
use crate::domain::{Payment, PaymentEvent, PaymentStatus};

/// The longest request line the owner reads (a sealed config is a few hundred bytes).
pub const MAX_REQUEST_BYTES: u64 = 1 << 20;

/// One call of the ledger contract, as sent to the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Get {
        id: String,
    },
    ClaimOf {
        payment: Box<Payment>,
    },
    Query {
        query: Box<crate::store::ListQuery>,
    },
    ByToken {
        token: String,
    },
    ByGatewayRef {
        gateway_ref: String,
    },
    ByReference {
        reference: String,
    },
    ByEntity {
        organization: String,
        entity_id: String,
    },
    Events {
        id: String,
    },
    List {
        organization: Option<String>,
        status: Option<PaymentStatus>,
        limit: usize,
    },
    StatusCounts,
    PutConfig {
        organization: String,
        environment: String,
        value: Vec<u8>,
    },
    DeleteConfig {
        organization: String,
        environment: String,
    },
    GetConfig {
        organization: String,
        environment: String,
    },
    ListConfigs,
    RecordGet {
        kind: String,
        key: String,
    },
    RecordScan {
        kind: String,
    },
    Confirmations {
        limit: usize,
    },
    ConfirmationCount,
    Flush,
    Verify,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Response<T> {
    Ok(T),
    Err(StoreError),
}

/// A ledger held by another process, reached through its socket. Cheap to clone; clones
/// share one connection, used one call at a time.
#[derive(Clone)]
pub struct RemoteStore {
    conn: Arc<Mutex<Connection>>,
    socket: PathBuf,
}

struct Connection {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl std::fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteStore")
            .field("socket", &self.socket)
            .finish()
    }
}

impl RemoteStore {
    /// A store over a connection that has already said `{"paylink":"store"}`.
    pub fn new(stream: tokio::net::UnixStream, socket: &Path) -> RemoteStore {
        let (read, write) = stream.into_split();
        RemoteStore {
            conn: Arc::new(Mutex::new(Connection {
                read: BufReader::new(read),
                write,
            })),
            socket: socket.to_path_buf(),
        }
    }

    /// The socket this store talks through.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends `req` and reads its answer. The connection is held for the whole exchange
    /// (a tokio mutex: one call at a time is what the protocol is).
    pub async fn call<T: DeserializeOwned>(&self, req: &Request) -> Result<T, StoreError> {
        let lost = |e: &dyn std::fmt::Display| {
            StoreError::Io(format!(
                "the running paylink serve stopped answering on {} ({e}); run the command again",
                self.socket.display()
            ))
        };
        let mut line = serde_json::to_vec(req).map_err(|e| lost(&e))?;
        line.push(b'\n');
        let mut conn = self.conn.lock().await;
        conn.write.write_all(&line).await.map_err(|e| lost(&e))?;
        let mut answer = Vec::new();
        let n = conn
            .read
            .read_until(b'\n', &mut answer)
            .await
            .map_err(|e| lost(&e))?;
        if n == 0 || answer.last() != Some(&b'\n') {
            return Err(lost(&"the connection closed"));
        }
        match serde_json::from_slice::<Response<T>>(&answer).map_err(|e| lost(&e))? {
            Response::Ok(v) => Ok(v),
            Response::Err(e) => Err(e),
        }
    }

    /// The error for a payment write asked of a remote ledger.
    pub fn refuse(&self, what: &str) -> StoreError {
        StoreError::InvalidInput(format!(
            "{what} is not available while another paylink process (`paylink serve`) holds \
             the ledger: only that process records payments; call its tools instead"
        ))
    }
}

/// Runs one request on the owner's store; the answer as JSON.
pub async fn answer(store: &Store, req: Request) -> Result<serde_json::Value, StoreError> {
    fn json<T: Serialize>(v: T) -> Result<serde_json::Value, StoreError> {
        serde_json::to_value(v).map_err(|e| StoreError::Io(format!("cannot encode an answer: {e}")))
    }
    match req {
        Request::Get { id } => json(store.get(&id).await?),
        Request::ClaimOf { payment } => json(store.claim_of(&payment).await?),
        Request::Query { query } => json(store.query(&query).await?),
        Request::ByToken { token } => json(store.by_token(&token).await?),
        Request::ByGatewayRef { gateway_ref } => json(store.by_gateway_ref(&gateway_ref).await?),
        Request::ByReference { reference } => json(store.by_reference(&reference).await?),
        Request::ByEntity {
            organization,
            entity_id,
        } => json(store.by_entity(&organization, &entity_id).await?),
        Request::Events { id } => json(store.events(&id).await?),
        Request::List {
            organization,
            status,
            limit,
        } => json(store.list(organization.as_deref(), status, limit).await?),
        Request::StatusCounts => json(store.status_counts().await?),
        Request::PutConfig {
            organization,
            environment,
            value,
        } => json(
            store
                .put_config(&organization, &environment, &value)
                .await?,
        ),
        Request::DeleteConfig {
            organization,
            environment,
        } => json(store.delete_config(&organization, &environment).await?),
        Request::GetConfig {
            organization,
            environment,
        } => json(store.get_config(&organization, &environment).await?),
        Request::ListConfigs => json(store.list_configs().await?),
        Request::RecordGet { kind, key } => json(store.record_get(&kind, &key).await?),
        Request::RecordScan { kind } => json(store.record_scan(&kind).await?),
        Request::Confirmations { limit } => json(store.confirmations(limit).await?),
        Request::ConfirmationCount => json(store.confirmation_count().await?),
        Request::Flush => json(store.flush().await?),
        Request::Verify => json(store.verify().await?),
    }
}

/// Serves the store protocol on one connection until the peer closes it: one request
/// line, one answer line.
pub async fn serve_connection<R, W>(store: &Store, mut read: R, mut write: W) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let mut line = Vec::new();
        let n = (&mut read)
            .take(MAX_REQUEST_BYTES)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') {
            // Too long, or cut off: nothing sensible to answer.
            return Ok(());
        }
        let answer = match serde_json::from_slice::<Request>(&line) {
            Ok(req) => match answer(store, req).await {
                Ok(v) => serde_json::to_vec(&Response::Ok(v)),
                Err(e) => serde_json::to_vec(&Response::<()>::Err(e)),
            },
            Err(e) => serde_json::to_vec(&Response::<()>::Err(StoreError::InvalidInput(format!(
                "not a ledger request: {e}"
            )))),
        };
        let mut answer = answer.map_err(std::io::Error::other)?;
        answer.push(b'\n');
        write.write_all(&answer).await?;
        write.flush().await?;
    }
}

// The typed calls the `Store` arms make.
impl RemoteStore {
    pub async fn get(&self, id: &str) -> Result<Option<Payment>, StoreError> {
        self.call(&Request::Get { id: id.into() }).await
    }

    pub async fn by_token(&self, token: &str) -> Result<Option<Payment>, StoreError> {
        self.call(&Request::ByToken {
            token: token.into(),
        })
        .await
    }

    pub async fn by_gateway_ref(&self, gateway_ref: &str) -> Result<Option<Payment>, StoreError> {
        self.call(&Request::ByGatewayRef {
            gateway_ref: gateway_ref.into(),
        })
        .await
    }

    pub async fn by_reference(&self, reference: &str) -> Result<Option<Payment>, StoreError> {
        self.call(&Request::ByReference {
            reference: reference.into(),
        })
        .await
    }

    pub async fn by_entity(
        &self,
        organization: &str,
        entity_id: &str,
    ) -> Result<Vec<Payment>, StoreError> {
        self.call(&Request::ByEntity {
            organization: organization.into(),
            entity_id: entity_id.into(),
        })
        .await
    }

    pub async fn events(&self, id: &str) -> Result<Vec<PaymentEvent>, StoreError> {
        self.call(&Request::Events { id: id.into() }).await
    }

    pub async fn list(
        &self,
        organization: Option<&str>,
        status: Option<PaymentStatus>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        self.call(&Request::List {
            organization: organization.map(str::to_owned),
            status,
            limit,
        })
        .await
    }

    pub async fn query(&self, q: &crate::store::ListQuery) -> Result<Vec<Payment>, StoreError> {
        self.call(&Request::Query {
            query: Box::new(q.clone()),
        })
        .await
    }

    pub async fn claim_of(
        &self,
        p: &Payment,
    ) -> Result<Option<crate::store::ClaimRecord>, StoreError> {
        self.call(&Request::ClaimOf {
            payment: Box::new(p.clone()),
        })
        .await
    }

    pub async fn status_counts(&self) -> Result<[(PaymentStatus, u64); 4], StoreError> {
        self.call(&Request::StatusCounts).await
    }

    pub async fn put_config(
        &self,
        organization: &str,
        environment: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.call(&Request::PutConfig {
            organization: organization.into(),
            environment: environment.into(),
            value: value.to_vec(),
        })
        .await
    }

    pub async fn delete_config(
        &self,
        organization: &str,
        environment: &str,
    ) -> Result<bool, StoreError> {
        self.call(&Request::DeleteConfig {
            organization: organization.into(),
            environment: environment.into(),
        })
        .await
    }

    pub async fn get_config(
        &self,
        organization: &str,
        environment: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.call(&Request::GetConfig {
            organization: organization.into(),
            environment: environment.into(),
        })
        .await
    }

    pub async fn list_configs(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        self.call(&Request::ListConfigs).await
    }

    pub async fn record_get(&self, kind: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.call(&Request::RecordGet {
            kind: kind.into(),
            key: key.into(),
        })
        .await
    }

    pub async fn record_scan(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.call(&Request::RecordScan { kind: kind.into() }).await
    }

    pub async fn confirmations(&self, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        self.call(&Request::Confirmations { limit }).await
    }

    pub async fn confirmation_count(&self) -> Result<u64, StoreError> {
        self.call(&Request::ConfirmationCount).await
    }

    pub async fn flush(&self) -> Result<(), StoreError> {
        self.call(&Request::Flush).await
    }

    pub async fn verify(&self) -> Result<Verification, StoreError> {
        self.call(&Request::Verify).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_read_and_config_call_answers_as_the_owners_store_does() {
        let store = Store::open_temporary().unwrap();
        store
            .put_config("acme", "sandbox", b"sealed")
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let owner = store.clone();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (r, w) = stream.into_split();
            serve_connection(&owner, BufReader::new(r), w)
                .await
                .unwrap();
        });
        let remote = RemoteStore::new(tokio::net::UnixStream::connect(&path).await.unwrap(), &path);
        assert_eq!(
            remote
                .get_config("acme", "sandbox")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"sealed"[..])
        );
        assert_eq!(remote.list_configs().await.unwrap().len(), 1);
        assert!(remote.delete_config("acme", "sandbox").await.unwrap());
        assert_eq!(remote.get("nope").await.unwrap(), None);
        assert_eq!(
            remote.status_counts().await.unwrap(),
            store.status_counts().await.unwrap()
        );
        assert!(remote.verify().await.unwrap().problems.is_empty());
        assert!(remote.list(None, None, 10).await.unwrap().is_empty());
    }
}
