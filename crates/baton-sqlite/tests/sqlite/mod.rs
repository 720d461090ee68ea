//! What only the SQLite adapter promises, beyond the conformance suite.

mod file;
mod statements;
mod values;
