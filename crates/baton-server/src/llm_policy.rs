//! `BATON_LLM_PRICES` and `BATON_LLM_LIMITS`: JSON objects keyed by model name.

use std::collections::HashMap;

use baton_domain::{ModelLimit, Price};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceEntry {
    input_per_mtok: f64,
    output_per_mtok: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitEntry {
    requests_per_minute: Option<u32>,
    tokens_per_minute: Option<u64>,
}

/// `{"<model>": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}`: US dollars per million
/// prompt and completion tokens.
pub(crate) fn prices(value: &str) -> Result<HashMap<String, Price>, String> {
    let entries: HashMap<String, PriceEntry> = serde_json::from_str(value).map_err(|e| {
        format!(
            "must be a JSON object like {{\"gpt-4o-mini\": {{\"input_per_mtok\": 0.15, \
             \"output_per_mtok\": 0.6}}}}: {e}"
        )
    })?;
    entries
        .into_iter()
        .map(|(model, e)| {
            let valid = |p: f64| p.is_finite() && p >= 0.0;
            if model.trim().is_empty() || !valid(e.input_per_mtok) || !valid(e.output_per_mtok) {
                return Err(format!(
                    "the price of {model:?} must name a model and give prices of 0 or more"
                ));
            }
            Ok((
                model,
                Price {
                    input_per_mtok: e.input_per_mtok,
                    output_per_mtok: e.output_per_mtok,
                },
            ))
        })
        .collect()
}

/// `{"<model>": {"requests_per_minute": 500, "tokens_per_minute": 200000}}`, either optional.
pub(crate) fn limits(value: &str) -> Result<HashMap<String, ModelLimit>, String> {
    let entries: HashMap<String, LimitEntry> = serde_json::from_str(value).map_err(|e| {
        format!(
            "must be a JSON object like {{\"gpt-4o-mini\": {{\"requests_per_minute\": 500, \
             \"tokens_per_minute\": 200000}}}}: {e}"
        )
    })?;
    entries
        .into_iter()
        .map(|(model, e)| {
            if model.trim().is_empty()
                || e.requests_per_minute == Some(0)
                || e.tokens_per_minute == Some(0)
            {
                return Err(format!(
                    "the limits of {model:?} must name a model and be at least 1"
                ));
            }
            Ok((
                model,
                ModelLimit {
                    requests_per_minute: e.requests_per_minute,
                    tokens_per_minute: e.tokens_per_minute,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_and_limits_are_read_and_checked() {
        let p = prices(r#"{"m": {"input_per_mtok": 1.5, "output_per_mtok": 2}}"#).unwrap();
        assert_eq!(p["m"].output_per_mtok, 2.0);
        assert!(prices(r#"{"m": {"input_per_mtok": -1, "output_per_mtok": 2}}"#).is_err());
        assert!(prices(r#"{"m": {"input": 1}}"#).is_err());
        let l = limits(r#"{"m": {"requests_per_minute": 60}}"#).unwrap();
        assert_eq!(l["m"].requests_per_minute, Some(60));
        assert!(limits(r#"{"m": {"requests_per_minute": 0}}"#).is_err());
        assert!(limits("[]").is_err());
    }
}
