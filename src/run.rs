//! The pipeline: check the request against the last published run, read the
//! author master, stream the posts through the tally, judge the inputs, select,
//! draw on every core while uploads run concurrently, prune the charts of
//! authors who are gone, and account for every author in the [`RunReport`].
//!
//! Each stage is one function with its inputs and outputs; [`run`] only orders
//! them. Parsing runs on a blocking thread fed by the async decoder; drawing runs
//! on a pool of one thread per core; uploads are bounded by `upload_concurrency`.
//! Nothing is published until both files were read whole and judged sound (the
//! guards below), so a chart is never drawn from half a file, and the deadline
//! covers every stage: work still in flight when it comes is abandoned and
//! reported as undone, leaving the margin for the report.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::chart::render_chart;
use crate::config::{Config, MAX_BAD_RECORD_SHARE, MAX_EXPORT_AGE_HOURS, MAX_PRUNE, MAX_SHRINK};
use crate::draw_pool::DrawPool;
use crate::event::RunPlan;
use crate::gallery::{ChartCard, render_gallery};
use crate::input::{decode, pipelined_lines};
use crate::lease::{self, Lease, LeaseError, LeaseRecord};
use crate::publish::{self, Written, put_if_changed};
use crate::records::{
    Author, BadReason, Line, LineStats, parse_author, parse_post_line, read_lines,
};
use crate::report::{
    ChartOutcome, ChartResult, FileReport, PreviousRun, ReportedError, RunReport, SkippedAuthor,
};
use crate::store::s3::S3Options;
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
        let source_s3 = S3Options {
            region: config.source_region.clone(),
            ..config.s3.clone()
        };
        let source = open_store(&config.source, &source_s3).await;
        let dest = open_store(&config.dest, &config.s3).await;
        Pipeline {
            config,
            source,
            dest,
        }
    }
}

/// A check on the request or the inputs that failed: the run publishes nothing
/// (except [`Guard::PruneTooLarge`], which comes after publishing), writes its
/// report, and names what it saw and the setting that overrides it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Guard {
    #[error(
        "as_of {as_of} is older than the as_of {previous} of the last published run; redrawing the past \
         would replace newer charts. Set \"allow_older_as_of\": true (--allow-older-as-of) if that is meant"
    )]
    AsOfRewind {
        as_of: DateTime<Utc>,
        previous: DateTime<Utc>,
    },
    #[error("{location} holds no post records; an export without posts is not a real export")]
    InputEmpty { location: String },
    #[error(
        "{location} was last written at {modified}, more than {hours} h before as_of {as_of}: the exporter \
         seems to have stopped. Raise or disable (0) {} ({})", MAX_EXPORT_AGE_HOURS.env, MAX_EXPORT_AGE_HOURS.flag
    )]
    ExportStale {
        location: String,
        modified: DateTime<Utc>,
        hours: i64,
        as_of: DateTime<Utc>,
    },
    #[error(
        "{counted} posts counted, {previous} in the last published run: a drop of {drop:.1}%, over the \
         {limit:.1}% limit; the export looks cut short. Raise {} ({}) if the posts really went",
        MAX_SHRINK.env, MAX_SHRINK.flag
    )]
    InputShrunk {
        counted: u64,
        previous: u64,
        drop: f64,
        limit: f64,
    },
    #[error(
        "{orphans} of {records} posts ({share:.2}%) name an author_id that is not in {location}, over the \
         {limit:.2}% limit: the author master looks incomplete. Sample lines {samples:?}; raise {} ({}) to accept",
        MAX_BAD_RECORD_SHARE.env, MAX_BAD_RECORD_SHARE.flag
    )]
    MasterIncomplete {
        location: String,
        orphans: u64,
        records: u64,
        share: f64,
        limit: f64,
        samples: Vec<u64>,
    },
    #[error(
        "{count} chart(s) belong to authors no longer in the master, over the limit of {limit}: none was \
         deleted (the charts of this run were published). Check the master; set {} ({}) or \
         \"allow_mass_prune\": true (--allow-mass-prune) to delete them",
        MAX_PRUNE.env, MAX_PRUNE.flag
    )]
    PruneTooLarge { count: usize, limit: usize },
}

impl Guard {
    pub fn error_type(&self) -> &'static str {
        match self {
            Guard::AsOfRewind { .. } => "AsOfRewind",
            Guard::InputEmpty { .. } => "InputEmpty",
            Guard::ExportStale { .. } => "ExportStale",
            Guard::InputShrunk { .. } => "InputShrunk",
            Guard::MasterIncomplete { .. } => "MasterIncomplete",
            Guard::PruneTooLarge { .. } => "PruneTooLarge",
        }
    }
}

/// Why a run failed. Every variant says what to look at; those that happen once
/// a report exists carry it (it was also written, unless writing it failed).
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
    #[error("{0}")]
    Guard(Guard, Box<RunReport>),
    #[error("{} of {} charts failed to publish ({}); the others were published and the report lists each failure",
        .0.authors.failed, .0.authors.active, failed_slugs(.0))]
    Publish(Box<RunReport>),
    #[error("the deadline came before {} of {} authors were drawn and published; run the same request again to \
        finish them (unchanged charts are not uploaded again)", .0.authors.undone, .0.authors.active)]
    Deadline(Box<RunReport>),
    #[error(
        "the deadline came while reading the inputs; nothing was published. Give the function more time \
        or memory (DEADLINE_MARGIN_SECONDS keeps {margin_s} s for the report)"
    )]
    DeadlineReading {
        margin_s: u64,
        report: Box<RunReport>,
    },
    #[error("cannot publish to the destination, nothing was written: {0}")]
    Destination(#[source] StoreError),
    #[error("{0}")]
    Lease(#[source] LeaseError),
    #[error("writing the run report failed: {0}")]
    Report(#[source] StoreError, Box<RunReport>),
    #[error("the work location of a scaled-out run is not usable: {location}: {problem}")]
    Work { location: String, problem: String },
    #[error(
        "run {run_id} is not finished: shard(s) {missing:?} have no report; render them (again), then finish"
    )]
    Incomplete {
        run_id: String,
        missing: Vec<String>,
    },
    #[error(
        "shard {shard}: {failed} chart(s) failed and {undone} were not done before the deadline; \
        the shard's report lists them. Render the shard again (unchanged charts are not uploaded again)"
    )]
    Shard {
        shard: String,
        failed: usize,
        undone: usize,
    },
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
            RunError::Guard(guard, _) => guard.error_type(),
            RunError::Publish(_) | RunError::Report(..) | RunError::Destination(_) => {
                "PublishFailed"
            }
            RunError::Deadline(_) | RunError::DeadlineReading { .. } => "DeadlineExceeded",
            RunError::Lease(LeaseError::Held { .. }) => "RunInProgress",
            RunError::Lease(LeaseError::Store { .. }) => "PublishFailed",
            RunError::Work { .. } => "WorkInvalid",
            RunError::Incomplete { .. } => "RunIncomplete",
            RunError::Shard { failed, .. } if *failed > 0 => "PublishFailed",
            RunError::Shard { .. } => "DeadlineExceeded",
            RunError::Internal(_) => "Internal",
        }
    }

    /// The report, when the run got far enough to make one.
    pub fn report(&self) -> Option<&RunReport> {
        match self {
            RunError::Publish(r)
            | RunError::Deadline(r)
            | RunError::Report(_, r)
            | RunError::Guard(_, r)
            | RunError::DeadlineReading { report: r, .. } => Some(r),
            _ => None,
        }
    }
}

pub(crate) fn source_error(e: StoreError) -> RunError {
    if e.is_missing() {
        RunError::SourceMissing(e)
    } else {
        RunError::SourceUnreadable(e)
    }
}

pub(crate) fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Who runs a request, and until when.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Names the run in the lease and the logs (Lambda's request id).
    pub id: String,
    /// The instant by which all work stops (the caller has kept its margin for
    /// the report); `None`: no deadline.
    pub deadline: Option<Instant>,
    /// When the run's lease frees itself: the end of the invocation.
    pub lease_until: DateTime<Utc>,
}

/// How long a command-line run's lease lasts: the function's timeout.
pub(crate) const CLI_LEASE: chrono::Duration = chrono::Duration::minutes(15);

impl Invocation {
    /// A command-line run: no deadline, a lease of [`CLI_LEASE`].
    pub fn cli() -> Self {
        let now = Utc::now();
        Invocation {
            id: format!(
                "cli-{}-{}",
                std::process::id(),
                now.format("%Y%m%dT%H%M%S%.3fZ")
            ),
            deadline: None,
            lease_until: now + CLI_LEASE,
        }
    }
}

/// Runs one request end to end, holding the destination's lease while it does
/// (a dry run writes nothing and takes none).
pub async fn run(
    pipeline: &Pipeline,
    plan: &RunPlan,
    invocation: &Invocation,
) -> Result<RunReport, RunError> {
    if plan.dry_run {
        return run_stages(pipeline, plan, invocation.deadline).await;
    }
    let held = take_lease(pipeline, &invocation.id, plan.as_of, invocation.lease_until).await?;
    let result = run_stages(pipeline, plan, invocation.deadline).await;
    held.release(pipeline.dest.as_ref(), Utc::now()).await;
    result
}

/// Checks the destination (a missing one is one clear error, before any work)
/// and takes its lease for `run_id` until `until`.
pub(crate) async fn take_lease(
    pipeline: &Pipeline,
    run_id: &str,
    as_of: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Lease, RunError> {
    pipeline.dest.check().await.map_err(RunError::Destination)?;
    let key = format!("{}{}", pipeline.config.reports_prefix, lease::LEASE_NAME);
    let record = LeaseRecord {
        run_id: run_id.to_string(),
        as_of,
        acquired_at: Utc::now(),
        expires_at: until,
        released: false,
    };
    lease::acquire(pipeline.dest.as_ref(), &key, record)
        .await
        .map_err(RunError::Lease)
}

/// The stages in order. `deadline`, when given, is the instant by which all
/// work stops.
async fn run_stages(
    pipeline: &Pipeline,
    plan: &RunPlan,
    deadline: Option<Instant>,
) -> Result<RunReport, RunError> {
    let judged = read_judged(pipeline, plan, deadline).await?;
    let (started, started_at) = (judged.started, judged.started_at);
    let (mut report, tally) = (judged.report, judged.tally);
    let t = Instant::now();
    let to_draw: Vec<MonthlyCounts> = select(&tally, plan, &mut report)
        .map(|d| d.counts)
        .collect();
    selected(&mut report, to_draw.len(), t.elapsed());

    // One listing tells which charts exist already (new ones are put without a
    // metadata request first) and which belong to authors who are gone.
    let existing = list_charts(pipeline).await;

    let t = Instant::now();
    let mut cards: Vec<ChartCard> = to_draw.iter().map(ChartCard::from).collect();
    let charts = draw_and_publish(pipeline, plan, to_draw, deadline, existing.as_ref()).await;
    record_charts(&mut report, charts, &mut cards, t.elapsed());

    let drawable = tally.drawable_slugs();
    let prune_guard = prune(
        pipeline,
        plan,
        &drawable,
        existing.as_ref(),
        deadline,
        &mut report,
    )
    .await;
    report.s3_retries = pipeline.source.retries() + pipeline.dest.retries();
    report.stages.total_ms = ms(started.elapsed());
    end_published(
        pipeline,
        plan,
        report,
        &cards,
        prune_guard,
        started_at,
        deadline,
    )
    .await
}

/// Ends a run that published (one run, or a scaled-out run's finish): the
/// report must reconcile; its outcome (the prune guard, failed charts, undone
/// authors) goes into it; a run that is not dry writes it and the review page;
/// an error carries the report as written.
pub(crate) async fn end_published(
    pipeline: &Pipeline,
    plan: &RunPlan,
    mut report: RunReport,
    cards: &[ChartCard],
    prune_guard: Option<Guard>,
    started_at: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<RunReport, RunError> {
    if !report.reconciles() {
        return Err(RunError::Internal(format!(
            "the report does not reconcile: {}",
            report.summary()
        )));
    }
    let error = run_outcome(prune_guard, &mut report);
    if !plan.dry_run {
        let written = publish_report(pipeline, &mut report, cards, started_at, deadline);
        if let Err(e) = written.await {
            return Err(RunError::Report(e, Box::new(report)));
        }
    }
    info!(summary = %report.summary(), "run finished");
    match error {
        Some(e) => Err(with_report(e, report)),
        None => Ok(report),
    }
}

/// A run as far as its inputs, read and judged.
pub(crate) struct Judged {
    pub(crate) started: Instant,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) report: RunReport,
    pub(crate) tally: Tally,
}

/// The stages up to the judged inputs. A run stopped on the way (a guard, the
/// deadline while reading) writes its report and publishes nothing.
pub(crate) async fn read_judged(
    pipeline: &Pipeline,
    plan: &RunPlan,
    deadline: Option<Instant>,
) -> Result<Judged, RunError> {
    let started = Instant::now();
    let started_at = Utc::now();
    let mut report = new_report(&pipeline.config, plan);
    match read_and_judge(pipeline, plan, deadline, &mut report).await {
        Ok(tally) => Ok(Judged {
            started,
            started_at,
            report,
            tally,
        }),
        Err(Stop::Run(e)) => Err(e),
        Err(Stop::Guard(e)) => Err(end_unpublished(pipeline, report, started_at, started, e).await),
    }
}

/// A report of `plan` before anything was read.
fn new_report(config: &Config, plan: &RunPlan) -> RunReport {
    info!(as_of = %plan.as_of, lookback_days = plan.lookback_days, dry_run = plan.dry_run,
          source = %config.source, dest = %config.dest, "run started");
    RunReport {
        as_of: plan.as_of,
        window_start: plan.window_start(),
        lookback_days: plan.lookback_days,
        time_zone: config.time_zone.name().to_string(),
        dry_run: plan.dry_run,
        requested_authors: plan.authors.as_ref().map(|a| a.iter().cloned().collect()),
        ..RunReport::default()
    }
}

/// The first stages, up to both inputs read and judged: the last published
/// run, the `as_of` guard, then the reading within the deadline. A stop that
/// happens once the report has something to say is a `Stop::Guard` carrying
/// its [`RunError`]: the caller ends the run with [`end_unpublished`].
async fn read_and_judge(
    pipeline: &Pipeline,
    plan: &RunPlan,
    deadline: Option<Instant>,
    report: &mut RunReport,
) -> Result<Tally, Stop<RunError>> {
    report.previous = read_previous_run(pipeline).await;
    if let Err(guard) = check_as_of(plan, report.previous.as_ref()) {
        return Err(Stop::Guard(RunError::Guard(guard, Box::default())));
    }
    match within(deadline, read_inputs(pipeline, plan, report)).await {
        Some(Ok(tally)) => Ok(tally),
        Some(Err(Stop::Run(e))) => Err(Stop::Run(e)),
        Some(Err(Stop::Guard(guard))) => Err(Stop::Guard(RunError::Guard(guard, Box::default()))),
        None => Err(Stop::Guard(RunError::DeadlineReading {
            margin_s: pipeline.config.deadline_margin.as_secs(),
            report: Box::default(),
        })),
    }
}

/// Accounts for every drawn (or abandoned) chart in the report, and keeps the
/// review page's cards to the charts that are in the destination.
pub(crate) fn record_charts(
    report: &mut RunReport,
    charts: Vec<ChartResult>,
    cards: &mut Vec<ChartCard>,
    took: Duration,
) {
    let shown: HashSet<&str> = charts
        .iter()
        .filter(|c| {
            matches!(
                c.outcome,
                ChartOutcome::Published { .. } | ChartOutcome::Unchanged { .. }
            )
        })
        .map(|c| c.slug.as_str())
        .collect();
    cards.retain(|c| shown.contains(c.slug.as_str()));
    let (mut png_bytes, mut drawn, mut draw_cpu) = (0u64, 0u64, Duration::ZERO);
    for chart in charts {
        draw_cpu += chart.draw_cpu;
        if let ChartOutcome::Failed(error) = &chart.outcome {
            warn!(slug = %chart.slug, error = %error, "chart failed");
        }
        if let Some(png) = report.record(chart) {
            png_bytes += png;
            drawn += 1;
        }
    }
    report.mean_png_bytes = png_bytes.checked_div(drawn).unwrap_or(0);
    report.stages.draw_and_publish_ms = ms(took);
    report.stages.draw_cpu_ms = ms(draw_cpu);
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
}

/// How a run that published ends: the prune guard, failed charts, undone
/// authors, in that order of precedence; the report carries the error too.
fn run_outcome(prune_guard: Option<Guard>, report: &mut RunReport) -> Option<RunError> {
    let error = if let Some(guard) = prune_guard {
        RunError::Guard(guard, Box::default())
    } else if !report.failed.is_empty() {
        RunError::Publish(Box::default())
    } else if !report.undone.is_empty() {
        RunError::Deadline(Box::default())
    } else {
        return None;
    };
    // The messages of Publish and Deadline count from the report: fill it first.
    let error = with_report(error, report.clone());
    report.error = Some(reported(&error));
    Some(error)
}

/// Writes the report (and the review page) of a run that published, within
/// half the deadline margin: the function must answer before Lambda's hard stop
/// even when the destination stalls.
async fn publish_report(
    pipeline: &Pipeline,
    report: &mut RunReport,
    cards: &[ChartCard],
    started_at: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<(), StoreError> {
    let config = &pipeline.config;
    let report_deadline = deadline.map(|d| d + config.deadline_margin / 2);
    let write = async {
        match write_report(pipeline, report, started_at, Latest::Replace).await {
            Ok(()) if config.gallery => write_gallery(pipeline, report, cards).await,
            other => other,
        }
    };
    within(report_deadline, write).await.unwrap_or_else(|| {
        Err(StoreError::Failed {
            location: pipeline.dest.describe(&config.reports_prefix),
            message: "writing the report did not finish within half the deadline margin".into(),
        })
    })
}

/// Puts `report` into an error that carries one.
fn with_report(error: RunError, report: RunReport) -> RunError {
    let report = Box::new(report);
    match error {
        RunError::Guard(guard, _) => RunError::Guard(guard, report),
        RunError::Publish(_) => RunError::Publish(report),
        RunError::Deadline(_) => RunError::Deadline(report),
        RunError::DeadlineReading { margin_s, .. } => {
            RunError::DeadlineReading { margin_s, report }
        }
        other => other,
    }
}

/// The error as a report states it.
fn reported(error: &RunError) -> ReportedError {
    ReportedError {
        error_type: error.error_type().to_string(),
        message: error.to_string(),
    }
}

/// Ends a run stopped before it published (a guard, or the deadline while
/// reading): the report, with the error in it, goes to `reports/run-<time>.json`
/// (not `latest.json`, which stays the last published run).
async fn end_unpublished(
    pipeline: &Pipeline,
    mut report: RunReport,
    started_at: DateTime<Utc>,
    started: Instant,
    error: RunError,
) -> RunError {
    warn!(error_type = error.error_type(), "{error}");
    report.stages.total_ms = ms(started.elapsed());
    report.error = Some(reported(&error));
    if !report.dry_run
        && let Err(e) = write_report(pipeline, &mut report, started_at, Latest::Keep).await
    {
        warn!(error = %e, "writing the report of the stopped run failed");
    }
    with_report(error, report)
}

/// Runs `work` until `deadline`; `None` when the deadline came first.
pub(crate) async fn within<F: Future>(deadline: Option<Instant>, work: F) -> Option<F::Output> {
    match deadline {
        None => Some(work.await),
        Some(d) => tokio::time::timeout_at(tokio::time::Instant::from_std(d), work)
            .await
            .ok(),
    }
}

/// The last published run, from `reports/latest.json`. A report that cannot be
/// read is logged and treated as absent (the guards that need it then pass).
pub(crate) async fn read_previous_run(pipeline: &Pipeline) -> Option<PreviousRun> {
    let key = format!("{}latest.json", pipeline.config.reports_prefix);
    match pipeline.dest.get(&key).await {
        Ok(None) => None,
        Ok(Some(bytes)) => {
            let previous = PreviousRun::from_report_json(&bytes);
            if previous.is_none() {
                warn!(location = %pipeline.dest.describe(&key), "the last run report has no as_of or posts.counted; the guards that compare against it are skipped");
            }
            previous
        }
        Err(e) => {
            warn!(error = %e, "cannot read the last run report; the guards that compare against it are skipped");
            None
        }
    }
}

/// Runs move forward in time: an `as_of` older than the last published run's
/// would replace newer charts with older ones. Equal is the scheduler's retry.
pub(crate) fn check_as_of(plan: &RunPlan, previous: Option<&PreviousRun>) -> Result<(), Guard> {
    match previous {
        Some(p) if plan.as_of < p.as_of && !plan.dry_run && !plan.allow_older_as_of => {
            Err(Guard::AsOfRewind {
                as_of: plan.as_of,
                previous: p.as_of,
            })
        }
        _ => Ok(()),
    }
}

/// What stops a stage: a run error, or a guard (after which the run still
/// writes its report).
enum Stop<G = Guard> {
    Run(RunError),
    Guard(G),
}

impl<G> From<RunError> for Stop<G> {
    fn from(e: RunError) -> Self {
        Stop::Run(e)
    }
}

impl From<Guard> for Stop {
    fn from(g: Guard) -> Self {
        Stop::Guard(g)
    }
}

/// Reads the author master whole and streams the posts through the tally, then
/// judges both; the report gets the file statistics and stage times.
async fn read_inputs(
    pipeline: &Pipeline,
    plan: &RunPlan,
    report: &mut RunReport,
) -> Result<Tally, Stop> {
    let config = &pipeline.config;
    let source = pipeline.source.as_ref();

    // A stale export is refused before it is read.
    let posts = PostsExport::find(source, &config.posts_key).await?;
    let exported_at = posts.oldest_part(source).await?;
    report.posts_exported_at = Some(exported_at);
    check_export_age(
        config,
        plan,
        &source.describe(&config.posts_key),
        exported_at,
    )?;

    let authors = read_authors(pipeline, report).await?;
    let master_location = report.authors_file.location.clone();
    let tally = read_posts(pipeline, plan, posts, authors, report).await?;
    check_share(&report.posts_file, config.max_bad_share)?;
    check_posts(
        config,
        &report.posts_file,
        &tally,
        &master_location,
        report.previous.as_ref(),
    )?;
    Ok(tally)
}

/// The author master, whole (it is small), with its bad lines judged: too
/// many, or no author at all, stops the run.
async fn read_authors(pipeline: &Pipeline, report: &mut RunReport) -> Result<Vec<Author>, Stop> {
    let config = &pipeline.config;
    let t = Instant::now();
    let (authors, authors_file) = read_source(
        pipeline.source.as_ref(),
        &config.authors_key,
        Vec::<Author>::new(),
        |acc, _line, text| {
            acc.push(parse_author(text.whole()?)?);
            Ok(())
        },
    )
    .await?;
    report.stages.read_authors_ms = ms(t.elapsed());
    warn_bad_lines(&authors_file);
    check_share(&authors_file, config.max_bad_share)?;
    if authors.is_empty() {
        return Err(RunError::NoAuthors {
            location: authors_file.location,
        }
        .into());
    }
    info!(
        authors = authors.len(),
        bad = authors_file.lines.bad_total(),
        ms = report.stages.read_authors_ms,
        "stage read_authors done"
    );
    report.authors_file = authors_file;
    Ok(authors)
}

/// The posts, streamed through the tally and never held; their counts and
/// problems go into the report.
async fn read_posts(
    pipeline: &Pipeline,
    plan: &RunPlan,
    posts: PostsExport,
    authors: Vec<Author>,
    report: &mut RunReport,
) -> Result<Tally, Stop> {
    let t = Instant::now();
    let tally = Tally::new(authors, pipeline.config.time_zone, plan.as_of);
    let (tally, posts_file) = posts.read(pipeline.source.as_ref(), tally).await?;
    report.stages.read_posts_ms = ms(t.elapsed());
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
        ms = report.stages.read_posts_ms,
        "stage read_posts done"
    );
    warn_bad_lines(&posts_file);
    if tally.posts.orphans.count > 0 {
        warn!(count = tally.posts.orphans.count, sample_lines = ?tally.posts.orphans.sample_lines,
              "posts whose author_id is not in the author master (orphans)");
    }
    report.posts = tally.posts.clone();
    report.master_problems = tally.master_problems();
    report.posts_file = posts_file;
    Ok(tally)
}

/// The posts export: one object, or every object under a prefix (a key ending
/// in `/`), each a part of the export.
enum PostsExport {
    One(String),
    Parts { prefix: String, keys: Vec<String> },
}

impl PostsExport {
    async fn find(source: &dyn Store, key: &str) -> Result<Self, RunError> {
        if !key.ends_with('/') {
            return Ok(PostsExport::One(key.to_string()));
        }
        let mut keys: Vec<String> = source
            .list(key)
            .await
            .map_err(source_error)?
            .into_iter()
            .filter(|k| !k.ends_with('/'))
            .collect();
        if keys.is_empty() {
            return Err(RunError::SourceMissing(StoreError::NotFound {
                location: format!("{} (no part under this prefix)", source.describe(key)),
            }));
        }
        keys.sort();
        Ok(PostsExport::Parts {
            prefix: key.to_string(),
            keys,
        })
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            PostsExport::One(key) => vec![key.as_str()],
            PostsExport::Parts { keys, .. } => keys.iter().map(String::as_str).collect(),
        }
    }

    /// When the export was written: its oldest part's time, so one part the
    /// exporter stopped refreshing makes the whole export stale.
    async fn oldest_part(&self, source: &dyn Store) -> Result<DateTime<Utc>, RunError> {
        let times: Vec<Result<DateTime<Utc>, StoreError>> = futures::stream::iter(self.keys())
            .map(|key| source.last_modified(key))
            .buffer_unordered(16)
            .collect()
            .await;
        let mut oldest: Option<DateTime<Utc>> = None;
        for time in times {
            let time = time.map_err(source_error)?;
            oldest = Some(oldest.map_or(time, |o| o.min(time)));
        }
        oldest.ok_or_else(|| RunError::Internal("an export without objects".into()))
    }

    /// Streams every part through a tally of its own, as many parts at a time
    /// as there are cores (each decodes on its own thread), and merges them.
    async fn read(
        &self,
        source: &dyn Store,
        tally: Tally,
    ) -> Result<(Tally, FileReport), RunError> {
        let fold = |tally: &mut Tally, line: u64, text: Line<'_>| {
            tally.add(line, &parse_post_line(text)?);
            Ok(())
        };
        let (prefix, keys) = match self {
            PostsExport::One(key) => return read_source(source, key, tally, fold).await,
            PostsExport::Parts { prefix, keys } => (prefix, keys),
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let parts: Vec<Result<(Tally, FileReport), RunError>> = futures::stream::iter(keys)
            .map(|key| read_source(source, key, tally.clone(), fold))
            .buffer_unordered(cores)
            .collect()
            .await;
        let mut merged = tally;
        let mut lines = LineStats::default();
        for part in parts {
            let (part_tally, file) = part?;
            merged.merge(part_tally);
            lines.merge(file.lines);
        }
        info!(parts = keys.len(), prefix = %source.describe(prefix), "read the export in parts");
        Ok((
            merged,
            FileReport {
                location: format!("{} ({} parts)", source.describe(prefix), keys.len()),
                lines,
            },
        ))
    }
}

/// The posts export must have been written within `MAX_EXPORT_AGE_HOURS` of `as_of`.
pub(crate) fn check_export_age(
    config: &Config,
    plan: &RunPlan,
    location: &str,
    modified: DateTime<Utc>,
) -> Result<(), Guard> {
    match config.max_export_age {
        Some(age) if modified < plan.as_of - age => Err(Guard::ExportStale {
            location: location.to_string(),
            modified,
            hours: age.num_hours(),
            as_of: plan.as_of,
        }),
        _ => Ok(()),
    }
}

/// The posts look like a real export: some records, not far fewer counted than
/// the last published run, and few posts whose author is missing from the master.
fn check_posts(
    config: &Config,
    posts: &FileReport,
    tally: &Tally,
    master_location: &str,
    previous: Option<&PreviousRun>,
) -> Result<(), Guard> {
    if posts.lines.records == 0 {
        return Err(Guard::InputEmpty {
            location: posts.location.clone(),
        });
    }
    let orphans = &tally.posts.orphans;
    let share = orphans.count as f64 / posts.lines.records as f64;
    if share > config.max_bad_share {
        return Err(Guard::MasterIncomplete {
            location: master_location.to_string(),
            orphans: orphans.count,
            records: posts.lines.records,
            share: share * 100.0,
            limit: config.max_bad_share * 100.0,
            samples: orphans.sample_lines.clone(),
        });
    }
    check_shrink(config.max_shrink, tally.posts.counted, previous)
}

/// Counted posts may not drop by more than `max_shrink` against the last
/// published run; the first run has nothing to compare with.
pub(crate) fn check_shrink(
    max_shrink: f64,
    counted: u64,
    previous: Option<&PreviousRun>,
) -> Result<(), Guard> {
    let Some(previous) = previous.filter(|p| p.posts_counted > 0) else {
        return Ok(());
    };
    let drop = 1.0 - counted as f64 / previous.posts_counted as f64;
    if drop > max_shrink {
        return Err(Guard::InputShrunk {
            counted,
            previous: previous.posts_counted,
            drop: drop * 100.0,
            limit: max_shrink * 100.0,
        });
    }
    Ok(())
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
    F: FnMut(&mut A, u64, Line<'_>) -> Result<(), BadReason> + Send + 'static,
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

/// One author to draw: the master's `id` and the chart's data.
pub(crate) struct ToDraw {
    pub(crate) id: String,
    pub(crate) counts: MonthlyCounts,
}

/// Picks the authors to draw, one at a time as the caller takes them (a plan
/// writes each into its shard and forgets it); `authors.active` is set before
/// the first, and the skipped ones go into the report as they come.
pub(crate) fn select<'t>(
    tally: &'t Tally,
    plan: &RunPlan,
    report: &'t mut RunReport,
) -> impl Iterator<Item = ToDraw> + 't {
    for p in &report.master_problems {
        warn!(id = %p.id, slug = %p.slug, reason = p.reason.key(), "author master problem; this author is never drawn");
    }
    let picks = tally.picks(plan.window_start(), plan.authors.as_ref());
    report.authors.active = picks.len();
    picks.into_iter().filter_map(move |pick| {
        let s = pick.resolve();
        let reason = match s.outcome {
            Ok(counts) => {
                return Some(ToDraw {
                    id: s.author.id,
                    counts,
                });
            }
            Err(reason) => reason,
        };
        warn!(slug = %s.author.slug, id = %s.author.id, reason = reason.key(), "author skipped");
        let detail = match &reason {
            SkipReason::UnsafeSlug(why) => Some(why.clone()),
            _ => None,
        };
        report.record_skipped(SkippedAuthor {
            slug: s.author.slug,
            id: s.author.id,
            reason: reason.key().to_string(),
            detail,
        });
        None
    })
}

/// The select stage's log line and time, once its authors were taken.
pub(crate) fn selected(report: &mut RunReport, to_draw: usize, took: Duration) {
    report.stages.select_ms = ms(took);
    info!(
        active = report.authors.active,
        to_draw,
        skipped = report.authors.skipped,
        "stage select done"
    );
}

/// Every key under the charts prefix, or `None` when the listing failed (then
/// every chart is checked one by one and nothing is pruned).
pub(crate) async fn list_charts(pipeline: &Pipeline) -> Option<HashSet<String>> {
    match pipeline.dest.list(&pipeline.config.charts_prefix).await {
        Ok(keys) => Some(keys),
        Err(e) => {
            warn!(error = %e, "listing the charts failed; checking each chart instead, and pruning nothing");
            None
        }
    }
}

/// The slugs of the charts (`<slug>.png`, `<slug>.json`) under the charts
/// prefix whose slug is not drawable; other objects are never candidates.
pub(crate) fn prune_candidates(
    charts_prefix: &str,
    existing: &HashSet<String>,
    drawable: &HashSet<&str>,
) -> (BTreeSet<String>, usize) {
    let mut gone = BTreeSet::new();
    let mut present = 0;
    for key in existing {
        let Some(name) = key.strip_prefix(charts_prefix) else {
            continue;
        };
        let (slug, is_png) = match (name.strip_suffix(".png"), name.strip_suffix(".json")) {
            (Some(slug), _) => (slug, true),
            (None, Some(slug)) => (slug, false),
            (None, None) => continue,
        };
        if slug.is_empty() || slug.contains('/') {
            continue;
        }
        present += usize::from(is_png);
        if drawable.contains(slug) {
            continue;
        }
        gone.insert(slug.to_string());
    }
    (gone, present)
}

/// Deletes the charts of authors who are no longer drawable, within the
/// `MAX_PRUNE` limit (a dry run only lists them). Returns the guard when the
/// limit held the deletions back.
pub(crate) async fn prune(
    pipeline: &Pipeline,
    plan: &RunPlan,
    drawable: &HashSet<&str>,
    existing: Option<&HashSet<String>>,
    deadline: Option<Instant>,
    report: &mut RunReport,
) -> Option<Guard> {
    let config = &pipeline.config;
    let existing = existing?;
    if deadline.is_some_and(|d| Instant::now() >= d) {
        warn!(
            "the deadline came before pruning; charts of removed authors stay until the next run"
        );
        return None;
    }
    let (gone, present) = prune_candidates(&config.charts_prefix, existing, drawable);
    if gone.is_empty() {
        return None;
    }
    let limit = config.prune_limit(present);
    if gone.len() > limit && !plan.allow_mass_prune {
        report.prune_withheld = gone.into_iter().collect();
        return Some(Guard::PruneTooLarge {
            count: report.prune_withheld.len(),
            limit,
        });
    }
    if plan.dry_run {
        info!(count = gone.len(), slugs = ?gone, "dry run: these charts would be deleted");
        report.deleted = gone.into_iter().collect();
        report.authors.deleted = report.deleted.len();
        return None;
    }
    for slug in gone {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            warn!("the deadline came while pruning; the rest goes in the next run");
            break;
        }
        let mut deleted = true;
        for ext in ["png", "json"] {
            let key = format!("{}{slug}.{ext}", config.charts_prefix);
            if !existing.contains(&key) {
                continue;
            }
            if let Err(e) = within(deadline, pipeline.dest.delete(&key))
                .await
                .unwrap_or(Ok(()))
            {
                warn!(key = %key, error = %e, "deleting a removed author's chart failed; it is tried again next run");
                deleted = false;
            }
        }
        if deleted {
            info!(slug = %slug, "deleted the chart of an author no longer in the master");
            report.deleted.push(slug);
        }
    }
    report.authors.deleted = report.deleted.len();
    None
}

/// Whether a run updates `reports/latest.json`, the record of the last
/// published run that the next run is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Latest {
    Replace,
    Keep,
}

/// Writes `reports/run-<started>.json` and, for a run that published,
/// `reports/latest.json`.
async fn write_report(
    pipeline: &Pipeline,
    report: &mut RunReport,
    started_at: DateTime<Utc>,
    latest: Latest,
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
    let headers = ObjectHeaders::no_store(publish::JSON);
    pipeline.dest.put(&key, body.clone(), &headers).await?;
    if latest == Latest::Replace {
        pipeline
            .dest
            .put(&format!("{prefix}latest.json"), body, &headers)
            .await?;
    }
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
    let headers = ObjectHeaders::no_store("text/html; charset=utf-8");
    pipeline.dest.put(&key, html.into_bytes(), &headers).await?;
    info!(location = %pipeline.dest.describe(&key), charts = cards.len(), "gallery written");
    Ok(())
}

/// Draws every chart on a bounded blocking pool and uploads as they come, with
/// a steady progress line. Results are sorted by slug. A chart still being
/// drawn or uploaded when the deadline comes is abandoned as undone.
pub(crate) async fn draw_and_publish(
    pipeline: &Pipeline,
    plan: &RunPlan,
    to_draw: Vec<MonthlyCounts>,
    deadline: Option<Instant>,
    existing: Option<&HashSet<String>>,
) -> Vec<ChartResult> {
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
                .map(|c| ChartResult {
                    slug: c.slug,
                    outcome: ChartOutcome::Failed(why.clone()),
                    draw_cpu: Duration::ZERO,
                })
                .collect();
        }
    };
    let done = Arc::new(AtomicUsize::new(0));
    let progress = {
        let done = done.clone();
        tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            tick.tick().await;
            loop {
                tick.tick().await;
                info!(
                    done = done.load(Ordering::Relaxed),
                    total, "charts progress"
                );
            }
        }))
    };
    let existing = if plan.dry_run { None } else { existing };
    let in_flight = pipeline.config.upload_concurrency + cores;
    let mut results: Vec<ChartResult> = futures::stream::iter(to_draw)
        .map(|counts| {
            let done = done.clone();
            let drawing = &drawing;
            async move {
                let slug = counts.slug.clone();
                let work = chart_one(pipeline, plan, counts, drawing, existing);
                let (outcome, draw_cpu) = within(deadline, work)
                    .await
                    .unwrap_or((ChartOutcome::Undone, Duration::ZERO));
                done.fetch_add(1, Ordering::Relaxed);
                ChartResult {
                    slug,
                    outcome,
                    draw_cpu,
                }
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    drop(progress);
    results.sort_by(|a, b| a.slug.cmp(&b.slug));
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
    existing: Option<&HashSet<String>>,
) -> (ChartOutcome, Duration) {
    let Ok(permit) = drawing.slots.clone().acquire_owned().await else {
        return (
            ChartOutcome::Failed("drawing pool closed".into()),
            Duration::ZERO,
        );
    };
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
            return (
                ChartOutcome::Failed(format!("drawing: {e}")),
                Duration::ZERO,
            );
        }
    };
    let png = match png {
        Ok(png) => png,
        Err(e) => return (ChartOutcome::Failed(e.to_string()), cpu),
    };
    let json = match json {
        Ok(json) => json,
        Err(e) => return (ChartOutcome::Failed(format!("chart data: {e}")), cpu),
    };
    let png_bytes = png.len() as u64;
    if plan.dry_run {
        return (ChartOutcome::NotPublished { png_bytes }, cpu);
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
    let exists = |key: &str| existing.is_none_or(|keys| keys.contains(key));
    let (a, b) = tokio::join!(
        put_if_changed(store, &png_key, png, &png_headers, exists(&png_key)),
        put_if_changed(store, &json_key, json, &json_headers, exists(&json_key)),
    );
    let outcome = match (a, b) {
        (Err(e), _) | (_, Err(e)) => ChartOutcome::Failed(e.to_string()),
        (Ok(Written::Unchanged), Ok(Written::Unchanged)) => ChartOutcome::Unchanged { png_bytes },
        (Ok(x), Ok(y)) => {
            let puts: Vec<u64> = [x, y]
                .iter()
                .filter_map(|w| match w {
                    Written::Put(n) => Some(*n),
                    Written::Unchanged => None,
                })
                .collect();
            ChartOutcome::Published {
                bytes: puts.iter().sum(),
                objects: puts.len(),
                png_bytes,
            }
        }
    };
    (outcome, cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn plan(as_of: &str) -> RunPlan {
        RunPlan {
            lookback_days: 7,
            as_of: t(as_of),
            authors: None,
            dry_run: false,
            allow_older_as_of: false,
            allow_mass_prune: false,
        }
    }

    // REQ-RL-001, REQ-RL-002
    #[test]
    fn as_of_may_not_move_back_unless_allowed() {
        let previous = PreviousRun {
            as_of: t("2026-11-26T17:45:00Z"),
            posts_counted: 10,
        };
        let cases: &[(&str, &str, bool, bool, bool)] = &[
            ("later", "2026-11-27T17:45:00Z", false, false, true),
            ("equal (retry)", "2026-11-26T17:45:00Z", false, false, true),
            ("older", "2026-11-25T17:45:00Z", false, false, false),
            ("older, allowed", "2026-11-25T17:45:00Z", true, false, true),
            ("older, dry run", "2026-11-25T17:45:00Z", false, true, true),
        ];
        for (name, as_of, allow, dry, ok) in cases {
            let mut p = plan(as_of);
            p.allow_older_as_of = *allow;
            p.dry_run = *dry;
            let got = check_as_of(&p, Some(&previous));
            assert_eq!(got.is_ok(), *ok, "case {name}: {got:?}");
            if let Err(e) = got {
                let text = e.to_string();
                assert!(
                    text.contains("2026-11-26 17:45:00 UTC"),
                    "case {name}: {text}"
                );
                assert!(text.contains("--allow-older-as-of"), "case {name}: {text}");
            }
        }
        assert!(check_as_of(&plan("2000-01-01T00:00:00Z"), None).is_ok());
    }

    // REQ-RL-005
    #[test]
    fn shrink_is_judged_against_the_last_published_run() {
        let prev = |n| PreviousRun {
            as_of: t("2026-11-26T00:00:00Z"),
            posts_counted: n,
        };
        let cases: &[(&str, u64, Option<u64>, bool)] = &[
            ("first run", 10, None, true),
            ("grew", 110, Some(100), true),
            ("dropped 10%", 90, Some(100), true),
            ("dropped 11%", 89, Some(100), false),
            ("empty previous", 0, Some(0), true),
        ];
        for (name, counted, previous, ok) in cases {
            let previous = previous.map(prev);
            let got = check_shrink(0.10, *counted, previous.as_ref());
            assert_eq!(got.is_ok(), *ok, "case {name}: {got:?}");
        }
        let err = check_shrink(0.10, 50, Some(&prev(100))).unwrap_err();
        assert_eq!(err.error_type(), "InputShrunk");
        assert!(err.to_string().contains("50 posts counted, 100"), "{err}");
        assert!(err.to_string().contains("--max-shrink"), "{err}");
    }

    // REQ-RL-008: only `<slug>.png` and `<slug>.json` of undrawable slugs.
    #[test]
    fn prune_candidates_are_charts_of_undrawable_slugs() {
        let keys: HashSet<String> = [
            "c/keep.png",
            "c/keep.json",
            "c/gone.png",
            "c/gone.json",
            "c/only-json.json",
            "c/index.html",
            "c/nested/x.png",
            "c/.png",
            "other/gone2.png",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let drawable: HashSet<&str> = ["keep"].into_iter().collect();
        let (gone, present) = prune_candidates("c/", &keys, &drawable);
        assert_eq!(
            gone.into_iter().collect::<Vec<_>>(),
            vec!["gone".to_string(), "only-json".to_string()]
        );
        assert_eq!(present, 2);
    }
}
