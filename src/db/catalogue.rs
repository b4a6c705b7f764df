//! The catalogue tables `llms` and `metrics`: seeding them from config, reading them back, and
//! adding the LLMs and metrics an import names on first sight.

use anyhow::{Context, Result};
use tokio_postgres::GenericClient;

use crate::config::{LlmSettings, MetricSettings};
use crate::domain::MetricInfo;
use crate::domain::{Direction, MetricKind};

/// The catalogue as stored, with database ids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalogue {
    pub llms: Vec<(i16, String)>,
    pub metrics: Vec<(i16, MetricInfo)>,
}

impl Catalogue {
    pub fn llm_id(&self, name: &str) -> Option<i16> {
        self.llms.iter().find(|(_, n)| n == name).map(|(id, _)| *id)
    }

    /// The LLM's name, or `llm #ID` for one the catalogue (as loaded) does not know.
    pub fn llm_name(&self, id: i16) -> String {
        self.llms
            .iter()
            .find(|(i, _)| *i == id)
            .map_or_else(|| format!("llm #{id}"), |(_, n)| n.clone())
    }

    pub fn metric(&self, name: &str) -> Option<(i16, &MetricInfo)> {
        self.metrics
            .iter()
            .find(|(_, m)| m.name == name)
            .map(|(id, m)| (*id, m))
    }

    pub fn metric_names(&self) -> Vec<&str> {
        self.metrics.iter().map(|(_, m)| m.name.as_str()).collect()
    }

    /// The catalogue's metrics and llmrank's own, which imports add on first sight.
    pub fn known_metric_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.metric_names().into_iter().map(String::from).collect();
        for m in MetricKind::ALL {
            if !names.iter().any(|n| n == m.name()) {
                names.push(m.name().to_string());
            }
        }
        names
    }
}

/// How many rows `seed` inserted or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeedReport {
    pub llms_added: u64,
    pub metrics_added: u64,
    pub metrics_updated: u64,
}

/// Inserts missing LLMs and metrics; updates a metric's unit or direction only when the config
/// changed it. Running it twice changes nothing.
pub async fn seed(
    client: &impl GenericClient,
    llms: &[LlmSettings],
    metrics: &[MetricSettings],
) -> Result<SeedReport> {
    let mut report = SeedReport::default();
    for l in llms {
        let (_, added) = add_llm(client, &l.name)
            .await
            .with_context(|| format!("failed to seed LLM {:?}", l.name))?;
        report.llms_added += u64::from(added);
    }
    for m in metrics {
        let row = client
            .query_opt(
                "INSERT INTO metrics (name, unit, direction) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET unit = EXCLUDED.unit, direction = EXCLUDED.direction
                 WHERE (metrics.unit, metrics.direction) IS DISTINCT FROM (EXCLUDED.unit, EXCLUDED.direction)
                 RETURNING (xmax = 0) AS inserted",
                &[&m.name, &m.unit, &m.direction],
            )
            .await
            .with_context(|| format!("failed to seed metric {:?}", m.name))?;
        match row.map(|r| r.get::<_, bool>(0)) {
            Some(true) => report.metrics_added += 1,
            Some(false) => report.metrics_updated += 1,
            None => {}
        }
    }
    Ok(report)
}

/// Reads the catalogue; a missing schema says to run `llmrank seed`.
pub async fn load(client: &impl GenericClient) -> Result<Catalogue> {
    let llms = client
        .query("SELECT id, name FROM llms ORDER BY id", &[])
        .await
        .map_err(|e| super::schema_hint(e, "failed to read the LLM catalogue"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let metrics = client
        .query(
            "SELECT id, name, unit, direction FROM metrics ORDER BY id",
            &[],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read the metric catalogue"))?
        .iter()
        .map(|r| {
            let direction: String = r.get(3);
            (
                r.get(0),
                MetricInfo {
                    name: r.get(1),
                    unit: r.get(2),
                    direction: Direction::parse(&direction).unwrap_or(Direction::Lower),
                },
            )
        })
        .collect();
    Ok(Catalogue { llms, metrics })
}

/// The id of LLM `name`, added to the catalogue (and to `cat`) when it is new.
pub async fn ensure_llm(
    client: &impl GenericClient,
    cat: &mut Catalogue,
    name: &str,
) -> Result<i16> {
    if let Some(id) = cat.llm_id(name) {
        return Ok(id);
    }
    let name = crate::domain::llm_name(name).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(id) = cat.llm_id(&name) {
        return Ok(id);
    }
    let (id, _) = add_llm(client, &name).await?;
    cat.llms.push((id, name));
    Ok(id)
}

/// The id of LLM `name` (as stored: [`crate::domain::llm_name`]) and whether this call added
/// it. Ids come without a sequence, so a transaction rolled back burns none: the next free
/// one. Writers adding an LLM inside a transaction queue on an advisory lock held to COMMIT
/// (no table privilege needed, readers never wait); a clash on the id all the same (two
/// writers outside transactions) is tried again with the next one.
async fn add_llm(client: &impl GenericClient, name: &str) -> Result<(i16, bool)> {
    let found = |row: Option<tokio_postgres::Row>| row.map(|r| r.get::<_, i16>(0));
    let select = "SELECT id FROM llms WHERE name = $1";
    let q = client.query_opt(select, &[&name]).await;
    if let Some(id) = found(q.map_err(|e| super::schema_hint(e, "failed to read the LLMs"))?) {
        return Ok((id, false));
    }
    client
        .execute("SELECT pg_advisory_xact_lock($1)", &[&NEW_LLM_LOCK])
        .await
        .context("failed to take the LLM catalogue's lock")?;
    for _ in 0..100 {
        let added = client
            .query_opt(
                "INSERT INTO llms (id, name) SELECT coalesce(max(id), 0) + 1, $1 FROM llms
                 HAVING coalesce(max(id), 0) < 32767 ON CONFLICT DO NOTHING RETURNING id",
                &[&name],
            )
            .await
            .map(found)
            .with_context(|| format!("failed to add LLM {name:?}"))?;
        if let Some(id) = added {
            return Ok((id, true));
        }
        if let Some(id) = found(client.query_opt(select, &[&name]).await?) {
            return Ok((id, false)); // added meanwhile by another writer
        }
        let full = client
            .query_one("SELECT coalesce(max(id), 0) >= 32767 FROM llms", &[])
            .await?;
        if full.get::<_, bool>(0) {
            anyhow::bail!(
                "failed to add LLM {name:?}: the catalogue holds the most LLMs it can (32,767)"
            );
        }
    }
    anyhow::bail!("failed to add LLM {name:?}: its id kept being taken by other writers")
}

/// The advisory lock writers adding an LLM take ("llms" in ASCII).
const NEW_LLM_LOCK: i64 = 0x6c6c_6d73;

/// The id of metric `name`, added (with llmrank's unit and direction for it) when it is new;
/// a name llmrank does not know is refused, naming the known ones.
pub async fn ensure_metric(
    client: &impl GenericClient,
    cat: &mut Catalogue,
    name: &str,
) -> Result<i16> {
    if let Some((id, _)) = cat.metric(name) {
        return Ok(id);
    }
    let Some(kind) = MetricKind::from_name(name) else {
        anyhow::bail!(
            "unknown metric {name:?}; valid metrics: {}",
            cat.known_metric_names().join(", ")
        );
    };
    let id: i16 = super::insert_or_get(
        client,
        "WITH new AS (INSERT INTO metrics (name, unit, direction) VALUES ($1, $2, $3)
                      ON CONFLICT (name) DO NOTHING RETURNING id)
         SELECT id FROM new UNION ALL SELECT id FROM metrics WHERE name = $1 LIMIT 1",
        "SELECT id FROM metrics WHERE name = $1 AND $2::text IS NOT NULL AND $3::text IS NOT NULL",
        &[&name, &kind.unit(), &kind.direction().as_str()],
    )
    .await
    .with_context(|| format!("failed to add metric {name:?}"))?;
    cat.metrics.push((id, kind.info()));
    Ok(id)
}
