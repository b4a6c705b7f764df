//! llmrank: store, rank and show LLM serving performance.
//!
//! Layout (pure logic apart from I/O):
//! - `cli` parses flags and dispatches to `cmd::*`, one module per subcommand (glue only).
//! - `config` loads the layered settings every subcommand shares.
//! - Pure: `sim` (the simulation model, batch planning and the simulation as an ingest source),
//!   `stats` (descriptive statistics), `summary` (mergeable summaries and sketches), `window`
//!   (time windows and their buckets), `ranking` (order, ties, table/JSON/CSV), `history`
//!   (time series from summaries), `table` (terminal tables).
//! - I/O: `ingest` (the run lifecycle and the producer → exactly-once writer pipeline every
//!   source goes through), `db` (pool, migrations, catalogue, runs, COPY encoding, summaries,
//!   partition upkeep, the data-version listener), `server` (HTTP), `cache` (memory + Redis),
//!   `query` (answers read from the database for the CLI and `serve`),
//!   `client` (`rank --server`), `telemetry` (logs and metric names), `signal` (shutdown).

pub mod cache;
pub mod cli;
pub mod client;
pub mod cmd;
pub mod config;
pub mod db;
pub mod domain;
pub mod hash;
pub mod history;
pub mod import;
pub mod ingest;
pub mod plot;
pub mod query;
pub mod ranking;
pub mod server;
pub mod signal;
pub mod sim;
pub mod stats;
pub mod summary;
pub mod table;
pub mod telemetry;
pub mod window;
