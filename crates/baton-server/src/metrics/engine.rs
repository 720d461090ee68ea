//! The executor's reports, counted.

use std::time::Duration;

use baton_domain::TaskType;
use baton_engine::{LlmUsage, Observer, TaskEnd};

use super::{DurationLabels, Metrics, ModelLabels, TaskLabels, TokenLabels};

fn task(task_type: TaskType) -> TaskLabels {
    TaskLabels {
        r#type: task_type.as_str().to_owned(),
    }
}

impl Metrics {
    fn count_end(&self, task_type: TaskType, end: TaskEnd) {
        let family = match end {
            TaskEnd::Completed => &self.tasks_completed,
            TaskEnd::Failed => &self.tasks_failed,
            TaskEnd::Retried => &self.tasks_retried,
            TaskEnd::Skipped | TaskEnd::Parked => return,
        };
        family.get_or_create(&task(task_type)).inc();
    }
}

impl Observer for Metrics {
    fn task_started(&self, task_type: TaskType) {
        self.tasks_started.get_or_create(&task(task_type)).inc();
    }

    fn task_ended(&self, task_type: TaskType, end: TaskEnd, took: Duration) {
        self.count_end(task_type, end);
        self.task_duration
            .get_or_create(&DurationLabels {
                r#type: task_type.as_str().to_owned(),
                outcome: end.as_str().to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    fn lease_expired(&self, task_type: TaskType, end: TaskEnd) {
        self.leases_expired.get_or_create(&task(task_type)).inc();
        self.count_end(task_type, end);
    }

    fn llm_used(&self, usage: &LlmUsage) {
        for (kind, n) in [
            ("prompt", usage.prompt_tokens),
            ("completion", usage.completion_tokens),
        ] {
            self.llm_tokens
                .get_or_create(&TokenLabels {
                    model: usage.model.clone(),
                    kind: kind.to_owned(),
                })
                .inc_by(n);
        }
        // The hook for prices: outputs carry none yet, so the series stays absent.
        if let Some(cost) = usage.cost_usd.filter(|c| c.is_finite() && *c >= 0.0) {
            self.llm_cost
                .get_or_create(&ModelLabels {
                    model: usage.model.clone(),
                })
                .inc_by(cost);
        }
    }
}
