//! The data version and catalogue, kept current without a query per request.
//!
//! Writers `NOTIFY llmrank_data` in each batch transaction (delivered on commit) and `seed`
//! after changing the catalogue. A dedicated connection `LISTEN`s; on a notification (and
//! after every reconnect, and every `POLL` as a fallback) it re-reads the version — the ledger's
//! batch count and newest commit time (every batch commits its summaries with it), the last of
//! the `data_changes` that no batch records (summaries rebuilt, retention, a run's completion)
//! — and the catalogue,
//! and publishes them on a watch
//! channel. The version changes whenever samples commit, so caches keyed by it are never stale
//! for longer than a notification takes to arrive (milliseconds).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, Client, GenericClient, Transaction};

use super::Pg;

use super::catalogue::{self, Catalogue};

/// The channel `serve` listens on to learn that data changed.
pub const CHANNEL: &str = "llmrank_data";

/// Tells listeners that data changed, delivered when this transaction commits (`what`: the
/// run id of a batch, or what changed: `import`, `seed`, `delete`, ...).
pub async fn announce(tx: &impl GenericClient, what: &str) -> Result<(), tokio_postgres::Error> {
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &what])
        .await
        .map(|_| ())
}

/// Records a change that no batch's ledger row shows (a rebuild, a delete, retention) so the
/// data version moves, and announces it.
pub async fn record_change(tx: &impl GenericClient, what: &str) -> Result<()> {
    tx.execute("INSERT INTO data_changes (what) VALUES ($1)", &[&what])
        .await
        .context("failed to record the change")?;
    announce(tx, what)
        .await
        .context("failed to notify services")
}

/// Announces `what` and commits: running services re-read the data as soon as it is visible.
/// The caller adds what failed to commit.
pub async fn commit_announced(tx: Transaction<'_>, what: &str) -> Result<()> {
    announce(&tx, what)
        .await
        .context("failed to notify services")?;
    tx.commit().await?;
    Ok(())
}

/// Fallback re-read interval, in case a notification was missed.
const POLL: Duration = Duration::from_secs(30);

/// What the service knows about the data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataState {
    /// Changes whenever samples commit or the catalogue changes.
    pub version: String,
    pub catalogue: Arc<Catalogue>,
}

/// Reads the current version and catalogue.
pub async fn read_state(client: &Client) -> Result<DataState> {
    let row = client
        .query_one(
            "SELECT count(*)::bigint,
                    coalesce((extract(epoch FROM max(committed_at)) * 1000000)::bigint, 0),
                    (SELECT coalesce(max(id), 0) FROM data_changes)
             FROM batches",
            &[],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read the data version"))?;
    let (batches, newest, changes): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let catalogue = catalogue::load(client).await?;
    // Answers depend on the catalogue's contents too (a metric's direction orders a ranking),
    // so its fingerprint is part of the version, not just its size.
    let mut fingerprint = String::new();
    for (id, name) in &catalogue.llms {
        fingerprint.push_str(&format!("l{id}:{name}\n"));
    }
    for (id, m) in &catalogue.metrics {
        fingerprint.push_str(&format!(
            "m{id}:{}:{}:{}\n",
            m.name,
            m.unit,
            m.direction.as_str()
        ));
    }
    let version = format!(
        "{batches}-{newest:x}-{changes}-{:x}",
        crate::hash::fnv1a(fingerprint.as_bytes())
    );
    Ok(DataState {
        version,
        catalogue: Arc::new(catalogue),
    })
}

/// Reads the state once (failing fast), then keeps it current in the background.
pub async fn watch(config: Pg) -> Result<watch::Receiver<Arc<DataState>>> {
    let client = super::connect(&config).await?;
    let first = read_state(&client).await?;
    drop(client);
    let (tx, rx) = watch::channel(Arc::new(first));
    tokio::spawn(listen_forever(config, tx));
    Ok(rx)
}

async fn listen_forever(config: Pg, tx: watch::Sender<Arc<DataState>>) {
    let mut failures = 0u32;
    loop {
        if tx.is_closed() {
            return;
        }
        match listen_once(&config, &tx).await {
            Ok(()) => failures = 0,
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(30) {
                    tracing::warn!(error = %format!("{e:#}"), "lost the data-version listener; reconnecting");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(
            (100u64 << failures.min(5)).min(3_000),
        ))
        .await;
    }
}

/// One connection's life: LISTEN, refresh on every notification, return when it dies.
async fn listen_once(config: &Pg, tx: &watch::Sender<Arc<DataState>>) -> Result<()> {
    let (client, mut connection) = config
        .connect_raw()
        .await
        .context("failed to connect for LISTEN")?;
    let (ntx, mut nrx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(msg)) = messages.next().await {
            if let AsyncMessage::Notification(_) = msg {
                if ntx.send(()).is_err() {
                    break;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .context("failed to LISTEN")?;
    publish(tx, read_state(&client).await?);
    loop {
        tokio::select! {
            n = nrx.recv() => {
                if n.is_none() {
                    anyhow::bail!("the LISTEN connection closed");
                }
                // One refresh covers every notification already queued.
                while nrx.try_recv().is_ok() {}
            }
            () = tokio::time::sleep(POLL) => {}
            () = tx.closed() => return Ok(()),
        }
        publish(tx, read_state(&client).await?);
    }
}

fn publish(tx: &watch::Sender<Arc<DataState>>, state: DataState) {
    tx.send_if_modified(|cur| {
        if **cur == state {
            false
        } else {
            *cur = Arc::new(state);
            true
        }
    });
}
