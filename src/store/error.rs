//! The ledger's error type.
//!
//! Messages name what went wrong and what to do; they carry no payment contents beyond
//! ids and keys, so they are safe to log. sled's own errors are kept as their message only,
//! so callers never depend on sled's types.

use sled::transaction::TransactionError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The storage engine or the file system failed (disk full, I/O error, lock held).
    #[error("ledger storage error: {0}")]
    Io(String),
    /// A stored value could not be decoded, or stored records contradict each other.
    #[error("ledger data is corrupt: {0}")]
    Corrupt(String),
    /// The directory holds a ledger written by another schema version.
    #[error(
        "the ledger directory was written with schema version {found}, but this build of \
         paylink reads version {expected}: run the paylink release that matches the ledger \
         (or migrate it to version {expected}); do not delete the directory, it holds the \
         payment records"
    )]
    SchemaMismatch { found: u32, expected: u32 },
    /// The ledger cannot write right now (a full or failing disk); nothing was recorded.
    /// The cause was logged when the failure began; paylink keeps retrying in the
    /// background and takes writes again by itself.
    #[error(
        "the ledger cannot write to disk right now (disk full or failing), so nothing was \
         recorded; the operator must free disk space, after which paylink resumes by itself"
    )]
    Unavailable,
    /// The runtime is shutting down and the write was cancelled before it ran.
    #[error("the ledger write was cancelled: the runtime is shutting down")]
    ShuttingDown,
    /// No such payment.
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller passed something the ledger cannot store (a NUL in a key, a draft that
    /// is not a draft, an id already taken).
    #[error("invalid ledger input: {0}")]
    InvalidInput(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { .. } => StoreError::Corrupt(e.to_string()),
            other => StoreError::Io(other.to_string()),
        }
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(inner) => inner,
            TransactionError::Storage(e) => e.into(),
        }
    }
}
