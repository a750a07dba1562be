//! The pipeline: read the author master, stream the posts through the tally,
//! select, then draw on every core while uploads run concurrently, and account
//! for every author in the [`RunReport`].
//!
//! Parsing runs on a blocking thread fed by the async decoder; drawing runs on
//! blocking threads bounded by the core count; uploads are bounded by
//! `upload_concurrency`. Nothing is published until both files were read whole
//! and judged sound, so a chart is never drawn from half a file.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::chart::render_chart;
use crate::config::Config;
use crate::draw_pool::DrawPool;
use crate::event::RunPlan;
use crate::gallery::{ChartCard, render_gallery};
use crate::input::{decode, pipelined_lines};
use crate::publish::{self, Written, put_if_changed};
use crate::records::{Author, BadReason, LineStats, parse_author, parse_post, read_lines};
use crate::report::{FailedAuthor, FileReport, RunReport, SkippedAuthor};
use crate::store::{Location, ObjectHeaders, Store, StoreError, open_store};
use crate::tally::{MonthlyCounts, SkipReason, Tally};

/// What a run needs: configuration and the two stores.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub config: Config,
    pub source: Arc<dyn Store>,
    pub dest: Arc<dyn Store>,
}

impl Pipeline {
    /// Opens the stores the configuration names.
    pub async fn connect(config: Config) -> Self {
        let source = open_store(&config.source, &config.s3).await;
        let dest = open_store(&config.dest, &config.s3).await;
        Pipeline {
            config,
            source,
            dest,
        }
    }
}

/// Why a run failed. Every variant says what to look at; those that happen after
/// selection carry the report, which was also written.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("source object missing: {0}")]
    SourceMissing(#[source] StoreError),
    #[error("cannot read the source: {0}")]
    SourceUnreadable(#[source] StoreError),
    #[error(
        "input looks broken: {location}: {bad} of {lines} lines are bad ({share:.2}%), over the {limit:.2}% limit; \
         nothing was published. Bad lines by reason: {reasons}"
    )]
    InputBroken {
        location: String,
        bad: u64,
        lines: u64,
        share: f64,
        limit: f64,
        reasons: String,
    },
    #[error("input looks broken: {location} holds no valid author rows; nothing was published")]
    NoAuthors { location: String },
    #[error("{} of {} charts failed to publish ({}); the others were published and the report lists each failure",
        .0.authors.failed, .0.authors.active, failed_slugs(.0))]
    Publish(Box<RunReport>),
    #[error("the deadline came before {} of {} authors were drawn; run the same request again to finish them \
        (unchanged charts are not uploaded again)", .0.authors.undone, .0.authors.active)]
    Deadline(Box<RunReport>),
    #[error("cannot publish to the destination, nothing was written: {0}")]
    Destination(#[source] StoreError),
    #[error("writing the run report failed: {0}")]
    Report(#[source] StoreError, Box<RunReport>),
    #[error("internal error: {0}")]
    Internal(String),
}

fn failed_slugs(report: &RunReport) -> String {
    let mut slugs: Vec<&str> = report
        .failed
        .iter()
        .map(|f| f.slug.as_str())
        .take(10)
        .collect();
    if report.failed.len() > 10 {
        slugs.push("…");
    }
    slugs.join(", ")
}

impl RunError {
    /// A stable name for the kind of failure, for alarms and people.
    pub fn error_type(&self) -> &'static str {
        match self {
            RunError::SourceMissing(_) => "SourceMissing",
            RunError::SourceUnreadable(StoreError::AccessDenied { .. }) => "AccessDenied",
            RunError::SourceUnreadable(_) => "SourceUnreadable",
            RunError::InputBroken { .. } | RunError::NoAuthors { .. } => "InputBroken",
            RunError::Publish(_) | RunError::Report(..) | RunError::Destination(_) => {
                "PublishFailed"
            }
            RunError::Deadline(_) => "DeadlineExceeded",
            RunError::Internal(_) => "Internal",
        }
    }

    /// The report, when the run got far enough to make one.
    pub fn report(&self) -> Option<&RunReport> {
        match self {
            RunError::Publish(r) | RunError::Deadline(r) | RunError::Report(_, r) => Some(r),
            _ => None,
        }
    }
}

fn source_error(e: StoreError) -> RunError {
    if e.is_missing() {
        RunError::SourceMissing(e)
    } else {
        RunError::SourceUnreadable(e)
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Streams one source object on a blocking thread, handing each line to `fold`,
/// which parses it into the accumulator `acc` (given back at the end).
async fn read_source<A, F>(
    store: &dyn Store,
    key: &str,
    mut acc: A,
    mut fold: F,
) -> Result<(A, FileReport), RunError>
where
    A: Send + 'static,
    F: FnMut(&mut A, u64, &[u8]) -> Result<(), BadReason> + Send + 'static,
{
    let location = store.describe(key);
    let body = store.open(key).await.map_err(source_error)?;
    let io_error = |source: std::io::Error| {
        RunError::SourceUnreadable(StoreError::Io {
            location: location.clone(),
            source,
        })
    };
    let decoded = decode(body).await.map_err(io_error)?;
    let lines = pipelined_lines(decoded);
    let (acc, stats) = tokio::task::spawn_blocking(move || {
        let stats = read_lines(lines, |line, text| fold(&mut acc, line, text))?;
        Ok::<_, std::io::Error>((acc, stats))
    })
    .await
    .map_err(|e| RunError::Internal(format!("parser thread: {e}")))?
    .map_err(io_error)?;
    Ok((
        acc,
        FileReport {
            location,
            lines: stats,
        },
    ))
}

/// Fails when more than `limit` of the non-blank lines are bad.
fn check_share(file: &FileReport, limit: f64) -> Result<(), RunError> {
    let stats: &LineStats = &file.lines;
    let bad = stats.bad_total();
    if stats.lines == 0 || bad == 0 {
        return Ok(());
    }
    let share = bad as f64 / stats.lines as f64;
    if share > limit {
        let reasons = stats
            .bad
            .iter()
            .map(|(k, v)| format!("{k} {} (lines {:?})", v.count, v.sample_lines))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(RunError::InputBroken {
            location: file.location.clone(),
            bad,
            lines: stats.lines,
            share: share * 100.0,
            limit: limit * 100.0,
            reasons,
        });
    }
    Ok(())
}

fn warn_bad_lines(file: &FileReport) {
    for (reason, count) in &file.lines.bad {
        warn!(location = %file.location, reason = %reason, count = count.count, sample_lines = ?count.sample_lines, "skipped bad lines");
    }
}

/// What became of one selected author.
enum Outcome {
    /// Bytes and objects written, PNG size.
    Published(u64, usize, u64),
    Unchanged(u64),
    NotPublished(u64),
    Failed(String),
    Undone,
}

/// Runs one request end to end. `deadline`, when given, is the instant after
/// which no new chart is started (the caller has already kept its margin).
pub async fn run(
    pipeline: &Pipeline,
    plan: &RunPlan,
    deadline: Option<Instant>,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let started_at = Utc::now();
    let config = &pipeline.config;
    info!(as_of = %plan.as_of, lookback_days = plan.lookback_days, dry_run = plan.dry_run,
          source = %config.source, dest = %config.dest, "run started");

    // A missing destination is one clear error, before any work.
    if !plan.dry_run {
        pipeline.dest.check().await.map_err(RunError::Destination)?;
    }

    // Authors: small, read whole.
    let t = Instant::now();
    let (authors, authors_file) = read_source(
        pipeline.source.as_ref(),
        &config.authors_key,
        Vec::<Author>::new(),
        |acc, _line, text| {
            acc.push(parse_author(text)?);
            Ok(())
        },
    )
    .await?;
    let read_authors_ms = ms(t.elapsed());
    warn_bad_lines(&authors_file);
    check_share(&authors_file, config.max_bad_share)?;
    if authors.is_empty() {
        return Err(RunError::NoAuthors {
            location: authors_file.location,
        });
    }
    info!(
        authors = authors.len(),
        bad = authors_file.lines.bad_total(),
        ms = read_authors_ms,
        "stage read_authors done"
    );

    // Posts: streamed through the tally, never held.
    let t = Instant::now();
    let tally = Tally::new(authors, config.time_zone, plan.as_of);
    let (tally, posts_file) = read_source(
        pipeline.source.as_ref(),
        &config.posts_key,
        tally,
        |tally, line, text| {
            tally.add(line, &parse_post(text)?);
            Ok(())
        },
    )
    .await?;
    let read_posts_ms = ms(t.elapsed());
    let mb = posts_file.lines.bytes as f64 / 1e6;
    info!(
        lines = posts_file.lines.lines,
        records = posts_file.lines.records,
        bad = posts_file.lines.bad_total(),
        orphans = tally.posts.orphans.count,
        unpublished = tally.posts.unpublished,
        future = tally.posts.future,
        mb = format!("{mb:.1}"),
        mb_per_s = format!("{:.0}", mb / t.elapsed().as_secs_f64().max(1e-6)),
        ms = read_posts_ms,
        "stage read_posts done"
    );
    warn_bad_lines(&posts_file);
    if tally.posts.orphans.count > 0 {
        warn!(count = tally.posts.orphans.count, sample_lines = ?tally.posts.orphans.sample_lines,
              "posts whose author_id is not in the author master (orphans)");
    }
    check_share(&posts_file, config.max_bad_share)?;

    // Select.
    let t = Instant::now();
    let master_problems = tally.master_problems();
    for p in &master_problems {
        warn!(id = %p.id, slug = %p.slug, reason = p.reason.key(), "author master problem; this author is never drawn");
    }
    let selected = tally.select(plan.window_start(), plan.authors.as_ref());
    let select_ms = ms(t.elapsed());
    let mut report = RunReport {
        as_of: plan.as_of,
        window_start: plan.window_start(),
        lookback_days: plan.lookback_days,
        time_zone: config.time_zone.name().to_string(),
        dry_run: plan.dry_run,
        requested_authors: plan.authors.as_ref().map(|a| a.iter().cloned().collect()),
        posts_file,
        authors_file,
        posts: tally.posts.clone(),
        master_problems,
        ..RunReport::default()
    };
    report.authors.active = selected.len();
    let mut to_draw = Vec::new();
    for s in selected {
        match s.outcome {
            Ok(counts) => to_draw.push(counts),
            Err(reason) => {
                warn!(slug = %s.author.slug, id = %s.author.id, reason = reason.key(), "author skipped");
                *report
                    .skipped_by_reason
                    .entry(reason.key().to_string())
                    .or_default() += 1;
                let detail = match &reason {
                    SkipReason::UnsafeSlug(why) => Some(why.clone()),
                    _ => None,
                };
                report.skipped.push(SkippedAuthor {
                    slug: s.author.slug,
                    id: s.author.id,
                    reason: reason.key().to_string(),
                    detail,
                });
            }
        }
    }
    report.authors.skipped = report.skipped.len();
    info!(
        active = report.authors.active,
        to_draw = to_draw.len(),
        skipped = report.authors.skipped,
        ms = select_ms,
        "stage select done"
    );

    // Draw and publish.
    let t = Instant::now();
    let mut cards: Vec<ChartCard> = to_draw.iter().map(ChartCard::from).collect();
    let outcomes = draw_and_publish(pipeline, plan, to_draw, deadline).await;
    let shown: std::collections::HashSet<&str> = outcomes
        .iter()
        .filter(|(_, o, _)| matches!(o, Outcome::Published(..) | Outcome::Unchanged(_)))
        .map(|(slug, _, _)| slug.as_str())
        .collect();
    cards.retain(|c| shown.contains(c.slug.as_str()));
    let mut png_bytes_total = 0u64;
    let mut drawn = 0u64;
    let mut draw_cpu = Duration::ZERO;
    for (slug, outcome, cpu) in outcomes {
        draw_cpu += cpu;
        match outcome {
            Outcome::Published(bytes, objects, png) => {
                report.authors.published += 1;
                report.objects_written += objects;
                report.bytes_written += bytes;
                png_bytes_total += png;
                drawn += 1;
            }
            Outcome::Unchanged(png) => {
                report.authors.unchanged += 1;
                png_bytes_total += png;
                drawn += 1;
            }
            Outcome::NotPublished(png) => {
                report.authors.not_published += 1;
                png_bytes_total += png;
                drawn += 1;
            }
            Outcome::Failed(error) => {
                warn!(slug = %slug, error = %error, "chart failed");
                report.failed.push(FailedAuthor { slug, error });
            }
            Outcome::Undone => report.undone.push(slug),
        }
    }
    report.authors.failed = report.failed.len();
    report.authors.undone = report.undone.len();
    report.mean_png_bytes = png_bytes_total.checked_div(drawn).unwrap_or(0);
    report.s3_retries = pipeline.source.retries() + pipeline.dest.retries();
    report.stages = crate::report::StageTimes {
        read_authors_ms,
        read_posts_ms,
        select_ms,
        draw_and_publish_ms: ms(t.elapsed()),
        draw_cpu_ms: ms(draw_cpu),
        total_ms: 0,
    };
    info!(
        published = report.authors.published,
        unchanged = report.authors.unchanged,
        failed = report.authors.failed,
        undone = report.authors.undone,
        ms = report.stages.draw_and_publish_ms,
        draw_cpu_ms = report.stages.draw_cpu_ms,
        mean_png_bytes = report.mean_png_bytes,
        "stage draw_and_publish done"
    );
    report.stages.total_ms = ms(started.elapsed());
    debug_assert!(
        report.reconciles(),
        "report does not reconcile: {}",
        report.summary()
    );

    if !plan.dry_run {
        let written = match write_report(pipeline, &mut report, started_at).await {
            Ok(()) if config.gallery => write_gallery(pipeline, &report, &cards).await,
            other => other,
        };
        if let Err(e) = written {
            return Err(RunError::Report(e, Box::new(report)));
        }
    }
    info!(summary = %report.summary(), "run finished");
    if !report.failed.is_empty() {
        return Err(RunError::Publish(Box::new(report)));
    }
    if !report.undone.is_empty() {
        return Err(RunError::Deadline(Box::new(report)));
    }
    Ok(report)
}

/// Writes `reports/<started>.json` and `reports/latest.json`.
async fn write_report(
    pipeline: &Pipeline,
    report: &mut RunReport,
    started_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let prefix = &pipeline.config.reports_prefix;
    let stamp = started_at
        .to_rfc3339_opts(SecondsFormat::Millis, true)
        .replace(':', "-");
    let key = format!("{prefix}run-{stamp}.json");
    report.report_location = Some(pipeline.dest.describe(&key));
    let body = serde_json::to_vec_pretty(&report).map_err(|e| StoreError::Failed {
        location: key.clone(),
        message: e.to_string(),
    })?;
    let headers = ObjectHeaders {
        content_type: publish::JSON,
        cache_control: Some("no-store".into()),
    };
    pipeline.dest.put(&key, body.clone(), &headers).await?;
    pipeline
        .dest
        .put(&format!("{prefix}latest.json"), body, &headers)
        .await?;
    info!(location = %pipeline.dest.describe(&key), "run report written");
    Ok(())
}

/// Writes the review page: beside the charts for a local destination, under the
/// private reports prefix for S3 (the charts prefix is served publicly).
async fn write_gallery(
    pipeline: &Pipeline,
    report: &RunReport,
    cards: &[ChartCard],
) -> Result<(), StoreError> {
    let config = &pipeline.config;
    let (key, href) = if matches!(config.dest, Location::S3 { .. }) {
        let up = "../".repeat(config.reports_prefix.matches('/').count());
        (
            format!("{}index.html", config.reports_prefix),
            format!("{up}{}", config.charts_prefix),
        )
    } else {
        (format!("{}index.html", config.charts_prefix), String::new())
    };
    let html = render_gallery(report, cards, &href);
    let headers = ObjectHeaders {
        content_type: "text/html; charset=utf-8",
        cache_control: Some("no-store".into()),
    };
    pipeline.dest.put(&key, html.into_bytes(), &headers).await?;
    info!(location = %pipeline.dest.describe(&key), charts = cards.len(), "gallery written");
    Ok(())
}

/// Draws every chart on a bounded blocking pool and uploads as they come, with
/// a steady progress line. Results are sorted by slug.
async fn draw_and_publish(
    pipeline: &Pipeline,
    plan: &RunPlan,
    to_draw: Vec<MonthlyCounts>,
    deadline: Option<Instant>,
) -> Vec<(String, Outcome, Duration)> {
    let total = to_draw.len();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let drawing = match DrawPool::new(cores) {
        Ok(pool) => Drawing {
            pool,
            slots: Arc::new(Semaphore::new(cores)),
            theme: Arc::new(pipeline.config.theme.clone()),
        },
        Err(e) => {
            let why = format!("starting the drawing threads: {e}");
            return to_draw
                .into_iter()
                .map(|c| (c.slug, Outcome::Failed(why.clone()), Duration::ZERO))
                .collect();
        }
    };
    let done = Arc::new(AtomicUsize::new(0));
    let progress = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            tick.tick().await;
            loop {
                tick.tick().await;
                info!(
                    done = done.load(Ordering::Relaxed),
                    total, "charts progress"
                );
            }
        })
    };
    // One listing tells which charts exist already: new ones are put without a
    // metadata request first. If the listing fails, every chart is checked.
    let existing: Arc<Option<HashSet<String>>> = Arc::new(if plan.dry_run {
        None
    } else {
        match pipeline.dest.list(&pipeline.config.charts_prefix).await {
            Ok(keys) => Some(keys),
            Err(e) => {
                warn!(error = %e, "listing the charts failed; checking each chart instead");
                None
            }
        }
    });
    let in_flight = pipeline.config.upload_concurrency + cores;
    let mut results: Vec<(String, Outcome, Duration)> = futures::stream::iter(to_draw)
        .map(|counts| {
            let existing = existing.clone();
            let done = done.clone();
            let drawing = &drawing;
            async move {
                let slug = counts.slug.clone();
                let (outcome, cpu) =
                    chart_one(pipeline, plan, counts, drawing, deadline, &existing).await;
                done.fetch_add(1, Ordering::Relaxed);
                (slug, outcome, cpu)
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    progress.abort();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    results
}

/// The drawing threads, the slots that bound the charts waiting for them, and
/// the theme they draw with.
struct Drawing {
    pool: DrawPool,
    slots: Arc<Semaphore>,
    theme: Arc<crate::chart::Theme>,
}

async fn chart_one(
    pipeline: &Pipeline,
    plan: &RunPlan,
    counts: MonthlyCounts,
    drawing: &Drawing,
    deadline: Option<Instant>,
    existing: &Option<HashSet<String>>,
) -> (Outcome, Duration) {
    let Ok(permit) = drawing.slots.clone().acquire_owned().await else {
        return (
            Outcome::Failed("drawing pool closed".into()),
            Duration::ZERO,
        );
    };
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return (Outcome::Undone, Duration::ZERO);
    }
    let theme = drawing.theme.clone();
    let drawn = drawing
        .pool
        .run(move || {
            let t = Instant::now();
            let png = render_chart(&counts, &theme);
            let json = serde_json::to_vec_pretty(&counts);
            drop(permit);
            (counts.slug, png, json, t.elapsed())
        })
        .await;
    let (slug, png, json, cpu) = match drawn {
        Ok(parts) => parts,
        Err(e) => {
            return (Outcome::Failed(format!("drawing: {e}")), Duration::ZERO);
        }
    };
    let png = match png {
        Ok(png) => png,
        Err(e) => return (Outcome::Failed(e.to_string()), cpu),
    };
    let json = match json {
        Ok(json) => json,
        Err(e) => return (Outcome::Failed(format!("chart data: {e}")), cpu),
    };
    let png_len = png.len() as u64;
    if plan.dry_run {
        return (Outcome::NotPublished(png_len), cpu);
    }
    let config = &pipeline.config;
    let headers = |content_type| ObjectHeaders {
        content_type,
        cache_control: Some(config.cache_control.clone()),
    };
    let store = pipeline.dest.as_ref();
    let png_key = format!("{}{slug}.png", config.charts_prefix);
    let json_key = format!("{}{slug}.json", config.charts_prefix);
    let (png_headers, json_headers) = (headers(publish::PNG), headers(publish::JSON));
    let exists = |key: &str| existing.as_ref().is_none_or(|keys| keys.contains(key));
    let (a, b) = tokio::join!(
        put_if_changed(store, &png_key, png, &png_headers, exists(&png_key)),
        put_if_changed(store, &json_key, json, &json_headers, exists(&json_key)),
    );
    let outcome = match (a, b) {
        (Err(e), _) | (_, Err(e)) => Outcome::Failed(e.to_string()),
        (Ok(Written::Unchanged), Ok(Written::Unchanged)) => Outcome::Unchanged(png_len),
        (Ok(x), Ok(y)) => {
            let puts: Vec<u64> = [x, y]
                .iter()
                .filter_map(|w| {
                    if let Written::Put(n) = w {
                        Some(*n)
                    } else {
                        None
                    }
                })
                .collect();
            Outcome::Published(puts.iter().sum(), puts.len(), png_len)
        }
    };
    (outcome, cpu)
}
