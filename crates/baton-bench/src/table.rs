//! The summary table both stores print, and the percentile it reports.

/// A row: metric, value, target.
pub type Row = (String, String, String);

/// Prints `rows` under a `metric value target` header, columns aligned.
pub fn print(rows: Vec<Row>) {
    let width = rows
        .iter()
        .map(|(name, _, _)| name.len())
        .max()
        .unwrap_or(0);
    let value_width = rows
        .iter()
        .map(|(_, value, _)| value.len())
        .max()
        .unwrap_or(0);
    println!("  {:<width$}  {:<value_width$}  target", "metric", "value");
    for (name, value, target) in rows {
        println!("  {name:<width$}  {value:<value_width$}  {target}");
    }
}

/// The two per-step rows both stores report: the median (with its target) and the p99 of
/// `per_step_ms` (sorted), each as a multiple of one commit of `commit_ms`.
pub fn per_step_rows(per_step_ms: &[f64], commit_ms: f64) -> [Row; 2] {
    let median = percentile(per_step_ms, 0.5);
    let p99 = percentile(per_step_ms, 0.99);
    [
        (
            format!("per-step overhead, median of {}", per_step_ms.len()),
            format!("{median:.3} ms = {:.2}x commit", median / commit_ms),
            "<= 1.5x".into(),
        ),
        (
            "per-step overhead, p99 (nearest rank)".into(),
            format!("{p99:.3} ms = {:.2}x commit", p99 / commit_ms),
            "<= 2.5x".into(),
        ),
    ]
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), 10.0);
        assert_eq!(percentile(&values, 0.99), 20.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
