//! `POST /samples`: records (a JSON array, NDJSON or CSV) or a whole benchmark tool's file,
//! through the one ingest path (`ingest::records`), all or nothing per request.
//!
//! Authorised by a write key in `X-API-KEY` (`server.write_keys`; checked by the router): no
//! key 401, a read key 403.
//! `Content-Type` says what the body is: `application/json` (an array of
//! `{llm, metric, value[, time]}`), `application/x-ndjson`, `text/csv`, or any of them with a
//! `format=NAME` parameter naming a tool's file (`application/json; format=vllm`). An
//! `Idempotency-Key` makes a retried request add nothing (200 with the first request's runs);
//! the same key with another body is 422. Keys are scoped per write key (two clients cannot
//! collide), and without one every request is written, even a body seen before. At most
//! `server.max_concurrent_writes` run at once, their bodies within `server.write_memory_bytes`
//! (503 before the body is read beyond either).

use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, StatusCode};
use serde_json::json;

use super::auth::KeyId;
use super::error::{from_db, ApiError};
use super::http::{declared_length, json_response, read_body, Resp};
use super::App;
use crate::domain::SourceKind;
use crate::import::{Format, Options};
use crate::ingest::records::{self, Input, InputFormat};

/// What a `Content-Type` asks for. The media type must be one the route reads, with a
/// `format=` parameter or without; a second `format=` is refused, not ignored.
fn format_of(content_type: &str) -> Result<InputFormat, ApiError> {
    let mut parts = content_type.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("").to_ascii_lowercase();
    let named: Vec<String> = parts
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("format"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .collect();
    let plain = match mime.as_str() {
        "application/json" => InputFormat::RecordsArray,
        "application/x-ndjson" | "application/jsonl" | "application/ndjson" => {
            InputFormat::Tool(Format::Ndjson)
        }
        "text/csv" => InputFormat::Tool(Format::Csv),
        _ => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type {content_type:?} is not read here; send application/json (an array of {{llm, metric, value[, time]}}), application/x-ndjson, text/csv, or one of them with a format parameter naming a tool's file (e.g. application/json; format=vllm; formats: {})",
                Format::allowed()
            )))
        }
    };
    match named.as_slice() {
        [] => Ok(plain),
        [name] => Format::parse(name).map(InputFormat::Tool).ok_or_else(|| {
            ApiError::UnsupportedMediaType(format!(
                "unknown format={name:?} in Content-Type; allowed: {}",
                Format::allowed()
            ))
        }),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {content_type:?} names format= {} times; name one",
            named.len()
        ))),
    }
}

/// Writes the request's records; the router has checked the method and the write key.
pub async fn post(app: &App, req: Request<Incoming>, writer: KeyId) -> Result<Resp, ApiError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let format = format_of(&content_type)?;
    // Taken before the body is read: what waits beyond the caps holds no memory and no
    // database connection, reads keep the rest of the pool, and the bodies in progress (by
    // their Content-Length, or the limit when it is not said) fit the memory budget.
    let _slot = app.writes.take()?;
    let declared = declared_length(&req)
        .unwrap_or(app.max_samples_bytes)
        .min(app.max_samples_bytes);
    let cost_mib = (declared * format.memory_per_byte()).div_ceil(1 << 20);
    let _memory = app.write_memory.take_many(cost_mib as usize)?;
    let idempotency_key = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v.to_str().ok().filter(|k| {
                !k.is_empty() && k.len() <= 200 && k.bytes().all(|b| b.is_ascii_graphic())
            });
            let k = k.ok_or_else(|| {
                ApiError::BadRequest(
                    "Idempotency-Key must be 1 to 200 visible ASCII characters".into(),
                )
            })?;
            Some(scoped(&writer, k))
        }
    };
    let deadline = tokio::time::Instant::now() + app.request_timeout;
    let body = tokio::time::timeout_at(deadline, read_body(req, app.max_samples_bytes))
        .await
        .map_err(|_| ApiError::RequestTimeout)??;
    // Checked before the Idempotency-Key: an empty body is refused, not "a duplicate".
    let inner = body.trim_ascii();
    if inner.is_empty() || (inner.starts_with(b"[") && inner[1..].trim_ascii() == b"]") {
        return Err(ApiError::BadRequest("empty body: no records".into()));
    }
    // Needed before the body is read only to tell a retry from a reused key (the ingest
    // path hashes the input as it reads it anyway).
    let body_sha256 = idempotency_key.as_ref().map(|_| {
        use sha2::Digest;
        crate::hash::hex(&sha2::Sha256::digest(&body))
    });
    let mut client = app
        .pool
        .get()
        .await
        .map_err(|e| from_db(anyhow::Error::new(e)))?;
    let known = {
        let state = app.data.borrow().clone();
        state.catalogue.known_metric_names()
    };
    let input = Input {
        name: "POST /samples".into(),
        format,
        opts: Options {
            known_metrics: known,
            ..Default::default()
        },
        source: SourceKind::Api,
        reader: Box::new(std::io::Cursor::new(body)),
        force: false,
        idempotency_key,
        body_sha256,
        progress: None,
    };
    let client: &mut tokio_postgres::Client = &mut client;
    let report = tokio::time::timeout_at(deadline, records::ingest(client, input))
        .await
        .map_err(|_| {
            ApiError::Busy(
                "the write took longer than server.request_timeout_ms; nothing was written".into(),
            )
        })?
        .map_err(classify)?;
    if !report.existing.is_empty() {
        return Ok(json_response(
            StatusCode::OK,
            json!({
                "duplicate": true,
                "runs": report.existing.iter().map(|id| json!({ "run_id": id })).collect::<Vec<_>>(),
                "rows": 0,
                "message": "this Idempotency-Key was used before: nothing written",
            }),
        ));
    }
    let runs: Vec<_> = report
        .runs
        .iter()
        .map(|r| {
            json!({
                "run_id": r.run_id,
                "rows": r.samples,
                "llms": r.llms,
                "per_metric": r.per_metric,
                "reported": r.reported,
                "failed": r.failed,
                "dropped": r.dropped,
                "workload": r.workload,
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::CREATED,
        json!({ "runs": runs, "rows": report.rows() }),
    ))
}

/// `key` in the namespace of the write key that sent it: a fingerprint of the key's SHA-256
/// (itself never stored), then the key.
fn scoped(writer: &KeyId, key: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"llmrank idempotency scope\n");
    h.update(writer.0);
    format!("{}/{key}", crate::hash::hex(&h.finalize()[..8]))
}

/// A database failure is the server's (503/500); anything else is the input's (400).
fn classify(e: anyhow::Error) -> ApiError {
    if e.downcast_ref::<records::KeyReused>().is_some() {
        ApiError::Unprocessable(e.to_string())
    } else if crate::db::error::is_database(&e) {
        from_db(e)
    } else {
        ApiError::BadRequest(format!("{e:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_choose_the_reader() {
        assert_eq!(
            format_of("application/json").ok(),
            Some(InputFormat::RecordsArray)
        );
        assert_eq!(
            format_of("application/x-ndjson; charset=utf-8").ok(),
            Some(InputFormat::Tool(Format::Ndjson))
        );
        assert_eq!(
            format_of("application/json; format=vllm").ok(),
            Some(InputFormat::Tool(Format::Vllm))
        );
        assert!(
            matches!(format_of("text/plain"), Err(ApiError::UnsupportedMediaType(m)) if m.contains("application/x-ndjson"))
        );
        assert!(
            matches!(format_of("application/json; format=nope"), Err(ApiError::UnsupportedMediaType(m)) if m.contains("vllm"))
        );
        // A parameter does not make any media type readable; a second one is not ignored.
        assert!(matches!(
            format_of("text/plain; format=ndjson"),
            Err(ApiError::UnsupportedMediaType(m)) if m.contains("text/plain")
        ));
        assert!(matches!(
            format_of("application/json; format=vllm; format=sglang"),
            Err(ApiError::UnsupportedMediaType(m)) if m.contains("2 times")
        ));
        assert_eq!(
            format_of("text/csv; format=genai-perf").ok(),
            Format::parse("genai-perf").map(InputFormat::Tool)
        );
    }
}
