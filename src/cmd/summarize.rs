//! `llmrank summarize`: rebuild the summaries from the raw samples (see `ingest::summarize`).

use anyhow::Result;

use crate::config::Settings;
use crate::db;
use crate::ingest::summarize::{self, Report};

pub async fn run(settings: &Settings) -> Result<Report> {
    let pg = db::pg_config(&settings.database, "llmrank-summarize")?;
    let mut client = db::connect(&pg).await?;
    summarize::rebuild(&mut client).await
}
