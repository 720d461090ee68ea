//! A workflow's budget for its `llm` calls: at most so many tokens, at most so many dollars.
//!
//! Before each call its worst case (the prompt's estimate plus `max_tokens`, priced) is
//! reserved against the budget, under a lock of the workflow, so calls running at the same time
//! cannot together go over it; after the call its ledger line settles the reservation at what
//! the call really used. A call that does not fit is not made: the workflow is paused until
//! its budget is raised and it is resumed. The rule is [`Budget::decide`]; a store applies it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::DomainError;

/// The most tokens a budget may name.
pub const MAX_BUDGET_TOKENS: u64 = 1_000_000_000_000;
/// The most dollars a budget may name.
pub const MAX_BUDGET_USD: f64 = 1_000_000_000.0;

/// The error kind of an `llm` call refused by its workflow's budget: the task is parked and
/// its workflow paused, rather than failed.
pub const BUDGET_EXCEEDED: &str = "budget_exceeded";

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
}

/// Tokens and dollars: spent, reserved, or asked for by a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spend {
    pub tokens: u64,
    pub cost_usd: f64,
}

impl Spend {
    /// Sums as a store reads them (a negative count is none).
    pub fn from_sums(tokens: i64, cost_usd: f64) -> Spend {
        Spend {
            tokens: u64::try_from(tokens).unwrap_or(0),
            cost_usd: cost_usd.max(0.0),
        }
    }

    pub fn plus(self, other: Spend) -> Spend {
        Spend {
            tokens: self.tokens.saturating_add(other.tokens),
            cost_usd: self.cost_usd + other.cost_usd,
        }
    }
}

/// What a call may use at most; `None` where it cannot be known (no `max_tokens`, or a model
/// without a price).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetAsk {
    pub tokens: Option<u64>,
    pub cost_usd: Option<f64>,
}

/// Whether a call may go.
#[derive(Debug, Clone, PartialEq)]
pub enum BudgetDecision {
    /// No budget: nothing reserved.
    Unlimited,
    /// Reserved.
    Fits,
    /// Not made: the workflow pauses (or is paused already) with this detail.
    Exceeded(Value),
    /// The budget limits what the call cannot bound (the message says what to set).
    Unknowable(String),
}

impl Budget {
    /// A budget naming `max_tokens`, `max_cost_usd` or both (`field` names it in errors).
    pub fn new(
        field: &str,
        max_tokens: Option<u64>,
        max_cost_usd: Option<f64>,
    ) -> Result<Budget, DomainError> {
        let budget = Budget {
            max_tokens,
            max_cost_usd,
        };
        budget.check(field)?;
        Ok(budget)
    }

    /// The budget of a create or patch body (`field` names it in errors).
    pub fn from_json(field: &str, value: &Value) -> Result<Budget, DomainError> {
        let budget: Budget = serde_json::from_value(value.clone()).map_err(|e| {
            DomainError::invalid(
                field,
                format!("must be {{\"max_tokens\": n, \"max_cost_usd\": x}} (either or both): {e}"),
            )
        })?;
        budget.check(field)?;
        Ok(budget)
    }

    fn check(&self, field: &str) -> Result<(), DomainError> {
        if self.max_tokens.is_none() && self.max_cost_usd.is_none() {
            return Err(DomainError::invalid(
                field,
                "names max_tokens, max_cost_usd or both",
            ));
        }
        if let Some(tokens) = self.max_tokens
            && !(1..=MAX_BUDGET_TOKENS).contains(&tokens)
        {
            return Err(DomainError::invalid(
                format!("{field}.max_tokens"),
                format!("must be from 1 to {MAX_BUDGET_TOKENS}"),
            ));
        }
        if let Some(usd) = self.max_cost_usd
            && !(usd > 0.0 && usd <= MAX_BUDGET_USD)
        {
            return Err(DomainError::invalid(
                format!("{field}.max_cost_usd"),
                format!("must be more than 0 and at most {MAX_BUDGET_USD}"),
            ));
        }
        Ok(())
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Whether a call asking `ask` fits beside what the workflow's calls have `spent` and what
    /// other calls in flight have `reserved`. While `paused`, no call fits.
    pub fn decide(
        &self,
        spent: Spend,
        reserved: Spend,
        ask: BudgetAsk,
        paused: bool,
    ) -> BudgetDecision {
        let tokens = match (self.max_tokens, ask.tokens) {
            (Some(_), None) => {
                return BudgetDecision::Unknowable(
                    "the workflow's budget limits tokens: give the llm task max_tokens".into(),
                );
            }
            (_, tokens) => tokens.unwrap_or(0),
        };
        let cost_usd = match (self.max_cost_usd, ask.cost_usd) {
            (Some(_), None) => {
                return BudgetDecision::Unknowable(
                    "the workflow's budget limits cost, and the model has no price in \
                     BATON_LLM_PRICES (or the task no max_tokens)"
                        .into(),
                );
            }
            (_, cost) => cost.unwrap_or(0.0),
        };
        let needed = Spend { tokens, cost_usd };
        let after = spent.plus(reserved).plus(needed);
        let over_tokens = self.max_tokens.is_some_and(|max| after.tokens > max);
        let over_cost = self.max_cost_usd.is_some_and(|max| after.cost_usd > max);
        if paused || over_tokens || over_cost {
            BudgetDecision::Exceeded(json!({
                "budget": self.to_json(),
                "spent": spent,
                "reserved": reserved,
                "needed": needed,
            }))
        } else {
            BudgetDecision::Fits
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(max: u64) -> Budget {
        Budget {
            max_tokens: Some(max),
            max_cost_usd: None,
        }
    }

    fn ask(tokens: u64) -> BudgetAsk {
        BudgetAsk {
            tokens: Some(tokens),
            cost_usd: None,
        }
    }

    fn spend(tokens: u64) -> Spend {
        Spend {
            tokens,
            cost_usd: 0.0,
        }
    }

    #[test]
    fn a_call_fits_while_spent_reserved_and_asked_stay_within_the_budget() {
        let budget = tokens(400);
        assert_eq!(
            budget.decide(spend(100), spend(200), ask(100), false),
            BudgetDecision::Fits
        );
        let BudgetDecision::Exceeded(detail) =
            budget.decide(spend(100), spend(200), ask(101), false)
        else {
            panic!("over by one token");
        };
        assert_eq!(detail["needed"]["tokens"], 101);
        assert_eq!(detail["spent"]["tokens"], 100);
        assert_eq!(detail["reserved"]["tokens"], 200);
        assert_eq!(detail["budget"], json!({"max_tokens": 400}));
    }

    #[test]
    fn nothing_fits_while_paused() {
        assert!(matches!(
            tokens(400).decide(spend(0), spend(0), ask(1), true),
            BudgetDecision::Exceeded(_)
        ));
    }

    #[test]
    fn cost_is_limited_too_and_an_unpriced_call_cannot_be_kept_to_it() {
        let budget = Budget {
            max_tokens: None,
            max_cost_usd: Some(1.0),
        };
        let priced = |usd| BudgetAsk {
            tokens: None,
            cost_usd: Some(usd),
        };
        let spent = Spend {
            tokens: 0,
            cost_usd: 0.5,
        };
        assert_eq!(
            budget.decide(spent, Spend::default(), priced(0.5), false),
            BudgetDecision::Fits
        );
        assert!(matches!(
            budget.decide(spent, Spend::default(), priced(0.51), false),
            BudgetDecision::Exceeded(_)
        ));
        assert!(matches!(
            budget.decide(spent, Spend::default(), ask(10), false),
            BudgetDecision::Unknowable(_)
        ));
        assert!(matches!(
            tokens(10).decide(spend(0), spend(0), priced(0.1), false),
            BudgetDecision::Unknowable(_)
        ));
    }

    #[test]
    fn budgets_name_something_positive_and_nothing_else() {
        assert!(Budget::from_json("budget", &json!({"max_tokens": 10})).is_ok());
        assert!(Budget::from_json("budget", &json!({"max_cost_usd": 0.5})).is_ok());
        for bad in [
            json!({}),
            json!({"max_tokens": 0}),
            json!({"max_tokens": -1}),
            json!({"max_cost_usd": 0}),
            json!({"max_cost_usd": 1e12}),
            json!({"max_tokens": 1, "extra": 1}),
            json!(5),
        ] {
            assert!(Budget::from_json("budget", &bad).is_err(), "{bad}");
        }
    }
}
