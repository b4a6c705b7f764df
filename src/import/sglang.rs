//! SGLang `python -m sglang.bench_serving --output-file X.jsonl`: one JSON object appended per
//! run (bare `Infinity` for an unbounded rate). A fork of vLLM's script, so the keys and their
//! mapping are vLLM's (see `vllm`): `{mean,median,std,p99}_ttft_ms`, `_itl_ms`, `_tpot_ms`,
//! `_e2e_latency_ms`, `output_throughput`, `request_throughput` (older files: completed /
//! duration), and with `--output-details` per-request arrays in seconds. No model id except
//! `server_info.model_path` in the newest files: `--llm` names it otherwise. `backend` here is
//! the server engine.

use std::io::BufRead;

use anyhow::{anyhow, Result};

use super::{json, vllm, Options, Sink};

pub fn parse(input: &mut dyn BufRead, opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let runs = super::each_line(input, 0, |n, line| {
        let mut v = json::parse(line).map_err(|e| anyhow!("line {n}: {e}"))?;
        let Some(obj) = v.as_object_mut() else {
            anyhow::bail!(
                "line {n}: expected a JSON object of an SGLang run, found {}",
                vllm::kind(&v)
            );
        };
        if !obj.contains_key("model_id") {
            if let Some(m) = obj
                .get("server_info")
                .and_then(|s| s.get("model_path"))
                .cloned()
            {
                obj.insert("model_id".into(), m);
            }
        }
        if !obj.contains_key("framework") {
            if let Some(b) = obj.get("backend").cloned() {
                obj.insert("framework".into(), b);
            }
        }
        vllm::run_value(&v, "sglang", opts, sink).map_err(|e| e.context(format!("line {n}")))
    })?;
    if runs == 0 {
        anyhow::bail!("empty input: no SGLang run in it");
    }
    Ok(())
}
