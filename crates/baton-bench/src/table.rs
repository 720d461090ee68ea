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
