//! Answers from the database, shared by the CLI (`rank`, `history`) and `serve`: read the
//! summaries (or the raw samples for an exact ranking), then hand them to the pure `ranking`
//! and `history` modules.

pub mod compare;
mod noise;
pub mod regressions;

use anyhow::Result;
use tokio_postgres::GenericClient;

use crate::db::catalogue::Catalogue;
use crate::db::{joint, reported, samples, summaries, workloads};
use crate::domain::MetricInfo;
use crate::domain::RunFilter;
use crate::history::{self, History};
use crate::ranking::{self, Method, Ranking, Reported, Row, Scope};
use crate::stats::Statistic;
use crate::window::{rfc3339, Bounds};

/// Why there is no answer.
#[derive(Debug)]
pub enum NoAnswer {
    /// No run matches the source or workload filter.
    NoRuns,
    /// No samples of the metric in the window (`true`: all time).
    Empty(bool),
    /// No samples, but tools reported statistics of the metric (aggregate-only imports),
    /// which `--include-reported` adds.
    OnlyReported,
    /// The exact answer needs raw samples that retention dropped (before this time).
    RawDropped(i64),
    /// No requests kept as requests (older data, or sources without per-request values).
    NoRequests,
    /// No workload names a load (concurrency or request rate) with two levels or more.
    NoSweep,
}

/// What is asked of a ranking: the metric, the statistic, the window, how, and which runs.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub metric_id: i16,
    pub info: &'a MetricInfo,
    pub by: Statistic,
    pub window: &'a Bounds,
    pub method: Method,
    pub filter: &'a RunFilter,
    /// Add the tool-reported aggregates of aggregate-only imports, marked as such.
    pub include_reported: bool,
}

/// The ranking asked for, from summaries or (exact) from raw samples.
pub async fn ranking(
    client: &impl GenericClient,
    cat: &Catalogue,
    ask: &Ask<'_>,
) -> Result<std::result::Result<Ranking, NoAnswer>> {
    let Ask {
        metric_id,
        info,
        by,
        window,
        method,
        filter,
        include_reported,
    } = *ask;
    let cover = workloads::cover(client, filter).await?;
    if cover.ids.is_empty() {
        return Ok(Err(NoAnswer::NoRuns));
    }
    let scope = Scope {
        window: window.to_json(),
        method,
        filter: filter.clone(),
        covered: cover.covered,
    };
    let workloads = Some(cover.ids.as_slice());
    let mut rows: Vec<Row> = match method {
        Method::Summary => summary_rows(client, cat, metric_id, by, window, workloads).await?,
        Method::Exact => {
            if let Some(h) = samples::retention_horizon(client).await? {
                if window.from.is_none_or(|f| f < h) {
                    return Ok(Err(NoAnswer::RawDropped(h)));
                }
            }
            let found = samples::values_by_llm(client, metric_id, window, workloads).await?;
            let mut rows = sample_rows(client, cat, by, found).await?;
            noise::over_runs(client, cat, metric_id, by, window, workloads, &mut rows).await?;
            rows
        }
    };
    if include_reported || rows.is_empty() {
        let found = reported::for_metric(client, metric_id, window, workloads, None).await?;
        if !include_reported {
            return Ok(Err(if found.is_empty() {
                NoAnswer::Empty(window.is_all_time())
            } else {
                NoAnswer::OnlyReported
            }));
        }
        rows.extend(reported_rows(client, cat, by, found).await?);
    }
    if rows.is_empty() {
        return Ok(Err(NoAnswer::Empty(window.is_all_time())));
    }
    Ok(Ok(ranking::rank(info, by, scope, rows)))
}

/// Each LLM's row of `metric_id` from the summaries over `window` and `workloads`.
async fn summary_rows(
    client: &impl GenericClient,
    cat: &Catalogue,
    metric_id: i16,
    by: Statistic,
    window: &Bounds,
    workloads: Option<&[i32]>,
) -> Result<Vec<Row>> {
    let found = summaries::by_llm(client, metric_id, window, workloads).await?;
    let named = naming(client, cat, found.iter().map(|(id, _)| *id)).await?;
    let mut rows: Vec<Row> = found
        .iter()
        .map(|(id, s)| Row::from_summary(named.llm_name(*id), s, by))
        .collect();
    noise::over_runs(client, cat, metric_id, by, window, workloads, &mut rows).await?;
    Ok(rows)
}

/// Each LLM's row from its raw values (exact).
async fn sample_rows(
    client: &impl GenericClient,
    cat: &Catalogue,
    by: Statistic,
    found: Vec<(i16, Vec<f64>)>,
) -> Result<Vec<Row>> {
    let cat = naming(client, cat, found.iter().map(|(id, _)| *id)).await?;
    let data: Vec<(String, Vec<f64>)> = found
        .into_iter()
        .map(|(id, values)| (cat.llm_name(id), values))
        .collect();
    // Sorting many values is CPU work: keep it off the I/O threads.
    Ok(tokio::task::spawn_blocking(move || {
        data.into_iter()
            .filter_map(|(llm, values)| Row::from_samples(llm, values, by))
            .collect()
    })
    .await?)
}

/// Rows of tools' reported aggregates (those that reported the statistic `by`).
async fn reported_rows(
    client: &impl GenericClient,
    cat: &Catalogue,
    by: Statistic,
    found: Vec<reported::ReportedRow>,
) -> Result<Vec<Row>> {
    let cat = naming(client, cat, found.iter().map(|r| r.llm_id)).await?;
    Ok(found
        .into_iter()
        .filter_map(|r| {
            let origin = Reported {
                run_id: r.run_id,
                tool: r.tool,
                origin: r.origin,
            };
            Row::from_reported(
                cat.llm_name(r.llm_id),
                by,
                origin,
                r.n,
                r.mean,
                r.stddev,
                [r.min, r.max],
                [r.p50, r.p90, r.p95, r.p99],
            )
        })
        .collect())
}

/// Each LLM's row from its raw values in each run: the statistic and its interval over all
/// its requests, and over its runs when it has three or more ([`ranking::RunNoise`]).
async fn run_rows(
    client: &impl GenericClient,
    cat: &Catalogue,
    by: Statistic,
    found: Vec<(i16, i32, Vec<f64>)>,
) -> Result<Vec<Row>> {
    let cat = naming(client, cat, found.iter().map(|(id, _, _)| *id)).await?;
    let mut per_llm: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    for (id, _, values) in found {
        let llm = cat.llm_name(id);
        match per_llm.last_mut() {
            Some((l, runs)) if *l == llm => runs.push(values),
            _ => per_llm.push((llm, vec![values])),
        }
    }
    // Sorting many values is CPU work: keep it off the I/O threads.
    Ok(tokio::task::spawn_blocking(move || {
        per_llm
            .into_iter()
            .filter_map(|(llm, mut runs)| {
                let per_run: Vec<f64> = runs
                    .iter_mut()
                    .filter_map(|v| Some(crate::stats::Summary::of(v)?.get(by)))
                    .collect();
                let all: Vec<f64> = runs.concat();
                let mut row = Row::from_samples(llm, all, by)?;
                row.runs = ranking::RunNoise::of(&per_run);
                Some(row)
            })
            .collect()
    })
    .await?)
}

/// One side of a comparison, resolved: whole runs, or a window of the workloads its filter
/// covers (read once for every metric compared).
#[derive(Debug, Clone, Copy)]
pub enum SideAsk<'a> {
    Runs(&'a [i32]),
    Window {
        window: &'a Bounds,
        workloads: &'a [i32],
    },
}

/// A comparison side's rows of `metric_id`: exact from the runs' raw samples, or from the
/// summaries of a window. Runs named by id also give the aggregates their tool reported (an
/// aggregate-only import), for LLMs without samples there, when one run reported them (the
/// aggregates of two runs cannot be merged); a window's rows are computed from samples only,
/// as a ranking's are by default.
pub async fn side_rows(
    client: &impl GenericClient,
    cat: &Catalogue,
    metric_id: i16,
    by: Statistic,
    side: SideAsk<'_>,
) -> Result<Vec<Row>> {
    match side {
        SideAsk::Runs(runs) => {
            let found = samples::values_by_llm_and_run(client, metric_id, runs).await?;
            let mut rows = run_rows(client, cat, by, found).await?;
            let found =
                reported::for_metric(client, metric_id, &Bounds::ALL_TIME, None, Some(runs))
                    .await?;
            let mut reported = reported_rows(client, cat, by, found).await?;
            reported.retain(|r| !rows.iter().any(|s| s.llm == r.llm));
            let once = |r: &Row| reported.iter().filter(|o| o.llm == r.llm).count() == 1;
            let single: Vec<Row> = reported.iter().filter(|r| once(r)).cloned().collect();
            rows.extend(single);
            Ok(rows)
        }
        SideAsk::Window { workloads: [], .. } => Ok(Vec::new()),
        SideAsk::Window { window, workloads } => {
            summary_rows(client, cat, metric_id, by, window, Some(workloads)).await
        }
    }
}

/// The bounds and bucket of a history's `plan`, narrowed to the time from the first day with
/// data of `metric_id` that the history would show (of `llm` when given, in the workloads
/// `filter` covers): `Err` (inner) when the plan cannot be drawn.
pub async fn history_bounds(
    client: &impl GenericClient,
    plan: history::Plan,
    metric_id: i16,
    llm: Option<i16>,
    filter: &RunFilter,
) -> Result<std::result::Result<(Bounds, i64), crate::window::WindowError>> {
    let cover = workloads::cover(client, filter).await?;
    let first = summaries::first_day(client, metric_id, llm, &cover.ids).await?;
    Ok(plan.resolve(first, crate::window::now()))
}

/// The history of `metric_id`: per LLM, one point per bucket with data.
#[allow(clippy::too_many_arguments)]
pub async fn history(
    client: &impl GenericClient,
    cat: &Catalogue,
    metric_id: i16,
    info: &MetricInfo,
    bucket_secs: i64,
    window: &Bounds,
    llm: Option<i16>,
    filter: &RunFilter,
) -> Result<History> {
    let cover = workloads::cover(client, filter).await?;
    let rows = match cover.ids.as_slice() {
        [] => Vec::new(),
        w => summaries::series(client, metric_id, bucket_secs, window, llm, Some(w)).await?,
    };
    let cat = naming(client, cat, rows.iter().map(|(id, _, _)| *id)).await?;
    let mut h = history::build(info, bucket_secs, window, rows, |id| cat.llm_name(id));
    h.covered = cover.covered;
    Ok(h)
}

impl NoAnswer {
    /// One line for the CLI.
    pub fn into_error(self, metric: &str) -> anyhow::Error {
        match self {
            NoAnswer::NoRuns => anyhow::anyhow!(
                "no runs match this --source/--workload filter; `llmrank runs` lists runs and their workloads"
            ),
            NoAnswer::Empty(true) => {
                anyhow::anyhow!("no samples for {metric} yet; `llmrank simulate` generates some")
            }
            NoAnswer::Empty(false) => anyhow::anyhow!(
                "no samples for {metric} in this window; `llmrank simulate` generates some"
            ),
            NoAnswer::OnlyReported => anyhow::anyhow!(
                "no samples for {metric} here, only statistics the benchmark tools reported (files without per-request data); add --include-reported (API: include_reported=true) to rank them"
            ),
            NoAnswer::NoSweep => anyhow::anyhow!(
                "no sweep to read: no runs whose workloads differ only in concurrency or request_rate; `llmrank simulate --sweep concurrency=1,2,4,8,16,32,64` makes one, and imports of several load levels of one benchmark form one"
            ),
            NoAnswer::NoRequests => anyhow::anyhow!(
                "no requests to judge against an SLO here: goodput needs per-request data kept as requests (`llmrank simulate`, per-request result files, or records with a request column); samples written before llmrank kept request identity have none"
            ),
            NoAnswer::RawDropped(h) => anyhow::anyhow!(
                "the raw samples before {} were dropped by retention (retention.raw_days); rank without --exact (summaries are kept), or with --from at or after that time",
                rfc3339(h)
            ),
        }
    }
}

/// `cat`, or the catalogue read again when it does not know every LLM of `ids`: a request's
/// snapshot can predate the LLMs a write just added (its notification not yet in), and an
/// answer must name them, not say "llm #13" (and be cached so).
pub(crate) async fn naming<'a>(
    client: &impl GenericClient,
    cat: &'a Catalogue,
    mut ids: impl Iterator<Item = i16>,
) -> Result<std::borrow::Cow<'a, Catalogue>> {
    if ids.all(|id| cat.llms.iter().any(|(known, _)| *known == id)) {
        return Ok(std::borrow::Cow::Borrowed(cat));
    }
    Ok(std::borrow::Cow::Owned(
        crate::db::catalogue::load(client).await?,
    ))
}

/// Fails unless the query found something (for callers that need a plain error).
pub fn require(r: std::result::Result<Ranking, NoAnswer>, metric: &str) -> Result<Ranking> {
    r.map_err(|e| e.into_error(metric))
}

/// What is asked of a goodput ranking.
#[derive(Debug, Clone, Copy)]
pub struct GoodputAsk<'a> {
    pub slo: &'a crate::slo::Slo,
    pub window: &'a Bounds,
    pub method: Method,
    pub filter: &'a RunFilter,
}

/// The goodput ranking asked for: from the joint summaries, or (exact) from the raw requests.
pub async fn goodput(
    client: &impl GenericClient,
    cat: &Catalogue,
    ask: &GoodputAsk<'_>,
) -> Result<std::result::Result<crate::goodput::Goodput, NoAnswer>> {
    use crate::goodput::Counted;
    let cover = workloads::cover(client, ask.filter).await?;
    if cover.ids.is_empty() {
        return Ok(Err(NoAnswer::NoRuns));
    }
    if let Some(h) = raw_dropped(client, ask.window, ask.method).await? {
        return Ok(Err(NoAnswer::RawDropped(h)));
    }
    let acc = goodput_counts(client, ask, Some(cover.ids.as_slice())).await?;
    if acc.values().all(|a| a.n == 0) {
        return Ok(Err(NoAnswer::NoRequests));
    }
    let cat = naming(client, cat, acc.keys().copied()).await?;
    let counted = acc
        .into_iter()
        .map(|(id, c)| Counted {
            llm: cat.llm_name(id),
            ..c
        })
        .collect();
    Ok(Ok(crate::goodput::rank(
        ask.slo,
        ask.window.to_json(),
        ask.method,
        cover.covered,
        counted,
    )))
}

/// What is asked of a sweep: the levels of every sweep the filter covers.
#[derive(Debug, Clone, Copy)]
pub struct SweepAsk<'a> {
    pub window: &'a Bounds,
    pub filter: &'a RunFilter,
    /// Count requests meeting this SLO (and each of its constraints) per level.
    pub slo: Option<&'a crate::slo::Slo>,
    /// The curve's metric: its n, p50 and p99 per level.
    pub metric_id: Option<i16>,
    pub method: Method,
}

/// Every LLM at every level of the sweeps the filter covers (workloads that name a load).
pub async fn sweep_levels(
    client: &impl GenericClient,
    cat: &Catalogue,
    ask: &SweepAsk<'_>,
) -> Result<std::result::Result<Vec<crate::sweep::Level>, NoAnswer>> {
    use crate::slo::Slo;
    use std::collections::BTreeMap;
    let cover = workloads::cover(client, ask.filter).await?;
    if cover.ids.is_empty() {
        return Ok(Err(NoAnswer::NoRuns));
    }
    if let Some(h) = raw_dropped(client, ask.window, ask.method).await? {
        return Ok(Err(NoAnswer::RawDropped(h)));
    }
    let rows = client
        .query(
            "SELECT id, params FROM workloads WHERE id = ANY($1) ORDER BY id",
            &[&cover.ids],
        )
        .await
        .map_err(|e| crate::db::schema_hint(e, "failed to read workloads"))?;
    let tps_id = cat.metric("TPS").map(|m| m.0);
    let tpot_id = cat.metric("TPOT").map(|m| m.0);
    let mut levels = Vec::new();
    for r in &rows {
        let id: i32 = r.get(0);
        let params: BTreeMap<String, String> =
            serde_json::from_value(r.get::<_, serde_json::Value>(1)).unwrap_or_default();
        let Some((load_text, load_kind, load, sweep)) = crate::sweep::level_of(&params) else {
            continue;
        };
        let only = [id];
        let w = Some(&only[..]);
        // Per LLM: n, good, per constraint, throughput.
        let mut per: BTreeMap<i16, crate::sweep::Level> = BTreeMap::new();
        let blank = |llm: String| crate::sweep::Level {
            llm,
            sweep: sweep.clone(),
            load_kind,
            load_text: load_text.clone(),
            load,
            workload_id: id,
            n: 0,
            good: None,
            per_constraint: Vec::new(),
            throughput: None,
            metric: None,
            interactivity: None,
            output_throughput: None,
            gpus: crate::sweep::gpus_of(&params),
        };
        let singles: Vec<Slo> = ask
            .slo
            .map(|s| {
                s.constraints
                    .iter()
                    .map(|c| Slo {
                        constraints: vec![*c],
                    })
                    .collect()
            })
            .unwrap_or_default();
        // The whole SLO first, then each constraint alone (for what breaks first).
        let mut slos: Vec<&Slo> = ask.slo.into_iter().collect();
        slos.extend(singles.iter());
        let any = Slo {
            constraints: Vec::new(),
        };
        if slos.is_empty() {
            slos.push(&any);
        }
        for (i, slo) in slos.iter().enumerate() {
            let g = GoodputAsk {
                slo,
                window: ask.window,
                method: ask.method,
                filter: &RunFilter::default(),
            };
            for c in counts_in(client, &g, w).await? {
                let level = per.entry(c.0).or_insert_with(|| blank(cat.llm_name(c.0)));
                if i == 0 {
                    level.n = c.1.n;
                    level.throughput = c.1.throughput;
                    level.output_throughput = c.1.output_throughput;
                    if ask.slo.is_some() {
                        level.good = Some(c.1.good);
                    }
                } else if let Some(m) = slo.constraints.first() {
                    level.per_constraint.push((m.metric, c.1.good));
                }
            }
        }
        let llm_rows = |metric: Option<i16>| async move {
            match metric {
                Some(m) => summaries::by_llm(client, m, ask.window, w).await,
                None => Ok(Vec::new()),
            }
        };
        if let Some(metric_id) = ask.metric_id {
            for (llm, s) in llm_rows(Some(metric_id)).await? {
                let level = per.entry(llm).or_insert_with(|| blank(cat.llm_name(llm)));
                level.metric = Some(crate::sweep::MetricPoint {
                    n: s.moments.n,
                    p50: crate::stats::percentile(&s, 0.5),
                    p99: crate::stats::percentile(&s, 0.99),
                });
            }
        }
        // Tokens per second per user: 1000 / mean TPOT where TPOT is stored; simulate keeps
        // the decode speed (TPS) itself.
        let simulated = params.get("tool").is_some_and(|t| t == "simulate");
        let (which, invert) = if simulated {
            (tps_id, false)
        } else {
            (tpot_id, true)
        };
        for (llm, s) in llm_rows(which).await? {
            if let Some(level) = per.get_mut(&llm) {
                let mean = s.moments.mean;
                level.interactivity = Some(if invert { 1_000.0 / mean } else { mean });
            }
        }
        levels.extend(per.into_values());
    }
    // Single levels (a run at one load) are no sweep.
    if !crate::sweep::any_sweep(&levels) {
        return Ok(Err(NoAnswer::NoSweep));
    }
    Ok(Ok(levels))
}

/// Per LLM, the requests of `workloads` meeting `ask.slo` (an empty SLO: every request).
async fn counts_in(
    client: &impl GenericClient,
    ask: &GoodputAsk<'_>,
    workloads: Option<&[i32]>,
) -> Result<Vec<(i16, crate::goodput::Counted)>> {
    let mut acc = goodput_counts(client, ask, workloads).await?;
    Ok(std::mem::take(&mut acc).into_iter().collect())
}

/// Per LLM id, the requests of `workloads` meeting `ask.slo` (names left empty).
async fn goodput_counts(
    client: &impl GenericClient,
    ask: &GoodputAsk<'_>,
    workloads: Option<&[i32]>,
) -> Result<std::collections::BTreeMap<i16, crate::goodput::Counted>> {
    use std::collections::BTreeMap;
    // Per LLM: good, n, failed, timed requests, their seconds, resolved.
    #[derive(Default)]
    struct Acc {
        good: u64,
        n: u64,
        failed: u64,
        timed: u64,
        seconds: f64,
        tokened: u64,
        tokens: f64,
        resolved: bool,
    }
    let mut acc: BTreeMap<i16, Acc> = BTreeMap::new();
    match ask.method {
        Method::Summary => {
            for (llm, _, j) in joint::rows(client, ask.window, workloads).await? {
                let c = j.count(ask.slo);
                let a = acc.entry(llm).or_insert(Acc {
                    resolved: true,
                    ..Acc::default()
                });
                a.good += c.good;
                a.n += c.n;
                a.failed += j.failed;
                a.timed += j.timed;
                a.seconds += j.seconds;
                a.tokened += j.tokened;
                a.tokens += j.tokens;
                a.resolved &= c.resolved;
            }
        }
        Method::Exact => {
            let ids = joint::request_metrics(client).await?;
            let bound = |m: crate::domain::MetricKind| {
                ask.slo
                    .constraints
                    .iter()
                    .find(|c| c.metric == m)
                    .map(|c| c.max)
            };
            let t = joint::Thresholds {
                ttft: bound(crate::domain::MetricKind::Ttft),
                tpot: bound(crate::domain::MetricKind::Tpot),
                e2e: bound(crate::domain::MetricKind::E2eLatency),
            };
            let counts = joint::exact(client, ask.window, workloads, ids, t).await?;
            let totals: BTreeMap<i32, joint::RunTotals> = joint::run_totals(client, workloads)
                .await?
                .into_iter()
                .map(|t| (t.run_id, t))
                .collect();
            for rc in &counts {
                let a = acc.entry(rc.llm_id).or_insert(Acc {
                    resolved: true,
                    ..Acc::default()
                });
                a.good += rc.good;
                a.n += rc.ok;
                a.tokened += rc.tokened;
                a.tokens += rc.tokens;
                let seconds = rc.simulated_seconds.or_else(|| {
                    totals
                        .get(&rc.run_id)
                        .and_then(|t| t.share())
                        .map(|s| s * rc.ok as f64)
                });
                if let Some(s) = seconds {
                    a.timed += rc.ok;
                    a.seconds += s;
                }
            }
            // Failures count where their run's first request was taken.
            let inside = |at: i64| {
                ask.window.from.is_none_or(|f| at >= f) && ask.window.to.is_none_or(|t| at < t)
            };
            for t in totals.values().filter(|t| t.failed > 0) {
                let (Some(llm), Some(at)) = (t.failed_llm_id, t.first_request_at) else {
                    continue;
                };
                if !inside(at) {
                    continue;
                }
                let a = acc.entry(llm).or_insert(Acc {
                    resolved: true,
                    ..Acc::default()
                });
                a.n += t.failed;
                a.failed += t.failed;
                if let Some(s) = t.share() {
                    a.timed += t.failed;
                    a.seconds += s * t.failed as f64;
                }
            }
        }
    }
    Ok(acc
        .into_iter()
        .map(|(id, a)| {
            let throughput = (a.timed > 0 && a.seconds > 0.0).then(|| a.timed as f64 / a.seconds);
            // Requests/s × mean output tokens of the requests whose tokens are known.
            let mean_tokens = (a.tokened > 0).then(|| a.tokens / a.tokened as f64);
            let c = crate::goodput::Counted {
                llm: String::new(),
                good: a.good,
                n: a.n,
                failed: a.failed,
                throughput,
                output_throughput: throughput.zip(mean_tokens).map(|(t, m)| t * m),
                resolved: a.resolved,
            };
            (id, c)
        })
        .collect())
}

/// For an exact answer over `window`: the retention horizon when raw samples it needs are gone.
async fn raw_dropped(
    client: &impl GenericClient,
    window: &Bounds,
    method: Method,
) -> Result<Option<i64>> {
    if method != Method::Exact {
        return Ok(None);
    }
    Ok(samples::retention_horizon(client)
        .await?
        .filter(|&h| window.from.is_none_or(|f| f < h)))
}
