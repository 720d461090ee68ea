//! A template, checked before its task runs: it parses, and every name it uses is one the task
//! will have (see [`Scope`]).

use std::collections::HashSet;

use minijinja::Environment;

use super::Found;
use super::refs::Scope;
use crate::templates::sole_expression;
use crate::{position, template_errors};

/// Parses templates the way they are rendered.
pub(super) struct Templates {
    env: Environment<'static>,
    /// Functions and constants every template has (`range`, `dict`, `null`, …).
    globals: HashSet<String>,
}

impl Templates {
    pub(super) fn new() -> Self {
        let env = crate::templates::environment();
        let globals = env.globals().map(|(name, _)| name.to_owned()).collect();
        Self { env, globals }
    }

    /// The problems of `source`, a string that holds a template.
    pub(super) fn check(&self, source: &str, scope: &Scope<'_>) -> Vec<Found> {
        let references = match self.references(source) {
            Ok(references) => references,
            Err(message) => return vec![Found::new(source, message)],
        };
        let mut references: Vec<String> = references.into_iter().collect();
        references.sort();
        let mut shown = HashSet::new();
        let mut found = Vec::new();
        for reference in &references {
            let names: Vec<&str> = reference.split('.').collect();
            if names.first().is_some_and(|n| self.globals.contains(*n)) {
                continue;
            }
            if let Err((shows, why)) = scope.check(&names) {
                // `steps.x` and `steps.x.output` have one problem: say it once.
                if shown.insert(names[..shows.min(names.len())].join(".")) {
                    found.push(Found::new(reference, why));
                }
            }
        }
        found
    }

    /// The names `source` uses from outside (`steps.fetch.output`), or why it does not parse.
    fn references(&self, source: &str) -> Result<HashSet<String>, String> {
        let unparsable = |err: minijinja::Error, offset| {
            format!(
                "the template does not parse: {}",
                template_errors::describe(&err, source, offset)
            )
        };
        match sole_expression(source) {
            Some(expr) => {
                let offset = position::offset_in(source, expr).unwrap_or(0);
                let compiled = self
                    .env
                    .compile_expression(expr)
                    .map_err(|e| unparsable(e, offset))?;
                Ok(compiled.undeclared_variables(true))
            }
            None => {
                let template = self
                    .env
                    .template_from_str(source)
                    .map_err(|e| unparsable(e, 0))?;
                Ok(template.undeclared_variables(true))
            }
        }
    }
}
