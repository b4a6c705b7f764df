//! Settings shared by every subcommand, and how they are layered.
//!
//! Layering, last wins: built-in defaults < TOML file (`--config`, else `LLMRANK_CONFIG`, else
//! `./llmrank.toml` when present) < `LLMRANK_SECTION__KEY` environment variables < flags.
//!
//! The file and the environment are checked against the shape of the defaults before anything
//! is deserialized, so every unknown key and every wrong type is reported at once, one line
//! each, naming the key and where it came from. Environment names without a double underscore
//! (Kubernetes injects `LLMRANK_SERVICE_HOST`, `LLMRANK_PORT`, ... into pods of a release named
//! llmrank) are not settings and are ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use toml::Value;

use crate::domain::MetricKind;
use crate::sim::model::Profile;

/// Prefix of every setting in the environment.
pub const ENV_PREFIX: &str = "LLMRANK_";
/// Names the config file, when `--config` is not given.
pub const ENV_CONFIG_FILE: &str = "LLMRANK_CONFIG";
/// The file read when neither `--config` nor `LLMRANK_CONFIG` names one.
pub const DEFAULT_CONFIG_FILE: &str = "llmrank.toml";

/// A string that must not appear in logs or `Debug` output (passwords, API keys, URLs that may
/// carry a password).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub server: ServerSettings,
    pub client: ClientSettings,
    pub simulate: SimulateSettings,
    pub retention: RetentionSettings,
    pub cache: CacheSettings,
    pub log: LogSettings,
    /// The LLM catalogue and each LLM's simulation profile (file only).
    pub llms: Vec<LlmSettings>,
    /// The metric catalogue (file only).
    pub metrics: Vec<MetricSettings>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// A `postgres://` URL; when set it replaces host, port, user, password and name.
    pub url: Secret,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Secret,
    pub name: String,
    pub pool_size: u32,
    pub connect_timeout_ms: u64,
    /// How long a request waits for a pooled connection before it gets "unavailable".
    pub pool_wait_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    /// `disable`, `require` (encrypted, not verified) or `verify-full`.
    pub sslmode: String,
    /// PEM file of the roots `verify-full` trusts ("" = the system's).
    pub ssl_root_cert: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    pub url: Secret,
    pub pool_size: u32,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: String,
    /// When set, `/healthz`, `/readyz` and `/metrics` are served here instead of on `listen`.
    pub admin_listen: String,
    pub api_keys: Vec<Secret>,
    /// A file of keys, one a line (a mounted Secret), re-read when it changes.
    pub api_keys_file: String,
    /// Serve a publicly documented key on a non-loopback address anyway.
    pub allow_published_key: bool,
    /// Keys that may `POST /samples` (distinct from read keys); none: writes are off.
    pub write_keys: Vec<Secret>,
    /// A file of write keys, one a line, re-read when it changes.
    pub write_keys_file: String,
    /// Largest `POST /samples` body, bytes.
    pub max_samples_bytes: u64,
    /// Requests a second each API key may make (a burst of as many); 0: no limit.
    pub rate_limit_per_key: u64,
    pub max_body_bytes: u64,
    pub header_read_timeout_ms: u64,
    /// Longest a request may take to send its body and be answered (408 or 503 beyond).
    pub request_timeout_ms: u64,
    /// Largest request head (request line and headers); 431 beyond.
    pub max_header_bytes: u64,
    pub max_connections: u64,
    /// Most connections one client address may hold open (the rest are closed at once).
    pub max_connections_per_client: u64,
    /// Most `GET /events` streams open at once (503 beyond), below `max_connections`; 0: a
    /// quarter of `max_connections`.
    pub max_event_streams: u64,
    /// Most `POST /samples` in progress at once (503 beyond), below `database.pool_size`; 0:
    /// a quarter of `database.pool_size` (at least 1).
    pub max_concurrent_writes: u64,
    /// Memory the `POST /samples` in progress may hold (503 beyond): each its body's size,
    /// eight times it for a whole JSON document.
    pub write_memory_bytes: u64,
    pub shutdown_grace_ms: u64,
    /// Most series the regression gauges export on /metrics (the worst first; the rest are
    /// counted); 0: no regression gauges.
    pub regression_series_max: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientSettings {
    /// Key sent by `rank --server`.
    pub api_key: Secret,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulateSettings {
    pub seed: u64,
    /// Samples per LLM x metric.
    pub samples: u64,
    /// Concurrent generators and writers; 0 means one per core.
    pub workers: u64,
    /// Rows per batch (one transaction each); rounded to whole chunks of samples.
    pub batch_rows: u64,
    pub retry: RetrySettings,
    /// Continuous mode: seconds between runs (0 = run once and exit).
    pub interval_secs: u64,
    /// Where the continuous mode serves its Prometheus `/metrics` (empty = nowhere).
    pub metrics_listen: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    pub max_attempts: u64,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Days of raw samples kept (whole day partitions are dropped); 0 keeps everything.
    /// Summaries are always kept, so rankings of old windows still answer.
    pub raw_days: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// Most answers `serve` keeps in memory.
    pub memory_entries: u64,
    /// Most bytes of answers `serve` keeps in memory.
    pub memory_bytes: u64,
    /// Key of the HMAC that authenticates answers stored in Redis (Redis never sees it).
    /// Empty: derived from `server.api_keys`, so replicas with the same keys agree.
    pub signing_key: Secret,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            memory_entries: 1_024,
            memory_bytes: 16 * 1024 * 1024,
            signing_key: Secret::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `llmrank=debug`.
    pub level: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSettings {
    pub name: String,
    #[serde(flatten)]
    pub profile: Profile,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSettings {
    pub name: String,
    pub unit: String,
    /// `lower` or `higher` is better.
    pub direction: String,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: Secret::default(),
            host: "127.0.0.1".into(),
            port: 5432,
            user: "postgres".into(),
            password: Secret::default(),
            name: "llmrank".into(),
            pool_size: 16,
            connect_timeout_ms: 5_000,
            pool_wait_timeout_ms: 2_000,
            statement_timeout_ms: 30_000,
            sslmode: "disable".into(),
            ssl_root_cert: String::new(),
        }
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: Secret::new("redis://127.0.0.1:6379"),
            pool_size: 8,
            timeout_ms: 250,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            admin_listen: String::new(),
            api_keys: Vec::new(),
            api_keys_file: String::new(),
            allow_published_key: false,
            write_keys: Vec::new(),
            write_keys_file: String::new(),
            max_samples_bytes: 32 * 1024 * 1024,
            rate_limit_per_key: 0,
            max_body_bytes: 16 * 1024,
            header_read_timeout_ms: 5_000,
            request_timeout_ms: 10_000,
            max_header_bytes: 16 * 1024,
            max_connections: 1_024,
            max_connections_per_client: 256,
            max_event_streams: 0,
            max_concurrent_writes: 0,
            write_memory_bytes: 160 << 20,
            shutdown_grace_ms: 10_000,
            regression_series_max: 500,
        }
    }
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            api_key: Secret::default(),
            timeout_ms: 10_000,
        }
    }
}

impl Default for SimulateSettings {
    fn default() -> Self {
        SimulateSettings {
            seed: 42,
            samples: 1_000,
            workers: 0,
            batch_rows: 65_536,
            retry: RetrySettings::default(),
            interval_secs: 0,
            metrics_listen: String::new(),
        }
    }
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_attempts: 10,
            initial_backoff_ms: 100,
            max_backoff_ms: 5_000,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database: DatabaseSettings::default(),
            redis: RedisSettings::default(),
            server: ServerSettings::default(),
            client: ClientSettings::default(),
            simulate: SimulateSettings::default(),
            retention: RetentionSettings::default(),
            cache: CacheSettings::default(),
            log: LogSettings::default(),
            llms: crate::sim::model::default_llms()
                .into_iter()
                .map(|(name, profile)| LlmSettings {
                    name: name.to_string(),
                    profile,
                })
                .collect(),
            metrics: MetricKind::SIMULATED
                .iter()
                .map(|m| MetricSettings {
                    name: m.name().to_string(),
                    unit: m.unit().to_string(),
                    direction: m.direction().as_str().to_string(),
                })
                .collect(),
        }
    }
}

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// A value given on the command line, addressed by its key path (`simulate.seed`).
#[derive(Debug, Clone)]
pub struct Override {
    pub key: &'static str,
    pub flag: &'static str,
    pub value: Value,
}

impl Override {
    pub fn new(key: &'static str, flag: &'static str, value: impl Into<Value>) -> Self {
        Override {
            key,
            flag,
            value: value.into(),
        }
    }
}

/// The settings in force, with the origin of every key.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    /// Origin of each leaf key path (`database.url`, `llms`, ...).
    pub sources: BTreeMap<String, Source>,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
}

/// Keys whose values are secrets: printed redacted by `llmrank config`.
const SECRET_KEYS: &[&str] = &[
    "database.url",
    "database.password",
    "redis.url",
    "server.api_keys",
    "server.write_keys",
    "cache.signing_key",
    "client.api_key",
];

/// Keys that only the file may set: the catalogue is a list of tables.
const FILE_ONLY_KEYS: &[&str] = &["llms", "metrics"];

/// Loads settings from the process environment. Variables that are not valid UTF-8 are
/// skipped unless they are `LLMRANK_*` (then an error names them): nothing else is read here.
pub fn load(config_flag: Option<&Path>, overrides: &[Override]) -> Result<Loaded> {
    load_from(config_flag, utf8_env()?, overrides)
}

/// The environment as UTF-8 pairs: `std::env::vars` panics on the first non-UTF-8 value.
fn utf8_env() -> Result<Vec<(String, String)>> {
    let mut env = Vec::new();
    for (k, v) in std::env::vars_os() {
        let Some(key) = k.to_str() else { continue };
        match v.into_string() {
            Ok(value) => env.push((key.to_string(), value)),
            Err(_) if key.starts_with(ENV_PREFIX) => {
                bail!("environment variable {key} is not valid UTF-8")
            }
            Err(_) => {}
        }
    }
    Ok(env)
}

/// Loads settings with an explicit environment (tests pass their own).
pub fn load_from(
    config_flag: Option<&Path>,
    env: Vec<(String, String)>,
    overrides: &[Override],
) -> Result<Loaded> {
    let defaults = Value::try_from(Settings::default()).context("failed to encode defaults")?;
    let mut merged = defaults.clone();
    let mut sources = BTreeMap::new();
    leaf_paths(&defaults, "", &mut |path| {
        sources.insert(path, Source::Default);
    });
    let mut problems: Vec<String> = Vec::new();

    // The file.
    let env_file = env
        .iter()
        .find(|(k, _)| k == ENV_CONFIG_FILE)
        .map(|(_, v)| PathBuf::from(v));
    let (file, explicit) = match (config_flag, env_file) {
        (Some(p), _) => (Some(p.to_path_buf()), true),
        (None, Some(p)) => (Some(p), true),
        (None, None) => {
            let p = PathBuf::from(DEFAULT_CONFIG_FILE);
            (p.exists().then_some(p), false)
        }
    };
    let mut file_read = None;
    if let Some(path) = &file {
        match std::fs::read_to_string(path) {
            Ok(text) => match text.parse::<toml::Table>() {
                Ok(table) => {
                    let value = Value::Table(table);
                    check_shape(&value, &defaults, "", &mut |key, msg| {
                        problems.push(format!("{}: {}: {msg}", path.display(), key_name(key)))
                    });
                    // Keep what is well-formed, so the checks below report their problems too.
                    if let Some(valid) = prune(&value, &defaults) {
                        let source = Source::File(path.clone());
                        merge(&mut merged, &valid, "", &mut |p| {
                            sources.insert(p, source.clone());
                        });
                    }
                    file_read = Some(path.clone());
                }
                Err(e) => problems.push(format!(
                    "{}: not valid TOML: {}",
                    path.display(),
                    one_line(&e.to_string())
                )),
            },
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!(
                "failed to read config file {}: {e}",
                path.display()
            )),
        }
    }

    // The environment: only LLMRANK_SECTION__KEY names are settings.
    let mut env_vars: Vec<_> = env
        .iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k[ENV_PREFIX.len()..].contains("__"))
        .collect();
    env_vars.sort();
    for (name, raw) in env_vars {
        let path: Vec<String> = name[ENV_PREFIX.len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let key = path.join(".");
        if FILE_ONLY_KEYS.contains(&path[0].as_str()) {
            problems.push(format!(
                "env {name}: `{}` can only be set in the config file",
                path[0]
            ));
            continue;
        }
        match lookup(&defaults, &path) {
            None => problems.push(format!(
                "env {name}: unknown setting `{key}` (see `llmrank config` for the keys)"
            )),
            Some(Value::Table(_)) => problems.push(format!(
                "env {name}: `{key}` is a section; set one of its keys, e.g. {}{}__KEY",
                ENV_PREFIX,
                path.join("__").to_ascii_uppercase()
            )),
            Some(template) => match parse_env_value(raw, template) {
                Ok(v) => {
                    set(&mut merged, &path, v);
                    sources.insert(key, Source::Env(name.clone()));
                }
                Err(expected) => {
                    problems.push(format!("env {name}: expected {expected}, got {raw:?}"))
                }
            },
        }
    }

    // Flags.
    for o in overrides {
        let path: Vec<String> = o.key.split('.').map(str::to_string).collect();
        set(&mut merged, &path, o.value.clone());
        sources.insert(o.key.to_string(), Source::Flag(o.flag.to_string()));
    }

    let settings: Settings = match merged.try_into() {
        Ok(s) => s,
        Err(e) => {
            let e: toml::de::Error = e;
            problems.push(one_line(&e.to_string()));
            return Err(invalid(problems));
        }
    };
    let loaded = Loaded {
        settings,
        sources,
        file: file_read,
    };
    problems.extend(loaded.validate());
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    Ok(loaded)
}

fn invalid(problems: Vec<String>) -> anyhow::Error {
    let n = problems.len();
    let plural = if n == 1 { "problem" } else { "problems" };
    anyhow!(
        "invalid configuration ({n} {plural}):\n  {}",
        problems.join("\n  ")
    )
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn key_name(key: &str) -> String {
    if key.is_empty() {
        "(top level)".into()
    } else {
        format!("`{key}`")
    }
}

fn join_key(prefix: &str, k: &str) -> String {
    if prefix.is_empty() {
        k.to_string()
    } else {
        format!("{prefix}.{k}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "true or false",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

fn same_kind(v: &Value, template: &Value) -> bool {
    matches!(
        (v, template),
        (Value::String(_), Value::String(_))
            | (Value::Integer(_), Value::Integer(_))
            | (Value::Integer(_) | Value::Float(_), Value::Float(_))
            | (Value::Boolean(_), Value::Boolean(_))
            | (Value::Array(_), Value::Array(_))
            | (Value::Table(_), Value::Table(_))
    )
}

/// Reports every key of `v` that the defaults do not have, and every value of the wrong type.
fn check_shape(v: &Value, template: &Value, prefix: &str, report: &mut dyn FnMut(&str, String)) {
    match (v, template) {
        (Value::Table(t), Value::Table(tt)) => {
            for (k, child) in t {
                let key = join_key(prefix, k);
                match tt.get(k) {
                    Some(tchild) => check_shape(child, tchild, &key, report),
                    None => {
                        let allowed: Vec<&str> = tt.keys().map(String::as_str).collect();
                        report(
                            &key,
                            format!("unknown key (allowed here: {})", allowed.join(", ")),
                        )
                    }
                }
            }
        }
        (Value::Array(items), Value::Array(titems)) => {
            if let Some(telem) = titems.first() {
                for (i, item) in items.iter().enumerate() {
                    let key = format!("{prefix}[{i}]");
                    if matches!(telem, Value::Table(_)) {
                        check_required(item, telem, &key, report);
                    }
                    check_shape(item, telem, &key, report);
                }
            }
        }
        (Value::Integer(i), Value::Integer(_)) if *i < 0 => {
            report(prefix, "must not be negative".into())
        }
        _ if same_kind(v, template) => {}
        _ => report(
            prefix,
            format!("expected {}, found {}", kind(template), kind(v)),
        ),
    }
}

/// The part of `v` that [`check_shape`] accepts: unknown keys and ill-typed values dropped; a
/// list of tables is kept whole or not at all.
fn prune(v: &Value, template: &Value) -> Option<Value> {
    match (v, template) {
        (Value::Table(t), Value::Table(tt)) => Some(Value::Table(
            t.iter()
                .filter_map(|(k, child)| Some((k.clone(), prune(child, tt.get(k)?)?)))
                .collect(),
        )),
        (Value::Array(items), Value::Array(titems)) => {
            let Some(telem) = titems.first() else {
                return Some(v.clone());
            };
            let mut ok = true;
            for item in items {
                check_required(item, telem, "", &mut |_, _| ok = false);
                check_shape(item, telem, "", &mut |_, _| ok = false);
            }
            ok.then(|| v.clone())
        }
        (Value::Integer(i), Value::Integer(_)) if *i < 0 => None,
        _ if same_kind(v, template) => Some(v.clone()),
        _ => None,
    }
}

/// List elements (an LLM, a metric) have no defaults of their own: every key is required.
fn check_required(v: &Value, template: &Value, prefix: &str, report: &mut dyn FnMut(&str, String)) {
    if let (Value::Table(t), Value::Table(tt)) = (v, template) {
        for k in tt.keys() {
            if !t.contains_key(k) {
                report(prefix, format!("missing key `{k}`"));
            }
        }
    }
}

/// Merges `v` into `into`; tables merge key by key, anything else (arrays included) replaces.
fn merge(into: &mut Value, v: &Value, prefix: &str, touched: &mut dyn FnMut(String)) {
    match (into, v) {
        (Value::Table(it), Value::Table(t)) => {
            for (k, child) in t {
                let key = join_key(prefix, k);
                match it.get_mut(k) {
                    Some(slot @ Value::Table(_)) if matches!(child, Value::Table(_)) => {
                        merge(slot, child, &key, touched)
                    }
                    Some(slot) => {
                        *slot = child.clone();
                        touched(key);
                    }
                    None => {
                        it.insert(k.clone(), child.clone());
                        touched(key);
                    }
                }
            }
        }
        (slot, v) => {
            *slot = v.clone();
            touched(prefix.to_string());
        }
    }
}

fn leaf_paths(v: &Value, prefix: &str, f: &mut dyn FnMut(String)) {
    match v {
        Value::Table(t) => {
            for (k, child) in t {
                leaf_paths(child, &join_key(prefix, k), f);
            }
        }
        _ => f(prefix.to_string()),
    }
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_table()?.get(k))
}

fn set(v: &mut Value, path: &[String], new: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for k in parents {
        let Some(t) = cur.as_table_mut() else { return };
        cur = t
            .entry(k.clone())
            .or_insert_with(|| Value::Table(Default::default()));
    }
    if let Some(t) = cur.as_table_mut() {
        t.insert(last.clone(), new);
    }
}

/// Parses an environment value as the type the default has; on failure, says what was expected.
fn parse_env_value(raw: &str, template: &Value) -> std::result::Result<Value, &'static str> {
    match template {
        Value::String(_) => Ok(Value::String(raw.to_string())),
        Value::Integer(_) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|i| *i >= 0)
            .map(Value::Integer)
            .ok_or("a non-negative integer"),
        Value::Float(_) => raw
            .trim()
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|_| "a number"),
        Value::Boolean(_) => match raw.trim() {
            "true" | "1" => Ok(Value::Boolean(true)),
            "false" | "0" => Ok(Value::Boolean(false)),
            _ => Err("true or false"),
        },
        Value::Array(_) => Ok(Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        )),
        Value::Table(_) | Value::Datetime(_) => Err("a scalar value"),
    }
}

impl Loaded {
    /// Where `key` was set, for error messages: ` (file ./llmrank.toml)`.
    pub fn origin(&self, key: &str) -> String {
        // List elements (`llms[3]`) come from wherever the list came from.
        let key = key.split('[').next().unwrap_or(key);
        match self.sources.get(key) {
            Some(Source::Default) | None => String::new(),
            Some(s) => format!(" (from {s})"),
        }
    }

    fn validate(&self) -> Vec<String> {
        let s = &self.settings;
        let mut p = Vec::new();
        let mut check = |ok: bool, key: &str, msg: &str| {
            if !ok {
                p.push(format!("`{key}`{}: {msg}", self.origin(key)));
            }
        };
        check(
            s.database.url.is_empty()
                || tokio_postgres::Config::from_str(s.database.url.expose()).is_ok(),
            "database.url",
            "not a valid postgres:// URL",
        );
        check(
            s.database.pool_size >= 1,
            "database.pool_size",
            "must be at least 1",
        );
        check(
            s.database.connect_timeout_ms >= 1,
            "database.connect_timeout_ms",
            "must be at least 1",
        );
        check(
            s.redis.url.expose().starts_with("redis://")
                || s.redis.url.expose().starts_with("rediss://"),
            "redis.url",
            "must start with redis:// or rediss://",
        );
        check(
            s.redis.pool_size >= 1,
            "redis.pool_size",
            "must be at least 1",
        );
        check(
            s.server.max_event_streams < s.server.max_connections.max(1),
            "server.max_event_streams",
            "must be 0 (a quarter of server.max_connections) or below server.max_connections (streams must leave connections for requests and probes)",
        );
        check(
            s.server.max_concurrent_writes < u64::from(s.database.pool_size.max(1)),
            "server.max_concurrent_writes",
            "must be 0 (a quarter of database.pool_size) or below database.pool_size (writes must leave connections for reads)",
        );
        check(
            s.server.write_memory_bytes >= 1 << 20,
            "server.write_memory_bytes",
            "must be at least 1048576 (1 MiB)",
        );
        check(
            s.server.listen.parse::<std::net::SocketAddr>().is_ok(),
            "server.listen",
            "must be an address like 127.0.0.1:8080 or 0.0.0.0:8080",
        );
        check(
            s.simulate.metrics_listen.is_empty()
                || s.simulate
                    .metrics_listen
                    .parse::<std::net::SocketAddr>()
                    .is_ok(),
            "simulate.metrics_listen",
            "must be empty or an address like 0.0.0.0:9100",
        );
        check(
            (1..=10_000_000_000).contains(&s.simulate.samples),
            "simulate.samples",
            "must be between 1 and 10000000000",
        );
        check(
            s.simulate.workers <= 256,
            "simulate.workers",
            "must be between 0 (one per core) and 256",
        );
        check(
            (1_024..=4_194_304).contains(&s.simulate.batch_rows),
            "simulate.batch_rows",
            "must be between 1024 and 4194304",
        );
        check(
            s.simulate.retry.max_attempts >= 1,
            "simulate.retry.max_attempts",
            "must be at least 1",
        );
        check(
            s.simulate.retry.initial_backoff_ms <= s.simulate.retry.max_backoff_ms,
            "simulate.retry.initial_backoff_ms",
            "must not exceed simulate.retry.max_backoff_ms",
        );
        check(
            matches!(s.log.format.as_str(), "text" | "json"),
            "log.format",
            "must be `text` or `json`",
        );
        check(
            tracing_subscriber::EnvFilter::try_new(&s.log.level).is_ok(),
            "log.level",
            "not a valid filter (e.g. `info`, `llmrank=debug`)",
        );
        check(
            !s.llms.is_empty(),
            "llms",
            "the catalogue needs at least one LLM",
        );
        let mut seen = std::collections::HashSet::new();
        for (i, l) in s.llms.iter().enumerate() {
            let key = format!("llms[{i}]");
            check(!l.name.trim().is_empty(), &key, "`name` must not be empty");
            check(
                seen.insert(l.name.clone()),
                &key,
                &format!("duplicate LLM name {:?}", l.name),
            );
            if let Err(e) = l.profile.validate() {
                check(false, &key, &format!("{} ({:?})", e, l.name));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, m) in s.metrics.iter().enumerate() {
            let key = format!("metrics[{i}]");
            let known: Vec<&str> = MetricKind::SIMULATED.iter().map(|k| k.name()).collect();
            check(
                MetricKind::from_name(&m.name).is_some_and(MetricKind::simulated),
                &key,
                &format!(
                    "metric {:?} cannot be simulated (known: {})",
                    m.name,
                    known.join(", ")
                ),
            );
            check(
                seen.insert(m.name.clone()),
                &key,
                &format!("duplicate metric name {:?}", m.name),
            );
            check(
                matches!(m.direction.as_str(), "lower" | "higher"),
                &key,
                &format!(
                    "`direction` must be \"lower\" or \"higher\", got {:?}",
                    m.direction
                ),
            );
        }
        check(
            !s.metrics.is_empty(),
            "metrics",
            "the catalogue needs at least one metric",
        );
        p
    }

    /// The effective settings as `key = value  # source` lines, secrets redacted.
    pub fn describe(&self) -> Result<String> {
        let value = Value::try_from(&self.settings).context("failed to encode settings")?;
        let mut out = String::new();
        if let Some(f) = &self.file {
            out.push_str(&format!("# config file: {}\n", f.display()));
        } else {
            out.push_str("# config file: none\n");
        }
        let mut lines = Vec::new();
        leaf_paths(&value, "", &mut |path| lines.push(path));
        for path in lines {
            let segments: Vec<String> = path.split('.').map(str::to_string).collect();
            let Some(v) = lookup(&value, &segments) else {
                continue;
            };
            let shown = if SECRET_KEYS.contains(&path.as_str()) {
                redact(&path, v)
            } else if FILE_ONLY_KEYS.contains(&path.as_str()) {
                format!("[{} entries]", v.as_array().map_or(0, Vec::len))
            } else {
                v.to_string()
            };
            let source = self.sources.get(&path).cloned().unwrap_or(Source::Default);
            out.push_str(&format!("{path} = {shown}  # {source}\n"));
        }
        Ok(out)
    }
}

fn redact(path: &str, v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() => "\"\"".into(),
        Value::String(s) if path.ends_with("url") => format!("{:?}", redact_url(s)),
        Value::Array(items) => format!("[{} redacted]", items.len()),
        _ => "\"[redacted]\"".into(),
    }
}

/// Hides the passwords in `scheme://user:password@host/...?password=...`, keeping the rest
/// readable: the userinfo's password and any query parameter whose name holds `password`
/// (`password`, `sslpassword`; Redis and PostgreSQL URLs both take one there).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "[redacted]".into();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let mut out = match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:[redacted]@{host}"),
            None => format!("{scheme}://{rest}"),
        },
        None => format!("{scheme}://{rest}"),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("password") => {
                    format!("{k}=[redacted]")
                }
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("llmrank.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("llmrank-cfg-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layering_default_file_env_flag() {
        let d = tmpdir("layer");
        let f = write(&d, "[simulate]\nseed = 7\nsamples = 10\nworkers = 3\n");
        let loaded = load_from(
            Some(&f),
            env(&[
                ("LLMRANK_SIMULATE__SAMPLES", "20"),
                ("LLMRANK_SIMULATE__WORKERS", "4"),
            ]),
            &[Override::new("simulate.workers", "--workers", 5)],
        )
        .unwrap();
        let s = &loaded.settings.simulate;
        assert_eq!((s.seed, s.samples, s.workers), (7, 20, 5));
        assert_eq!(s.batch_rows, 65_536);
        assert_eq!(loaded.sources["simulate.seed"], Source::File(f.clone()));
        assert_eq!(
            loaded.sources["simulate.samples"],
            Source::Env("LLMRANK_SIMULATE__SAMPLES".into())
        );
        assert_eq!(
            loaded.sources["simulate.workers"],
            Source::Flag("--workers".into())
        );
        assert_eq!(loaded.sources["simulate.batch_rows"], Source::Default);
    }

    #[test]
    fn kubernetes_service_links_are_ignored_but_typos_are_not() {
        let ok = load_from(
            None,
            env(&[
                ("LLMRANK_SERVICE_HOST", "10.0.0.1"),
                ("LLMRANK_PORT", "tcp://x:80"),
            ]),
            &[],
        );
        assert!(ok.is_ok(), "{ok:?}");
        let err = load_from(None, env(&[("LLMRANK_SIMULATE__SEEED", "1")]), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("env LLMRANK_SIMULATE__SEEED: unknown setting `simulate.seeed`"),
            "{err}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_with_key_and_file() {
        let d = tmpdir("problems");
        let f = write(
            &d,
            "[databse]\nurl = 'x'\n[simulate]\nsamples = 'many'\nworkers = -1\n[server]\nlisten = 'nowhere'\n",
        );
        let err = load_from(Some(&f), env(&[("LLMRANK_SIMULATE__SEED", "abc")]), &[])
            .unwrap_err()
            .to_string();
        let shown = f.display().to_string();
        assert!(
            err.starts_with("invalid configuration (5 problems):"),
            "{err}"
        );
        // Type problems do not hide the checks of the values that were well-formed.
        assert!(
            err.contains(&format!(
                "`server.listen` (from file {shown}): must be an address"
            )),
            "{err}"
        );
        assert!(err.contains(&format!("{shown}: `databse`: unknown key (allowed here: cache, client, database, llms, log, metrics, redis, retention, server, simulate)")), "{err}");
        assert!(
            err.contains(&format!(
                "{shown}: `simulate.samples`: expected an integer, found a string"
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "{shown}: `simulate.workers`: must not be negative"
            )),
            "{err}"
        );
        assert!(
            err.contains(
                "env LLMRANK_SIMULATE__SEED: expected a non-negative integer, got \"abc\""
            ),
            "{err}"
        );
    }

    #[test]
    fn semantic_problems_name_the_source() {
        let err = load_from(
            None,
            env(&[
                ("LLMRANK_SERVER__LISTEN", "nowhere"),
                ("LLMRANK_LOG__FORMAT", "xml"),
            ]),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`server.listen` (from env LLMRANK_SERVER__LISTEN): must be an address"),
            "{err}"
        );
        assert!(
            err.contains("`log.format` (from env LLMRANK_LOG__FORMAT): must be `text` or `json`"),
            "{err}"
        );
    }

    #[test]
    fn catalogue_is_file_only_and_checked() {
        let err = load_from(None, env(&[("LLMRANK_LLMS__NAME", "x")]), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`llms` can only be set in the config file"),
            "{err}"
        );
        let d = tmpdir("catalogue");
        let f = write(
            &d,
            "[[metrics]]\nname = 'TTFT'\nunit = 'ms'\ndirection = 'up'\n[[llms]]\nname = 'A'\n",
        );
        let err = load_from(Some(&f), vec![], &[]).unwrap_err().to_string();
        assert!(err.contains("`llms[0]`: missing key `ttft_ms`"), "{err}");
        let f = write(
            &d,
            "[[metrics]]\nname = 'TTFT'\nunit = 'ms'\ndirection = 'up'\n",
        );
        let err = load_from(Some(&f), vec![], &[]).unwrap_err().to_string();
        assert!(err.contains("`metrics[0]` (from file"), "{err}");
        assert!(
            err.contains("`direction` must be \"lower\" or \"higher\", got \"up\""),
            "{err}"
        );
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = load_from(Some(Path::new("/nonexistent/llmrank.toml")), vec![], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("failed to read config file /nonexistent/llmrank.toml"),
            "{err}"
        );
    }

    #[test]
    fn passwords_in_url_queries_are_redacted() {
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=p4ss&sslmode=require"),
            "postgres://h/db?user=u&password=[redacted]&sslmode=require"
        );
        assert_eq!(
            redact_url("redis://h:6379/0?password=p4ss"),
            "redis://h:6379/0?password=[redacted]"
        );
        assert_eq!(
            redact_url("rediss://:p4ss@h:6380/0"),
            "rediss://:[redacted]@h:6380/0"
        );
        assert_eq!(
            redact_url("postgres://h/db?sslpassword=k3y"),
            "postgres://h/db?sslpassword=[redacted]"
        );
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
    }

    #[test]
    fn secrets_are_redacted() {
        let loaded = load_from(
            None,
            env(&[
                ("LLMRANK_DATABASE__URL", "postgres://u:hunter2@db:5432/x"),
                ("LLMRANK_SERVER__API_KEYS", "k1-secret, k2-secret"),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(loaded.settings.server.api_keys.len(), 2);
        let shown = loaded.describe().unwrap();
        let debug = format!("{:?}", loaded.settings);
        for text in [&shown, &debug] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(!text.contains("k1-secret"), "{text}");
        }
        assert!(
            shown.contains(
                "database.url = \"postgres://u:[redacted]@db:5432/x\"  # env LLMRANK_DATABASE__URL"
            ),
            "{shown}"
        );
        assert!(
            shown.contains("server.api_keys = [2 redacted]  # env LLMRANK_SERVER__API_KEYS"),
            "{shown}"
        );
    }

    #[test]
    fn repo_config_file_is_valid_and_matches_the_defaults_catalogue() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("llmrank.toml");
        let loaded = load_from(Some(&path), vec![], &[]).unwrap();
        let d = Settings::default();
        assert_eq!(loaded.settings.llms, d.llms);
        assert_eq!(loaded.settings.metrics, d.metrics);
    }
}
