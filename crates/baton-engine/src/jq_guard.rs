//! The guard a jq program runs under: consulted on every term jaq evaluates and on every value
//! `range` yields, it stops the program (by unwinding its thread) once its deadline has passed
//! or its recursion nears the end of the stack.
//!
//! `range` is the one native generator whose length a program chooses (`range(1e18)`); jaq's
//! own yields values without evaluating a term, so a native consumer (`last`, `limit`, `[…]`)
//! could loop over it without ever reaching the guard. Ours checks the guard at each value.

use std::panic::resume_unwind;
use std::time::Instant;

use jaq_core::box_iter::BoxIter;
use jaq_core::data::{DataT, HasLut};
use jaq_core::native::{Fun, v};
use jaq_core::{Cv, Exn, Lut, Native, ValX};
use jaq_json::Val;

use crate::jq_bounds::{self, TooBig};

/// Why the guard stopped a program.
pub(crate) enum Stop {
    Deadline,
    TooDeep,
    /// A value would have been over a bound of [`crate::jq_bounds`].
    TooBig(TooBig),
}

pub(crate) struct Guard {
    pub(crate) deadline: Instant,
    pub(crate) stack_base: usize,
    /// Stack a program may use before it is stopped.
    pub(crate) stack_limit: usize,
}

pub(crate) fn stack_position() -> usize {
    let marker = 0u8;
    std::ptr::addr_of!(marker) as usize
}

impl Guard {
    pub(crate) fn check(&self) {
        if self.stack_base.abs_diff(stack_position()) > self.stack_limit {
            resume_unwind(Box::new(Stop::TooDeep));
        }
        if Instant::now() > self.deadline {
            resume_unwind(Box::new(Stop::Deadline));
        }
    }
}

/// jaq's data for our programs: JSON values, and the guard.
pub(crate) struct Guarded;

#[derive(Clone)]
pub(crate) struct GuardedData<'a> {
    pub(crate) lut: &'a Lut<Guarded>,
    pub(crate) guard: &'a Guard,
}

impl DataT for Guarded {
    type V<'a> = Val;
    type Data<'a> = GuardedData<'a>;
}

impl<'a> HasLut<'a, Guarded> for GuardedData<'a> {
    fn lut(&self) -> &'a Lut<Guarded> {
        self.guard.check();
        self.lut
    }
}

/// `range($from; $to; $by)` as jq defines it, checking the guard at every value.
fn range<'a>(mut cv: Cv<'a, Guarded>) -> BoxIter<'a, ValX<'a, Val>> {
    let guard = cv.0.data().guard;
    let by = cv.0.pop_var();
    let to = cv.0.pop_var();
    // The value to yield next; after an error, nothing.
    let mut next: Option<ValX<'a, Val>> = Some(Ok(cv.0.pop_var()));
    let zero = Val::from(0usize);
    let up = by > zero;
    let down = by < zero;
    Box::new(std::iter::from_fn(move || {
        guard.check();
        let x = match next.take()? {
            Ok(x) => x,
            Err(err) => return Some(Err(err)),
        };
        let more = if up {
            x < to
        } else if down {
            x > to
        } else {
            x != to
        };
        if more {
            next = Some((x.clone() + by.clone()).map_err(Exn::from));
            Some(Ok(x))
        } else {
            None
        }
    }))
}

/// The native filters our programs get: jaq's, with `range/3` replaced by the guarded one and
/// `tojson` by the bounded one, and the bounded operations the rewritten program calls.
pub(crate) fn funs() -> impl Iterator<Item = Fun<Guarded>> {
    jaq_core::funs()
        .filter(|(name, arity, _)| !(*name == "range" && arity.len() == 3))
        .chain(jaq_std::funs())
        .chain(jaq_json::funs().filter(|(name, arity, _)| !(*name == "tojson" && arity.is_empty())))
        .chain(std::iter::once((
            "range",
            v(3),
            Native::<Guarded>::new(range),
        )))
        .chain(jq_bounds::funs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_jaqs_range_is_replaced() {
        let ranges: Vec<usize> = funs()
            .filter(|(name, _, _)| *name == "range")
            .map(|(_, arity, _)| arity.len())
            .collect();
        assert_eq!(ranges, [3]);
        assert_eq!(funs().filter(|(name, _, _)| *name == "tojson").count(), 1);
    }
}
