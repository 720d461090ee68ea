//! Where Baton keeps its state, from `DATABASE_URL` (and `BATON_DATA_DIR`).

use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

/// The file name of the default SQLite store.
pub const DEFAULT_SQLITE_FILE: &str = "baton.db";

/// The store Baton runs on.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// A Postgres database (created when missing): any number of instances may share it.
    Postgres(SecretString),
    /// An embedded SQLite file (created when missing): the zero-setup default, one process.
    Sqlite(PathBuf),
}

impl StoreLocation {
    /// `DATABASE_URL` as given (`None`: unset), `BATON_DATA_DIR` for the default file.
    /// Unset → `<data dir or .>/baton.db`; `sqlite://<path>`; `postgres://…` or
    /// `postgresql://…`; anything else is refused with a message for the variable's error.
    pub fn parse(url: Option<&str>, data_dir: Option<&str>) -> Result<Self, String> {
        let Some(url) = url else {
            let dir = PathBuf::from(data_dir.unwrap_or("."));
            return Ok(Self::Sqlite(dir.join(DEFAULT_SQLITE_FILE)));
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(SecretString::from(url.to_owned())));
        }
        match url.strip_prefix("sqlite://") {
            Some(path) if !path.is_empty() && !path.contains('?') => {
                Ok(Self::Sqlite(PathBuf::from(path)))
            }
            Some(_) => Err(
                "a sqlite:// URL needs a file path, like sqlite://baton.db or \
                 sqlite:///var/lib/baton/baton.db (no query options)"
                    .into(),
            ),
            None => Err(
                "must be a postgres:// URL, a sqlite:// URL, or unset (SQLite in \
                 baton.db)"
                    .into(),
            ),
        }
    }

    /// The Postgres URL, when the store is Postgres.
    pub fn postgres_url(&self) -> Option<&str> {
        match self {
            Self::Postgres(url) => Some(url.expose_secret()),
            Self::Sqlite(_) => None,
        }
    }
}

/// For logs: the store and where, never a password.
impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postgres(url) => {
                let url = url.expose_secret();
                let rest = url.split_once('@').map_or(url, |(_, rest)| rest);
                let rest = rest.split_once("://").map_or(rest, |(_, rest)| rest);
                write!(f, "postgres at {rest}")
            }
            Self::Sqlite(path) => write!(f, "sqlite at {}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_is_sqlite_in_the_data_dir() {
        let StoreLocation::Sqlite(path) = StoreLocation::parse(None, None).unwrap() else {
            panic!("sqlite")
        };
        assert_eq!(path, PathBuf::from("./baton.db"));
        let StoreLocation::Sqlite(path) = StoreLocation::parse(None, Some("/srv/b")).unwrap()
        else {
            panic!("sqlite")
        };
        assert_eq!(path, PathBuf::from("/srv/b/baton.db"));
    }

    #[test]
    fn schemes_choose_the_store() {
        let pg = StoreLocation::parse(Some("postgres://u:secret@db:5432/baton"), None).unwrap();
        assert_eq!(pg.postgres_url(), Some("postgres://u:secret@db:5432/baton"));
        assert_eq!(pg.to_string(), "postgres at db:5432/baton");
        let file = StoreLocation::parse(Some("sqlite:///tmp/x.db"), None).unwrap();
        assert_eq!(file.to_string(), "sqlite at /tmp/x.db");
        let relative = StoreLocation::parse(Some("sqlite://data/x.db"), None).unwrap();
        assert_eq!(relative.to_string(), "sqlite at data/x.db");
        for bad in [
            "mysql://x",
            "sqlite://",
            "sqlite://x.db?mode=ro",
            "baton.db",
        ] {
            assert!(StoreLocation::parse(Some(bad), None).is_err(), "{bad}");
        }
    }
}
