//! PostgreSQL: connection settings, the pool, clear connection errors, and the modules that
//! own each part of the schema (migrations, catalogue, runs, samples, the COPY writer).

pub mod catalogue;
pub mod copy;
pub mod error;
pub mod joint;
pub mod maintain;
pub mod migrate;
pub mod notify;
pub mod reported;
pub mod retry;
pub mod run_summaries;
pub mod runs;
pub mod samples;
pub mod summaries;
pub mod tls;
pub mod workloads;

use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Connection settings and the TLS connector they need (see [`tls`]).
#[derive(Clone)]
pub struct Pg {
    config: Config,
    tls: MakeRustlsConnect,
}

impl Pg {
    /// Settings for a plain connection (`sslmode=disable`).
    pub fn plain(mut config: Config) -> Pg {
        config.ssl_mode(tls::Mode::Disable.ssl_mode());
        let tls =
            tls::client_config(tls::Mode::Disable, "").expect("an empty root store always builds");
        Pg {
            config,
            tls: MakeRustlsConnect::new(tls),
        }
    }

    /// Opens a connection; the caller drives the returned connection future.
    pub async fn connect_raw(
        &self,
    ) -> Result<
        (
            Client,
            tokio_postgres::Connection<
                tokio_postgres::Socket,
                <MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<
                    tokio_postgres::Socket,
                >>::Stream,
            >,
        ),
        tokio_postgres::Error,
    > {
        self.config.connect(self.tls.clone()).await
    }
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password: host, port and database only.
        write!(f, "Pg({})", describe(&self.config))
    }
}

impl std::ops::Deref for Pg {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.config
    }
}

impl std::ops::DerefMut for Pg {
    fn deref_mut(&mut self) -> &mut Config {
        &mut self.config
    }
}

use crate::config::DatabaseSettings;

/// The connection settings: the URL when given, else the parts.
pub fn pg_config(s: &DatabaseSettings, application_name: &str) -> Result<Pg> {
    let mut c = if s.url.is_empty() {
        let mut c = Config::new();
        c.host(&s.host).port(s.port).user(&s.user).dbname(&s.name);
        if !s.password.is_empty() {
            c.password(s.password.expose());
        }
        c
    } else {
        Config::from_str(s.url.expose())
            .map_err(|_| anyhow!("database.url is not a valid postgres:// URL"))?
    };
    if c.get_user().is_none() {
        c.user("postgres");
    }
    c.connect_timeout(Duration::from_millis(s.connect_timeout_ms));
    c.application_name(application_name);
    if s.statement_timeout_ms > 0 {
        c.options(format!(
            "-c statement_timeout={} -c client_min_messages=warning",
            s.statement_timeout_ms
        ));
    }
    // The setting, else the URL's sslmode=require, else none.
    let mode = match tls::Mode::parse(&s.sslmode)? {
        tls::Mode::Disable if c.get_ssl_mode() == tokio_postgres::config::SslMode::Require => {
            tls::Mode::Require
        }
        m => m,
    };
    c.ssl_mode(mode.ssl_mode());
    let tls = tls::client_config(mode, &s.ssl_root_cert)?;
    Ok(Pg {
        config: c,
        tls: MakeRustlsConnect::new(tls),
    })
}

/// `host:port (database name)` for messages: never the password.
pub fn describe(c: &Config) -> String {
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let db = c.get_dbname().or(c.get_user()).unwrap_or("?");
    format!("{host}:{port} (database {db})")
}

/// Turns a connection failure into one line naming the server, without the driver's stack.
pub fn connect_error(c: &Config, e: &tokio_postgres::Error) -> anyhow::Error {
    let reason = if let Some(db) = e.as_db_error() {
        db.message().to_string()
    } else {
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let text = cause.to_string();
        if text.contains("refused") {
            "connection refused".into()
        } else if text.contains("timed out") || e.to_string().contains("timeout") {
            "timed out".into()
        } else {
            text
        }
    };
    anyhow!(
        "cannot connect to PostgreSQL at {}: {reason} (is it running? `scripts/services.sh` starts one locally)",
        describe(c)
    )
}

/// Opens one connection and drives it on the runtime.
pub async fn connect(c: &Pg) -> Result<Client> {
    let (client, connection) = c.connect_raw().await.map_err(|e| connect_error(c, &e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres connection closed");
        }
    });
    Ok(client)
}

/// Connects, creating the database first when it does not exist yet (for `seed`).
pub async fn connect_or_create(c: &Pg) -> Result<Client> {
    match c.connect_raw().await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            Ok(client)
        }
        Err(e) if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) => {
            let name = c.get_dbname().unwrap_or("llmrank").to_string();
            let mut admin = c.clone();
            admin.dbname("postgres");
            let client = connect(&admin).await?;
            client
                .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
                .await
                .or_else(|e| {
                    // Another process created it first.
                    if e.code() == Some(&SqlState::DUPLICATE_DATABASE) {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .with_context(|| format!("failed to create database {name}"))?;
            tracing::info!(database = %name, "created database");
            connect(c).await
        }
        Err(e) => Err(connect_error(c, &e)),
    }
}

/// A pool of connections; one is taken at once so a bad address fails here, clearly.
pub async fn pool(s: &DatabaseSettings, application_name: &str) -> Result<Pool> {
    let c = pg_config(s, application_name)?;
    let mgr = Manager::from_config(
        c.config.clone(),
        c.tls.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let wait = Duration::from_millis(s.pool_wait_timeout_ms);
    let pool = Pool::builder(mgr)
        .max_size(s.pool_size as usize)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(wait))
        .create_timeout(Some(Duration::from_millis(s.connect_timeout_ms)))
        .recycle_timeout(Some(wait))
        .build()
        .context("failed to build the database pool")?;
    match pool.get().await {
        Ok(_) => Ok(pool),
        Err(deadpool_postgres::PoolError::Backend(e)) => Err(connect_error(&c, &e)),
        Err(deadpool_postgres::PoolError::Timeout(_)) => Err(anyhow!(
            "cannot connect to PostgreSQL at {}: timed out (is it running? `scripts/services.sh` starts one locally)",
            describe(&c)
        )),
        Err(e) => Err(anyhow!("cannot connect to PostgreSQL at {}: {e}", describe(&c))),
    }
}

/// Quotes an identifier for SQL (database names in CREATE/DROP DATABASE).
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// True when `e` says the schema is missing: the user has not run `llmrank seed`.
pub fn is_missing_schema(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNDEFINED_TABLE)
}

/// Adds "run `llmrank seed`" to errors caused by a missing schema.
/// Runs `insert` (an INSERT … ON CONFLICT DO NOTHING RETURNING id, falling back to a SELECT
/// in the same statement); when a concurrent transaction inserted the row first, that
/// statement's snapshot cannot see it, so `select` (same parameters) runs again after it
/// committed.
pub async fn insert_or_get<T>(
    client: &impl tokio_postgres::GenericClient,
    insert: &str,
    select: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<T>
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    if let Some(row) = client
        .query_opt(insert, params)
        .await
        .map_err(|e| schema_hint(e, "failed to write"))?
    {
        return Ok(row.get(0));
    }
    let row = client.query_one(select, params).await?;
    Ok(row.get(0))
}

pub fn schema_hint(e: tokio_postgres::Error, what: &str) -> anyhow::Error {
    if is_missing_schema(&e) {
        anyhow!("{what}: the database has no llmrank schema yet; run `llmrank seed` first")
    } else {
        anyhow::Error::new(e).context(what.to_string())
    }
}
