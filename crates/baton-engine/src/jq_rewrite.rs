//! Rewrites a parsed jq program (and jaq's own definitions) so that everything that can grow a
//! value calls the bounded natives of [`crate::jq_bounds`]:
//!
//! - `l + r` → `_baton_add(l; r)` (unless `l` or `r` is a number literal), `l * r` →
//!   `_baton_mul(l; r)`, the outputs in jaq's order (`l` outside `r`);
//! - `l += r` → `r as $v | l |= _baton_add(.; $v)`, as jq defines it (and `*=` alike);
//! - `"a\(f)b"` → the sum of its parts through `_baton_add`, as jaq compiles it;
//! - `"\(f)"` → `"\(f | _baton_tostring)"` when the string has no format (`tostring` and
//!   `@text` are such strings); a format (`@json "\(f)"`) turns values into text itself;
//! - `[f]` → `_baton_collect(f)`;
//! - `explode` → `_baton_pieces(0) | explode`, `split(s)` → `s as $s | _baton_pieces($s) |
//!   split($s)`.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::ops::Math;
use jaq_core::path::{Part, Path};

use crate::jq_bounds::{ADD, COLLECT, MUL, PIECES, TOSTRING};

/// The variable `l += r` binds `r` to; the `$` is part of a name in jaq's terms.
const UPDATE_VAR: &str = "$__baton_update";
/// The variable `split(s)` binds `s` to.
const SPLIT_VAR: &str = "$__baton_separator";

/// The bounded native for `op`, if it can grow a value.
fn bounded(op: Math) -> Option<&'static str> {
    match op {
        Math::Add => Some(ADD),
        Math::Mul => Some(MUL),
        _ => None,
    }
}

fn is_number(t: &Term<&str>) -> bool {
    matches!(t, Term::Num(_))
}

pub(crate) fn def(d: Def<&str>) -> Def<&str> {
    Def {
        name: d.name,
        args: d.args,
        body: term(d.body),
    }
}

/// Rewrites a boxed term in its box.
fn boxed(mut t: Box<Term<&str>>) -> Box<Term<&str>> {
    *t = term(std::mem::take(&mut *t));
    t
}

fn call<'s>(name: &'s str, args: Vec<Term<&'s str>>) -> Term<&'s str> {
    Term::Call(name, args)
}

pub(crate) fn term(t: Term<&str>) -> Term<&str> {
    match t {
        // A number added to anything is a number (or null, or an error): jaq's own `+` is
        // bound enough, and cheaper in a loop (`. + 1`).
        Term::BinOp(l, BinaryOp::Math(Math::Add), r) if is_number(&l) || is_number(&r) => {
            Term::BinOp(boxed(l), BinaryOp::Math(Math::Add), boxed(r))
        }
        Term::BinOp(l, BinaryOp::Math(op), r) => match bounded(op) {
            Some(native) => call(native, vec![term(*l), term(*r)]),
            None => Term::BinOp(boxed(l), BinaryOp::Math(op), boxed(r)),
        },
        Term::BinOp(l, BinaryOp::UpdateMath(op), r) => match bounded(op) {
            Some(native) => {
                let update = call(native, vec![Term::Id, Term::Var(UPDATE_VAR)]);
                let assign = Term::BinOp(boxed(l), BinaryOp::Update, Box::new(update));
                let bind = BinaryOp::Pipe(Some(Pattern::Var(UPDATE_VAR)));
                Term::BinOp(boxed(r), bind, Box::new(assign))
            }
            None => Term::BinOp(boxed(l), BinaryOp::UpdateMath(op), boxed(r)),
        },
        Term::BinOp(l, op, r) => Term::BinOp(boxed(l), binary_op(op), boxed(r)),
        Term::Str(fmt, parts) => string(fmt, parts),
        Term::Arr(Some(f)) => call(COLLECT, vec![term(*f)]),
        Term::Obj(entries) => Term::Obj(
            entries
                .into_iter()
                .map(|(k, v)| (term(k), v.map(term)))
                .collect(),
        ),
        Term::Neg(f) => Term::Neg(boxed(f)),
        Term::Label(x, f) => Term::Label(x, boxed(f)),
        Term::Fold(name, xs, pat, args) => Term::Fold(
            name,
            boxed(xs),
            pattern(pat),
            args.into_iter().map(term).collect(),
        ),
        Term::TryCatch(f, c) => Term::TryCatch(boxed(f), c.map(boxed)),
        Term::IfThenElse(branches, otherwise) => Term::IfThenElse(
            branches
                .into_iter()
                .map(|(i, t)| (term(i), term(t)))
                .collect(),
            otherwise.map(boxed),
        ),
        Term::Def(defs, f) => Term::Def(defs.into_iter().map(def).collect(), boxed(f)),
        Term::Call("explode", args) if args.is_empty() => {
            let check = call(PIECES, vec![Term::Num("0")]);
            Term::BinOp(
                Box::new(check),
                BinaryOp::Pipe(None),
                Box::new(call("explode", args)),
            )
        }
        Term::Call("split", mut args) if args.len() == 1 => {
            let sep = term(args.remove(0));
            let split = call("split", vec![Term::Var(SPLIT_VAR)]);
            let check = call(PIECES, vec![Term::Var(SPLIT_VAR)]);
            let checked = Term::BinOp(Box::new(check), BinaryOp::Pipe(None), Box::new(split));
            let bind = BinaryOp::Pipe(Some(Pattern::Var(SPLIT_VAR)));
            Term::BinOp(Box::new(sep), bind, Box::new(checked))
        }
        Term::Call(name, args) => Term::Call(name, args.into_iter().map(term).collect()),
        Term::Path(f, path) => Term::Path(boxed(f), self::path(path)),
        t @ (Term::Id
        | Term::Recurse
        | Term::Num(_)
        | Term::Arr(None)
        | Term::Break(_)
        | Term::Var(_)) => t,
    }
}

fn binary_op(op: BinaryOp<&str>) -> BinaryOp<&str> {
    match op {
        BinaryOp::Pipe(pat) => BinaryOp::Pipe(pat.map(pattern)),
        op => op,
    }
}

fn pattern(p: Pattern<&str>) -> Pattern<&str> {
    match p {
        Pattern::Var(x) => Pattern::Var(x),
        Pattern::Arr(ps) => Pattern::Arr(ps.into_iter().map(pattern).collect()),
        Pattern::Obj(entries) => Pattern::Obj(
            entries
                .into_iter()
                .map(|(k, p)| (term(k), pattern(p)))
                .collect(),
        ),
    }
}

fn path(p: Path<Term<&str>>) -> Path<Term<&str>> {
    Path(
        p.0.into_iter()
            .map(|(part, opt)| {
                let part = match part {
                    Part::Index(i) => Part::Index(term(i)),
                    Part::Range(from, upto) => Part::Range(from.map(term), upto.map(term)),
                };
                (part, opt)
            })
            .collect(),
    )
}

/// A string with several parts as the sum of one-part strings (each with the format), through
/// the bounded `+`; jaq compiles it to the same sum with its own `+`.
fn string<'s>(fmt: Option<&'s str>, parts: Vec<StrPart<&'s str, Term<&'s str>>>) -> Term<&'s str> {
    let part = |part| match part {
        StrPart::Term(f) if fmt.is_none() => {
            let to_text = BinaryOp::Pipe(None);
            StrPart::Term(Term::BinOp(
                Box::new(term(f)),
                to_text,
                Box::new(call(TOSTRING, Vec::new())),
            ))
        }
        StrPart::Term(f) => StrPart::Term(term(f)),
        StrPart::Str(s) => StrPart::Str(s),
        StrPart::Char(c) => StrPart::Char(c),
    };
    if parts.len() < 2 {
        return Term::Str(fmt, parts.into_iter().map(part).collect());
    }
    let mut parts = parts
        .into_iter()
        .rev()
        .map(|p| Term::Str(fmt, vec![part(p)]));
    let last = parts.next().unwrap_or(Term::Str(fmt, Vec::new()));
    parts.fold(last, |sum, p| call(ADD, vec![p, sum]))
}
