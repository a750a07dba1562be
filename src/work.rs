//! The work location of a scaled-out run, and the files the steps hand each
//! other through it:
//! - `plan.json`: the request, the inputs' fingerprints and counts, the shards
//!   (`{"shard": "00000", "authors": n}`), the lease the run holds and the
//!   report as far as the plan got. Written last: its presence means the plan
//!   is whole.
//! - `shards/<id>.jsonl`: one line per author to draw (id, slug, display name,
//!   first month, posts per month), at most `shard_authors` lines.
//! - `master-slugs.txt`: every slug a row of the master carries, one a line,
//!   which finish prunes against (a chart whose slug is not here is a
//!   candidate).
//! - `done/<id>.json`: a rendered shard's outcomes. A render retried writes it
//!   again; the charts it already published are found unchanged.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::deadline::within;
use crate::error::{Failed, RunError};
use crate::freshness::Look;
use crate::gallery::ChartCard;
use crate::guards::{check_as_of, check_count, read_previous_run};
use crate::lease::Lease;
use crate::pipeline::Pipeline;
use crate::report::{ChartResult, RunReport};
use crate::request::RunSpec;
use crate::store::changed;
use crate::store::{Location, ObjectHeaders, Store};
use crate::tally::{Month, MonthCount, MonthlyCounts};

/// Where the Lambda keeps a run's work, under the charts bucket's root:
/// `work/<run_id>/` (private, and expired by the bucket's lifecycle rule).
pub(crate) const WORK_PREFIX: &str = "work/";

pub(crate) const PLAN_KEY: &str = "plan.json";
/// Written by a finish that succeeded, with its report: a second finish of
/// the same plan changes nothing and answers with it.
pub(crate) const FINISHED_KEY: &str = "finished.json";
pub(crate) const MASTER_SLUGS_KEY: &str = "master-slugs.txt";
pub(crate) const PLAN_VERSION: u32 = 3;

pub(crate) fn shard_key(shard: &str) -> String {
    format!("shards/{shard}.jsonl")
}

pub(crate) fn done_key(shard: &str) -> String {
    format!("done/{shard}.json")
}

/// One shard, as `plan.json` and the state machine list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRef {
    pub shard: String,
    pub authors: usize,
}

/// What was read, to tell one export from another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub location: String,
    /// Decompressed bytes, lines and records read.
    pub bytes: u64,
    pub lines: u64,
    pub records: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exported_at: Option<DateTime<Utc>>,
}

/// `plan.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkPlan {
    pub version: u32,
    pub run_id: String,
    /// Made anew by every plan: a render stamps its `done/` file with it and
    /// finish takes only those, so a plan made again under a used `run_id`
    /// cannot be finished from the old plan's shards.
    pub nonce: String,
    pub started_at: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub window_start: DateTime<Utc>,
    pub time_zone: String,
    /// The charts prefix the plan was made for; render and finish refuse another.
    pub charts_prefix: String,
    /// The look (theme and renderer) the plan judged the charts by; render
    /// and finish refuse another, so the charts drawn are the ones selected.
    pub look: Look,
    /// The run's specification (`request` in `plan.json`).
    #[serde(rename = "request")]
    pub spec: RunSpec,
    pub inputs: Inputs,
    /// Authors selected (drawn or skipped) and to draw.
    pub selected: usize,
    pub to_draw: usize,
    pub shards: Vec<ShardRef>,
    /// The destination's lease, held from the plan to the finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// The `ETag` of the chart state the plan wrote ahead of the renders
    /// (`None`: none was written); the finish writes over that one only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_state_etag: Option<String>,
    /// The report as far as the plan got: files, posts, skipped authors.
    pub report: RunReport,
}

impl WorkPlan {
    pub fn summary(&self, work: &dyn Store) -> PlanSummary {
        PlanSummary {
            run_id: self.run_id.clone(),
            work: work.describe(""),
            as_of: self.as_of,
            selected: self.selected,
            to_draw: self.to_draw,
            shards: self.shards.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    pub posts: Fingerprint,
    pub authors: Fingerprint,
}

/// One line of a shard file: an author and the posts of each month from the
/// first to the `as_of` month (the chart data, without what the plan holds once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShardAuthor {
    id: String,
    slug: String,
    display_name: String,
    first_month: Month,
    posts: Vec<u32>,
}

impl ShardAuthor {
    pub(crate) fn from_counts(id: String, counts: MonthlyCounts) -> Self {
        ShardAuthor {
            id,
            first_month: counts.first_month().unwrap_or(Month(0)),
            posts: counts.months.iter().map(|m| m.posts).collect(),
            slug: counts.slug,
            display_name: counts.display_name,
        }
    }

    fn into_counts(self, plan: &WorkPlan) -> MonthlyCounts {
        let months: Vec<MonthCount> = self
            .posts
            .iter()
            .enumerate()
            .map(|(i, &posts)| MonthCount {
                month: Month(self.first_month.0 + i as i32),
                posts,
            })
            .collect();
        MonthlyCounts {
            slug: self.slug,
            display_name: self.display_name,
            time_zone: plan.time_zone.clone(),
            as_of: plan.as_of,
            total: self.posts.iter().map(|&n| u64::from(n)).sum(),
            months,
        }
    }
}

/// `done/<id>.json`: what a render came to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardReport {
    #[serde(flatten)]
    pub summary: ShardSummary,
    /// The nonce of the plan this shard was rendered from.
    pub plan_nonce: String,
    pub s3_retries: u64,
    pub(crate) charts: Vec<ChartResult>,
    pub(crate) cards: Vec<ChartCard>,
}

/// What render answers: the shard's counts, without the per-chart lists.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardSummary {
    pub run_id: String,
    pub shard: String,
    pub authors: usize,
    pub published: usize,
    pub unchanged: usize,
    pub failed: usize,
    pub undone: usize,
    pub draw_and_publish_ms: u64,
}

/// The work location of run `run_id` in the Lambda: `work/<run_id>/` beside
/// the charts, under the destination's root.
pub(crate) fn work_location(dest: &Location, run_id: &str) -> Location {
    match dest {
        Location::S3 { bucket, prefix } => Location::S3 {
            bucket: bucket.clone(),
            prefix: format!("{prefix}{WORK_PREFIX}{run_id}/"),
        },
        Location::Local(root) => Location::Local(root.join(WORK_PREFIX).join(run_id)),
    }
}

/// What plan answers (the Lambda reply the state machine maps over).
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummary {
    pub run_id: String,
    pub work: String,
    pub as_of: DateTime<Utc>,
    pub selected: usize,
    pub to_draw: usize,
    pub shards: Vec<ShardRef>,
}

pub(crate) fn work_error(work: &dyn Store, key: &str, problem: impl Into<String>) -> RunError {
    RunError::Work {
        location: work.describe(key),
        problem: problem.into(),
    }
}

/// Writes one work file (never cached); a failure is `WorkInvalid`, naming it.
pub(crate) async fn put_work(
    work: &dyn Store,
    key: &str,
    body: Vec<u8>,
    content_type: &'static str,
) -> Result<(), RunError> {
    work.put(key, body, &ObjectHeaders::no_store(content_type))
        .await
        .map_err(|e| work_error(work, key, e.to_string()))
}

/// Reads one work file, `None` when it does not exist.
pub(crate) async fn get_work(work: &dyn Store, key: &str) -> Result<Option<Vec<u8>>, RunError> {
    work.get(key)
        .await
        .map_err(|e| work_error(work, key, e.to_string()))
}

pub(crate) async fn put_json<T: Serialize>(
    work: &dyn Store,
    key: &str,
    value: &T,
) -> Result<(), RunError> {
    let body = serde_json::to_vec(value).map_err(|e| work_error(work, key, e.to_string()))?;
    put_work(work, key, body, changed::JSON).await
}

pub(crate) async fn get_json<T: for<'de> Deserialize<'de>>(
    work: &dyn Store,
    key: &str,
) -> Result<Option<T>, RunError> {
    match get_work(work, key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| work_error(work, key, format!("not what this version wrote: {e}"))),
    }
}

/// Reads `plan.json` and checks that it was made for this configuration.
pub(crate) async fn read_plan(pipeline: &Pipeline, work: &dyn Store) -> Result<WorkPlan, RunError> {
    let plan: WorkPlan = get_json(work, PLAN_KEY).await?.ok_or_else(|| {
        work_error(
            work,
            PLAN_KEY,
            "no plan here: run `author-stats plan` (mode \"plan\") first",
        )
    })?;
    if plan.version != PLAN_VERSION {
        return Err(work_error(
            work,
            PLAN_KEY,
            format!(
                "plan version {}, this binary reads {PLAN_VERSION}",
                plan.version
            ),
        ));
    }
    let look = Look::of(&pipeline.config.theme);
    if plan.look != look {
        return Err(work_error(
            work,
            PLAN_KEY,
            format!(
                "planned with another chart theme or renderer ({:?}), this step has {look:?}: \
                 give every step the plan's theme",
                plan.look
            ),
        ));
    }
    if plan.charts_prefix != pipeline.config.charts_prefix {
        return Err(work_error(
            work,
            PLAN_KEY,
            format!(
                "planned for charts prefix {:?}, configured {:?}",
                plan.charts_prefix, pipeline.config.charts_prefix
            ),
        ));
    }
    Ok(plan)
}

pub(crate) fn fingerprint(
    file: &crate::report::FileReport,
    exported_at: Option<DateTime<Utc>>,
) -> Fingerprint {
    Fingerprint {
        location: file.location.clone(),
        bytes: file.lines.bytes,
        lines: file.lines.lines,
        records: file.lines.records,
        exported_at,
    }
}

/// Checks a shard id from a request: what the plan names, and a safe key.
pub(crate) fn shard_of<'p>(
    plan: &'p WorkPlan,
    work: &dyn Store,
    shard: &str,
) -> Result<&'p ShardRef, RunError> {
    plan.shards
        .iter()
        .find(|s| s.shard == shard)
        .ok_or_else(|| {
            work_error(
                work,
                PLAN_KEY,
                format!(
                    "the plan has no shard {shard:?} (it has {} shards, {:?} to {:?})",
                    plan.shards.len(),
                    plan.shards.first().map_or("", |s| s.shard.as_str()),
                    plan.shards.last().map_or("", |s| s.shard.as_str())
                ),
            )
        })
}

/// A shard's authors as the chart data a run would draw.
pub(crate) async fn read_shard(
    work: &dyn Store,
    plan: &WorkPlan,
    shard: &ShardRef,
) -> Result<Vec<MonthlyCounts>, RunError> {
    let key = shard_key(&shard.shard);
    let missing = || {
        work_error(
            work,
            &key,
            "the plan names this shard but its file is missing",
        )
    };
    let bytes = get_work(work, &key).await?.ok_or_else(missing)?;
    let mut to_draw = Vec::with_capacity(shard.authors);
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let author: ShardAuthor = serde_json::from_slice(line)
            .map_err(|e| work_error(work, &key, format!("line {}: {e}", i + 1)))?;
        to_draw.push(author.into_counts(plan));
    }
    if to_draw.len() != shard.authors {
        let problem = format!("{} authors, the plan says {}", to_draw.len(), shard.authors);
        return Err(work_error(work, &key, problem));
    }
    Ok(to_draw)
}

/// The destination may have moved on since the plan: a render or a finish
/// publishes only while the plan's lease is still this run's (not taken over,
/// not released), never over a newer published run, nor from an export whose
/// count moved too far against it. A dry run publishes nothing and checks
/// nothing; the checks run within `deadline`.
pub(crate) async fn check_destination(
    pipeline: &Pipeline,
    plan: &WorkPlan,
    deadline: Option<Instant>,
) -> Result<(), Failed> {
    if plan.spec.dry_run {
        return Ok(());
    }
    within(deadline, destination_holds(pipeline, plan))
        .await
        .unwrap_or_else(|| {
            Err(RunError::DeadlineAt {
                stage: "checking the destination",
            }
            .into())
        })
}

async fn destination_holds(pipeline: &Pipeline, plan: &WorkPlan) -> Result<(), Failed> {
    pipeline.dest.check().await.map_err(RunError::Destination)?;
    if let Some(lease) = &plan.lease {
        lease
            .check_held(pipeline.dest.as_ref())
            .await
            .map_err(RunError::Lease)?;
    }
    let counted = plan.report.posts.counted;
    read_previous_run(pipeline)
        .await
        .and_then(|previous| {
            check_as_of(&plan.spec, previous.as_ref(), chrono::Utc::now())?;
            check_count(&pipeline.config, &plan.spec, counted, previous.as_ref())
        })
        .map_err(|guard| Failed::with(RunError::Guard(guard), plan.report.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::FileReport;

    #[test]
    fn a_shard_line_gives_back_the_chart_data() {
        let as_of = DateTime::parse_from_rfc3339("2026-11-26T17:45:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let counts = MonthlyCounts {
            slug: "sato".into(),
            display_name: "佐藤".into(),
            time_zone: "Asia/Tokyo".into(),
            as_of,
            total: 5,
            months: vec![
                MonthCount {
                    month: Month::new(2026, 10),
                    posts: 2,
                },
                MonthCount {
                    month: Month::new(2026, 11),
                    posts: 3,
                },
            ],
        };
        let line = ShardAuthor::from_counts("a1".into(), counts.clone());
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(
            text,
            r#"{"id":"a1","slug":"sato","display_name":"佐藤","first_month":"2026-10","posts":[2,3]}"#
        );
        let back: ShardAuthor = serde_json::from_str(&text).unwrap();
        let plan_stub = WorkPlan {
            nonce: "n".into(),
            version: PLAN_VERSION,
            run_id: "r".into(),
            started_at: as_of,
            as_of,
            window_start: as_of,
            time_zone: "Asia/Tokyo".into(),
            charts_prefix: "c/".into(),
            look: Look::of(&crate::chart::Themes::default()),
            spec: RunSpec {
                lookback_days: 7,
                as_of,
                authors: None,
                dry_run: false,
                allow_older_as_of: false,
                allow_mass_prune: false,
                ..RunSpec::default()
            },
            inputs: Inputs {
                posts: fingerprint(&FileReport::default(), None),
                authors: fingerprint(&FileReport::default(), None),
            },
            selected: 1,
            to_draw: 1,
            shards: vec![],
            lease: None,
            chart_state_etag: None,
            report: RunReport::default(),
        };
        assert_eq!(back.into_counts(&plan_stub), counts);
    }
}
