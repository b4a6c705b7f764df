//! `llmrank seed`: create the database if needed, apply migrations, seed the catalogue.

use anyhow::{Context, Result};

use crate::config::Settings;
use crate::db::{self, catalogue, migrate};

/// What `seed` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub migrations: Vec<&'static str>,
    pub catalogue: catalogue::SeedReport,
    pub llms: usize,
    pub metrics: usize,
}

impl Report {
    pub fn summary(&self) -> String {
        let migrations = if self.migrations.is_empty() {
            "schema up to date".to_string()
        } else {
            format!("applied migrations {}", self.migrations.join(", "))
        };
        format!(
            "{migrations}; catalogue: {} LLMs ({} new), {} metrics ({} new, {} updated)",
            self.llms,
            self.catalogue.llms_added,
            self.metrics,
            self.catalogue.metrics_added,
            self.catalogue.metrics_updated
        )
    }
}

pub async fn run(settings: &Settings) -> Result<Report> {
    let pg = db::pg_config(&settings.database, "llmrank-seed")?;
    let mut client = db::connect_or_create(&pg).await?;
    let migrations = migrate::apply(&mut client).await?;
    let tx = client
        .transaction()
        .await
        .context("failed to start the seed transaction")?;
    let report = catalogue::seed(&tx, &settings.llms, &settings.metrics).await?;
    // Running services reload the catalogue.
    tx.execute(
        "SELECT pg_notify($1, 'seed')",
        &[&db::writer::NOTIFY_CHANNEL],
    )
    .await
    .context("failed to notify services")?;
    tx.commit()
        .await
        .context("failed to commit the catalogue")?;
    Ok(Report {
        migrations,
        catalogue: report,
        llms: settings.llms.len(),
        metrics: settings.metrics.len(),
    })
}
