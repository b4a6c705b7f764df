//! The `workloads` table: what each run's benchmark asked of the server, shared by runs with the
//! same source and parameters, and the key of the summaries' per-workload rows.

use std::collections::BTreeMap;

use anyhow::Result;
use tokio_postgres::GenericClient;

use crate::domain::{Covered, RunFilter, SourceKind};

/// The id of the workload of `source` with `params`, created on first sight. `params` values
/// are text, so `--workload concurrency=4` matches whatever tool wrote it.
pub async fn ensure(
    client: &impl GenericClient,
    source: SourceKind,
    params: &BTreeMap<String, String>,
) -> Result<i32> {
    let json = serde_json::to_value(params)?;
    // BTreeMap serialises its keys sorted: one text per distinct workload.
    let key = serde_json::json!({ "source": source.as_str(), "params": json }).to_string();
    super::insert_or_get(
        client,
        "WITH new AS (INSERT INTO workloads (source, key, params) VALUES ($1, $2, $3)
                      ON CONFLICT (key) DO NOTHING RETURNING id)
         SELECT id FROM new UNION ALL SELECT id FROM workloads WHERE key = $2 LIMIT 1",
        "SELECT id FROM workloads WHERE key = $2 AND $1::text IS NOT NULL AND $3::jsonb IS NOT NULL",
        &[&source.as_str(), &key, &json],
    )
    .await
    .map_err(|e| anyhow::anyhow!("failed to record the workload: {e:#}"))
}

/// A workload that holds runs, for listings (`GET /workloads`, the dashboard's picker).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Listed {
    pub id: i32,
    pub source: String,
    pub params: serde_json::Value,
    /// Runs not deleted.
    pub runs: i64,
}

impl Listed {
    /// `source` then its `key=value` pairs, sorted by key: how answers name a workload.
    pub fn label(&self) -> String {
        let mut out = self.source.clone();
        if let Some(map) = self.params.as_object() {
            for (k, v) in map {
                let v = v.as_str().map_or_else(|| v.to_string(), String::from);
                out.push_str(&format!(" {k}={v}"));
            }
        }
        out
    }
}

/// Every workload that holds runs, the measured ones first, then by id.
pub async fn list(client: &impl GenericClient) -> Result<Vec<Listed>> {
    let rows = client
        .query(
            "SELECT w.id, w.source, w.params, count(r.id)
             FROM workloads w JOIN runs r ON r.workload_id = w.id AND r.status <> 'deleted'
             GROUP BY w.id ORDER BY w.source = 'simulate', w.id",
            &[],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read workloads"))?;
    Ok(rows
        .iter()
        .map(|r| Listed {
            id: r.get(0),
            source: r.get(1),
            params: r.get(2),
            runs: r.get(3),
        })
        .collect())
}

/// What a run filter covers: the workloads an answer reads, and what they hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cover {
    /// The workloads to read.
    pub ids: Vec<i32>,
    /// The sources and the number of the covered workloads that hold runs.
    pub covered: Covered,
}

/// The workloads `filter` covers. With no source named: those of the measured sources
/// (`import`, `api`) when any of them holds runs, else the simulated ones — simulated data
/// share an answer with measured data only when both are named.
pub async fn cover(client: &impl GenericClient, filter: &RunFilter) -> Result<Cover> {
    let named: Option<Vec<&str>> =
        (!filter.sources.is_empty()).then(|| filter.sources.iter().map(|s| s.as_str()).collect());
    let params = serde_json::to_value(&filter.workload)?;
    let rows = client
        .query(
            "SELECT w.id, w.source, EXISTS (SELECT 1 FROM runs r
                                            WHERE r.workload_id = w.id AND r.status <> 'deleted')
             FROM workloads w
             WHERE ($1::text[] IS NULL OR w.source = ANY($1)) AND w.params @> $2::jsonb
             ORDER BY w.id",
            &[&named, &params],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read workloads"))?;
    let found: Vec<(i32, SourceKind, bool)> = rows
        .iter()
        .filter_map(|r| Some((r.get(0), SourceKind::parse(r.get(1))?, r.get(2))))
        .collect();
    Ok(choose(&found, named.is_some()))
}

/// [`cover`]'s choice over (workload, source, holds runs), pure.
fn choose(found: &[(i32, SourceKind, bool)], named: bool) -> Cover {
    let measured = found.iter().any(|&(_, s, live)| live && s.measured());
    let keep = |s: SourceKind| named || s.measured() == measured;
    let kept: Vec<&(i32, SourceKind, bool)> = found.iter().filter(|w| keep(w.1)).collect();
    let live: Vec<&&(i32, SourceKind, bool)> = kept.iter().filter(|w| w.2).collect();
    let sources: std::collections::BTreeSet<SourceKind> = live.iter().map(|w| w.1).collect();
    Cover {
        ids: kept.iter().map(|w| w.0).collect(),
        covered: Covered {
            sources: sources.into_iter().collect(),
            workloads: live.len(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SourceKind::*;

    #[test]
    fn no_source_named_means_measured_when_any_else_simulated() {
        let sim_only = [(1, Simulate, true), (2, Import, false)];
        let c = choose(&sim_only, false);
        assert_eq!(c.ids, vec![1]);
        assert_eq!(
            (c.covered.sources, c.covered.workloads),
            (vec![Simulate], 1)
        );
        let both = [(1, Simulate, true), (2, Import, true), (3, Api, true)];
        let c = choose(&both, false);
        assert_eq!(c.ids, vec![2, 3]);
        assert_eq!(
            (c.covered.sources, c.covered.workloads),
            (vec![Import, Api], 2)
        );
        // Named: whatever the query kept (it filters by the names).
        let c = choose(&both, true);
        assert_eq!((c.ids.len(), c.covered.sources.len()), (3, 3));
    }
}
