//! Integration tests: one crate, real PostgreSQL (and Redis), a database per test.

mod cli;
mod data;
mod faults;
mod helpers;
mod rank;
mod serve;
