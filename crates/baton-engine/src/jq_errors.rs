//! jq (jaq) errors as sentences a person can act on, with the line and column in the program,
//! instead of jaq's debug output.

use jaq_core::compile::Undefined;
use jaq_core::load::{self, lex, parse};

use crate::position;

/// Why `program` does not load (lex or parse errors), one sentence per problem.
pub(crate) fn load(program: &str, errors: &load::Errors<&str, ()>) -> String {
    let problems: Vec<String> = errors
        .iter()
        .flat_map(|(_, error)| match error {
            load::Error::Lex(errors) => errors.iter().map(|e| lex_error(program, e)).collect(),
            load::Error::Parse(errors) => errors.iter().map(|e| parse_error(program, e)).collect(),
            load::Error::Io(_) => vec!["modules cannot be included or imported here".to_owned()],
        })
        .collect();
    format!("the jq program does not parse: {}", problems.join("; "))
}

/// Why `program` does not compile (names that are not defined).
pub(crate) fn compile(program: &str, errors: &[(&str, Undefined)]) -> String {
    let problems: Vec<String> = errors
        .iter()
        .map(|(name, undefined)| {
            let what = match undefined {
                Undefined::Filter(arity) => {
                    let args = match arity {
                        0 => String::new(),
                        1 => " taking 1 argument".to_owned(),
                        n => format!(" taking {n} arguments"),
                    };
                    format!("there is no jq filter `{name}`{args}")
                }
                Undefined::Var => format!("the variable `{name}` is not defined"),
                Undefined::Label => format!("the label `{name}` is not defined"),
                Undefined::Mod => format!("there is no module `{name}`"),
                _ => format!("`{name}` is not defined"),
            };
            format!("{what}{}", at(program, name))
        })
        .collect();
    format!("the jq program does not compile: {}", problems.join("; "))
}

/// ` at line 1, column 5`, when `part` is a slice of `program`.
fn at(program: &str, part: &str) -> String {
    position::offset_in(program, part)
        .map(|offset| format!(" at {}", position::describe(program, offset)))
        .unwrap_or_default()
}

fn lex_error(program: &str, (expected, found): &lex::Error<&str>) -> String {
    match expected {
        lex::Expect::Delim(open) => {
            let close = match *open {
                "(" => "`)`",
                "[" => "`]`",
                "{" => "`}`",
                "\"" => "a closing `\"`",
                _ => "its closing delimiter",
            };
            format!(
                "the `{open}`{} is never closed (expected {close}{})",
                at(program, open),
                found_at(program, found)
            )
        }
        lex::Expect::Digit => format!("a number is cut short{}", at(program, found)),
        lex::Expect::Ident => format!("a name is expected{}", at(program, found)),
        lex::Expect::Escape => format!("invalid escape sequence in a string{}", at(program, found)),
        lex::Expect::Unicode => format!(
            "`\\u` must be followed by 4 hexadecimal digits{}",
            at(program, found)
        ),
        lex::Expect::Token => {
            let token: String = found.chars().take(1).collect();
            format!("unexpected character `{token}`{}", at(program, found))
        }
        _ => format!("unexpected text{}", at(program, found)),
    }
}

/// ` before the end of the program` or ` before `x` at …`.
fn found_at(program: &str, found: &str) -> String {
    if found.is_empty() {
        " before the end of the program".to_owned()
    } else {
        let token: String = found.chars().take(20).collect();
        format!(" before `{token}`{}", at(program, found))
    }
}

fn parse_error(program: &str, (expected, found): &parse::Error<&str>) -> String {
    let expected = match expected {
        parse::Expect::Term => "a value or a filter".to_owned(),
        parse::Expect::Nothing => {
            return format!("unexpected `{found}`{}", at(program, found));
        }
        parse::Expect::Just(token) => format!("`{token}`"),
        other => other.as_str().to_owned(),
    };
    if found.is_empty() {
        format!("the program ends too early: {expected} is expected")
    } else {
        format!(
            "unexpected `{found}`{}: {expected} is expected",
            at(program, found)
        )
    }
}

#[cfg(test)]
mod tests {
    use jaq_core::load::{Arena, File, Loader};

    use super::*;

    fn load_error(program: &str) -> String {
        let arena = Arena::default();
        let loader = Loader::new(jaq_std::defs());
        match loader.load(
            &arena,
            File {
                code: program,
                path: (),
            },
        ) {
            Ok(_) => panic!("{program} loads"),
            Err(errors) => load(program, &errors),
        }
    }

    #[test]
    fn lex_and_parse_errors_name_the_place() {
        assert_eq!(
            load_error("{a: 1"),
            "the jq program does not parse: the `{` at line 1, column 1 is never closed \
             (expected `}` before the end of the program)"
        );
        assert_eq!(
            load_error(".a |||"),
            "the jq program does not parse: unexpected `|||` at line 1, column 4"
        );
        assert_eq!(
            load_error(".a | | .b"),
            "the jq program does not parse: unexpected `|` at line 1, column 6: a value or a \
             filter is expected"
        );
        assert_eq!(
            load_error(".a |"),
            "the jq program does not parse: the program ends too early: a value or a filter is \
             expected"
        );
        assert!(load_error("if . then 1").contains("else or end"));
        assert!(load_error(".a\n  & 1").contains("unexpected character `&` at line 2, column 3"));
    }
}
