//! `llmrank seed`: create the database if needed, apply migrations, seed the catalogue.

use anyhow::{Context, Result};

use crate::config::Settings;
use crate::db::{self, catalogue, migrate};

/// What `seed` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub migrations: Vec<&'static str>,
    /// Summaries rebuilt from samples written before summaries existed (an upgrade).
    pub rebuilt: Option<crate::ingest::summarize::Report>,
    pub upkeep: crate::db::maintain::Upkeep,
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
        let mut s = format!(
            "{migrations}; catalogue: {} LLMs ({} new), {} metrics ({} new, {} updated); {}",
            self.llms,
            self.catalogue.llms_added,
            self.metrics,
            self.catalogue.metrics_added,
            self.catalogue.metrics_updated,
            self.upkeep.summary()
        );
        if let Some(r) = &self.rebuilt {
            s.push_str(&format!("\n{}", r.summary()));
        }
        s
    }
}

pub async fn run(settings: &Settings) -> Result<Report> {
    let pg = db::pg_config(&settings.database, "llmrank-seed")?;
    let mut client = db::connect_or_create(&pg).await?;
    let migrations = migrate::apply(&mut client).await?;
    // Upgrading a database whose samples predate summaries: build them now.
    let rebuilt = if migrations.contains(&migrate::SUMMARIES) && has_samples(&client).await? {
        tracing::info!("building summaries from the existing samples");
        Some(crate::ingest::summarize::rebuild(&mut client).await?)
    } else {
        None
    };
    let upkeep = crate::db::maintain::upkeep(&mut client, settings.retention.raw_days).await?;
    let tx = client
        .transaction()
        .await
        .context("failed to start the seed transaction")?;
    let report = catalogue::seed(&tx, &settings.llms, &settings.metrics).await?;
    // Running services reload the catalogue.
    crate::db::notify::commit_announced(tx, "seed")
        .await
        .context("failed to commit the catalogue")?;
    Ok(Report {
        migrations,
        rebuilt,
        upkeep,
        catalogue: report,
        llms: settings.llms.len(),
        metrics: settings.metrics.len(),
    })
}

async fn has_samples(client: &tokio_postgres::Client) -> Result<bool> {
    let row = client
        .query_one("SELECT EXISTS (SELECT 1 FROM llm_metrics)", &[])
        .await
        .context("failed to look for samples")?;
    Ok(row.get(0))
}
