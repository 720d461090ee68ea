//! What a running Baton says about its own progress, from GET /metrics (open in local mode):
//! how many tasks its workers completed, and how many are queued and runnable.

use anyhow::{Context, bail};
use reqwest::{Client, StatusCode};

/// Two series of one scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// `baton_tasks_completed_total`, summed over task types.
    pub tasks_completed: f64,
    /// `baton_queue_depth`: tasks queued and runnable now.
    pub queue_depth: f64,
}

pub async fn progress(client: &Client, base_url: &str) -> anyhow::Result<Progress> {
    let response = client
        .get(format!("{base_url}/metrics"))
        .send()
        .await
        .context("GET /metrics")?;
    let status = response.status();
    let text = response.text().await?;
    if status != StatusCode::OK {
        bail!("GET /metrics answered {status}: {text}");
    }
    Ok(parse(&text))
}

/// Reads the two series out of OpenMetrics text (absent series count as 0).
fn parse(text: &str) -> Progress {
    let mut progress = Progress {
        tasks_completed: 0.0,
        queue_depth: 0.0,
    };
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let name = series.split('{').next().unwrap_or_default();
        match name {
            "baton_tasks_completed_total" => progress.tasks_completed += value,
            "baton_queue_depth" => progress.queue_depth = value,
            _ => {}
        }
    }
    progress
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_completed_tasks_over_types() {
        let text = "# TYPE baton_tasks_completed counter\n\
                    baton_tasks_completed_total{type=\"transform\"} 120\n\
                    baton_tasks_completed_total{type=\"fetch\"} 3\n\
                    baton_tasks_completed_created{type=\"fetch\"} 1.7e9\n\
                    baton_queue_depth 16\n\
                    # EOF\n";
        assert_eq!(
            parse(text),
            Progress {
                tasks_completed: 123.0,
                queue_depth: 16.0
            }
        );
    }
}
