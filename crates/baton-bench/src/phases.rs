//! Which phases a run measures (`BENCH_PHASES`), and their `[i/n]` headings.

use anyhow::bail;

/// One phase of the benchmark, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Calibration,
    Sequential,
    Serve,
    Backlog,
    FanOut,
    Api,
    Memory,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::Calibration,
        Phase::Sequential,
        Phase::Serve,
        Phase::Backlog,
        Phase::FanOut,
        Phase::Api,
        Phase::Memory,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Calibration => "calibration",
            Phase::Sequential => "sequential",
            Phase::Serve => "serve",
            Phase::Backlog => "backlog",
            Phase::FanOut => "fan-out",
            Phase::Api => "api",
            Phase::Memory => "memory",
        }
    }

    /// Whether the phase's figures are ratios to the calibration.
    fn needs_calibration(self) -> bool {
        matches!(
            self,
            Phase::Sequential | Phase::Serve | Phase::Backlog | Phase::FanOut
        )
    }
}

/// The phases of a run: those `BENCH_PHASES` lists (all when unset), plus the calibration when
/// a listed phase is reported against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phases {
    chosen: Vec<Phase>,
}

impl Phases {
    pub fn all() -> Self {
        Self {
            chosen: Phase::ALL.to_vec(),
        }
    }

    /// A comma-separated list of phase names; empty means every phase.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut listed = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match Phase::ALL.iter().find(|phase| phase.name() == name) {
                Some(phase) => listed.push(*phase),
                None => bail!(
                    "BENCH_PHASES: unknown phase {name:?} (known: {})",
                    Phase::ALL.map(Phase::name).join(", ")
                ),
            }
        }
        if listed.is_empty() {
            return Ok(Self::all());
        }
        let calibration = listed.iter().any(|phase| phase.needs_calibration());
        let chosen = Phase::ALL
            .into_iter()
            .filter(|phase| listed.contains(phase) || (*phase == Phase::Calibration && calibration))
            .collect();
        Ok(Self { chosen })
    }

    pub fn has(&self, phase: Phase) -> bool {
        self.chosen.contains(&phase)
    }

    /// Whether a chosen phase spawns `baton serve` (so the binary is checked before the run).
    pub fn spawn_baton(&self) -> bool {
        self.has(Phase::Serve) || self.has(Phase::Api) || self.has(Phase::Memory)
    }

    /// Numbers the headings of the chosen phases.
    pub fn headings(&self) -> Headings {
        Headings {
            done: 0,
            total: self.chosen.len(),
        }
    }
}

/// Prints `[i/n] …` before each phase.
pub struct Headings {
    done: usize,
    total: usize,
}

impl Headings {
    pub fn start(&mut self, text: &str) {
        self.done += 1;
        println!("\n[{}/{}] {text}", self.done, self.total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_choose_phases_and_bring_the_calibration_when_needed() {
        assert_eq!(Phases::parse("").unwrap(), Phases::all());
        let memory = Phases::parse("memory, api").unwrap();
        assert!(memory.has(Phase::Memory) && memory.has(Phase::Api));
        assert!(!memory.has(Phase::Calibration));
        let serve = Phases::parse("serve").unwrap();
        assert!(serve.has(Phase::Calibration) && serve.has(Phase::Serve));
        assert!(!serve.has(Phase::Sequential));
        assert_eq!(serve.headings().total, 2);
        assert!(Phases::parse("serve,nope").is_err());
    }
}
