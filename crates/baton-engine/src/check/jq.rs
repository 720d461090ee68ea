//! A transform's jq program, checked before its task runs: it parses and compiles, and the
//! paths it takes from its input (the context: `.input`, `.prev`, `.steps.<key>`, `.workflow`)
//! name what the task will have.
//!
//! Only paths that certainly start at the program's input are checked: `.steps.x` at the top,
//! in `a, b`, `a + b`, `[…]`, `{…}`, `if`, the left of `|`; not inside a function's arguments,
//! the right of `|` or a definition, where `.` is something else.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Term};
use jaq_core::path::Part;

use super::Found;
use super::refs::Scope;

/// The problems of `program`.
pub(super) fn check(program: &str, compiled: &Result<(), String>, scope: &Scope<'_>) -> Vec<Found> {
    if let Err(message) = compiled {
        return vec![Found::new(program, message.clone())];
    }
    let Some(term) = jaq_core::load::parse(program, |p| p.term()) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    walk(&term, true, &mut paths);
    let mut found: Vec<Found> = Vec::new();
    for names in paths {
        if let Err((shows, why)) = scope.check(&names) {
            let shown = format!(".{}", names[..shows.min(names.len())].join("."));
            if !found
                .iter()
                .any(|f| f.expression.as_deref() == Some(shown.as_str()))
            {
                found.push(Found::new(&shown, format!("in the jq program, {why}")));
            }
        }
    }
    found
}

/// The constant key of `.key`, `."key"` or `{key}`.
fn key<'s>(term: &Term<&'s str>) -> Option<&'s str> {
    match term {
        Term::Str(None, parts) => match parts.as_slice() {
            [StrPart::Str(s)] => Some(*s),
            _ => None,
        },
        _ => None,
    }
}

/// Collects the constant paths taken from the program's input; `rooted`: whether `.` is that
/// input here.
fn walk<'s>(term: &Term<&'s str>, rooted: bool, out: &mut Vec<Vec<&'s str>>) {
    match term {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Var(_) | Term::Break(_) => {}
        Term::Str(_, parts) => {
            for part in parts {
                if let StrPart::Term(t) = part {
                    walk(t, rooted, out);
                }
            }
        }
        Term::Arr(inner) => {
            if let Some(t) = inner {
                walk(t, rooted, out);
            }
        }
        Term::Obj(entries) => {
            for (k, v) in entries {
                walk(k, rooted, out);
                match v {
                    Some(v) => walk(v, rooted, out),
                    // `{input}` is `{input: .input}`.
                    None => {
                        if let (true, Some(name)) = (rooted, key(k)) {
                            out.push(vec![name]);
                        }
                    }
                }
            }
        }
        Term::Neg(t) | Term::Label(_, t) => walk(t, rooted, out),
        Term::BinOp(l, op, r) => {
            walk(l, rooted, out);
            // `l | r` and `l |= r` run `r` on what `l` gives; `l as $x | r`, `l = r`, … on `.`.
            let same_input = !matches!(op, BinaryOp::Pipe(None) | BinaryOp::Update);
            walk(r, rooted && same_input, out);
        }
        Term::Fold(_, xs, _, args) => {
            walk(xs, rooted, out);
            // The start value sees `.`; the update and extract see the accumulator.
            for (i, arg) in args.iter().enumerate() {
                walk(arg, rooted && i == 0, out);
            }
        }
        Term::TryCatch(t, catch) => {
            walk(t, rooted, out);
            if let Some(c) = catch {
                walk(c, false, out);
            }
        }
        Term::IfThenElse(branches, otherwise) => {
            for (condition, then) in branches {
                walk(condition, rooted, out);
                walk(then, rooted, out);
            }
            if let Some(t) = otherwise {
                walk(t, rooted, out);
            }
        }
        Term::Def(defs, t) => {
            for def in defs {
                walk(&def.body, false, out);
            }
            walk(t, rooted, out);
        }
        Term::Call(_, args) => {
            for arg in args {
                walk(arg, false, out);
            }
        }
        Term::Path(base, path) => {
            if rooted && matches!(**base, Term::Id) {
                let names: Vec<&str> = path
                    .0
                    .iter()
                    .map_while(|(part, _)| match part {
                        Part::Index(t) => key(t),
                        Part::Range(..) => None,
                    })
                    .collect();
                if !names.is_empty() {
                    out.push(names);
                }
            } else {
                walk(base, rooted, out);
            }
            // `.a[.b]`: an index is computed from the path's own input.
            for (part, _) in &path.0 {
                match part {
                    Part::Index(t) => walk(t, rooted, out),
                    Part::Range(from, to) => {
                        for t in [from, to].into_iter().flatten() {
                            walk(t, rooted, out);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(program: &str) -> Vec<String> {
        let term = jaq_core::load::parse(program, |p| p.term()).unwrap();
        let mut out = Vec::new();
        walk(&term, true, &mut out);
        out.into_iter().map(|names| names.join(".")).collect()
    }

    #[test]
    fn paths_from_the_input_are_found() {
        assert_eq!(paths(".prev.body"), ["prev.body"]);
        assert_eq!(
            paths("{city: .prev.body.city, temp: (.steps.get.output.t * 2)}"),
            ["prev.body.city", "steps.get.output.t"]
        );
        assert_eq!(
            paths("[.input.a, .workflow.name] | length"),
            ["input.a", "workflow.name"]
        );
        assert_eq!(paths("{input}"), ["input"]);
        assert_eq!(paths(".input as $x | .prev"), ["input", "prev"]);
        assert_eq!(
            paths("if .input.a then .prev else .steps end"),
            ["input.a", "prev", "steps"]
        );
        assert_eq!(paths(".[\"steps\"].x"), ["steps.x"]);
        assert_eq!(paths("\"Hello, \\(.input.name)\""), ["input.name"]);
    }

    #[test]
    fn paths_on_something_else_are_not() {
        assert!(paths(".prev | .anything").eq(&["prev"]));
        assert!(paths("map(.x) | .[0].y").is_empty());
        assert!(paths("def f: .zz; f").is_empty());
        assert!(paths("reduce .input[] as $x (0; . + $x.n)").eq(&["input"]));
        assert!(paths(".prev |= .zz").eq(&["prev"]));
    }
}
