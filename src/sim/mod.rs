//! Simulated performance data: the model (what a request looks like) and the plan (which
//! batches a run writes). Both pure; `cmd::simulate` does the I/O.

pub mod model;
pub mod plan;
pub mod source;
