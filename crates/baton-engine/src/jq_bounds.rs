//! How large a value a jq program may build: a string of [`MAX_JQ_STRING_BYTES`], an array or
//! object of [`MAX_JQ_ITEMS`]. `+` and `*` (and `+=`, `*=`, string interpolation) check the size
//! of their result before building it, `[…]` counts what it collects, and a program that would
//! go over stops (by unwinding its thread, as the guard does), so its memory is given back.
//!
//! The program is rewritten to call these natives ([`crate::jq_rewrite`]); each then delegates
//! to jaq's own operation, so its answers are jaq's.

use std::panic::resume_unwind;

use jaq_core::box_iter::{BoxIter, box_once, flat_map_with, map_with};
use jaq_core::native::{Fun, v};
use jaq_core::ops::Math;
use jaq_core::{Bind, Cv, Exn, Native, ValX};
use jaq_json::{Num, Val};

use crate::jq_guard::{Guard, Guarded, Stop};

/// The longest string a program may build.
pub const MAX_JQ_STRING_BYTES: usize = 64 * 1024 * 1024;
/// The most elements an array (or entries an object) a program builds may have.
pub const MAX_JQ_ITEMS: usize = 10_000_000;

/// Names of the natives the rewritten program calls.
pub(crate) const ADD: &str = "_baton_add";
pub(crate) const MUL: &str = "_baton_mul";
pub(crate) const COLLECT: &str = "_baton_collect";
pub(crate) const TOSTRING: &str = "_baton_tostring";
pub(crate) const PIECES: &str = "_baton_pieces";

/// What the program tried to build past its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TooBig {
    String,
    Array,
    Object,
    Result,
}

impl TooBig {
    /// The sentence of the task's error.
    pub(crate) fn message(self) -> String {
        let what = match self {
            Self::String => format!("a string over {MAX_JQ_STRING_BYTES} bytes"),
            Self::Array => format!("an array over {MAX_JQ_ITEMS} elements"),
            Self::Object => format!("an object over {MAX_JQ_ITEMS} entries"),
            Self::Result => format!("a result over {MAX_JQ_STRING_BYTES} bytes of JSON"),
        };
        format!("the jq program built {what}, more than a transform may hold")
    }
}

fn stop(what: TooBig) -> ! {
    resume_unwind(Box::new(Stop::TooBig(what)))
}

fn string_len(v: &Val) -> Option<usize> {
    match v {
        Val::TStr(s) | Val::BStr(s) => Some(s.len()),
        _ => None,
    }
}

/// How many times `*` would repeat a string: its number, at least 0, saturated.
fn times(n: &Num) -> f64 {
    match n {
        Num::Int(i) => *i as f64,
        Num::BigInt(_) => f64::INFINITY,
        Num::Float(f) => *f,
        Num::Dec(s) => s.parse().unwrap_or(f64::INFINITY),
    }
}

/// Stops the program if `l op r` would be over a bound; both operands are within them.
fn check(l: &Val, op: Math, r: &Val) {
    match (op, l, r) {
        (Math::Add, Val::Arr(a), Val::Arr(b)) if a.len() + b.len() > MAX_JQ_ITEMS => {
            stop(TooBig::Array)
        }
        (Math::Add | Math::Mul, Val::Obj(a), Val::Obj(b)) if a.len() + b.len() > MAX_JQ_ITEMS => {
            stop(TooBig::Object)
        }
        (Math::Add, _, _) => match (string_len(l), string_len(r)) {
            (Some(a), Some(b)) if a + b > MAX_JQ_STRING_BYTES => stop(TooBig::String),
            _ => {}
        },
        (Math::Mul, Val::Num(n), s) | (Math::Mul, s, Val::Num(n)) => match string_len(s) {
            Some(len) if len > 0 && times(n) * len as f64 > MAX_JQ_STRING_BYTES as f64 => {
                stop(TooBig::String)
            }
            _ => {}
        },
        _ => {}
    }
}

/// `l op r` for filters `l` and `r`, their outputs paired as jaq pairs them (each output of `l`
/// with each of `r`), and values moved as jaq moves them, so that `. + $x` in a loop extends
/// the string or array it is given rather than copying it.
fn math<'a>(mut cv: Cv<'a, Guarded>, op: Math) -> BoxIter<'a, ValX<'a, Val>> {
    let (r, r_ctx) = cv.0.pop_fun();
    let (l, l_ctx) = cv.0.pop_fun();
    let input = cv.1;
    let ls = l.run((l_ctx, input.clone()));
    let pairs = flat_map_with(ls, (r_ctx, input), move |x, r_cv| {
        map_with(r.run(r_cv), x, |y, x| (x, y))
    });
    Box::new(pairs.map(move |(x, y)| {
        let (x, y) = (x?, y?);
        check(&x, op, &y);
        op.run(x, y).map_err(Exn::from)
    }))
}

/// `_baton_add(l; r)`: `l + r`, within the bounds.
fn add(cv: Cv<'_, Guarded>) -> BoxIter<'_, ValX<'_, Val>> {
    math(cv, Math::Add)
}

/// `_baton_mul(l; r)`: `l * r`, within the bounds.
fn mul(cv: Cv<'_, Guarded>) -> BoxIter<'_, ValX<'_, Val>> {
    math(cv, Math::Mul)
}

/// `_baton_collect(f)`: `[f]`, stopping past [`MAX_JQ_ITEMS`] values and at the guard.
fn collect(mut cv: Cv<'_, Guarded>) -> BoxIter<'_, ValX<'_, Val>> {
    let (f, ctx) = cv.0.pop_fun();
    let guard = ctx.data().guard;
    let mut items = Vec::new();
    for item in f.run((ctx, cv.1)) {
        match item {
            Ok(item) => items.push(item),
            Err(err) => return box_once(Err(err)),
        }
        if items.len() > MAX_JQ_ITEMS {
            stop(TooBig::Array)
        }
        guard.check();
    }
    box_once(Ok(Val::Arr(items.into())))
}

/// A `String` that takes [`MAX_JQ_STRING_BYTES`] at most, consulting the guard as it fills.
struct Capped<'g> {
    text: String,
    guard: &'g Guard,
    next_check: usize,
    /// What the program is stopped for at the bound.
    what: TooBig,
}

impl std::fmt::Write for Capped<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.text.len() + s.len() > MAX_JQ_STRING_BYTES {
            stop(self.what)
        }
        self.text.push_str(s);
        if self.text.len() >= self.next_check {
            self.guard.check();
            self.next_check = self.text.len() + CHECK_EVERY;
        }
        Ok(())
    }
}

/// Bytes of a result written between looks at the guard.
const CHECK_EVERY: usize = 1024 * 1024;

/// `value` as JSON text; a result over [`MAX_JQ_STRING_BYTES`] (an array repeating itself
/// shares its parts until written out) stops the program.
pub(crate) fn to_json(value: &Val, guard: &Guard) -> String {
    json_text(value, guard, TooBig::Result)
}

fn json_text(value: &Val, guard: &Guard, what: TooBig) -> String {
    use std::fmt::Write;
    let mut out = Capped {
        text: String::new(),
        guard,
        next_check: CHECK_EVERY,
        what,
    };
    // Only `Capped` fails a write, and it stops the program instead.
    let _ = write!(out, "{value}");
    out.text
}

/// `_baton_tostring`: `tostring`, stopping at a text over [`MAX_JQ_STRING_BYTES`] (an array
/// repeating itself shares its parts until written out).
fn tostring(cv: Cv<'_, Guarded>) -> BoxIter<'_, ValX<'_, Val>> {
    let text = match cv.1 {
        s @ (Val::TStr(_) | Val::BStr(_)) => return box_once(Ok(s)),
        v => json_text(&v, cv.0.data().guard, TooBig::String),
    };
    box_once(Ok(Val::utf8_str(text)))
}

/// `tojson`, stopping at a text over [`MAX_JQ_STRING_BYTES`].
fn tojson(cv: Cv<'_, Guarded>) -> BoxIter<'_, ValX<'_, Val>> {
    let text = json_text(&cv.1, cv.0.data().guard, TooBig::String);
    box_once(Ok(Val::utf8_str(text)))
}

/// `_baton_pieces($sep)`: its input, once it is clear that `explode` (`$sep` not a string) or
/// `split($sep)` of it gives at most [`MAX_JQ_ITEMS`] pieces; these natives would otherwise
/// turn a long string into an array many times its size in one step.
fn pieces(mut cv: Cv<'_, Guarded>) -> BoxIter<'_, ValX<'_, Val>> {
    let sep = cv.0.pop_var();
    if let Some(text) = string_bytes(&cv.1) {
        let sep = string_bytes(&sep).unwrap_or_default();
        // At most one piece per byte of text past a separator, and one more.
        if text.len() / sep.len().max(1) >= MAX_JQ_ITEMS {
            let count = if sep.is_empty() {
                // Characters: bytes that do not continue one.
                text.iter().filter(|b| (**b as i8) >= -0x40).count()
            } else {
                occurrences(text, sep)
            };
            if count >= MAX_JQ_ITEMS {
                stop(TooBig::Array)
            }
        }
    }
    box_once(Ok(cv.1))
}

fn string_bytes(v: &Val) -> Option<&[u8]> {
    match v {
        Val::TStr(s) | Val::BStr(s) => Some(s),
        _ => None,
    }
}

/// Non-overlapping occurrences of `sep` (short: the text is long enough to need counting only
/// when `sep` is at most a few bytes) in `text`, counted until [`MAX_JQ_ITEMS`].
fn occurrences(text: &[u8], sep: &[u8]) -> usize {
    let mut count = 0;
    let mut at = 0;
    while at + sep.len() <= text.len() && count < MAX_JQ_ITEMS {
        if text[at..].starts_with(sep) {
            count += 1;
            at += sep.len();
        } else {
            at += 1;
        }
    }
    count
}

/// `n` filter arguments.
fn filters(n: usize) -> Box<[Bind]> {
    (0..n).map(|_| Bind::Fun(())).collect()
}

/// The natives the rewritten program calls, and `tojson` (replacing jaq's).
pub(crate) fn funs() -> impl Iterator<Item = Fun<Guarded>> {
    [
        ("tojson", v(0), Native::<Guarded>::new(tojson)),
        (TOSTRING, v(0), Native::<Guarded>::new(tostring)),
        (PIECES, v(1), Native::<Guarded>::new(pieces)),
        (ADD, filters(2), Native::<Guarded>::new(add)),
        (MUL, filters(2), Native::<Guarded>::new(mul)),
        (COLLECT, filters(1), Native::<Guarded>::new(collect)),
    ]
    .into_iter()
}
