//! `llmrank import FILE...`: benchmark tools' result files through the one ingest path, one
//! transaction per file. A file that cannot be read gets one line on stderr naming it and the
//! cause; nothing of it is written, and the other files still are.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::config::Settings;
use crate::db::retry::{self, RetryPolicy};
use crate::db::{self, catalogue, error};
use crate::domain::{MetricKind, SourceKind};
use crate::import::{self, Format, Options};
use crate::ingest::records::{self, Input, InputFormat, InputReport};
use crate::table;

/// What `import` was asked.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub files: Vec<String>,
    /// `None`: detect from content.
    pub format: Option<Format>,
    pub llm: Option<String>,
    pub label: Option<String>,
    pub dry_run: bool,
    pub force: bool,
}

/// The outcome per file: its report, or the one-line reason it was not imported.
pub type Outcome = Vec<(String, Result<InputReport>)>;

/// The files to read, each with its companion (an LLMPerf summary beside its individual
/// responses; AIPerf's aggregate JSON beside its per-request JSONL). A companion named on the
/// command line too is not imported again on its own.
fn plan(files: &[String]) -> Vec<(String, Option<PathBuf>)> {
    let mut companions: Vec<PathBuf> = Vec::new();
    let mut out = Vec::new();
    for f in files {
        let companion = companion_of(f);
        if let Some(c) = &companion {
            companions.push(c.clone());
        }
        out.push((f.clone(), companion));
    }
    out.retain(|(f, _)| {
        let p = Path::new(f);
        !companions.iter().any(|c| same_file(c, p))
    });
    out
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn companion_of(file: &str) -> Option<PathBuf> {
    if file == "-" {
        return None;
    }
    let p = Path::new(file);
    let name = p.file_name()?.to_str()?;
    let candidate = if let Some(summary) = import::llmperf::summary_name(name) {
        p.with_file_name(summary)
    } else if name.ends_with(".jsonl") && name.contains("profile_export") {
        p.with_file_name("profile_export_aiperf.json")
    } else {
        return None;
    };
    candidate.is_file().then_some(candidate)
}

fn open(file: &str) -> Result<Box<dyn BufRead + Send>> {
    if file == "-" {
        return Ok(Box::new(std::io::BufReader::with_capacity(
            1 << 20,
            std::io::stdin(),
        )));
    }
    let f = std::fs::File::open(file).map_err(|e| anyhow!("cannot open it: {e}"))?;
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
}

fn input(req: &Request, file: &str, companion: Option<&Path>, known: &[String]) -> Result<Input> {
    let mut reader = open(file)?;
    let name = if file == "-" { "stdin" } else { file };
    let format = match req.format {
        Some(f) => f,
        None => records::detect(name, &mut reader)?,
    };
    let companion = match companion {
        Some(c) => Some(std::fs::read(c).with_context(|| format!("cannot read {}", c.display()))?),
        None => None,
    };
    Ok(Input {
        name: name.to_string(),
        format: InputFormat::Tool(format),
        opts: Options {
            llm: req.llm.clone(),
            label: req.label.clone(),
            known_metrics: known.to_vec(),
            companion,
        },
        source: SourceKind::Import,
        reader,
        force: req.force,
        idempotency_key: None,
        // A file's hash first, so one imported before is refused without copying it again.
        body_sha256: match (req.force, file) {
            (false, f) if f != "-" => Some(file_sha256(f)?),
            _ => None,
        },
        progress: None,
    })
}

/// The SHA-256 (hex) of the file at `path`, read in 1 MiB pieces.
fn file_sha256(path: &str) -> Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| anyhow!("cannot open it: {e}"))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f
            .read(&mut buf)
            .map_err(|e| anyhow!("cannot read it: {e}"))?
        {
            0 => return Ok(crate::hash::hex(&h.finalize())),
            n => h.update(&buf[..n]),
        }
    }
}

/// A progress bar of bytes read on a terminal, for files worth one (8 MiB and more).
fn progress_bar(file: &str, input: &mut Input) -> Option<tokio::task::JoinHandle<()>> {
    use std::io::IsTerminal;
    let size = std::fs::metadata(file).ok()?.len();
    if size < 8 << 20 || !std::io::stderr().is_terminal() {
        return None;
    }
    let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    input.progress = Some(read.clone());
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, eta {eta}) {msg}",
        )
        .ok()?
        .progress_chars("=> "),
    );
    bar.set_message(file.to_string());
    Some(tokio::spawn(async move {
        loop {
            let n = read.load(std::sync::atomic::Ordering::Relaxed);
            bar.set_position(n.min(size));
            if n >= size {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        bar.finish_and_clear();
    }))
}

/// `llmrank import`: imports every file, prints each one's report (a failed file's reason on
/// stderr), and fails when any file was not imported.
pub async fn main(settings: &Settings, req: &Request) -> Result<()> {
    let outcome = run(settings, req).await?;
    let mut failed = 0;
    for (file, r) in &outcome {
        match r {
            Ok(report) => print!("{}", table::printable(&report.describe(req.dry_run))),
            Err(e) => {
                failed += 1;
                let name = if file == "-" { "stdin" } else { file };
                eprintln!("llmrank: {}", table::printable(&format!("{name}: {e:#}")));
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} files not imported (nothing of them was written)",
            outcome.len()
        );
    }
    Ok(())
}

pub async fn run(settings: &Settings, req: &Request) -> Result<Outcome> {
    if req.files.is_empty() {
        return Err(anyhow!(
            "no files given; `llmrank import FILE...` (- for stdin)"
        ));
    }
    let mut out = Vec::new();
    if req.dry_run {
        let mut known: Vec<String> = settings.metrics.iter().map(|m| m.name.clone()).collect();
        known.extend(MetricKind::ALL.iter().map(|m| m.name().to_string()));
        for (file, companion) in plan(&req.files) {
            let r = input(req, &file, companion.as_deref(), &known)
                .and_then(|i| tokio::task::block_in_place(|| records::dry_run(i)));
            out.push((file, r));
        }
        return Ok(out);
    }
    let pg = db::pg_config(&settings.database, "llmrank-import")?;
    let policy = RetryPolicy::from(&settings.simulate.retry);
    let mut client = db::connect(&pg).await?;
    let cat = catalogue::load(&client).await?;
    let known = cat.known_metric_names();
    for (file, companion) in plan(&req.files) {
        let mut tries = policy.start();
        let r = loop {
            let r = match input(req, &file, companion.as_deref(), &known) {
                Ok(mut i) => {
                    let bar = progress_bar(&file, &mut i);
                    let r = records::ingest(&mut client, i).await;
                    match bar {
                        // Everything was read: the bar finishes by itself.
                        Some(b) if r.is_ok() => {
                            let _ = b.await;
                        }
                        Some(b) => b.abort(),
                        None => {}
                    }
                    r
                }
                Err(e) => Err(e),
            };
            // A lost connection or a restarting server: the file is read again and written
            // once (a commit that did land is found by the file's SHA-256). Stdin cannot be
            // read twice.
            match r {
                Ok(mut report) => {
                    report.retries = tries.retries();
                    break Ok(report);
                }
                Err(e) if error::any_transient(&e) && file != "-" => {
                    let what = format!("transient database error; importing {file} again");
                    if !tries.pause(&what, &format!("{e:#}")).await {
                        break Err(e);
                    }
                    client = retry::connect(&pg, &policy).await?;
                }
                Err(e) => break Err(e),
            }
        };
        if r.is_err() && client.is_closed() {
            client = db::connect(&pg).await?;
        }
        out.push((file, r));
    }
    Ok(out)
}
