//! API keys: the `X-API-KEY` header against the configured keys, in constant time.
//!
//! Keys come from `server.api_keys` and, when set, `server.api_keys_file` (one key a line, `#`
//! comments; a mounted Kubernetes Secret), which is re-read when it changes, without a restart.
//! A key is either the key itself (at least [`MIN_KEY_LEN`] characters) or its SHA-256 as
//! `sha256:<64 hex digits>`, so a config file need not hold usable keys.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use sha2::Digest;
use subtle::ConstantTimeEq;

use crate::config::Secret;

/// Keys published in documentation: fine on a laptop, never in production.
pub const WELL_KNOWN_KEYS: &[&str] = &["GPA-prince-edusei-2024"];

/// Shortest key accepted (guessing stays out of reach).
pub const MIN_KEY_LEN: usize = 16;

enum Key {
    Plain(Secret),
    Sha256([u8; 32]),
}

impl Key {
    /// The key's identity for per-key state (the rate limit): its SHA-256, worked out once.
    fn id(&self) -> KeyId {
        match self {
            Key::Plain(s) => KeyId(sha2::Sha256::digest(s.expose().as_bytes()).into()),
            Key::Sha256(h) => KeyId(*h),
        }
    }
}

/// Which configured key a request gave: its SHA-256 (never the key itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 32]);

pub struct Keys(Vec<(Key, KeyId)>);

impl Keys {
    /// Parses keys; the error names `setting` and every key that is too short or malformed
    /// (by position, never by value).
    pub fn parse(keys: &[Secret], setting: &str) -> Result<Keys> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for (i, k) in keys.iter().filter(|k| !k.is_empty()).enumerate() {
            let k_str = k.expose().trim();
            if let Some(hex) = k_str.strip_prefix("sha256:") {
                match decode_hex32(hex) {
                    Some(h) => out.push(Key::Sha256(h)),
                    None => problems.push(format!(
                        "key {} is not sha256: followed by 64 hex digits",
                        i + 1
                    )),
                }
            } else if k_str.chars().count() < MIN_KEY_LEN {
                problems.push(format!(
                    "key {} has {} characters; at least {MIN_KEY_LEN} are required (or give its SHA-256 as sha256:HEX)",
                    i + 1,
                    k_str.chars().count()
                ));
            } else {
                out.push(Key::Plain(Secret::new(k_str)));
            }
        }
        if !problems.is_empty() {
            bail!("{setting}: {}", problems.join("; "));
        }
        Ok(Keys(
            out.into_iter()
                .map(|k| {
                    let id = k.id();
                    (k, id)
                })
                .collect(),
        ))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `given` equals one of the keys (or hashes to one). See [`Keys::matched`].
    pub fn accepts(&self, given: &[u8]) -> bool {
        self.matched(given).is_some()
    }

    /// The identity of the key `given` equals (or hashes to), if any. Every key is compared,
    /// each in constant time for its length, and the identity is selected in constant time,
    /// so timing tells nothing about which key or how much of it matched. Hashed only when
    /// some key is stored hashed: it would be the one cost on the cached path.
    pub fn matched(&self, given: &[u8]) -> Option<KeyId> {
        use subtle::ConditionallySelectable;
        let hashed: Option<[u8; 32]> = self
            .0
            .iter()
            .any(|(k, _)| matches!(k, Key::Sha256(_)))
            .then(|| sha2::Sha256::digest(given).into());
        let mut ok = subtle::Choice::from(0u8);
        let mut id = [0u8; 32];
        for (k, kid) in &self.0 {
            let this = match (k, &hashed) {
                (Key::Plain(s), _) => s.expose().as_bytes().ct_eq(given),
                (Key::Sha256(h), Some(g)) => h.ct_eq(g),
                (Key::Sha256(_), None) => subtle::Choice::from(0u8),
            };
            for (out, b) in id.iter_mut().zip(kid.0) {
                out.conditional_assign(&b, this);
            }
            ok |= this;
        }
        bool::from(ok).then_some(KeyId(id))
    }

    /// True when a documented key is configured.
    pub fn well_known_in_use(&self) -> bool {
        self.0.iter().any(|(k, _)| match k {
            Key::Plain(s) => WELL_KNOWN_KEYS.contains(&s.expose()),
            Key::Sha256(h) => WELL_KNOWN_KEYS
                .iter()
                .any(|w| sha2::Sha256::digest(w.as_bytes()).as_slice() == h),
        })
    }
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The keys of a key file: one a line (or comma-separated, as the chart's Secret holds them),
/// blank lines and `#` comments ignored.
pub fn read_file(path: &Path, setting: &str) -> Result<Vec<Secret>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {setting}_file {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(Secret::new)
        .collect())
}

/// The keys in force: the configured ones plus the key file's, swapped whole when it changes.
pub struct KeySet {
    /// The setting the keys come from (`server.api_keys`, `server.write_keys`), for errors.
    setting: &'static str,
    configured: Vec<Secret>,
    file: Option<PathBuf>,
    current: RwLock<Arc<Keys>>,
    /// Every key as given at start (the cache's signing key derives from them).
    at_start: Vec<Secret>,
}

impl KeySet {
    /// Loads every read key once; any problem is an error naming the setting.
    pub fn load(configured: &[Secret], file: Option<PathBuf>) -> Result<KeySet> {
        Self::load_named("server.api_keys", configured, file)
    }

    /// Loads the keys of `setting` (its file is `setting` + `_file`).
    pub fn load_named(
        setting: &'static str,
        configured: &[Secret],
        file: Option<PathBuf>,
    ) -> Result<KeySet> {
        let (keys, at_start) = Self::read(setting, configured, file.as_deref())?;
        Ok(KeySet {
            setting,
            configured: configured.to_vec(),
            file,
            current: RwLock::new(Arc::new(keys)),
            at_start,
        })
    }

    /// The parsed keys, and every key as given.
    fn read(
        setting: &str,
        configured: &[Secret],
        file: Option<&Path>,
    ) -> Result<(Keys, Vec<Secret>)> {
        let mut keys = Keys::parse(configured, setting)?;
        let mut given = configured.to_vec();
        if let Some(f) = file {
            let from_file = read_file(f, setting)?;
            let parsed = Keys::parse(&from_file, &format!("{setting}_file {}", f.display()))?;
            keys.0.extend(parsed.0);
            given.extend(from_file);
        }
        Ok((keys, given))
    }

    pub fn at_start(&self) -> &[Secret] {
        &self.at_start
    }

    pub fn current(&self) -> Arc<Keys> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-reads the key file every `every` while its modification time or size changes; a file
    /// that no longer parses is reported and the keys in force stay.
    pub async fn watch(self: Arc<Self>, every: Duration) {
        let Some(path) = self.file.clone() else {
            return;
        };
        let stamp = |p: &Path| -> Option<(SystemTime, u64)> {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        };
        let mut last = stamp(&path);
        loop {
            tokio::time::sleep(every).await;
            let now = stamp(&path);
            if now == last {
                continue;
            }
            last = now;
            match Self::read(self.setting, &self.configured, Some(&path)) {
                Ok((keys, _)) if !keys.is_empty() => {
                    *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
                    tracing::info!(file = %path.display(), "API keys reloaded");
                }
                Ok(_) => {
                    tracing::error!(file = %path.display(), "the key file leaves no API key; keeping the keys in force")
                }
                Err(e) => tracing::error!(error = %format!("{e:#}"), "keeping the keys in force"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(k: &str) -> String {
        let h = sha2::Sha256::digest(k.as_bytes());
        format!(
            "sha256:{}",
            h.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    }

    #[test]
    fn accepts_any_configured_key_and_nothing_else() {
        let keys = Keys::parse(
            &[
                Secret::new("alpha-key-0123456789"),
                Secret::new(""),
                Secret::new(hash_of("hashed-key-0123456789")),
            ],
            "server.api_keys",
        )
        .unwrap();
        assert!(keys.accepts(b"alpha-key-0123456789"));
        assert!(keys.accepts(b"hashed-key-0123456789"));
        assert!(!keys.accepts(hash_of("hashed-key-0123456789").as_bytes()));
        assert!(!keys.accepts(b""));
        assert!(!keys.accepts(b"alpha-key-012345678"));
        assert!(!keys.accepts(b"alpha-key-0123456789 "));
        // Each key its own identity, the same whether stored plain or hashed.
        let a = keys.matched(b"alpha-key-0123456789").unwrap();
        let h = keys.matched(b"hashed-key-0123456789").unwrap();
        assert_ne!(a, h);
        let digest: [u8; 32] = sha2::Sha256::digest(b"alpha-key-0123456789").into();
        assert_eq!(a, KeyId(digest));
        assert!(!keys.well_known_in_use());
        let published = Keys::parse(&[Secret::new("GPA-prince-edusei-2024")], "k").unwrap();
        assert!(published.well_known_in_use());
        let hashed = Keys::parse(&[Secret::new(hash_of("GPA-prince-edusei-2024"))], "k").unwrap();
        assert!(hashed.well_known_in_use());
    }

    #[test]
    fn key_files_take_lines_commas_and_comments() {
        let path = std::env::temp_dir().join(format!("llmrank-keyfile-{}", std::process::id()));
        std::fs::write(&path, "# rotated 2026-11-29\nkey-one-0123456789, key-two-0123456789\n\nkey-three-0123456789\n").unwrap();
        let keys = read_file(&path, "server.api_keys").unwrap();
        let _ = std::fs::remove_file(&path);
        let names: Vec<&str> = keys.iter().map(|k| k.expose()).collect();
        assert_eq!(
            names,
            [
                "key-one-0123456789",
                "key-two-0123456789",
                "key-three-0123456789"
            ]
        );
    }

    #[test]
    fn short_and_malformed_keys_are_named_by_position_never_by_value() {
        let e = Keys::parse(
            &[
                Secret::new("long-enough-key-0123"),
                Secret::new("short-s3cret"),
                Secret::new("sha256:abc"),
            ],
            "server.api_keys",
        )
        .err()
        .unwrap()
        .to_string();
        assert_eq!(
            e,
            "server.api_keys: key 2 has 12 characters; at least 16 are required (or give its SHA-256 as sha256:HEX); key 3 is not sha256: followed by 64 hex digits"
        );
        assert!(!e.contains("s3cret"));
    }
}
