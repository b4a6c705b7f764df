//! llmrank: store, rank and show LLM serving performance.
//!
//! Layout (pure logic apart from I/O):
//! - `cli` parses flags and dispatches to `cmd::*`, one module per subcommand (glue only).
//! - `config` loads the layered settings every subcommand shares.
//! - Pure: `sim` (the simulation model and batch planning), `stats` (descriptive statistics),
//!   `ranking` (order, ties, table/JSON/CSV), `table` (terminal tables).
//! - I/O: `db` (pool, migrations, catalogue, runs, the binary COPY writer, queries, the
//!   data-version listener), `server` (HTTP), `cache` (memory + Redis), `client` (`rank --server`),
//!   `telemetry` (logs and metric names), `signal` (shutdown).

pub mod cache;
pub mod cli;
pub mod client;
pub mod cmd;
pub mod config;
pub mod db;
pub mod ranking;
pub mod server;
pub mod signal;
pub mod sim;
pub mod stats;
pub mod table;
pub mod telemetry;
