//! Postgres-only behaviour beyond the shared contracts: races between instances, the order
//! events are read in, fan-outs under load, the plans of the step's statements, and the pool's
//! statement timeout. In the one test binary of the crate (see `conformance.rs`).

mod batches;
mod child_races;
mod event_order;
mod fan_out;
mod graph_races;
mod plans;
mod statement_timeout;
