//! `llmrank health`: exit 0 when the local service answers `/healthz` (the image's
//! HEALTHCHECK).

use std::time::Duration;

use anyhow::Result;

use crate::config::{ServerSettings, Settings};

/// Probes `url`, else `/healthz` of the local service (see [`local_url`]).
pub async fn run(settings: &Settings, url: Option<&str>) -> Result<()> {
    let url = url.map_or_else(|| local_url(&settings.server), str::to_string);
    crate::client::health(&url, Duration::from_secs(3)).await
}

/// `/healthz` at 127.0.0.1 on the port of the admin listener when there is one (it lives
/// there then), else of the main one; 8080 when the address cannot be read.
pub fn local_url(server: &ServerSettings) -> String {
    let listen = if server.admin_listen.is_empty() {
        &server.listen
    } else {
        &server.admin_listen
    };
    let port = listen
        .parse::<std::net::SocketAddr>()
        .map_or(8080, |a| a.port());
    format!("http://127.0.0.1:{port}/healthz")
}
