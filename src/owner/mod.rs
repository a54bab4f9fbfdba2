//! One ledger, several processes: the first `paylink serve` owns the ledger, later ones
//! attach to it (sled only; with `PAYLINK_DATABASE_URL` every process opens the database
//! itself and nothing here runs).
//!
//! sled lets one process open a ledger. The process that opened it (the *owner*) also
//! listens on a Unix socket in the data directory, [`socket_path`] (`paylink.sock`, mode
//! 0600: the data directory's user only). The first line of a connection names its
//! protocol ([`Protocol`]):
//!
//! - `{"paylink":"mcp"}`: the owner serves MCP on the rest of the connection exactly as
//!   on its own stdio (same organization, same subscriptions). A second `paylink serve`
//!   that finds the ledger locked bridges its stdio to such a connection ([`attach`]), and
//!   takes over as owner when the owner exits.
//! - `{"paylink":"store"}`: the ledger contract, one JSON line per call
//!   ([`crate::store::remote`]), for the operator's commands while serve runs.
//! - `{"paylink":"reconcile"}`: one line `{"id": null | "<payment id>"}`; the owner runs a
//!   reconciliation pass (or checks that payment) with its own gateways and answers one
//!   line, `{"ok": <report>}` or `{"error": "<why>"}` (`paylink payments reconcile`).
//!
//! A socket file left by a dead owner refuses connections; the next owner replaces it.
//! A clean exit removes it. Connections are capped ([`MAX_CONNECTIONS`]) and must name
//! their protocol within [`HELLO_TIMEOUT`].

pub mod attach;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::mcp::{McpContext, PaylinkServer};
use crate::store::Store;

/// The socket's file name in the data directory.
pub const SOCKET_NAME: &str = "paylink.sock";

/// Connections the owner serves at once (MCP sessions and operator commands).
pub const MAX_CONNECTIONS: usize = 64;

/// How long a new connection may take to name its protocol.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the owner of the ledger in `data_dir` listens.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// What a connection to the owner is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Mcp,
    Store,
    Reconcile,
}

impl Protocol {
    fn hello(self) -> &'static [u8] {
        match self {
            Protocol::Mcp => b"{\"paylink\":\"mcp\"}\n",
            Protocol::Store => b"{\"paylink\":\"store\"}\n",
            Protocol::Reconcile => b"{\"paylink\":\"reconcile\"}\n",
        }
    }

    fn from_hello(line: &[u8]) -> Option<Protocol> {
        let v: serde_json::Value = serde_json::from_slice(line).ok()?;
        match v.get("paylink")?.as_str()? {
            "mcp" => Some(Protocol::Mcp),
            "store" => Some(Protocol::Store),
            "reconcile" => Some(Protocol::Reconcile),
            _ => None,
        }
    }
}

/// Connects to the owner of the ledger in `data_dir` and names the protocol; fails when
/// no process listens (no owner, or a socket file left by a dead one).
pub async fn connect(data_dir: &Path, protocol: Protocol) -> std::io::Result<UnixStream> {
    let mut stream = UnixStream::connect(socket_path(data_dir)).await?;
    stream.write_all(protocol.hello()).await?;
    Ok(stream)
}

/// The ledger of the owner as a [`Store`] for an operator command, if an owner answers.
pub async fn remote_store(data_dir: &Path) -> Option<Store> {
    let stream = connect(data_dir, Protocol::Store).await.ok()?;
    Some(crate::store::remote::RemoteStore::new(stream, &socket_path(data_dir)).into())
}

/// The owner's bound socket; the file is removed when this is dropped, unless another
/// process has replaced it since.
pub struct OwnerSocket {
    listener: UnixListener,
    path: PathBuf,
    inode: u64,
}

impl OwnerSocket {
    /// Binds [`socket_path`] with mode 0600. The caller holds the ledger, so a socket file
    /// already there was left by a dead owner and is replaced; anything else at that path
    /// is refused rather than deleted. The socket is bound under a temporary name, made
    /// private, then renamed into place, so it is never reachable with a wider mode.
    pub fn bind(data_dir: &Path) -> std::io::Result<OwnerSocket> {
        let path = socket_path(data_dir);
        if let Ok(meta) = std::fs::symlink_metadata(&path)
            && !meta.file_type().is_socket()
        {
            return Err(std::io::Error::other(format!(
                "{} exists and is not a socket; move it away",
                path.display()
            )));
        }
        let temp = data_dir.join(format!(".{SOCKET_NAME}.{}", std::process::id()));
        let _ = std::fs::remove_file(&temp);
        let listener = UnixListener::bind(&temp)?;
        let placed = std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| std::fs::rename(&temp, &path));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        let inode = std::fs::symlink_metadata(&path)?.ino();
        Ok(OwnerSocket {
            listener,
            path,
            inode,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OwnerSocket {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Serves every accepted connection until `token` is cancelled; then removes the socket.
pub async fn serve(
    socket: OwnerSocket,
    mcp: Arc<McpContext>,
    store: Store,
    token: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            _ = token.cancelled() => break,
            accepted = socket.listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "the owner socket failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                max = MAX_CONNECTIONS,
                "owner socket: too many connections; one refused"
            );
            continue;
        };
        let (mcp, store, token) = (mcp.clone(), store.clone(), token.child_token());
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = serve_connection(stream, mcp, store, token).await {
                tracing::debug!(error = %e, "owner socket connection ended");
            }
        });
    }
    drop(socket);
}

async fn serve_connection(
    stream: UnixStream,
    mcp: Arc<McpContext>,
    store: Store,
    token: CancellationToken,
) -> anyhow::Result<()> {
    let (read, write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut hello = Vec::new();
    tokio::time::timeout(
        HELLO_TIMEOUT,
        (&mut read).take(256).read_until(b'\n', &mut hello),
    )
    .await??;
    let protocol = Protocol::from_hello(hello.trim_ascii())
        .ok_or_else(|| anyhow::anyhow!("a connection named no known protocol"))?;
    match protocol {
        Protocol::Mcp => {
            let running = PaylinkServer::new(mcp)
                .serve((crate::mcp::duplicates::MarkDuplicates::new(read), write))
                .await?;
            let cancel = running.cancellation_token();
            tokio::select! {
                r = running.waiting() => { r?; }
                _ = token.cancelled() => cancel.cancel(),
            }
        }
        Protocol::Store => {
            tokio::select! {
                r = crate::store::remote::serve_connection(&store, read, write) => r?,
                _ = token.cancelled() => {}
            }
        }
        Protocol::Reconcile => {
            tokio::select! {
                r = reconcile_for(&mcp.payments, read, write) => r?,
                _ = token.cancelled() => {}
            }
        }
    }
    Ok(())
}

/// Runs `paylink payments reconcile` for an operator, with this owner's gateways.
async fn reconcile_for<R, W>(
    payments: &crate::payments::Payments,
    mut read: R,
    mut write: W,
) -> anyhow::Result<()>
where
    R: tokio::io::AsyncBufRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use crate::domain::Timestamp;
    use crate::reconcile::{Reconciler, reconcile_all_open, reconcile_one};
    let mut line = Vec::new();
    tokio::time::timeout(
        HELLO_TIMEOUT,
        (&mut read).take(4096).read_until(b'\n', &mut line),
    )
    .await??;
    #[derive(serde::Deserialize)]
    struct Ask {
        id: Option<String>,
    }
    let ask: Ask = serde_json::from_slice(line.trim_ascii())?;
    let reconciler = Reconciler::new(payments.clone());
    let answer = match ask.id {
        Some(id) => match reconcile_one(&reconciler, &id, Timestamp::now()).await {
            Ok(r) => serde_json::json!({ "ok": r }),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        },
        None => {
            serde_json::json!({ "ok": reconcile_all_open(&reconciler).await })
        }
    };
    let mut bytes = serde_json::to_vec(&answer)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    write.flush().await?;
    Ok(())
}

/// Asks the owner of the ledger in `data_dir` to reconcile (`id`: one payment); None
/// when no owner answers.
pub async fn reconcile_through_owner(
    data_dir: &Path,
    id: Option<&str>,
) -> Option<anyhow::Result<serde_json::Value>> {
    let stream = connect(data_dir, Protocol::Reconcile).await.ok()?;
    Some(
        async {
            let (read, mut write) = stream.into_split();
            let mut ask = serde_json::to_vec(&serde_json::json!({ "id": id }))?;
            ask.push(b'\n');
            write.write_all(&ask).await?;
            let mut line = String::new();
            BufReader::new(read).read_line(&mut line).await?;
            let mut answer: serde_json::Value = serde_json::from_str(&line)
                .map_err(|_| anyhow::anyhow!("the running paylink serve ended before answering"))?;
            if let Some(e) = answer.get("error").and_then(|e| e.as_str()) {
                anyhow::bail!("{e}");
            }
            Ok(answer["ok"].take())
        }
        .await,
    )
}

/// Starts listening as the owner of the ledger in `data_dir` (when the ledger is sled's).
/// A socket that cannot be bound is logged, not fatal: this process still serves its own
/// client; later ones cannot attach.
pub fn spawn(
    data_dir: &Path,
    mcp: Arc<McpContext>,
    store: Store,
    token: CancellationToken,
    tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
) {
    if store.sled().is_none() {
        return;
    }
    match OwnerSocket::bind(data_dir) {
        Ok(socket) => {
            tracing::info!(socket = %socket.path().display(), "other paylink processes attach here");
            tasks.spawn(async move {
                serve(socket, mcp, store, token).await;
                Ok(())
            });
        }
        Err(e) => tracing::warn!(
            error = %e,
            socket = %socket_path(data_dir).display(),
            "cannot listen for other paylink processes; they will find the ledger in use"
        ),
    }
}

/// Whether `e` says that another process holds the sled ledger.
pub fn is_locked(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<crate::store::StoreError>(),
        Some(crate::store::StoreError::Locked { .. })
    )
}
