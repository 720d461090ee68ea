//! What the operator configured about models (prices, shared limits) and the in-memory front
//! of the response cache.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use baton_domain::{LlmRequest, ModelLimit, Price, UserId};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Prices and shared limits by model name (`BATON_LLM_PRICES`, `BATON_LLM_LIMITS`).
#[derive(Debug, Clone, Default)]
pub struct LlmPolicy {
    pub prices: HashMap<String, Price>,
    pub limits: HashMap<String, ModelLimit>,
}

impl LlmPolicy {
    pub fn price(&self, model: &str) -> Option<&Price> {
        self.prices.get(model)
    }

    pub fn limit(&self, model: &str) -> ModelLimit {
        self.limits.get(model).copied().unwrap_or_default()
    }
}

/// Answers kept in this process in front of the store's cache table (bounded).
pub struct AnswerCache {
    entries: moka::sync::Cache<String, (Value, Instant)>,
}

impl Default for AnswerCache {
    fn default() -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        }
    }
}

impl AnswerCache {
    pub fn get(&self, key: &str) -> Option<Value> {
        self.entries
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(answer, _)| answer)
    }

    pub fn put(&self, key: String, answer: Value, ttl: Duration) {
        self.entries.insert(key, (answer, Instant::now() + ttl));
    }
}

/// The cache key of a request: a hash of its owner and everything that shapes the answer
/// (models in order, messages, parameters, schema).
pub fn cache_key(owner: UserId, request: &LlmRequest, models: &[String]) -> String {
    let shape = json!({
        "owner": owner.as_uuid(),
        "models": models,
        "messages": request.messages,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "output_schema": request.output_schema,
    });
    let digest = Sha256::digest(shape.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_changes_with_what_shapes_the_answer() {
        let request = LlmRequest::from_json(&json!({"prompt": "hi"})).unwrap();
        let owner = UserId::from_uuid(uuid::Uuid::nil());
        let models = vec!["m".to_owned()];
        let key = cache_key(owner, &request, &models);
        assert_eq!(key, cache_key(owner, &request, &models));
        assert_eq!(key.len(), 64);
        let mut warmer = request.clone();
        warmer.temperature = Some(1.0);
        assert_ne!(key, cache_key(owner, &warmer, &models));
        let other = UserId::from_uuid(uuid::Uuid::from_u128(1));
        assert_ne!(key, cache_key(other, &request, &models));
    }
}
