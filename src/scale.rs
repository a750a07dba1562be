//! Past one Lambda: the run as three modes of the same binary, for a platform
//! whose charts do not fit in one invocation. [`plan`] reads both inputs once,
//! runs every guard and selects the authors, exactly as a run does, then writes
//! the selection in shards to a work location; [`render`] draws and publishes
//! one shard's charts, exactly as a run would; [`finish`] merges the shards'
//! outcomes into the run report (the same schema, reconciling), prunes, and
//! writes `reports/latest.json` and the review page.
//!
//! Step Functions' Distributed Map runs the renders side by side (see
//! `docs/scale.md`); a person runs them as processes. Nothing here knows which.
//!
//! The work location holds, for one run:
//! - `plan.json`: the request, the inputs' fingerprints and counts, the shards
//!   (`{"shard": "00000", "authors": n}`), the lease the run holds and the
//!   report as far as the plan got. Written last: its presence means the plan
//!   is whole.
//! - `shards/<id>.jsonl`: one line per author to draw (id, slug, display name,
//!   first month, posts per month), at most `shard_authors` lines.
//! - `drawable.txt`: every slug the master can draw, one a line, which finish
//!   prunes against.
//! - `done/<id>.json`: a rendered shard's outcomes. A render retried writes it
//!   again; the charts it already published are found unchanged.
//!
//! Memory: the plan holds authors x months (the tally), never the posts; a
//! render holds one shard; finish holds one outcome per selected author.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::event::RunPlan;
use crate::gallery::ChartCard;
use crate::lease::Lease;
use crate::publish;
use crate::report::{ChartOutcome, ChartResult, RunReport};
use crate::run::{
    Pipeline, RunError, ToDraw, check_as_of, check_shrink, draw_and_publish, end_published,
    list_charts, ms, prune, read_judged, read_previous_run, record_charts, select, selected,
    take_lease,
};
use crate::store::{Location, ObjectHeaders, Store};
use crate::tally::{Month, MonthCount, MonthlyCounts};

/// Authors a shard holds unless told otherwise: about 2.5 s of drawing on one
/// core, well inside one invocation.
pub(crate) const DEFAULT_SHARD_AUTHORS: usize = 2_000;
/// The accepted range of `shard_authors`.
pub(crate) const SHARD_AUTHORS_RANGE: std::ops::RangeInclusive<usize> = 1..=100_000;
/// Where the Lambda keeps a run's work, under the charts bucket's root:
/// `work/<run_id>/` (private, and expired by the bucket's lifecycle rule).
pub(crate) const WORK_PREFIX: &str = "work/";
/// How long a scaled-out run holds the destination's lease: the state
/// machine's timeout. Finish releases it sooner.
const SCALE_OUT_LEASE: chrono::Duration = chrono::Duration::hours(2);

const PLAN_KEY: &str = "plan.json";
const DRAWABLE_KEY: &str = "drawable.txt";
const PLAN_VERSION: u32 = 1;

fn shard_key(shard: &str) -> String {
    format!("shards/{shard}.jsonl")
}

fn done_key(shard: &str) -> String {
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
pub struct Plan {
    pub version: u32,
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub window_start: DateTime<Utc>,
    pub time_zone: String,
    /// The charts prefix the plan was made for; render and finish refuse another.
    pub charts_prefix: String,
    pub request: RunPlan,
    pub inputs: Inputs,
    /// Authors selected (drawn or skipped) and to draw.
    pub selected: usize,
    pub to_draw: usize,
    pub shards: Vec<ShardRef>,
    /// The destination's lease, held from the plan to the finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// The report as far as the plan got: files, posts, skipped authors.
    pub report: RunReport,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    pub posts: Fingerprint,
    pub authors: Fingerprint,
}

/// One line of a shard file: an author and the posts of each month from the
/// first to the `as_of` month (the chart data, without what the plan holds once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ShardAuthor {
    id: String,
    slug: String,
    display_name: String,
    first_month: Month,
    posts: Vec<u32>,
}

impl ShardAuthor {
    fn from_counts(id: String, counts: MonthlyCounts) -> Self {
        ShardAuthor {
            id,
            first_month: counts.first_month().unwrap_or(Month(0)),
            posts: counts.months.iter().map(|m| m.posts).collect(),
            slug: counts.slug,
            display_name: counts.display_name,
        }
    }

    fn into_counts(self, plan: &Plan) -> MonthlyCounts {
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
    pub s3_retries: u64,
    charts: Vec<ChartResult>,
    cards: Vec<ChartCard>,
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

impl Plan {
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

/// How a plan is made.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub run_id: String,
    pub shard_authors: usize,
    /// Whether the pipeline's destination is the real one: then the plan is
    /// judged against its last published run and takes its lease. Without one
    /// (`plan` given no `--dest`) the work location stands in, and each render
    /// checks the `as_of` against the destination before it publishes.
    pub has_dest: bool,
}

fn work_error(work: &dyn Store, key: &str, problem: impl Into<String>) -> RunError {
    RunError::Work {
        location: work.describe(key),
        problem: problem.into(),
    }
}

/// Writes one work file (never cached); a failure is `WorkInvalid`, naming it.
async fn put_work(
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
async fn get_work(work: &dyn Store, key: &str) -> Result<Option<Vec<u8>>, RunError> {
    work.get(key)
        .await
        .map_err(|e| work_error(work, key, e.to_string()))
}

async fn put_json<T: Serialize>(work: &dyn Store, key: &str, value: &T) -> Result<(), RunError> {
    let body = serde_json::to_vec(value).map_err(|e| work_error(work, key, e.to_string()))?;
    put_work(work, key, body, publish::JSON).await
}

async fn get_json<T: for<'de> Deserialize<'de>>(
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
pub(crate) async fn read_plan(pipeline: &Pipeline, work: &dyn Store) -> Result<Plan, RunError> {
    let plan: Plan = get_json(work, PLAN_KEY).await?.ok_or_else(|| {
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

/// Reads both inputs once, runs every guard, selects the authors and writes
/// the plan to `work`, reading within `deadline`. A guard that stops it writes
/// the report as a run would (to the destination's `reports/run-*.json`). The
/// lease it takes lasts the whole scaled-out run ([`SCALE_OUT_LEASE`]), not
/// the plan's invocation.
pub async fn plan(
    pipeline: &Pipeline,
    work: &dyn Store,
    request: &RunPlan,
    deadline: Option<Instant>,
    options: &PlanOptions,
) -> Result<Plan, RunError> {
    let lease = if options.has_dest && !request.dry_run {
        let until = Utc::now() + SCALE_OUT_LEASE;
        Some(take_lease(pipeline, &options.run_id, request.as_of, until).await?)
    } else {
        None
    };
    let planned = plan_stages(pipeline, work, request, deadline, options, lease.clone()).await;
    if planned.is_err()
        && let Some(held) = lease
    {
        held.release(pipeline.dest.as_ref(), Utc::now()).await;
    }
    planned
}

async fn plan_stages(
    pipeline: &Pipeline,
    work: &dyn Store,
    request: &RunPlan,
    deadline: Option<Instant>,
    options: &PlanOptions,
    lease: Option<Lease>,
) -> Result<Plan, RunError> {
    let config = &pipeline.config;
    let judged = read_judged(pipeline, request, deadline).await?;
    let (started, started_at) = (judged.started, judged.started_at);
    let (mut report, tally) = (judged.report, judged.tally);

    let mut drawable: Vec<&str> = tally.drawable_slugs().into_iter().collect();
    drawable.sort_unstable();
    let mut text = drawable.join("\n");
    text.push('\n');
    put_work(
        work,
        DRAWABLE_KEY,
        text.into_bytes(),
        "text/plain; charset=utf-8",
    )
    .await?;

    // Each author's series is made as its shard is written, and freed then.
    let t = Instant::now();
    let to_draw = select(&tally, request, &mut report);
    let shards = write_shards(
        work,
        to_draw,
        options.shard_authors,
        config.upload_concurrency,
    )
    .await?;
    let to_draw_count = shards.iter().map(|s| s.authors).sum();
    selected(&mut report, to_draw_count, t.elapsed());
    report.s3_retries = pipeline.source.retries() + pipeline.dest.retries() + work.retries();
    report.stages.total_ms = ms(started.elapsed());
    let plan = Plan {
        version: PLAN_VERSION,
        run_id: options.run_id.clone(),
        started_at,
        as_of: request.as_of,
        window_start: request.window_start(),
        time_zone: report.time_zone.clone(),
        charts_prefix: config.charts_prefix.clone(),
        request: request.clone(),
        inputs: Inputs {
            posts: fingerprint(&report.posts_file, report.posts_exported_at),
            authors: fingerprint(&report.authors_file, None),
        },
        selected: report.authors.active,
        to_draw: to_draw_count,
        shards,
        lease,
        report,
    };
    put_json(work, PLAN_KEY, &plan).await?;
    info!(run_id = %plan.run_id, shards = plan.shards.len(), to_draw = plan.to_draw,
          skipped = plan.report.authors.skipped, work = %work.describe(PLAN_KEY),
          ms = ms(started.elapsed()), "plan written");
    Ok(plan)
}

fn fingerprint(
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

/// Writes the authors to draw in shards of at most `per_shard`, in selection
/// order, so shard order is the run's order. The authors are taken from the
/// selection as each shard's upload starts, and freed once written, so at most
/// `concurrency` shards are in memory.
async fn write_shards(
    work: &dyn Store,
    to_draw: impl Iterator<Item = ToDraw>,
    per_shard: usize,
    concurrency: usize,
) -> Result<Vec<ShardRef>, RunError> {
    let mut authors = to_draw;
    let mut next = 0usize;
    let shards = std::iter::from_fn(|| {
        let chunk: Vec<ToDraw> = authors.by_ref().take(per_shard.max(1)).collect();
        next += 1;
        (!chunk.is_empty()).then(|| (format!("{:05}", next - 1), chunk))
    });
    let written: Vec<Result<ShardRef, RunError>> = futures::stream::iter(shards)
        .map(|(id, chunk)| async move {
            let key = shard_key(&id);
            let authors = chunk.len();
            let mut body = Vec::new();
            for author in chunk {
                let line = ShardAuthor::from_counts(author.id, author.counts);
                serde_json::to_writer(&mut body, &line)
                    .map_err(|e| work_error(work, &key, e.to_string()))?;
                body.push(b'\n');
            }
            put_work(work, &key, body, "application/x-ndjson").await?;
            Ok(ShardRef { shard: id, authors })
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut refs = written.into_iter().collect::<Result<Vec<_>, RunError>>()?;
    refs.sort_by(|a, b| (a.shard.len(), &a.shard).cmp(&(b.shard.len(), &b.shard)));
    Ok(refs)
}

/// Checks a shard id from a request: what the plan names, and a safe key.
fn shard_of<'p>(plan: &'p Plan, work: &dyn Store, shard: &str) -> Result<&'p ShardRef, RunError> {
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
                    plan.shards.first().map(|s| s.shard.as_str()).unwrap_or(""),
                    plan.shards.last().map(|s| s.shard.as_str()).unwrap_or("")
                ),
            )
        })
}

/// The destination may have moved on since the plan: never publish over a
/// newer run, nor from an export that shrank against it.
async fn check_destination(pipeline: &Pipeline, plan: &Plan) -> Result<(), RunError> {
    pipeline.dest.check().await.map_err(RunError::Destination)?;
    let previous = read_previous_run(pipeline).await;
    let counted = plan.report.posts.counted;
    check_as_of(&plan.request, previous.as_ref())
        .and_then(|()| check_shrink(pipeline.config.max_shrink, counted, previous.as_ref()))
        .map_err(|guard| RunError::Guard(guard, Box::new(plan.report.clone())))
}

/// A shard's authors as the chart data a run would draw.
async fn read_shard(
    work: &dyn Store,
    plan: &Plan,
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

/// Draws and publishes one shard's charts exactly as a run would, and writes
/// the shard's outcomes to `done/<id>.json`. Fails (after writing them) when a
/// chart failed or was left undone, so the caller retries the shard.
pub async fn render(
    pipeline: &Pipeline,
    work: &dyn Store,
    shard: &str,
    deadline: Option<Instant>,
) -> Result<ShardSummary, RunError> {
    let started = Instant::now();
    let plan = read_plan(pipeline, work).await?;
    let shard_ref = shard_of(&plan, work, shard)?.clone();
    if !plan.request.dry_run {
        check_destination(pipeline, &plan).await?;
    }
    let to_draw = read_shard(work, &plan, &shard_ref).await?;
    let cards: Vec<ChartCard> = to_draw.iter().map(ChartCard::from).collect();
    info!(run_id = %plan.run_id, shard, authors = to_draw.len(), "render started");
    // Without a listing, each chart is checked against the destination (a HEAD)
    // before it is put: a shard cannot afford to list every chart.
    let charts = draw_and_publish(pipeline, &plan.request, to_draw, deadline, None).await;
    let count = |f: fn(&ChartOutcome) -> bool| charts.iter().filter(|c| f(&c.outcome)).count();
    let summary = ShardSummary {
        run_id: plan.run_id.clone(),
        shard: shard.to_string(),
        authors: charts.len(),
        published: count(|o| matches!(o, ChartOutcome::Published { .. })),
        unchanged: count(|o| matches!(o, ChartOutcome::Unchanged { .. })),
        failed: count(|o| matches!(o, ChartOutcome::Failed(_))),
        undone: count(|o| matches!(o, ChartOutcome::Undone)),
        draw_and_publish_ms: ms(started.elapsed()),
    };
    let report = ShardReport {
        summary,
        s3_retries: pipeline.dest.retries() + work.retries(),
        charts,
        cards,
    };
    put_json(work, &done_key(shard), &report).await?;
    let summary = report.summary;
    info!(
        shard,
        published = summary.published,
        unchanged = summary.unchanged,
        failed = summary.failed,
        undone = summary.undone,
        ms = summary.draw_and_publish_ms,
        "render finished"
    );
    if summary.failed > 0 || summary.undone > 0 {
        return Err(RunError::Shard {
            shard: shard.to_string(),
            failed: summary.failed,
            undone: summary.undone,
        });
    }
    Ok(summary)
}

/// Merges the shard reports into the run report, prunes, writes the report,
/// `reports/latest.json` and the review page, and releases the lease: the end
/// of a run, with the same outcome and error a single run would have.
pub async fn finish(
    pipeline: &Pipeline,
    work: &dyn Store,
    deadline: Option<Instant>,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let plan = read_plan(pipeline, work).await?;
    let lease = plan.lease.clone();
    let result = finish_stages(pipeline, work, plan, deadline, started).await;
    if let Some(held) = lease {
        held.release(pipeline.dest.as_ref(), Utc::now()).await;
    }
    result
}

async fn finish_stages(
    pipeline: &Pipeline,
    work: &dyn Store,
    plan: Plan,
    deadline: Option<Instant>,
    started: Instant,
) -> Result<RunReport, RunError> {
    let reads: Vec<(String, Result<Option<ShardReport>, RunError>)> =
        futures::stream::iter(plan.shards.iter())
            .map(|s| async move {
                (
                    s.shard.clone(),
                    get_json::<ShardReport>(work, &done_key(&s.shard)).await,
                )
            })
            .buffered(pipeline.config.upload_concurrency.max(1))
            .collect()
            .await;
    let mut missing = Vec::new();
    let mut shards = Vec::with_capacity(reads.len());
    for (id, read) in reads {
        match read? {
            Some(report) if report.summary.run_id == plan.run_id => shards.push(report),
            Some(_) | None => missing.push(id),
        }
    }
    if !missing.is_empty() {
        return Err(RunError::Incomplete {
            run_id: plan.run_id.clone(),
            missing,
        });
    }

    let mut report = plan.report;
    let mut charts = Vec::with_capacity(plan.to_draw);
    let mut cards = Vec::with_capacity(plan.to_draw);
    let mut took = Duration::ZERO;
    for shard in shards {
        took += Duration::from_millis(shard.summary.draw_and_publish_ms);
        report.s3_retries += shard.s3_retries;
        cards.extend(shard.cards);
        charts.extend(shard.charts);
    }
    // A run records its charts in slug order.
    charts.sort_by(|a, b| a.slug.cmp(&b.slug));
    record_charts(&mut report, charts, &mut cards, took);

    let drawable_text = get_work(work, DRAWABLE_KEY)
        .await?
        .ok_or_else(|| work_error(work, DRAWABLE_KEY, "missing: the plan is not whole"))?;
    let drawable_text = String::from_utf8(drawable_text)
        .map_err(|e| work_error(work, DRAWABLE_KEY, e.to_string()))?;
    let drawable: HashSet<&str> = drawable_text.lines().filter(|l| !l.is_empty()).collect();
    let existing = list_charts(pipeline).await;
    let prune_guard = prune(
        pipeline,
        &plan.request,
        &drawable,
        existing.as_ref(),
        deadline,
        &mut report,
    )
    .await;
    report.s3_retries += pipeline.dest.retries() + work.retries();
    report.stages.total_ms = ms((Utc::now() - plan.started_at).to_std().unwrap_or_default());
    info!(run_id = %plan.run_id, ms = ms(started.elapsed()), "shards merged and pruned");
    let request = &plan.request;
    end_published(
        pipeline,
        request,
        report,
        &cards,
        prune_guard,
        plan.started_at,
        deadline,
    )
    .await
}

/// A run id safe as one key segment: Step Functions' execution names fit.
pub(crate) fn check_run_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a run id: 1 to 128 of A-Z a-z 0-9 - _ ."
        ))
    }
}

/// A shard id from a request: digits, as the plan names them.
pub(crate) fn check_shard_id(id: &str) -> Result<(), String> {
    if !id.is_empty() && id.len() <= 16 && id.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a shard id (digits, as plan.json lists them)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let plan_stub = Plan {
            version: PLAN_VERSION,
            run_id: "r".into(),
            started_at: as_of,
            as_of,
            window_start: as_of,
            time_zone: "Asia/Tokyo".into(),
            charts_prefix: "c/".into(),
            request: RunPlan {
                lookback_days: 7,
                as_of,
                authors: None,
                dry_run: false,
                allow_older_as_of: false,
                allow_mass_prune: false,
            },
            inputs: Inputs {
                posts: fingerprint(&Default::default(), None),
                authors: fingerprint(&Default::default(), None),
            },
            selected: 1,
            to_draw: 1,
            shards: vec![],
            lease: None,
            report: RunReport::default(),
        };
        assert_eq!(back.into_counts(&plan_stub), counts);
    }

    #[test]
    fn run_and_shard_ids_are_single_safe_segments() {
        for ok in ["0f3c-2026-11-27", "exec_1.a", "A"] {
            assert!(check_run_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(129)] {
            assert!(check_run_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_shard_id("00012").is_ok());
        for bad in ["", "1a", "../x", "00000000000000001"] {
            assert!(check_shard_id(bad).is_err(), "{bad:?}");
        }
    }
}
