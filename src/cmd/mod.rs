//! One module per subcommand; each wires the modules that do the work.

pub mod bench;
pub mod capacity;
pub mod compare;
pub mod health;
pub mod history;
pub mod import;
pub mod plot;
pub mod rank;
pub mod regressions;
pub mod runs;
pub mod seed;
pub mod serve;
pub mod simulate;
pub mod summarize;
pub mod sweep;

use anyhow::{anyhow, Result};
use tokio_postgres::Client;

use crate::config::Settings;
use crate::db::{self, catalogue::Catalogue};
use crate::domain::MetricInfo;
use crate::window::{self, Bounds};

/// A connection as `application_name` and the catalogue it reads: how the reading subcommands
/// (rank, history, capacity, sweep, import) start.
pub async fn open(settings: &Settings, application_name: &str) -> Result<(Client, Catalogue)> {
    let pg = db::pg_config(&settings.database, application_name)?;
    let client = db::connect(&pg).await?;
    let cat = db::catalogue::load(&client).await?;
    Ok((client, cat))
}

/// The asked window as bounds, at the hour's grain, as of now.
pub fn bounds(window: &window::Request) -> Result<Bounds> {
    window
        .resolve(window::now(), crate::summary::HOUR)
        .map_err(|e| anyhow!("{e}"))
}

/// The metrics named, each with its id, or the error of the first unknown one.
pub fn metrics(cat: &Catalogue, names: &[String]) -> Result<Vec<(i16, MetricInfo)>> {
    names
        .iter()
        .map(|m| metric(cat, m).map(|(id, info)| (id, info.clone())))
        .collect()
}

/// The metric named, or one line naming it and the valid ones (with the likely intended one).
pub fn metric<'c>(cat: &'c Catalogue, name: &str) -> Result<(i16, &'c MetricInfo)> {
    cat.metric(name).ok_or_else(|| {
        let valid = cat.metric_names();
        let hint = crate::domain::did_you_mean(name, &valid)
            .map(|v| format!(" (did you mean {v}?)"))
            .unwrap_or_default();
        anyhow!(
            "unknown metric {name:?}{hint}; valid metrics: {}",
            valid.join(", ")
        )
    })
}
