//! Where the machine's CPU time went during a measured window (Linux `/proc`; elsewhere the
//! figures are simply not printed).

/// Cumulative CPU ticks at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// All CPUs, busy or idle.
    total: u64,
    /// All CPUs, neither idle nor waiting for I/O.
    busy: u64,
    /// This process: the benchmark's client and Baton, in-process.
    this: u64,
    /// Every process named `postgres` (backends, WAL writer, checkpointer…).
    postgres: u64,
    /// A child process the bench spawned (`baton serve`), when one is watched.
    child: u64,
}

/// Shares of the machine's CPU time (all CPUs) over a window.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub busy: f64,
    pub this: f64,
    pub postgres: f64,
    /// The watched child process (`baton serve`); 0 when none is watched.
    pub child: f64,
    /// Busy in none of them: other clients of the machine.
    pub other: f64,
}

impl Usage {
    pub fn describe(&self) -> String {
        format!(
            "CPU (share of all cores): busy {:.0}% = this process {:.0}% + postgres {:.0}% + \
             other {:.0}%",
            self.busy * 100.0,
            self.this * 100.0,
            self.postgres * 100.0,
            self.other * 100.0
        )
    }

    /// [`describe`](Self::describe) with the watched child (`baton serve`) first; here this
    /// process is only the bench's client.
    pub fn describe_with_child(&self) -> String {
        format!(
            "CPU (share of all cores): busy {:.0}% = baton serve {:.0}% + bench client {:.0}% + \
             postgres {:.0}% + other {:.0}%",
            self.busy * 100.0,
            self.child * 100.0,
            self.this * 100.0,
            self.postgres * 100.0,
            self.other * 100.0
        )
    }

    /// Busy outside this process (any `postgres` included): for SQLite, whose store runs in
    /// this process.
    pub fn rest(&self) -> f64 {
        (self.busy - self.this).max(0.0)
    }

    /// [`describe`](Self::describe) for SQLite: this process (Baton, its SQLite, the bench
    /// client) and the rest of the machine.
    pub fn describe_in_process(&self) -> String {
        format!(
            "CPU (share of all cores): busy {:.0}% = this process {:.0}% + rest {:.0}%",
            self.busy * 100.0,
            self.this * 100.0,
            self.rest() * 100.0
        )
    }
}

pub fn sample() -> Option<Sample> {
    sample_with(None)
}

/// [`sample`], also counting the process `child` (a process the bench spawned).
pub fn sample_with(child: Option<u32>) -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .take(8)
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    let total: u64 = cpu.iter().sum();
    let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
    let mut postgres = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let is_postgres = std::fs::read_to_string(entry.path().join("comm"))
            .is_ok_and(|comm| comm.trim() == "postgres");
        if is_postgres {
            postgres += process_ticks(&entry.path().join("stat")).unwrap_or(0);
        }
    }
    Some(Sample {
        total,
        busy: total.saturating_sub(idle),
        this: process_ticks(std::path::Path::new("/proc/self/stat"))?,
        postgres,
        child: child.map_or(Some(0), |pid| {
            process_ticks(
                &std::path::Path::new("/proc")
                    .join(pid.to_string())
                    .join("stat"),
            )
        })?,
    })
}

/// utime + stime of a process, from its `stat` file.
fn process_ticks(path: &std::path::Path) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU use between two samples (`None` when either is missing or no time passed).
pub fn usage(before: Option<Sample>, after: Option<Sample>) -> Option<Usage> {
    let (before, after) = (before?, after?);
    let total = after.total.checked_sub(before.total)? as f64;
    if total <= 0.0 {
        return None;
    }
    let share = |a: u64, b: u64| a.saturating_sub(b) as f64 / total;
    let busy = share(after.busy, before.busy);
    let this = share(after.this, before.this);
    // Processes that exited in between make this an underestimate, never negative.
    let postgres = share(after.postgres, before.postgres);
    let child = share(after.child, before.child);
    Some(Usage {
        busy,
        this,
        postgres,
        child,
        other: (busy - this - postgres - child).max(0.0),
    })
}
