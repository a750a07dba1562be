//! Stage 5, the end: the report must reconcile, its outcome is decided, and
//! it is written (`reports/run-*.json`, `reports/latest.json` for a run that
//! published) with the review page. A run stopped before publishing ends
//! here too, keeping `latest.json`.

use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use tracing::{info, warn};

use crate::deadline::{ms, within};
use crate::error::{Failed, Guard, RunError, reported};
use crate::gallery::{ChartCard, render_gallery};
use crate::pipeline::{Pipeline, RunContext};
use crate::report::RunReport;
use crate::store::changed;
use crate::store::{Location, ObjectHeaders, Precondition, StoreError};

/// Ends a run that published (one run, or a scaled-out run's finish): the
/// report must reconcile; its outcome (the prune guard, failed charts, undone
/// authors) goes into it; a run that is not dry writes it and the review page;
/// a failure has the report as written beside its error.
pub(crate) async fn end_published(
    run: &RunContext<'_>,
    mut report: RunReport,
    cards: &[ChartCard],
    prune_guard: Option<Guard>,
) -> Result<RunReport, Failed> {
    let RunContext {
        pipeline,
        spec,
        deadline,
        started_at,
        ..
    } = *run;
    if !report.reconciles() {
        return Err(RunError::Internal(format!(
            "the report does not reconcile: {}",
            report.summary()
        ))
        .into());
    }
    let error = run_outcome(prune_guard, &mut report);
    if !spec.dry_run {
        let written = publish_report(pipeline, &mut report, cards, started_at, deadline);
        if let Err(e) = written.await {
            return Err(Failed::with(RunError::Report(e), report));
        }
    }
    info!(summary = %report.summary(), "run finished");
    match error {
        Some(e) => Err(Failed::with(e, report)),
        None => Ok(report),
    }
}

/// How a run that published ends: the prune guard, failed charts, undone
/// authors, in that order of precedence; the report carries the error too.
fn run_outcome(prune_guard: Option<Guard>, report: &mut RunReport) -> Option<RunError> {
    let error = if let Some(guard) = prune_guard {
        RunError::Guard(guard)
    } else if !report.failed.is_empty() {
        RunError::publish_of(report)
    } else if !report.undone.is_empty() {
        RunError::deadline_of(report)
    } else {
        return None;
    };
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
    // The review page first: `latest.json` is the record that the run
    // published, so it is written last, once everything else is.
    let write = async {
        if config.gallery {
            write_gallery(pipeline, report, cards).await?;
        }
        write_report(pipeline, report, started_at, Latest::Replace).await
    };
    within(report_deadline, write).await.unwrap_or_else(|| {
        Err(StoreError::Failed {
            location: pipeline.dest.describe(&config.reports_prefix),
            message: "writing the report did not finish within half the deadline margin".into(),
        })
    })
}

/// Ends a run stopped before it published (a guard, or the deadline while
/// reading): the report, with the error in it, goes to `reports/run-<time>.json`
/// (not `latest.json`, which stays the last published run).
pub(crate) async fn end_unpublished(
    run: &RunContext<'_>,
    mut report: RunReport,
    error: RunError,
) -> Failed {
    let (pipeline, started_at) = (run.pipeline, run.started_at);
    warn!(error_type = error.error_type(), "{error}");
    report.stages.total_ms = ms(run.started.elapsed());
    report.error = Some(reported(&error));
    if !report.dry_run
        && let Err(e) = write_report(pipeline, &mut report, started_at, Latest::Keep).await
    {
        warn!(error = %e, "writing the report of the stopped run failed");
    }
    // A refusal answers with its report; a failure on the way (the state or
    // the lease, before anything was published) with its error alone, as
    // the report written says everything else.
    match error {
        RunError::Guard(_) | RunError::DeadlineReading { .. } => Failed::with(error, report),
        other => other.into(),
    }
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
    let headers = ObjectHeaders::no_store(changed::JSON);
    pipeline.dest.put(&key, body.clone(), &headers).await?;
    if latest == Latest::Replace {
        replace_latest(pipeline, report, body, &headers).await?;
    }
    info!(location = %pipeline.dest.describe(&key), "run report written");
    Ok(())
}

/// Replaces `latest.json` only if it is still the one this run was judged
/// against (`If-Match` its `ETag`, or `If-None-Match` when there was none): a
/// run that lost its lease and wrote late cannot rewind a newer run's. A
/// refusal that finds this very report there (a retried finish) is done.
async fn replace_latest(
    pipeline: &Pipeline,
    report: &RunReport,
    body: Vec<u8>,
    headers: &ObjectHeaders,
) -> Result<(), StoreError> {
    let key = format!("{}latest.json", pipeline.config.reports_prefix);
    let precondition = match report.previous.as_ref() {
        Some(previous) => match &previous.etag {
            Some(etag) => Precondition::ETag(etag.clone()),
            None => return pipeline.dest.put(&key, body, headers).await,
        },
        None => Precondition::Absent,
    };
    match pipeline
        .dest
        .put_if(&key, body, headers, precondition)
        .await
    {
        Ok(_) => Ok(()),
        Err(refused @ StoreError::PreconditionFailed { .. }) => {
            let there = pipeline.dest.get(&key).await?.unwrap_or_default();
            let ours = serde_json::from_slice::<serde_json::Value>(&there)
                .ok()
                .and_then(|v| v.get("report_location").cloned())
                == report
                    .report_location
                    .clone()
                    .map(serde_json::Value::String);
            if ours {
                Ok(())
            } else {
                warn!(error = %refused, "latest.json was replaced by another run since this one read it; not rewound");
                Err(refused)
            }
        }
        Err(e) => Err(e),
    }
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
    let html = render_gallery(report, cards, &href, &config.theme);
    let headers = ObjectHeaders::no_store("text/html; charset=utf-8");
    pipeline.dest.put(&key, html.into_bytes(), &headers).await?;
    info!(location = %pipeline.dest.describe(&key), charts = cards.len(), "gallery written");
    Ok(())
}
