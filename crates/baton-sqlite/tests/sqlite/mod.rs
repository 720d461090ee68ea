//! What only the SQLite adapter promises, beyond the conformance suite.

mod file;
mod graph;
mod statements;
mod values;
