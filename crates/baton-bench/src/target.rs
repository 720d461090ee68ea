//! Which store the benchmark measures, from `BENCH_DATABASE_URL`.

use std::path::PathBuf;

use anyhow::bail;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Postgres server (no database name): scratch databases are created on it.
    Postgres { server_url: String },
    /// A directory: the SQLite files are created in it.
    Sqlite { dir: PathBuf },
}

impl Target {
    /// `postgres://…` or `postgresql://…` (a trailing `/` is dropped), or `sqlite://<directory>`.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres {
                server_url: url.trim_end_matches('/').to_owned(),
            });
        }
        match url.strip_prefix("sqlite://") {
            Some(dir) if !dir.is_empty() && !dir.contains('?') => Ok(Self::Sqlite {
                dir: PathBuf::from(dir),
            }),
            Some(_) => bail!(
                "BENCH_DATABASE_URL: a sqlite:// URL needs a directory, like \
                 sqlite:///tmp/baton-bench (no query options)"
            ),
            None => bail!(
                "BENCH_DATABASE_URL must be a postgres:// URL (the server, no database name) or \
                 sqlite://<directory> (got {url:?})"
            ),
        }
    }
}

/// The URL of database `name` on a Postgres server.
pub fn postgres_database_url(server_url: &str, name: &str) -> String {
    format!("{server_url}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_choose_the_store() {
        assert_eq!(
            Target::parse("postgres://postgres@127.0.0.1:5432/").unwrap(),
            Target::Postgres {
                server_url: "postgres://postgres@127.0.0.1:5432".into()
            }
        );
        assert_eq!(
            Target::parse("sqlite:///tmp/b").unwrap(),
            Target::Sqlite {
                dir: PathBuf::from("/tmp/b")
            }
        );
        for bad in [
            "sqlite://",
            "sqlite:///tmp/b?mode=ro",
            "mysql://x",
            "/tmp/b",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
