//! The SQLite files of one run, in the directory `BENCH_DATABASE_URL` names: leftovers are
//! removed first, everything at the end (the directory too, when the run created it).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

pub const CALIBRATION_FILE: &str = "calibration.db";
pub const SEQUENTIAL_FILE: &str = "sequential.db";
pub const BACKLOG_FILE: &str = "backlog.db";
pub const FAN_OUT_FILE: &str = "fan-out.db";
pub const SERVE_FILE: &str = "serve.db";
pub const API_FILE: &str = "api.db";
pub const MEMORY_FILE: &str = "memory.db";
const FILES: [&str; 7] = [
    CALIBRATION_FILE,
    SEQUENTIAL_FILE,
    SERVE_FILE,
    BACKLOG_FILE,
    FAN_OUT_FILE,
    API_FILE,
    MEMORY_FILE,
];
/// What SQLite keeps next to a database file, and the secrets key file a SQLite store makes
/// there when no `BATON_SECRETS_KEY` is set.
const SUFFIXES: [&str; 5] = ["", "-wal", "-shm", "-journal", ".secrets-key"];

pub struct Scratch {
    dir: PathBuf,
    created_dir: bool,
}

impl Scratch {
    /// Creates `dir` when missing and removes the files a previous run left there.
    pub fn prepare(dir: &Path) -> anyhow::Result<Self> {
        let dir = std::path::absolute(dir)
            .with_context(|| format!("cannot resolve the directory {}", dir.display()))?;
        let created_dir = !dir.exists();
        if created_dir {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the directory {}", dir.display()))?;
        } else if !dir.is_dir() {
            bail!(
                "BENCH_DATABASE_URL: {} is not a directory (sqlite://<directory>)",
                dir.display()
            );
        }
        let scratch = Self { dir, created_dir };
        scratch.remove_files()?;
        Ok(scratch)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `DATABASE_URL` of file `name`, for Baton.
    pub fn url(&self, name: &str) -> anyhow::Result<String> {
        let path = self.file(name);
        let text = path
            .to_str()
            .with_context(|| format!("the path {} is not valid UTF-8", path.display()))?;
        Ok(format!("sqlite://{text}"))
    }

    /// Removes the run's files, and the directory when this run created it (and it is empty).
    pub fn remove(&self) -> anyhow::Result<()> {
        self.remove_files()?;
        if self.created_dir {
            std::fs::remove_dir(&self.dir)
                .with_context(|| format!("cannot remove the directory {}", self.dir.display()))?;
        }
        Ok(())
    }

    fn remove_files(&self) -> anyhow::Result<()> {
        for name in FILES {
            for suffix in SUFFIXES {
                let path = self.dir.join(format!("{name}{suffix}"));
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => {
                        return Err(err)
                            .with_context(|| format!("cannot remove {}", path.display()));
                    }
                }
            }
        }
        Ok(())
    }
}
