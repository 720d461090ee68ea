//! The key secrets are sealed with: `BATON_SECRETS_KEY` when set. Without it, a SQLite store
//! (one process, the zero-setup default) keeps a generated key in a file next to its database,
//! readable by its owner only, so that secrets work out of the box; a Postgres store, shared by
//! instances that must all hold the same key, has secrets off until the variable is set.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use baton_engine::SecretsKey;

use crate::config::Config;
use crate::store_location::StoreLocation;

/// The key of `config`'s store, or `None` when secrets are off.
pub fn secrets_key(config: &Config) -> anyhow::Result<Option<SecretsKey>> {
    if let Some(key) = &config.secrets_key {
        return Ok(Some(key.clone()));
    }
    match &config.store {
        StoreLocation::Sqlite(database) => {
            let path = key_file(database);
            let key = read_or_create(&path)?;
            tracing::info!(
                path = %path.display(),
                "secrets are sealed with the key kept in this file (set BATON_SECRETS_KEY to \
                 keep the key elsewhere)"
            );
            Ok(Some(key))
        }
        StoreLocation::Postgres(_) => {
            tracing::info!("secrets are off: set BATON_SECRETS_KEY to store and use secrets");
            Ok(None)
        }
    }
}

/// `baton.db` → `baton.db.secrets-key`, in the same directory.
pub fn key_file(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push(".secrets-key");
    database.with_file_name(name)
}

fn read_or_create(path: &Path) -> anyhow::Result<SecretsKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => SecretsKey::from_base64(&text)
            .map_err(|why| anyhow::anyhow!("the secrets key in {} {why}", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(err) => {
            Err(err).with_context(|| format!("cannot read the secrets key {}", path.display()))
        }
    }
}

fn create(path: &Path) -> anyhow::Result<SecretsKey> {
    let (key, encoded) = SecretsKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(encoded.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write the secrets key {}", path.display()))?;
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => read_or_create(path),
        Err(err) => {
            Err(err).with_context(|| format!("cannot create the secrets key {}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_made_once_and_read_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_file(&dir.path().join("baton.db"));
        assert!(path.ends_with("baton.db.secrets-key"));
        let first = read_or_create(&path).unwrap();
        let again = read_or_create(&path).unwrap();
        let owner = baton_domain::UserId::generate();
        let name = baton_domain::SecretName::new("K").unwrap();
        let value = baton_domain::SecretValue::new("value-1".into()).unwrap();
        let sealed = first.seal(owner, &name, &value).unwrap();
        assert_eq!(again.open(owner, &name, &sealed).unwrap(), value);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").unwrap();
        let err = read_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("secrets key"), "{err}");
    }
}
