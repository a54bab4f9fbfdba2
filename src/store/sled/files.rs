//! Who may read the ledger's files.
//!
//! The ledger holds payer e-mails, payment links and sealed credentials, so it is for the
//! user paylink runs as only: a new data directory is created 0700, and sled's files
//! (`conf`, `db`, `snap.*`, `blobs/`) are set to 0600 each time the ledger opens. The
//! directory's mode is what guards files sled creates later (snapshots, blobs) whatever
//! their own mode; tightening the files as well covers ledgers made by older paylink
//! versions (0644 files) and copies restored from a backup. A directory that already
//! exists is the operator's: paylink does not change its mode, but warns when group or
//! other users can enter it, naming the fix.

use std::path::Path;

use super::StoreError;

/// A file written once a new ledger's schema record is durable (and on the first open of
/// a ledger made before this file existed): from then on, a ledger in this directory that
/// opens without its records has lost them, rather than being new.
pub(super) const MARKER: &str = "paylink-ledger";

pub(super) fn has_marker(dir: &Path) -> bool {
    dir.join(MARKER).exists()
}

/// Whether `dir` holds a ledger: its `paylink-ledger` marker, or sled's `conf` and `db`
/// files for a ledger made before the marker existed. It only looks: nothing is created
/// or opened, so commands that only read can say there is no ledger instead of making an
/// empty one.
pub fn ledger_exists(dir: &Path) -> bool {
    has_marker(dir) || (dir.join("conf").is_file() && dir.join("db").is_file())
}

/// Writes [`MARKER`] (0600) and makes it durable.
pub(super) fn write_marker(dir: &Path) -> Result<(), StoreError> {
    use std::io::Write;
    let path = dir.join(MARKER);
    let fail = |e: std::io::Error| StoreError::Io(format!("cannot write {}: {e}", path.display()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path).map_err(fail)?;
    f.write_all(
        b"This directory holds a paylink ledger (sled). Back it up with master.key; \
          do not edit it by hand.\n",
    )
    .map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail)
}

/// Creates `dir` (and missing parents) as 0700, or warns if the existing `dir` lets other
/// users in.
pub(super) fn prepare_dir(dir: &Path) -> Result<(), StoreError> {
    let fail = |e: std::io::Error| {
        StoreError::Io(format!(
            "cannot create the ledger directory {}: {e}",
            dir.display()
        ))
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        match std::fs::metadata(dir) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                if meta.is_dir() && mode & 0o077 != 0 {
                    tracing::warn!(
                        dir = %dir.display(),
                        mode = %format!("{mode:o}"),
                        "the ledger directory is open to other local users; run `chmod 700 {}`",
                        dir.display()
                    );
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(fail),
            Err(e) => Err(fail(e)),
        }
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir).map_err(fail)
    }
}

/// Sets sled's files in `dir` to 0600 (and `blobs/` to 0700).
pub(super) fn restrict_files(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            StoreError::Io(format!(
                "cannot list the ledger directory {}: {e}",
                dir.display()
            ))
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name == "conf" || name == "db" || name == MARKER || name.starts_with("snap.") {
                set_mode(&entry.path(), 0o600)?;
            } else if name == "blobs" {
                set_mode(&entry.path(), 0o700)?;
                for blob in std::fs::read_dir(entry.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    set_mode(&blob.path(), 0o600)?;
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| StoreError::Io(format!("cannot read {}: {e}", path.display())))?;
    if meta.file_type().is_symlink() || meta.permissions().mode() & 0o777 == mode {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        StoreError::Io(format!(
            "cannot restrict {} to mode {mode:o}: {e}",
            path.display()
        ))
    })
}
