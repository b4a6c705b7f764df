//! Integration tests: one crate, real PostgreSQL (and Redis), a database per test.

mod browser;
mod cli;
mod data;
mod deploy;
mod faults;
mod goodput;
mod helpers;
mod import;
mod plot;
mod rank;
mod reliability;
mod roles;
mod scale;
mod serve;
mod tls;
mod verdicts;
