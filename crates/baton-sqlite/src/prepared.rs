//! Statements whose SQL is a constant, prepared once per connection and kept.
//!
//! Diesel prepares again, on every call, each statement it cannot name by type: every
//! `sql_query`, every `UPDATE` and every `IN` list. On SQLite, preparing is parsing and
//! compiling: 48 µs of the 61 µs a step's fenced write took on a small file, for instance, and
//! a step sends several such statements, all while holding the one write lock. A
//! [`Prepared`] statement is keyed in diesel's statement cache by its SQL text, so each
//! connection prepares it once.
//!
//! Its SQL names parameters `?1`, `?2`, … (a parameter may appear several times); each
//! occurrence is sent as a bare `?` bound to that parameter, which SQLite numbers in order.
//! The text has no other `?` (none in a literal either).

use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::Error;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Untyped};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, RunQueryDsl, SqliteConnection};

/// A bound value.
#[derive(Debug, Clone)]
enum Param {
    Text(String),
    OptText(Option<String>),
    Int(i32),
    OptInt(Option<i32>),
    BigInt(i64),
    Bool(bool),
}

/// A statement of constant SQL and its parameters, in the order of their numbers.
#[derive(Debug, Clone)]
#[must_use = "a statement runs only when executed or loaded"]
pub(crate) struct Prepared {
    sql: &'static str,
    params: Vec<Param>,
}

impl Prepared {
    pub(crate) fn new(sql: &'static str) -> Self {
        Self {
            sql,
            params: Vec::new(),
        }
    }

    fn with(mut self, param: Param) -> Self {
        self.params.push(param);
        self
    }

    pub(crate) fn text(self, value: impl Into<String>) -> Self {
        self.with(Param::Text(value.into()))
    }

    pub(crate) fn opt_text(self, value: Option<String>) -> Self {
        self.with(Param::OptText(value))
    }

    pub(crate) fn int(self, value: i32) -> Self {
        self.with(Param::Int(value))
    }

    pub(crate) fn opt_int(self, value: Option<i32>) -> Self {
        self.with(Param::OptInt(value))
    }

    pub(crate) fn big_int(self, value: i64) -> Self {
        self.with(Param::BigInt(value))
    }

    pub(crate) fn bool(self, value: bool) -> Self {
        self.with(Param::Bool(value))
    }
}

fn malformed(sql: &str, why: &str) -> Error {
    Error::QueryBuilderError(format!("{why} in the statement {sql:?}").into())
}

impl QueryFragment<Sqlite> for Prepared {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let mut rest = self.sql;
        while let Some(at) = rest.find('?') {
            out.push_sql(&rest[..at]);
            let after = &rest[at + 1..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let number: usize = after[..digits]
                .parse()
                .map_err(|_| malformed(self.sql, "a `?` without a number"))?;
            let param = number
                .checked_sub(1)
                .and_then(|index| self.params.get(index))
                .ok_or_else(|| malformed(self.sql, &format!("no parameter ?{number}")))?;
            match param {
                Param::Text(v) => out.push_bind_param::<Text, _>(v)?,
                Param::OptText(v) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                Param::Int(v) => out.push_bind_param::<Integer, _>(v)?,
                Param::OptInt(v) => out.push_bind_param::<Nullable<Integer>, _>(v)?,
                Param::BigInt(v) => out.push_bind_param::<BigInt, _>(v)?,
                Param::Bool(v) => out.push_bind_param::<Bool, _>(v)?,
            }
            rest = &after[digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

/// Not named by type: the cache keys it by its SQL text (and its parameters' types), which
/// is constant. It never calls `unsafe_to_cache_prepared`, so it is kept.
impl QueryId for Prepared {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// Rows are read by name (`QueryableByName`), as `sql_query`'s are.
impl Query for Prepared {
    type SqlType = Untyped;
}

impl RunQueryDsl<SqliteConnection> for Prepared {}

#[cfg(test)]
mod tests {
    use diesel::connection::{Instrumentation, InstrumentationEvent};
    use diesel::{Connection, QueryableByName};
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Row {
        #[diesel(sql_type = Text)]
        a: String,
        #[diesel(sql_type = Nullable<Integer>)]
        b: Option<i32>,
        #[diesel(sql_type = BigInt)]
        c: i64,
    }

    /// Counts the statements SQLite was asked to prepare for the cache.
    struct Cached(Arc<Mutex<Vec<String>>>);

    impl Instrumentation for Cached {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                self.0.lock().unwrap().push(sql.to_owned());
            }
        }
    }

    const SQL: &str = "SELECT ?2 || ?1 || ?2 AS a, ?3 AS b, ?4 + length(?1) AS c";

    fn query(a: &str, b: Option<i32>) -> Prepared {
        Prepared::new(SQL).text(a).text("-").opt_int(b).big_int(40)
    }

    #[test]
    fn numbered_parameters_bind_each_occurrence_and_the_statement_is_prepared_once() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let cached = Arc::new(Mutex::new(Vec::new()));
        conn.set_instrumentation(Cached(cached.clone()));
        let first: Row = query("xy", Some(7)).get_result(&mut conn).unwrap();
        let second: Row = query("z", None).get_result(&mut conn).unwrap();
        assert_eq!(
            first,
            Row {
                a: "-xy-".into(),
                b: Some(7),
                c: 42
            }
        );
        assert_eq!(
            second,
            Row {
                a: "-z-".into(),
                b: None,
                c: 41
            }
        );
        let cached = cached.lock().unwrap();
        assert_eq!(cached.len(), 1, "prepared once for the cache: {cached:?}");
        assert_eq!(
            cached[0],
            "SELECT ? || ? || ? AS a, ? AS b, ? + length(?) AS c"
        );
    }

    #[test]
    fn a_missing_or_unnumbered_parameter_is_an_error_not_a_panic() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let missing = Prepared::new("SELECT ?2 AS a").text("x").execute(&mut conn);
        assert!(
            matches!(missing, Err(Error::QueryBuilderError(_))),
            "{missing:?}"
        );
        let bare = Prepared::new("SELECT ? AS a").text("x").execute(&mut conn);
        assert!(matches!(bare, Err(Error::QueryBuilderError(_))), "{bare:?}");
    }
}
