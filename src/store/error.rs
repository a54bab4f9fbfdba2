//! The ledger's error type.
//!
//! Messages name what went wrong and what to do; they carry no payment contents beyond
//! ids and keys, so they are safe to log. sled's own errors are kept as their message only,
//! so callers never depend on sled's types.

use std::path::Path;

use sled::transaction::TransactionError;

/// Serializable so the owner's socket can hand it to an operator command unchanged.
#[derive(Debug, Clone, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum StoreError {
    /// The storage engine or the file system failed (disk full, I/O error, lock held).
    #[error("ledger storage error: {0}")]
    Io(String),
    /// A stored value could not be decoded, or stored records contradict each other.
    #[error("ledger data is corrupt: {0}")]
    Corrupt(String),
    /// Another process holds the ledger's lock (sled allows one process at a time).
    #[error(
        "the ledger at {dir} is in use by another paylink process (one process at a time \
         may open it): stop `paylink serve` or the other paylink command and run this again, \
         or run it on a copy of the directory"
    )]
    Locked { dir: String },
    /// Opening found damaged data: the storage engine reported corruption, or a record
    /// does not decode.
    #[error(
        "the ledger at {dir} is damaged ({detail}); paylink will not guess at payment \
         records. Run `paylink ledger verify` to see what is wrong, then recover as README.md \
         says under \"Recovering a damaged ledger\": stop paylink, move {dir} aside, restore \
         the last backup of it (with master.key), start paylink and run `paylink payments \
         reconcile` to catch up with the gateway"
    )]
    Damaged { dir: String, detail: String },
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
    /// The ledger's database (PostgreSQL) cannot be reached or failed the write; nothing
    /// was recorded. The message carries the driver's error without the connection URL.
    #[error(
        "the ledger's database cannot be reached or failed ({0}), so nothing was recorded; \
         the operator must check PostgreSQL (PAYLINK_DATABASE_URL), after which paylink \
         resumes by itself"
    )]
    Unreachable(String),
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

impl StoreError {
    /// What opening the ledger in `dir` failed with, in words that say which case it is:
    /// sled's lock held elsewhere, damaged data, or another I/O failure.
    pub(super) fn opening(dir: &Path, e: sled::Error) -> StoreError {
        let dir_shown = dir.display().to_string();
        match e {
            sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("could not acquire lock") =>
            {
                StoreError::Locked { dir: dir_shown }
            }
            sled::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
                ) =>
            {
                StoreError::Damaged {
                    dir: dir_shown,
                    detail: format!("reading it failed: {io}"),
                }
            }
            sled::Error::Corruption { at, .. } => StoreError::Damaged {
                dir: dir_shown,
                detail: match at {
                    Some(at) => format!("the storage engine found corrupt data at {at:?}"),
                    None => "the storage engine found corrupt data".into(),
                },
            },
            sled::Error::ReportableBug(what) => StoreError::Damaged {
                dir: dir_shown,
                detail: format!("the storage engine could not make sense of it: {what}"),
            },
            other => StoreError::Io(format!("cannot open the ledger at {dir_shown}: {other}")),
        }
    }

    /// A failure while loading a freshly opened ledger, told in terms of `dir`.
    pub(super) fn loading(self, dir: &Path) -> StoreError {
        match self {
            StoreError::Corrupt(detail) => StoreError::Damaged {
                dir: dir.display().to_string(),
                detail,
            },
            StoreError::Io(detail) => StoreError::Io(format!(
                "cannot open the ledger at {}: {detail}",
                dir.display()
            )),
            other => other,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_errors_say_which_case_they_are() {
        let dir = Path::new("/srv/paylink-data");
        let lock = sled::Error::Io(std::io::Error::other(
            "could not acquire lock on \"/srv/paylink-data/db\": Os { code: 11, kind: WouldBlock }",
        ));
        let corrupt = sled::Error::Corruption { at: None, bt: () };
        let eof = sled::Error::Io(std::io::ErrorKind::UnexpectedEof.into());
        let denied = sled::Error::Io(std::io::ErrorKind::PermissionDenied.into());
        let shown = |e| StoreError::opening(dir, e).to_string();
        let locked = shown(lock);
        assert!(
            locked.contains("in use by another paylink process"),
            "{locked}"
        );
        for damaged in [shown(corrupt), shown(eof)] {
            assert!(
                damaged.contains("/srv/paylink-data is damaged"),
                "{damaged}"
            );
            assert!(damaged.contains("paylink ledger verify"), "{damaged}");
            assert!(!damaged.contains("in use"), "{damaged}");
        }
        let other = shown(denied);
        assert!(
            other.contains("cannot open the ledger at /srv/paylink-data"),
            "{other}"
        );
        assert!(
            !other.contains("damaged") && !other.contains("in use"),
            "{other}"
        );
    }
}
