//! One module per subcommand; each wires the modules that do the work.

pub mod bench;
pub mod capacity;
pub mod health;
pub mod history;
pub mod import;
pub mod plot;
pub mod rank;
pub mod runs;
pub mod seed;
pub mod serve;
pub mod simulate;
pub mod summarize;
pub mod sweep;
