//! llmrank's own record formats, for anything no tool writes: CSV with a header naming the
//! columns `llm,metric,value[,time]` (any order, any case), NDJSON (one
//! `{"llm", "metric", "value"[, "time"]}` object per line) and a JSON array of such objects
//! (`POST /samples`). `time` is RFC 3339 or Unix seconds; absent, the import's time is used.
//! An optional `request` (column or field, text or an integer) keeps requests as requests:
//! adjacent records of one LLM with the same value are one request's values, so goodput can
//! join its TTFT, TPOT and e2e latency again (every record names one, or none does).
//! Values are in the metric's unit (ms for latencies). The whole input is one run.
//!
//! Every record is checked: a known metric (the catalogue's or llmrank's own), a finite
//! value, not negative, not 0 for a latency. The first bad one fails the input, naming its line
//! (or element) and field; nothing of it is written.

use std::io::BufRead;

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use super::json::{self, num};
use super::{check_value, Benchmark, Options, Sink, Tally};

/// One record, checked.
struct Record<'a> {
    llm: &'a str,
    metric: &'a str,
    value: f64,
    at: Option<i64>,
}

/// Groups records into requests: adjacent records of one LLM with the same `request` value
/// are one request's values (its TTFT, TPOT, e2e latency...), and a new value starts the next.
/// Either every record of an input names its request or none does.
#[derive(Default)]
struct Requests {
    /// `None` until the first record; then whether records name requests.
    named: Option<bool>,
    last: Option<(String, String)>,
}

impl Requests {
    fn see(
        &mut self,
        llm: &str,
        request: Option<&str>,
        place: &str,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let named = *self.named.get_or_insert(request.is_some());
        match (named, request) {
            (false, None) => Ok(()),
            (true, Some(q)) => {
                if self
                    .last
                    .as_ref()
                    .is_none_or(|(l, r)| l != llm || r != q)
                {
                    self.last = Some((llm.to_string(), q.to_string()));
                    sink.request()?;
                }
                Ok(())
            }
            (true, None) => bail!(
                "{place}: field \"request\" is missing; once records name their request, each must"
            ),
            (false, Some(_)) => bail!(
                "{place}: field \"request\" appears after records without one; name the request of every record or of none"
            ),
        }
    }
}

/// A `request` field as text: a string or an integer.
fn request_text(v: Option<&Value>, place: &str) -> Result<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
        Some(_) => bail!("{place}: field \"request\" must be text or an integer"),
    }
}

fn begin(tool: &str, opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let mut b = Benchmark::new(tool);
    b.label(opts);
    sink.begin(b)
}

fn check<'a>(r: Record<'a>, opts: &'a Options, place: &str) -> Result<Record<'a>> {
    let llm = opts.llm.as_deref().unwrap_or(r.llm);
    if llm.trim().is_empty() {
        bail!("{place}: field \"llm\" is empty");
    }
    if llm.contains('\0') {
        bail!("{place}: field \"llm\" holds a NUL character");
    }
    if !opts.known_metrics.iter().any(|m| m == r.metric) {
        bail!(
            "{place}: field \"metric\": unknown metric {:?}; valid metrics: {}",
            r.metric,
            opts.known_metrics.join(", ")
        );
    }
    check_value(r.metric, r.value).map_err(|e| anyhow!("{place}: field \"value\": {e}"))?;
    Ok(Record { llm, ..r })
}

/// `time` as Unix µs: RFC 3339 text or Unix seconds.
fn time_of(v: Option<&Value>, place: &str) -> Result<Option<i64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => time_text(s, place).map(Some),
        Some(x) => match num(Some(x)) {
            Some(secs) => unix_secs(secs, place).map(Some),
            _ => bail!("{place}: field \"time\" must be RFC 3339 text or Unix seconds"),
        },
    }
}

/// Unix seconds as µs, within the times a sample may have ([`super::check_time`]).
fn unix_secs(secs: f64, place: &str) -> Result<i64> {
    let whole = secs.floor();
    // Far outside any i64 (or NaN): refused before a cast could saturate.
    if !(whole.abs() < 1e15 && super::check_time(whole as i64).is_ok()) {
        bail!(
            "{place}: field \"time\": {secs} Unix seconds is outside {}",
            super::time_range()
        );
    }
    Ok((secs * 1e6) as i64)
}

fn time_text(s: &str, place: &str) -> Result<i64> {
    if let Ok(secs) = s.trim().parse::<f64>() {
        return unix_secs(secs, place);
    }
    let secs = crate::window::parse_rfc3339(s.trim())
        .map_err(|e| anyhow!("{place}: field \"time\": {e}"))?;
    super::check_time(secs).map_err(|e| anyhow!("{place}: field \"time\": {e}"))?;
    Ok(secs * 1_000_000)
}

/// A record's fields, read without building a tree of the whole line (unknown fields, however
/// long, are skipped).
#[derive(serde::Deserialize)]
#[serde(expecting = "an object {llm, metric, value[, time]}")]
struct Fields {
    llm: Option<Value>,
    metric: Option<Value>,
    value: Option<Value>,
    time: Option<Value>,
    request: Option<Value>,
}

fn fields(bytes: &[u8], place: &str) -> Result<Fields> {
    let fixed = json::lenient(bytes);
    serde_json::from_slice::<Fields>(&fixed).map_err(|e| {
        if e.is_data() {
            anyhow!("{place}: expected an object {{llm, metric, value[, time]}}: {e}")
        } else {
            anyhow!("{place}: invalid JSON: {e}")
        }
    })
}

fn object_record<'a>(f: &'a Fields, opts: &'a Options, place: &str) -> Result<Record<'a>> {
    let field_text = |k: &str, v: &'a Option<Value>| -> Result<&'a str> {
        match v {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(other) => bail!(
                "{place}: field {k:?} must be text, found {}",
                super::vllm::kind(other)
            ),
            None => bail!("{place}: field {k:?} is missing"),
        }
    };
    let llm = match (&f.llm, &opts.llm) {
        (None, Some(_)) => "",
        _ => field_text("llm", &f.llm)?,
    };
    let metric = field_text("metric", &f.metric)?;
    let value = match &f.value {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(Value::String(s)) if matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity") => {
            f64::NAN
        }
        Some(other) => bail!(
            "{place}: field \"value\" must be a number, found {}",
            super::vllm::kind(other)
        ),
        None => bail!("{place}: field \"value\" is missing"),
    };
    let at = time_of(f.time.as_ref(), place)?;
    check(
        Record {
            llm,
            metric,
            value,
            at,
        },
        opts,
        place,
    )
}

pub fn parse_ndjson(input: &mut dyn BufRead, opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    begin("ndjson", opts, sink)?;
    let mut requests = Requests::default();
    let records = super::each_line(input, 0, |n, line| {
        let place = format!("line {n}");
        let f = fields(line, &place)?;
        let r = object_record(&f, opts, &place)?;
        let q = request_text(f.request.as_ref(), &place)?;
        requests.see(r.llm, q.as_deref(), &place, sink)?;
        sink.sample(r.llm, r.metric, r.value, r.at)
    })?;
    if records == 0 {
        bail!("no records: expected one {{llm, metric, value[, time]}} object per line");
    }
    sink.end(Tally::default())
}

/// A JSON array of records (`POST /samples` with `application/json`), read element by element
/// as it arrives: strict JSON (a bare `NaN` is invalid JSON here, as the API documents numbers).
pub fn parse_json_array(
    input: &mut dyn BufRead,
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<()> {
    let mut failure = None;
    let mut de = serde_json::Deserializer::from_reader(input);
    let each = EachRecord {
        opts,
        sink: &mut *sink,
        failure: &mut failure,
        requests: Requests::default(),
    };
    let parsed =
        serde::Deserializer::deserialize_seq(&mut de, each).and_then(|n| de.end().map(|()| n));
    if let Some(e) = failure {
        return Err(e);
    }
    match parsed {
        Ok(0) => bail!("an empty array: no records"),
        Ok(_) => sink.end(Tally::default()),
        Err(e) if e.is_data() => bail!("{e}"),
        Err(e) => bail!("invalid JSON: {e}"),
    }
}

/// Reads a JSON array one element at a time into the sink: the memory an array takes is one
/// element's, whatever its length. Each element is read as [`Fields`], as an NDJSON line is
/// (so a repeated key is refused in both); the first error stops it, kept in `failure`.
struct EachRecord<'a> {
    opts: &'a Options,
    sink: &'a mut dyn Sink,
    failure: &'a mut Option<anyhow::Error>,
    requests: Requests,
}

impl<'de> serde::de::Visitor<'de> for EachRecord<'_> {
    /// How many records were read.
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of {llm, metric, value[, time]} records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<usize, A::Error> {
        use serde::de::Error;
        let mut n = 0;
        loop {
            let place = format!("element {n}");
            let f = match seq.next_element::<Fields>() {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(n),
                Err(e) => {
                    *self.failure = Some(anyhow!("{place}: {e}"));
                    return Err(A::Error::custom("stopped"));
                }
            };
            let step = (|| {
                if n == 0 {
                    begin("json", self.opts, self.sink)?;
                }
                let r = object_record(&f, self.opts, &place)?;
                let q = request_text(f.request.as_ref(), &place)?;
                self.requests.see(r.llm, q.as_deref(), &place, self.sink)?;
                self.sink.sample(r.llm, r.metric, r.value, r.at)
            })();
            if let Err(e) = step {
                *self.failure = Some(e);
                return Err(A::Error::custom("stopped"));
            }
            n += 1;
        }
    }
}

pub fn parse_csv(input: &mut dyn BufRead, opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let mut raw = Vec::new();
    if super::read_line(input, &mut raw, 1)? == 0 {
        bail!("empty input: expected a header line llm,metric,value[,time]");
    }
    let line = String::from_utf8(raw).map_err(|_| anyhow!("line 1 is not UTF-8"))?;
    let header: Vec<String> = super::nvidia::split_csv(line.trim_start_matches('\u{feff}'))
        .into_iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (llm_col, metric_col, value_col, time_col, request_col) = (
        col("llm"),
        col("metric"),
        col("value"),
        col("time"),
        col("request"),
    );
    let mut requests = Requests::default();
    let (Some(metric_col), Some(value_col)) = (metric_col, value_col) else {
        bail!(
            "line 1: the header must name the columns llm,metric,value[,time]; found {:?}",
            line.trim()
        );
    };
    if llm_col.is_none() && opts.llm.is_none() {
        bail!("line 1: no llm column; add one or pass --llm NAME");
    }
    begin("csv", opts, sink)?;
    let records = super::each_line(input, 1, |n, raw| {
        let place = format!("line {n}");
        let line = std::str::from_utf8(raw).map_err(|_| anyhow!("{place} is not UTF-8"))?;
        let cells = super::nvidia::split_csv(line);
        let cell = |i: usize, name: &str| -> Result<&str> {
            cells.get(i).map(String::as_str).ok_or_else(|| {
                anyhow!(
                    "{place}: field {name:?} is missing (only {} columns)",
                    cells.len()
                )
            })
        };
        let llm = match llm_col {
            Some(i) => cell(i, "llm")?,
            None => "",
        };
        let metric = cell(metric_col, "metric")?;
        let raw = cell(value_col, "value")?;
        let value: f64 = raw
            .parse()
            .map_err(|_| anyhow!("{place}: field \"value\": {raw:?} is not a number"))?;
        let at = match time_col.map(|i| cell(i, "time")).transpose()? {
            Some(t) if !t.is_empty() => Some(time_text(t, &place)?),
            _ => None,
        };
        let r = check(
            Record {
                llm,
                metric,
                value,
                at,
            },
            opts,
            &place,
        )?;
        let q = match request_col.map(|i| cell(i, "request")).transpose()? {
            Some(q) if !q.trim().is_empty() => Some(q.trim()),
            _ => None,
        };
        requests.see(r.llm, q, &place, sink)?;
        sink.sample(r.llm, r.metric, r.value, r.at)
    })?;
    if records == 0 {
        bail!("no records after the header");
    }
    sink.end(Tally::default())
}
