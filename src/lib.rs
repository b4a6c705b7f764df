//! llmrank: store, rank and show LLM serving performance.
//!
//! Layout (pure logic apart from I/O):
//! - `cli` parses flags and hands each subcommand a plain request; `cmd::*`, one module per
//!   subcommand, is glue. Nothing below `cli` imports it.
//! - `config` loads the layered settings every subcommand shares.
//! - Pure: `domain` (the shared words), `hash`, `sim` (the simulation model and batch planning),
//!   `import` (one parser per tool), `stats` (descriptive statistics), `summary` (mergeable
//!   summaries and sketches), `joint` (joint request summaries for SLOs), `slo`, `goodput`
//!   and `sweep` (SLO rankings, capacity, curves), `regress` (verdicts on change: a pair, a
//!   series), `window` (time windows and their buckets),
//!   `ranking` (order, ties, table/JSON/CSV), `history` (time series from summaries), `plot` (charts),
//!   `table` (terminal tables, fitted to a width).
//! - I/O: `ingest` (the run lifecycle, the producer → exactly-once batch writer pipeline,
//!   the simulation as its source, records of imports and `POST /samples`), `db` (pool,
//!   migrations, catalogue, runs, COPY, summaries, partition upkeep, NOTIFY/LISTEN, error
//!   classification and the retry policy; imports nothing above it), `server` (HTTP),
//!   `cache` (memory + Redis),
//!   `query` (answers read from the database for the CLI and `serve`),
//!   `client` (`rank --server`), `telemetry` (logs and metric names), `signal` (shutdown),
//!   `terminal` (the width tables fit: the tty's or COLUMNS).

pub mod cache;
pub mod cli;
pub mod client;
pub mod cmd;
pub mod compare;
pub mod config;
pub mod db;
pub mod domain;
pub mod goodput;
pub mod hash;
pub mod history;
pub mod import;
pub mod ingest;
pub mod joint;
pub mod plot;
pub mod query;
pub mod ranking;
pub mod regress;
pub mod regressions;
pub mod server;
pub mod signal;
pub mod sim;
pub mod slo;
pub mod stats;
pub mod summary;
pub mod sweep;
pub mod table;
pub mod telemetry;
pub mod terminal;
pub mod window;
