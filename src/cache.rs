//! The ranking cache: serialized answers in process, Redis as the level shared by replicas.
//!
//! Keys carry the data version, which changes whenever samples commit (see `db::notify`), so a
//! new run is visible on the next request without any TTL guessing; old versions simply stop
//! being asked for (Redis keys expire after an hour, the memory map keeps one entry per key).
//! A Redis round trip per request would cap throughput far below a bare server on 2 cores, so
//! Redis is only consulted on a memory miss.
//!
//! Concurrent misses of one key compute once (single flight: a per-key async mutex, re-checked
//! after it is taken). Redis trouble never fails a request: errors are counted, logged at most
//! every 10 s, and Redis is skipped for a second before it is tried again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex, RwLock};
use std::time::{Duration, Instant};

use bb8_redis::{bb8, RedisConnectionManager};
use bytes::Bytes;

use crate::config::RedisSettings;
use crate::stats::Statistic;
use crate::telemetry;

/// Which level answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Memory,
    Redis,
    Miss,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Memory => "memory",
            Layer::Redis => "redis",
            Layer::Miss => "miss",
        }
    }
}

/// Seconds a Redis entry lives: versioned keys are never stale, only unused.
const REDIS_TTL_SECS: u64 = 3_600;
/// How long Redis is skipped after an error.
const REDIS_PAUSE: Duration = Duration::from_secs(1);
/// At most one Redis error log line per this interval.
const LOG_EVERY: Duration = Duration::from_secs(10);

type Pool = bb8::Pool<RedisConnectionManager>;

/// What a ranking answer depends on besides the data version: metric id and statistic.
pub type Key = (i16, Statistic);

pub struct Cache {
    memory: RwLock<HashMap<Key, (String, Bytes)>>,
    flights: StdMutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
    redis: Option<Pool>,
    timeout: Duration,
    paused_until: StdMutex<Option<Instant>>,
    last_log: StdMutex<Option<Instant>>,
}

impl Cache {
    /// A cache with Redis behind it; Redis need not be up (it is used when it is).
    pub fn new(s: &RedisSettings) -> anyhow::Result<Cache> {
        let manager = RedisConnectionManager::new(s.url.expose())
            .map_err(|e| anyhow::anyhow!("redis.url is not a valid Redis URL: {e}"))?;
        let timeout = Duration::from_millis(s.timeout_ms.max(1));
        let pool = bb8::Pool::builder()
            .max_size(s.pool_size.max(1))
            .connection_timeout(timeout)
            .build_unchecked(manager);
        Ok(Cache {
            memory: RwLock::new(HashMap::new()),
            flights: StdMutex::new(HashMap::new()),
            redis: Some(pool),
            timeout,
            paused_until: StdMutex::new(None),
            last_log: StdMutex::new(None),
        })
    }

    /// The answer for `key` at `version`, from memory, Redis, or `compute` (once per key at a
    /// time). `compute` errors are returned and nothing is cached.
    pub async fn get_or_compute<F, Fut, E>(
        &self,
        key: Key,
        version: &str,
        compute: F,
    ) -> Result<(Bytes, Layer), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        if let Some(body) = self.memory_get(key, version) {
            metrics::counter!(telemetry::CACHE_REQUESTS, "layer" => "memory", "result" => "hit")
                .increment(1);
            return Ok((body, Layer::Memory));
        }
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            flights.entry(key).or_default().clone()
        };
        let _guard = flight.lock().await;
        // Another request may have filled it while we waited.
        if let Some(body) = self.memory_get(key, version) {
            metrics::counter!(telemetry::CACHE_REQUESTS, "layer" => "memory", "result" => "hit")
                .increment(1);
            return Ok((body, Layer::Memory));
        }
        metrics::counter!(telemetry::CACHE_REQUESTS, "layer" => "memory", "result" => "miss")
            .increment(1);
        let redis_key = format!("llmrank:v1:{version}:{}:{}", key.0, key.1.as_str());
        if let Some(body) = self.redis_get(&redis_key).await {
            metrics::counter!(telemetry::CACHE_REQUESTS, "layer" => "redis", "result" => "hit")
                .increment(1);
            self.memory_put(key, version, body.clone());
            return Ok((body, Layer::Redis));
        }
        let body = compute().await?;
        self.memory_put(key, version, body.clone());
        self.redis_put(redis_key, body.clone()).await;
        Ok((body, Layer::Miss))
    }

    fn memory_get(&self, key: Key, version: &str) -> Option<Bytes> {
        let map = self.memory.read().unwrap_or_else(|p| p.into_inner());
        map.get(&key)
            .filter(|(v, _)| v == version)
            .map(|(_, b)| b.clone())
    }

    fn memory_put(&self, key: Key, version: &str, body: Bytes) {
        let mut map = self.memory.write().unwrap_or_else(|p| p.into_inner());
        map.insert(key, (version.to_string(), body));
    }

    fn redis_available(&self) -> Option<&Pool> {
        let paused = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        match *paused {
            Some(until) if Instant::now() < until => None,
            _ => self.redis.as_ref(),
        }
    }

    async fn redis_get(&self, key: &str) -> Option<Bytes> {
        let pool = self.redis_available()?;
        let result = tokio::time::timeout(self.timeout, async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<Vec<u8>>>(&mut *conn)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
        match result {
            Ok(Some(v)) => Some(Bytes::from(v)),
            Ok(None) => {
                metrics::counter!(telemetry::CACHE_REQUESTS, "layer" => "redis", "result" => "miss")
                    .increment(1);
                None
            }
            Err(e) => {
                self.redis_failed("GET", &e);
                None
            }
        }
    }

    async fn redis_put(&self, key: String, body: Bytes) {
        let Some(pool) = self.redis_available() else {
            return;
        };
        let result = tokio::time::timeout(self.timeout, async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            redis::cmd("SET")
                .arg(&key)
                .arg(body.as_ref())
                .arg("EX")
                .arg(REDIS_TTL_SECS)
                .query_async::<()>(&mut *conn)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
        if let Err(e) = result {
            self.redis_failed("SET", &e);
        }
    }

    fn redis_failed(&self, op: &str, error: &str) {
        metrics::counter!(telemetry::CACHE_ERRORS).increment(1);
        *self.paused_until.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() + REDIS_PAUSE);
        let mut last = self.last_log.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                op,
                error,
                "redis cache unavailable; answering from PostgreSQL"
            );
        }
    }
}
