//! The fan-out figure: one workflow fanning out over `BENCH_FAN_OUT` no-op elements and
//! joining them, timed by the workflow's own timestamps (the database's clock).

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use crate::app;
use crate::settings::Settings;

/// How one fan-out ran.
pub struct FanOut {
    pub elements: usize,
    /// From the workflow's start to its end, by the database's clock.
    pub secs: f64,
}

impl FanOut {
    pub fn elements_per_sec(&self) -> f64 {
        self.elements as f64 / self.secs
    }
}

/// Runs the fan-out on a fresh store at `url` (created by the app).
pub async fn run(settings: &Settings, url: &str) -> anyhow::Result<FanOut> {
    let baton = app::start(url, settings.workers, settings.workers + 4).await?;
    let client = app::http_client()?;
    let n = settings.fan_out;
    let body = json!({
        "name": "bench-fan-out", "input": {}, "start": true,
        "tasks": [
            {"key": "list", "type": "transform", "input": {"jq": format!("[range({n})]")}},
            {"key": "each", "type": "transform", "for_each": "{{ steps.list.output }}",
             "input": {"jq": ".item"}},
            {"key": "join", "type": "transform", "input": {"jq": ".prev | length"}}
        ]
    });
    let id = app::create(&client, &baton.base_url, &body).await?;
    let limit = Duration::from_secs(600);
    let began = Instant::now();
    let finished = loop {
        let workflow =
            app::get_json(&client, &baton.base_url, &format!("/api/workflows/{id}")).await?;
        match workflow["status"].as_str() {
            Some("completed") => break workflow,
            Some("failed" | "cancelled") => bail!("the fan-out workflow ended: {workflow}"),
            _ if began.elapsed() > limit => bail!("the fan-out did not finish within {limit:?}"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    if finished["output"] != json!(n) {
        bail!(
            "the fan-out joined {} elements, not {n}",
            finished["output"]
        );
    }
    let started = app::timestamp(&finished, "started_at")?;
    let ended = app::timestamp(&finished, "finished_at")?;
    baton.stop().await;
    let secs = (ended - started).to_std()?.as_secs_f64();
    let result = FanOut { elements: n, secs };
    println!(
        "  {n} elements fanned out and joined in {secs:.2} s: {:.0} elements/s",
        result.elements_per_sec()
    );
    Ok(result)
}
