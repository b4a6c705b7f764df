//! JSON as benchmark tools write it: Python's `json` emits bare `Infinity`, `-Infinity` and
//! `NaN` (SGLang's `"request_rate": Infinity`), numbers as strings (LLMPerf's `"550"` through
//! `default=str`), and `"inf"` for an unbounded rate (vLLM). Helpers here read such values.

use std::borrow::Cow;

use anyhow::{anyhow, Result};
use serde_json::Value;

/// `bytes` with bare `Infinity`, `-Infinity` and `NaN` tokens outside strings turned into the
/// strings `"Infinity"`, `"-Infinity"` and `"NaN"`, so a strict parser reads them. Borrowed
/// when there are none.
pub fn lenient(bytes: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let token: Option<&[u8]> = [&b"-Infinity"[..], b"Infinity", b"NaN"]
            .into_iter()
            .find(|t| bytes[i..].starts_with(t));
        if let Some(t) = token {
            let o = out.get_or_insert_with(|| Vec::with_capacity(bytes.len() + 16));
            o.extend_from_slice(&bytes[copied..i]);
            o.push(b'"');
            o.extend_from_slice(t);
            o.push(b'"');
            i += t.len();
            copied = i;
            continue;
        }
        i += 1;
    }
    match out {
        None => Cow::Borrowed(bytes),
        Some(mut o) => {
            o.extend_from_slice(&bytes[copied..]);
            Cow::Owned(o)
        }
    }
}

/// Parses one JSON document leniently; the error names where it broke.
pub fn parse(bytes: &[u8]) -> Result<Value> {
    let fixed = lenient(bytes);
    serde_json::from_slice(&fixed).map_err(|e| anyhow!("invalid JSON: {e}"))
}

/// Parses into a typed value leniently.
pub fn parse_as<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let fixed = lenient(bytes);
    serde_json::from_slice(&fixed).map_err(|e| anyhow!("invalid JSON: {e}"))
}

/// A number, or a string holding one (`"550"`, `"15,635.03"`, `"inf"`, `"Infinity"`).
pub fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => number_text(s),
        _ => None,
    }
}

/// A number written as text, thousands separators allowed.
pub fn number_text(s: &str) -> Option<f64> {
    let t = s.trim().replace(',', "");
    match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" | "+inf" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => t.parse().ok(),
    }
}

/// A string, or a scalar as text; `None` for null, arrays and objects.
pub fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => n.as_f64().map(super::num_text),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The value at a path of object keys.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// The first string of an array at `path` (or the string itself).
pub fn first_text(v: &Value, path: &[&str]) -> Option<String> {
    match at(v, path)? {
        Value::Array(a) => a.iter().find_map(|x| text(Some(x))),
        x => text(Some(x)),
    }
}

/// A rate as workload text: `inf` for an unbounded one.
pub fn rate_text(v: Option<&Value>) -> Option<String> {
    num(v).map(|x| {
        if x.is_infinite() {
            "inf".to_string()
        } else {
            super::num_text(x)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_infinity_and_nan_become_strings_outside_strings_only() {
        let raw =
            br#"{"a": Infinity, "b": -Infinity, "c": NaN, "d": "Infinity NaN", "e": "q\"NaN"}"#;
        let v = parse(raw).unwrap();
        assert_eq!(num(v.get("a")), Some(f64::INFINITY));
        assert_eq!(num(v.get("b")), Some(f64::NEG_INFINITY));
        assert!(num(v.get("c")).unwrap().is_nan());
        assert_eq!(v["d"], "Infinity NaN");
        assert_eq!(v["e"], "q\"NaN");
        assert!(matches!(lenient(br#"{"a": 1}"#), Cow::Borrowed(_)));
    }

    #[test]
    fn numbers_as_text_are_read() {
        assert_eq!(number_text("15,635.03"), Some(15635.03));
        assert_eq!(number_text("550"), Some(550.0));
        assert_eq!(number_text("inf"), Some(f64::INFINITY));
        assert_eq!(number_text("abc"), None);
        assert_eq!(
            rate_text(Some(&serde_json::json!("inf"))),
            Some("inf".into())
        );
        assert_eq!(rate_text(Some(&serde_json::json!(4.0))), Some("4".into()));
    }

    #[test]
    fn truncated_json_is_an_error_naming_the_place() {
        let e = parse(br#"{"a": [1, 2"#).unwrap_err().to_string();
        assert!(e.contains("invalid JSON") && e.contains("line 1"), "{e}");
    }
}
