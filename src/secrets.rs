//! Secrets at rest: integration secret keys are sealed with ChaCha20-Poly1305 before they
//! reach the ledger.
//!
//! The 32-byte master key comes from `PAYLINK_MASTER_KEY` (64 hex characters) or from a
//! key file (default `<data dir>/master.key`), which is created with mode 0600 on first
//! use. A sealed value is `v1:` + hex(nonce ‖ ciphertext); a random 96-bit nonce per value.
//! Neither the key nor a plaintext secret is ever logged or shown.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use secrecy::{ExposeSecret, SecretBox, SecretString};

const PREFIX: &str = "v1:";

/// Why the master key or a sealed secret could not be used. Messages name the source.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("PAYLINK_MASTER_KEY must be 64 hexadecimal characters (32 bytes)")]
    BadEnvKey,
    #[error("the key file {path} cannot be read: {problem}")]
    UnreadableKeyFile { path: PathBuf, problem: String },
    #[error("the key file {path} does not hold a 32-byte key (64 hex characters)")]
    BadKeyFile { path: PathBuf },
    #[error("cannot create the key file {path}: {problem}")]
    CannotCreate { path: PathBuf, problem: String },
    #[error(
        "the master key file {path} is missing, but the ledger holds sealed secrets: restore the key file from your backup (or set PAYLINK_MASTER_KEY to its 64 hex characters); paylink never makes a new key while sealed secrets exist, since they could not be opened with it"
    )]
    Missing { path: PathBuf },
    #[error("a stored secret cannot be opened with this master key (was the key file replaced?)")]
    CannotOpen,
}

/// The master key.
pub struct MasterKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

fn parse_hex_key(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

impl MasterKey {
    /// From `env_value` when given, else from `key_file`. A missing file is an error: use
    /// this whenever sealed secrets may exist.
    pub fn load(env_value: Option<&str>, key_file: &Path) -> Result<MasterKey, SecretError> {
        Self::load_inner(env_value, key_file, false)
    }

    /// Like [`MasterKey::load`], but creates the file (0600) when it is absent. Only for a
    /// ledger that holds no sealed secret yet.
    pub fn load_or_create(
        env_value: Option<&str>,
        key_file: &Path,
    ) -> Result<MasterKey, SecretError> {
        Self::load_inner(env_value, key_file, true)
    }

    fn load_inner(
        env_value: Option<&str>,
        key_file: &Path,
        create: bool,
    ) -> Result<MasterKey, SecretError> {
        if let Some(v) = env_value {
            return parse_hex_key(v)
                .map(|k| MasterKey(SecretBox::new(Box::new(k))))
                .ok_or(SecretError::BadEnvKey);
        }
        match std::fs::read_to_string(key_file) {
            Ok(text) => parse_hex_key(&text)
                .map(|k| MasterKey(SecretBox::new(Box::new(k))))
                .ok_or_else(|| SecretError::BadKeyFile {
                    path: key_file.to_path_buf(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => Self::create(key_file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SecretError::Missing {
                path: key_file.to_path_buf(),
            }),
            Err(e) => Err(SecretError::UnreadableKeyFile {
                path: key_file.to_path_buf(),
                problem: e.to_string(),
            }),
        }
    }

    fn create(path: &Path) -> Result<MasterKey, SecretError> {
        let err = |e: std::io::Error| SecretError::CannotCreate {
            path: path.to_path_buf(),
            problem: e.to_string(),
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            // Private like the ledger directory it usually is (see store/files.rs).
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(dir).map_err(err)?;
        }
        let key: [u8; 32] = rand::random();
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(err)?;
        use std::io::Write;
        f.write_all(hex::encode(key).as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
        Ok(MasterKey(SecretBox::new(Box::new(key))))
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(self.0.expose_secret()))
    }

    /// Seals a secret for storage.
    pub fn seal(&self, secret: &SecretString) -> String {
        let nonce: [u8; 12] = rand::random();
        let ct = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), secret.expose_secret().as_bytes())
            .expect("ChaCha20-Poly1305 encryption of a short value cannot fail");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        format!("{PREFIX}{}", hex::encode(blob))
    }

    /// Opens a sealed secret.
    pub fn open(&self, sealed: &str) -> Result<SecretString, SecretError> {
        let blob = sealed
            .strip_prefix(PREFIX)
            .and_then(|h| hex::decode(h).ok())
            .ok_or(SecretError::CannotOpen)?;
        if blob.len() < 12 + 16 {
            return Err(SecretError::CannotOpen);
        }
        let (nonce, ct) = blob.split_at(12);
        let plain = self
            .cipher()
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| SecretError::CannotOpen)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| SecretError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_the_same_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        assert!(
            matches!(
                MasterKey::load(None, &path),
                Err(SecretError::Missing { .. })
            ),
            "load never creates a key"
        );
        let key = MasterKey::load_or_create(None, &path).unwrap();
        let sealed = key.seal(&SecretString::from("s3cr3t-value".to_string()));
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(key.open(&sealed).unwrap().expose_secret(), "s3cr3t-value");
        // Reloading the file gives the same key.
        assert_eq!(
            MasterKey::load(None, &path)
                .unwrap()
                .open(&sealed)
                .unwrap()
                .expose_secret(),
            "s3cr3t-value"
        );
        let other = MasterKey::load(Some(&"11".repeat(32)), &path).unwrap();
        assert!(other.open(&sealed).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(format!("{key:?}").contains("REDACTED"));
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_in_a_new_directory_makes_that_directory_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new-data").join("master.key");
        MasterKey::load_or_create(None, &path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn bad_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            MasterKey::load(Some("zz"), dir.path()),
            Err(SecretError::BadEnvKey)
        ));
        // A directory where the key file should be cannot be read.
        assert!(matches!(
            MasterKey::load(None, dir.path()),
            Err(SecretError::UnreadableKeyFile { .. })
        ));
        let f = dir.path().join("k");
        std::fs::write(&f, "not a key").unwrap();
        assert!(matches!(
            MasterKey::load(None, &f),
            Err(SecretError::BadKeyFile { .. })
        ));
    }
}
