//! `llmrank serve`: the ranking API (see `server`), until SIGTERM or Ctrl-C.

use std::sync::Arc;

use anyhow::Result;

use crate::config::Settings;
use crate::server::{self, App, Limits};

pub async fn run(settings: &Settings) -> Result<()> {
    let metrics = crate::telemetry::recorder()?;
    let app = App::new(settings, metrics).await?;
    if app.keys.well_known_in_use() {
        tracing::warn!(
            "!!! a publicly documented API key is configured: anyone can read this service. \
             Set your own with LLMRANK_SERVER__API_KEYS before exposing it !!!"
        );
    }
    let listener = server::bind(&settings.server.listen).await?;
    let upkeep = tokio::spawn(crate::db::maintain::upkeep_forever(
        crate::db::pg_config(&settings.database, "llmrank-upkeep")?,
        settings.retention.raw_days,
    ));
    tracing::info!(listen = %listener.local_addr()?, "serving");
    let result = server::serve(
        listener,
        Arc::new(app),
        Limits::from(settings),
        crate::signal::shutdown(),
    )
    .await;
    upkeep.abort();
    result
}
