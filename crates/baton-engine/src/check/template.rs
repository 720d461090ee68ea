//! A template, checked before its task runs: it parses, and every name it uses is one the task
//! will have (see [`Scope`]).

use std::collections::HashSet;

use minijinja::Environment;

use baton_domain::SecretName;

use super::Found;
use super::refs::Scope;
use crate::template_errors;

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

    /// The problems of `source`, a string that holds a template; the secrets it names are
    /// added to `secrets` (reference, name), for the caller to look up.
    pub(super) fn check(
        &self,
        source: &str,
        scope: &Scope<'_>,
        secrets: &mut Vec<(String, SecretName)>,
    ) -> Vec<Found> {
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
            if names.first() == Some(&"secrets") {
                match secret(&names) {
                    Ok(name) => secrets.push((reference.clone(), name)),
                    Err(why) => found.push(Found::new(reference, why)),
                }
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

    /// Whether `name` is a function or constant every template has.
    pub(super) fn is_global(&self, name: &str) -> bool {
        self.globals.contains(name)
    }

    /// The names `source` uses from outside (`steps.fetch.output`), or why it does not parse.
    pub(super) fn references(&self, source: &str) -> Result<HashSet<String>, String> {
        crate::templates::undeclared(&self.env, source).map_err(|(err, offset)| {
            format!(
                "the template does not parse: {}",
                template_errors::describe(&err, source, offset)
            )
        })
    }
}

/// The secret `secrets.NAME` names, or why the reference cannot be one.
fn secret(names: &[&str]) -> Result<SecretName, String> {
    match names {
        [_] => Err(
            "name the secret: `secrets.NAME` (a task reads only the secrets it names, \
                    so `secrets` alone or `secrets[…]` cannot be used)"
                .to_owned(),
        ),
        [_, name] => SecretName::new(name).map_err(|_| {
            format!(
                "`{name}` cannot be a secret's name: a letter or `_`, then letters, digits and \
                 `_`, at most 64 characters"
            )
        }),
        [_, name, field, ..] => Err(format!(
            "a secret is a string: `secrets.{name}` has no `{field}`"
        )),
        [] => Err("name the secret: `secrets.NAME`".to_owned()),
    }
}
