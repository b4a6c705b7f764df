//! Simulated performance data: the model (what a request looks like) and the plan (which
//! batches a run writes). Both pure; `ingest::simulated` turns them into batches and
//! `cmd::simulate` runs them.

pub mod drift;
pub mod model;
pub mod plan;
