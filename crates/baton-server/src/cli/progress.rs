//! Progress on stderr while a workflow runs: a line per task (a spinner while it runs, when
//! stderr is a terminal), its status, attempt and duration, and LLM tokens as they arrive.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use tokio::time::Instant;

use super::follow::StreamEvent;

/// What the progress lines say about a task.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// `#<position> <key or title> (<type>)`
    pub label: String,
    /// From its row, when it has finished (exact even for events replayed from history).
    pub duration: Option<Duration>,
}

/// Renders events as they come.
pub struct Progress {
    /// `None` when stderr is not a terminal: plain lines, no spinner.
    bars: Option<MultiProgress>,
    running: HashMap<String, (ProgressBar, Instant)>,
    /// Streamed text not yet ended by a newline, per task (terminal mode).
    partial: HashMap<String, String>,
    /// Plain mode: the last thing written was token text without a final newline.
    mid_line: bool,
    /// A lost connection was announced and no event came since (one note per outage).
    reconnecting: bool,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Self {
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self {
            bars,
            running: HashMap::new(),
            partial: HashMap::new(),
            mid_line: false,
            reconnecting: false,
        }
    }

    /// Shows `event`; `task` describes the task it is about (if any).
    pub fn show(&mut self, event: &StreamEvent, task: Option<&TaskInfo>) {
        self.reconnecting = false;
        let task_id = event.data["task_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let label = task.map_or_else(|| task_id.clone(), |t| t.label.clone());
        let attempt = event.data["attempt"].as_i64().unwrap_or(1);
        match event.event.as_str() {
            "task.started" => self.started(&task_id, &label, attempt),
            "task.delta" => self.delta(&task_id, event.data["text"].as_str().unwrap_or("")),
            "task.completed" => {
                let duration = self.duration(&task_id, task);
                self.finished(&task_id, format!("✓ {label} completed{duration}"));
            }
            "task.failed" => {
                let duration = self.duration(&task_id, task);
                let error = error_text(&event.data["error"]);
                self.finished(&task_id, format!("✗ {label} failed{duration}: {error}"));
            }
            "task.retrying" => {
                let error = error_text(&event.data["error"]);
                let at = event.data["retry_at"].as_str().unwrap_or("soon");
                self.finished(
                    &task_id,
                    format!("↻ {label} attempt {attempt} failed: {error}; retrying at {at}"),
                );
            }
            "task.skipped" => {
                let reason = event.data["reason"].as_str().unwrap_or("skipped");
                self.finished(&task_id, format!("- {label} skipped: {reason}"));
            }
            "task.waiting" => {
                let until = event.data["until"].as_str().unwrap_or("a signal");
                self.line(&format!("… {label} waiting until {until}"));
            }
            "task.fanned_out" => {
                let n = event.data["elements"].as_i64().unwrap_or(0);
                self.line(&format!("⑂ {label} fanned out to {n} elements"));
            }
            "budget.exceeded" => {
                let needed = &event.data["needed"];
                self.line(&format!(
                    "⏸ {label}: a call of {} tokens does not fit the budget; paused (raise it \
                     with PATCH and resume)",
                    needed["tokens"]
                ));
            }
            "workflow.resumed" => self.line("▶ workflow resumed"),
            "workflow.queued" => self.line("… queued: waiting for a slot of its concurrency key"),
            "workflow.started" => self.line("▶ workflow started"),
            "workflow.failed" => self.line(&format!(
                "✗ workflow failed: {}",
                error_text(&event.data["error"])
            )),
            "workflow.cancelled" => self.line("✗ workflow cancelled"),
            "workflow.completed" => self.line("✓ workflow completed"),
            _ => {}
        }
    }

    /// A note that the stream dropped and is being resumed.
    pub fn reconnecting(&mut self, why: &str) {
        if !self.reconnecting {
            self.line(&format!("… connection lost ({why}); reconnecting"));
            self.reconnecting = true;
        }
    }

    fn started(&mut self, task_id: &str, label: &str, attempt: i64) {
        let message = format!("{label} running (attempt {attempt})");
        let bar = match &self.bars {
            Some(bars) => {
                let bar = bars.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(100));
                bar.set_message(message);
                bar
            }
            None => {
                self.line(&format!("▶ {message}"));
                ProgressBar::hidden()
            }
        };
        if let Some((old, _)) = self
            .running
            .insert(task_id.to_owned(), (bar, Instant::now()))
        {
            old.finish_and_clear();
        }
    }

    fn delta(&mut self, task_id: &str, text: &str) {
        match &self.bars {
            None => {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(text.as_bytes());
                let _ = err.flush();
                if !text.is_empty() {
                    self.mid_line = !text.ends_with('\n');
                }
            }
            Some(bars) => {
                let partial = self.partial.entry(task_id.to_owned()).or_default();
                partial.push_str(text);
                while let Some(end) = partial.find('\n') {
                    let line: String = partial.drain(..=end).collect();
                    let _ = bars.println(line.trim_end_matches('\n'));
                }
                if let Some((bar, _)) = self.running.get(task_id) {
                    let tail: String = partial.chars().rev().take(60).collect();
                    bar.set_message(tail.chars().rev().collect::<String>());
                }
            }
        }
    }

    fn finished(&mut self, task_id: &str, message: String) {
        if let (Some(bars), Some(rest)) = (&self.bars, self.partial.remove(task_id))
            && !rest.is_empty()
        {
            let _ = bars.println(rest);
        }
        if let Some((bar, _)) = self.running.remove(task_id) {
            bar.finish_and_clear();
        }
        self.line(&message);
    }

    /// ` in 1.2s`, from the task's row when known, else since its start was seen.
    fn duration(&self, task_id: &str, task: Option<&TaskInfo>) -> String {
        let measured = task
            .and_then(|t| t.duration)
            .or_else(|| self.running.get(task_id).map(|(_, at)| at.elapsed()));
        measured.map_or_else(String::new, |d| format!(" in {}", human_duration(d)))
    }

    fn line(&mut self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => {
                let mut err = std::io::stderr().lock();
                if self.mid_line {
                    let _ = writeln!(err);
                    self.mid_line = false;
                }
                let _ = writeln!(err, "{text}");
            }
        }
    }

    /// Ends every spinner (before the result is printed).
    pub fn finish(&mut self) {
        for (_, (bar, _)) in self.running.drain() {
            bar.finish_and_clear();
        }
        if self.mid_line {
            eprintln!();
            self.mid_line = false;
        }
    }
}

/// `kind: message` of a task or workflow error.
pub fn error_text(error: &Value) -> String {
    let message = error["message"].as_str().unwrap_or("unknown error");
    match error["kind"].as_str() {
        Some(kind) => format!("{kind}: {message}"),
        None => message.to_owned(),
    }
}

/// `850ms`, `1.2s`, `2m05s`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1_000) % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(human_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(human_duration(Duration::from_millis(1_250)), "1.2s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m05s");
    }
}
