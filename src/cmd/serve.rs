//! `llmrank serve`: the ranking API (see `server`), until SIGTERM or Ctrl-C.

use std::sync::Arc;

use anyhow::Result;

use crate::config::Settings;
use crate::server::{self, App, Limits};

pub async fn run(settings: &Settings) -> Result<()> {
    let metrics = crate::telemetry::recorder()?;
    let app = App::new(settings, metrics).await?;
    let listen: std::net::SocketAddr = settings.server.listen.parse().map_err(|_| {
        anyhow::anyhow!(
            "server.listen {:?} is not an address like 127.0.0.1:8080",
            settings.server.listen
        )
    })?;
    if app.keys.current().well_known_in_use() {
        if !listen.ip().is_loopback() && !settings.server.allow_published_key {
            anyhow::bail!(
                "a publicly documented API key is configured and server.listen {listen} is not a loopback address: set your own keys (server.api_keys, at least 16 characters), or server.allow_published_key = true"
            );
        }
        tracing::warn!(
            "!!! a publicly documented API key is configured: anyone can read this service. \
             Set your own with LLMRANK_SERVER__API_KEYS before exposing it !!!"
        );
    }
    let listener = server::bind(&settings.server.listen).await?;
    let keys = tokio::spawn(app.keys.clone().watch(std::time::Duration::from_secs(2)));
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
    keys.abort();
    result
}
