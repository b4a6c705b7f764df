//! `llmrank serve`: the ranking API (see `server`), until SIGTERM or Ctrl-C.

use std::sync::Arc;

use anyhow::Result;

use crate::config::Settings;
use crate::server::{self, App, Limits};

/// Called before the runtime starts its threads. glibc gives each thread that allocates a
/// heap of its own (an "arena", up to eight a core) and keeps what is freed in one for that
/// one: after large posts parsed on different blocking threads, serve's RSS held the sum of
/// their peaks (325 MiB in the post flood of `tests/it/reliability.rs` at 32 MiB a post; 206
/// MiB with two arenas). Two bound it; serve allocates little per request, so the contention
/// does not show.
pub fn few_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before other threads
    // exist, and an unknown value is ignored (returns 0).
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

pub async fn run(settings: &Settings) -> Result<()> {
    let metrics = crate::telemetry::recorder()?;
    let app = App::new(settings, metrics).await?;
    if app.keys.current().well_known_in_use() {
        tracing::warn!(
            "!!! a publicly documented API key is configured: anyone can read this service. \
             Set your own with LLMRANK_SERVER__API_KEYS before exposing it !!!"
        );
    }
    let listener = server::bind(&settings.server.listen).await?;
    let keys = tokio::spawn(app.keys.clone().watch(std::time::Duration::from_secs(2)));
    let write_keys = tokio::spawn(
        app.write_keys
            .clone()
            .watch(std::time::Duration::from_secs(2)),
    );
    let upkeep = tokio::spawn(crate::db::maintain::upkeep_forever(
        crate::db::pg_config(&settings.database, "llmrank-upkeep")?,
        settings.retention.raw_days,
    ));
    tracing::info!(listen = %listener.local_addr()?, "serving");
    let app = Arc::new(app);
    let gauges = tokio::spawn(server::alerts::keep_regression_gauges(
        app.clone(),
        usize::try_from(settings.server.regression_series_max).unwrap_or(usize::MAX),
    ));
    let limits = Limits::from(settings);
    // One signal stops every listener.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::signal::shutdown().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let result = if settings.server.admin_listen.is_empty() {
        server::serve(listener, app, limits, stopped(stop_rx)).await
    } else {
        // Probes and metrics on their own listener (and no longer on the API's).
        let admin = server::bind(&settings.server.admin_listen).await?;
        tracing::info!(listen = %admin.local_addr()?, "serving /healthz, /readyz and /metrics");
        let admin = tokio::spawn(server::serve_surface(
            admin,
            app.clone(),
            limits.clone(),
            stopped(stop_rx.clone()),
            server::Surface::Admin,
        ));
        let api = server::serve_surface(
            listener,
            app,
            limits,
            stopped(stop_rx),
            server::Surface::Api,
        )
        .await;
        let admin = admin
            .await
            .map_err(|e| anyhow::anyhow!("the admin listener failed: {e}"))?;
        api.and(admin)
    };
    upkeep.abort();
    gauges.abort();
    keys.abort();
    write_keys.abort();
    result
}
