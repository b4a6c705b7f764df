//! The ranking cache: serialized answers in process, Redis as the level shared by replicas.
//!
//! Keys carry the data version, which changes whenever samples commit (see `db::notify`), so a
//! new run is visible on the next request without any TTL guessing; old versions simply stop
//! being asked for (Redis keys expire after an hour). Keys name everything an answer depends
//! on besides the version (route, metric, statistic, resolved window bounds), so clients sending
//! many distinct windows create many keys: the memory level is bounded by entries and bytes
//! (`cache.memory_entries`, `cache.memory_bytes`), evicting the oldest insertion first, so
//! `serve`'s memory stays flat whatever clients ask.
//! A Redis round trip per request would cap throughput far below a bare server on 2 cores, so
//! Redis is only consulted on a memory miss.
//!
//! Concurrent misses of one key compute once (single flight): the first leads, the others wait
//! for its outcome, success or failure (a failure is shared, not retried once per waiter, so a
//! slow or failing database answers every waiter at once instead of one timeout after another). Redis trouble never fails a request: errors are counted, logged at most
//! every 10 s, and Redis is skipped for a second before it is tried again.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex, RwLock};
use std::time::{Duration, Instant};

use bb8_redis::{bb8, RedisConnectionManager};
use bytes::Bytes;

use crate::config::{CacheSettings, RedisSettings};
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

/// What a flight ends with: the body, or the error (of the caller's type, shared as `Any`).
type Outcome = Option<Result<Bytes, Arc<dyn std::any::Any + Send + Sync>>>;

enum Role<'a> {
    Leader(Flight<'a>),
    Follower(tokio::sync::watch::Receiver<Outcome>),
}

/// A computation in flight, led by one request; leaves the map when it ends (or is dropped).
struct Flight<'a> {
    cache: &'a Cache,
    key: String,
    tx: tokio::sync::watch::Sender<Outcome>,
    rx: tokio::sync::watch::Receiver<Outcome>,
}

impl Flight<'_> {
    fn finish(self, outcome: Outcome) {
        let _ = self.tx.send(outcome);
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut flights = self.cache.flights.lock().unwrap_or_else(|p| p.into_inner());
        if flights
            .get(&self.key)
            .is_some_and(|rx| rx.same_channel(&self.rx))
        {
            flights.remove(&self.key);
        }
    }
}

/// The answers kept in memory, bounded by entries and bytes; oldest insertion evicted first.
#[derive(Debug)]
pub struct Bounded {
    map: HashMap<String, (String, Bytes)>,
    order: VecDeque<String>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl Bounded {
    pub fn new(max_entries: usize, max_bytes: usize) -> Bounded {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    pub fn get(&self, key: &str, version: &str) -> Option<Bytes> {
        self.map
            .get(key)
            .filter(|(v, _)| v == version)
            .map(|(_, b)| b.clone())
    }

    pub fn put(&mut self, key: &str, version: &str, body: Bytes) {
        let size = key.len() + body.len();
        if size > self.max_bytes {
            return; // never cache what would evict everything else
        }
        match self
            .map
            .insert(key.to_string(), (version.to_string(), body))
        {
            Some((_, old)) => self.bytes -= key.len() + old.len(),
            None => self.order.push_back(key.to_string()),
        }
        self.bytes += size;
        while self.map.len() > self.max_entries || self.bytes > self.max_bytes {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((_, b)) = self.map.remove(&oldest) {
                self.bytes -= oldest.len() + b.len();
            }
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Authenticates what the Redis level holds: an HMAC-SHA-256 over the Redis key and the body,
/// with a key Redis never sees, stored in front of the body. Anyone who can write to Redis
/// (the chart's Redis had no password) cannot make a replica serve their value.
struct Signer {
    key: [u8; 32],
}

/// Bytes of the tag in front of each value.
const TAG: usize = 32;

impl Signer {
    fn new(signing_key: &crate::config::Secret, api_keys: &[crate::config::Secret]) -> Signer {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        if signing_key.is_empty() {
            // Replicas configured with the same API keys derive the same key.
            let mut keys: Vec<&str> = api_keys.iter().map(|k| k.expose()).collect();
            keys.sort_unstable();
            h.update(b"llmrank cache signing key v1\n");
            for k in keys {
                h.update(k.as_bytes());
                h.update(b"\n");
            }
        } else {
            h.update(b"llmrank cache signing key v1 (configured)\n");
            h.update(signing_key.expose().as_bytes());
        }
        Signer {
            key: h.finalize().into(),
        }
    }

    fn mac(&self, redis_key: &str) -> hmac::Hmac<sha2::Sha256> {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(redis_key.as_bytes());
        mac.update(&[0]);
        mac
    }

    /// The tag, then the body.
    fn seal(&self, redis_key: &str, body: &[u8]) -> Vec<u8> {
        use hmac::Mac;
        let mut mac = self.mac(redis_key);
        mac.update(body);
        let mut out = mac.finalize().into_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    /// The body, when the tag in front of it is ours (checked in constant time).
    fn open<'a>(&self, redis_key: &str, value: &'a [u8]) -> Option<&'a [u8]> {
        use hmac::Mac;
        if value.len() < TAG {
            return None;
        }
        let (tag, body) = value.split_at(TAG);
        let mut mac = self.mac(redis_key);
        mac.update(body);
        mac.verify_slice(tag).ok().map(|()| body)
    }
}

pub struct Cache {
    /// Memory hits, the one counter of the cached path: its handle kept, not looked up per hit.
    memory_hits: metrics::Counter,
    signer: Signer,
    memory: RwLock<Bounded>,
    flights: StdMutex<HashMap<String, tokio::sync::watch::Receiver<Outcome>>>,
    redis: Option<Pool>,
    timeout: Duration,
    paused_until: StdMutex<Option<Instant>>,
    last_log: StdMutex<Option<Instant>>,
}

impl Cache {
    /// A cache with Redis behind it; Redis need not be up (it is used when it is).
    /// `api_keys` derive the signing key when `cache.signing_key` is unset.
    pub fn new(
        s: &RedisSettings,
        c: &CacheSettings,
        api_keys: &[crate::config::Secret],
    ) -> anyhow::Result<Cache> {
        let manager = RedisConnectionManager::new(s.url.expose())
            .map_err(|e| anyhow::anyhow!("redis.url is not a valid Redis URL: {e}"))?;
        let timeout = Duration::from_millis(s.timeout_ms.max(1));
        let pool = bb8::Pool::builder()
            .max_size(s.pool_size.max(1))
            .connection_timeout(timeout)
            .build_unchecked(manager);
        Ok(Cache {
            memory_hits: metrics::counter!(telemetry::CACHE_REQUESTS, "layer" => "memory", "result" => "hit"),
            memory: RwLock::new(Bounded::new(
                c.memory_entries.min(usize::MAX as u64) as usize,
                c.memory_bytes.min(usize::MAX as u64) as usize,
            )),
            flights: StdMutex::new(HashMap::new()),
            redis: Some(pool),
            signer: Signer::new(&c.signing_key, api_keys),
            timeout,
            paused_until: StdMutex::new(None),
            last_log: StdMutex::new(None),
        })
    }

    /// The answer for `key` at `version`, from memory, Redis, or `compute`: once per key at a
    /// time. Requests that arrive while a computation of their key is in flight wait for it and
    /// get its outcome, success or failure alike, so a failing database costs one timeout, not
    /// one per waiting request. `compute` errors are returned and nothing is cached.
    pub async fn get_or_compute<F, Fut, E>(
        &self,
        key: &str,
        version: &str,
        compute: F,
    ) -> Result<(Bytes, Layer), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
        E: Clone + Send + Sync + 'static,
    {
        if let Some(body) = self.memory_hit(key, version) {
            return Ok((body, Layer::Memory));
        }
        let mut compute = Some(compute);
        loop {
            match self.join_flight(key) {
                Role::Follower(mut rx) => {
                    let outcome = rx
                        .wait_for(Option::is_some)
                        .await
                        .ok()
                        .and_then(|o| o.clone());
                    match outcome {
                        Some(Ok(body)) => return Ok((body, Layer::Memory)),
                        Some(Err(e)) => {
                            if let Some(e) = e.downcast_ref::<E>() {
                                return Err(e.clone());
                            }
                        }
                        // The leader was cancelled (its client went away): lead instead.
                        None => {}
                    }
                }
                Role::Leader(flight) => {
                    let compute = compute
                        .take()
                        .expect("a request leads its key's flight at most once: leading returns");
                    let result = self.fill(key, version, compute).await;
                    let shared: Outcome = Some(match &result {
                        Ok((body, _)) => Ok(body.clone()),
                        Err(e) => Err(Arc::new(e.clone())),
                    });
                    flight.finish(shared);
                    return result;
                }
            }
        }
    }

    /// Leads the flight of `key`, or follows the one in progress.
    fn join_flight(&self, key: &str) -> Role<'_> {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = flights.get(key) {
            // A flight whose leader is gone without an outcome is replaced.
            if rx.has_changed().is_ok() {
                return Role::Follower(rx.clone());
            }
        }
        let (tx, rx) = tokio::sync::watch::channel(None);
        flights.insert(key.to_string(), rx.clone());
        Role::Leader(Flight {
            cache: self,
            key: key.to_string(),
            tx,
            rx,
        })
    }

    /// The miss path, under the key's flight.
    async fn fill<F, Fut, E>(
        &self,
        key: &str,
        version: &str,
        compute: F,
    ) -> Result<(Bytes, Layer), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        // Another request may have filled it while we waited.
        if let Some(body) = self.memory_hit(key, version) {
            return Ok((body, Layer::Memory));
        }
        metrics::counter!(telemetry::CACHE_REQUESTS, "layer" => "memory", "result" => "miss")
            .increment(1);
        // v4: rankings carry tie_group; answers cached by an older release are not reused.
        let redis_key = format!("llmrank:v4:{version}:{key}");
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

    /// The answer in memory, counted as a hit when there is one.
    pub fn memory_hit(&self, key: &str, version: &str) -> Option<Bytes> {
        let map = self.memory.read().unwrap_or_else(|p| p.into_inner());
        let body = map.get(key, version)?;
        self.memory_hits.increment(1);
        Some(body)
    }

    fn memory_put(&self, key: &str, version: &str, body: Bytes) {
        let mut map = self.memory.write().unwrap_or_else(|p| p.into_inner());
        map.put(key, version, body);
        metrics::gauge!(telemetry::CACHE_MEMORY_BYTES).set(map.bytes() as f64);
    }

    fn redis_available(&self) -> Option<&Pool> {
        let paused = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        match *paused {
            Some(until) if Instant::now() < until => None,
            _ => self.redis.as_ref(),
        }
    }

    /// Runs `cmd` on Redis within the timeout; `None` when Redis is paused or failed (then
    /// counted, logged at most every 10 s, and skipped for a second).
    async fn redis_query<T: redis::FromRedisValue>(&self, op: &str, cmd: &redis::Cmd) -> Option<T> {
        let pool = self.redis_available()?;
        let result = tokio::time::timeout(self.timeout, async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            cmd.query_async::<T>(&mut *conn)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.redis_failed(op, &e);
                None
            }
        }
    }

    async fn redis_get(&self, key: &str) -> Option<Bytes> {
        let value: Option<Vec<u8>> = self.redis_query("GET", redis::cmd("GET").arg(key)).await?;
        let Some(v) = value else {
            metrics::counter!(telemetry::CACHE_REQUESTS, "layer" => "redis", "result" => "miss")
                .increment(1);
            return None;
        };
        match self.signer.open(key, &v) {
            Some(body) => Some(Bytes::copy_from_slice(body)),
            None => {
                // Not written by a replica holding our key: drop it, never serve it.
                metrics::counter!(telemetry::CACHE_REJECTED).increment(1);
                let _: Option<()> = self.redis_query("DEL", redis::cmd("DEL").arg(key)).await;
                None
            }
        }
    }

    async fn redis_put(&self, key: String, body: Bytes) {
        if self.redis_available().is_none() {
            return;
        }
        let sealed = self.signer.seal(&key, &body);
        let _: Option<()> = self
            .redis_query(
                "SET",
                redis::cmd("SET")
                    .arg(&key)
                    .arg(sealed.as_slice())
                    .arg("EX")
                    .arg(REDIS_TTL_SECS),
            )
            .await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_values_sealed_with_our_key_for_that_key_open() {
        use crate::config::Secret;
        let keys = [
            Secret::new("key-one-0123456789"),
            Secret::new("key-two-0123456789"),
        ];
        let a = Signer::new(&Secret::default(), &keys);
        // Another replica with the same keys in another order agrees.
        let b = Signer::new(&Secret::default(), &[keys[1].clone(), keys[0].clone()]);
        let sealed = a.seal("k1", b"{\"x\":1}");
        assert_eq!(b.open("k1", &sealed), Some(&b"{\"x\":1}"[..]));
        // Moved to another key, tampered with, unsigned, or signed by someone else: refused.
        assert_eq!(b.open("k2", &sealed), None);
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(b.open("k1", &tampered), None);
        assert_eq!(b.open("k1", b"{\"x\":1}"), None);
        let other = Signer::new(&Secret::new("a configured signing key"), &keys);
        assert_eq!(other.open("k1", &sealed), None);
        assert_eq!(other.open("k1", &other.seal("k1", b"y")), Some(&b"y"[..]));
    }

    #[test]
    fn memory_is_bounded_by_entries_and_bytes() {
        let mut m = Bounded::new(3, 1_000);
        for i in 0..10 {
            m.put(&format!("k{i}"), "v1", Bytes::from(vec![0u8; 100]));
        }
        assert_eq!(m.len(), 3);
        assert!(m.get("k9", "v1").is_some() && m.get("k0", "v1").is_none());
        assert!(m.get("k9", "v2").is_none(), "another version is a miss");
        let mut m = Bounded::new(100, 1_000);
        for i in 0..50 {
            m.put(&format!("k{i}"), "v1", Bytes::from(vec![0u8; 200]));
        }
        assert!(
            m.bytes() <= 1_000 && m.len() == 4,
            "{} {}",
            m.len(),
            m.bytes()
        );
        // Replacing an entry does not leak its old size.
        let before = m.bytes();
        m.put("k49", "v2", Bytes::from(vec![0u8; 200]));
        assert_eq!(m.bytes(), before);
        m.put("huge", "v1", Bytes::from(vec![0u8; 5_000]));
        assert!(m.get("huge", "v1").is_none());
    }
}
