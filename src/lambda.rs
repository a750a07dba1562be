//! The Lambda face: configuration and the S3 client are built once at init from
//! the environment; each invocation turns its event into a job (a whole run, or
//! a scaled-out run's plan, render or finish), runs it within the invocation's
//! deadline, and answers with its report or a typed error.

use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::value::RawValue;
use tracing::{error, info, warn};

use crate::config::{ConfigError, RawConfig};
use crate::error::{Failed, RunError};
use crate::lease::LeaseError;
use crate::metrics::{RunMetrics, Window};
use crate::modes::plan::{self, PlanOptions};
use crate::modes::run::run;
use crate::modes::{finish, render};
use crate::pipeline::{Invocation, Pipeline};
use crate::report::{RunReport, RunSummary};
use crate::request::{EventError, Job, RunRequest};
use crate::work::{self, PlanSummary, ShardSummary};

/// A failed invocation. `error_type` is stable: alarms and people key on it.
/// Its Debug form, which the runtime logs for a failed invocation, is one
/// short line, `[errorType] message` (not the run report it may carry).
#[derive(thiserror::Error)]
pub enum HandlerError {
    #[error("invalid run request: {0}")]
    Event(#[from] EventError),
    #[error(transparent)]
    Run(#[from] Failed),
}

impl HandlerError {
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Event(_) => "EventInvalid",
            HandlerError::Run(e) => e.error_type(),
        }
    }
}

impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {self}", self.error_type())
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// What an invocation answers: a run's (or a finish's) report, a plan's
/// shards for the state machine to map over, or a rendered shard's counts.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum Reply {
    /// A run or a finish: the summary is the answer, bounded whatever the
    /// run's size (Lambda's reply is at most 6 MB, a state's data 256 KiB);
    /// the whole report is at its `report_location` (and here for the run's
    /// metric record).
    Finished {
        #[serde(flatten)]
        summary: RunSummary,
        #[serde(skip)]
        report: Box<RunReport>,
    },
    Plan(PlanSummary),
    Shard(ShardSummary),
    /// A second delivery of a request whose first delivery is alive and holds
    /// the lease: it did nothing, and is not a failure (no retry, no dead
    /// letter, no alarm).
    Duplicate {
        duplicate_of: String,
        message: String,
    },
}

impl Reply {
    /// The run report, for a whole run or a finish.
    pub fn report(&self) -> Option<&RunReport> {
        match self {
            Reply::Finished { report, .. } => Some(report),
            _ => None,
        }
    }
}

/// Handles one invocation, and writes the run's metric record whatever the
/// outcome: for a whole run, a finish, or a plan that stopped the run (a
/// render's outcome reaches the state machine, which retries it).
///
/// The event arrives as its raw JSON text and is parsed here, so every way it
/// can be unreadable (a key given twice, nesting past `serde_json`'s 128
/// levels, a lone surrogate) is an `EventInvalid` with its metric record, not
/// the runtime's own deserialization error.
pub async fn handle(
    pipeline: &Pipeline,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Reply, HandlerError> {
    let started = Instant::now();
    let request_id = event.context.request_id.clone();
    let job = RunRequest::from_json(event.payload.get()).and_then(|r| r.job(Utc::now()));
    let deadline = invocation_deadline(
        event.context.deadline(),
        SystemTime::now(),
        pipeline.config.deadline_margin,
    );
    info!(request_id = %request_id,
          remaining_ms = deadline.map(|d| d.saturating_duration_since(Instant::now()).as_millis() as u64),
          "invocation");
    let invocation = Invocation {
        id: request_id.clone(),
        deadline,
    };
    let result = match &job {
        Ok(job) => serve_job(pipeline, job, invocation).await,
        Err(e) => Err(HandlerError::Event(e.clone())),
    };
    let result = match result {
        Err(HandlerError::Run(Failed {
            error: RunError::Lease(e @ LeaseError::Duplicate { .. }),
            ..
        })) => {
            info!(request_id = %request_id, "{e}");
            return Ok(Reply::Duplicate {
                duplicate_of: request_id,
                message: e.to_string(),
            });
        }
        other => other,
    };
    let error_type = result.as_ref().err().map(HandlerError::error_type);
    let report = match &result {
        Ok(reply) => reply.report(),
        Err(HandlerError::Run(e)) => e.report(),
        Err(HandlerError::Event(_)) => None,
    };
    let metered = match &job {
        Ok(Job::Run(spec)) => Some(Window::of(Some(spec))),
        Ok(Job::Plan { spec, .. }) => result.is_err().then(|| Window::of(Some(spec))),
        Ok(Job::Render { .. }) => None,
        Ok(Job::Finish { .. }) => Some(report.map_or(Window::Manual, Window::of_report)),
        Err(_) => Some(Window::Manual),
    };
    if let Some(window) = metered {
        let record = RunMetrics {
            window,
            error_type,
            report,
            duration_ms: started.elapsed().as_millis() as u64,
            request_id: &request_id,
        }
        .to_emf(Utc::now().timestamp_millis());
        // Its own stdout line: CloudWatch Logs extracts the metrics from it.
        println!("{record}");
    }
    // A failed invocation's one log line is the runtime's, of the error's
    // Debug form: `[errorType] message` (see `HandlerError`'s Debug).
    result
}

/// The instant by which an invocation's work stops: its deadline less the
/// margin, the margin taking at most half of what is left. A deadline
/// already past when the invocation starts is not a real one (cargo-lambda's
/// emulator sends `Lambda-Runtime-Deadline-Ms` as a duration, a date in
/// 1970): the invocation then runs as the CLI does, with no deadline.
fn invocation_deadline(deadline: SystemTime, now: SystemTime, margin: Duration) -> Option<Instant> {
    match deadline.duration_since(now) {
        Ok(remaining) if !remaining.is_zero() => {
            Some(Instant::now() + remaining.saturating_sub(margin.min(remaining / 2)))
        }
        _ => {
            warn!(
                deadline_ms = deadline
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
                "the invocation's deadline is already past at its start (not a real deadline: an emulator \
                 sending Lambda-Runtime-Deadline-Ms as a duration?); running without one, as the CLI does"
            );
            None
        }
    }
}

/// Runs one validated job. A scaled-out run works under `work/<run_id>/` of
/// the charts bucket.
async fn serve_job(
    pipeline: &Pipeline,
    job: &Job,
    invocation: Invocation,
) -> Result<Reply, HandlerError> {
    let work = |run_id: &str| {
        let location = work::work_location(&pipeline.config.dest, run_id);
        async move { pipeline.open(&location).await }
    };
    let reply = match job {
        Job::Run(spec) => {
            let report = run(pipeline, spec, &invocation).await?;
            Reply::Finished {
                summary: RunSummary::of(&report),
                report: Box::new(report),
            }
        }
        Job::Plan {
            spec,
            run_id,
            shard_authors,
        } => {
            let work = work(run_id).await;
            let options = PlanOptions {
                run_id: run_id.clone(),
                shard_authors: *shard_authors,
                has_dest: true,
            };
            let deadline = invocation.deadline;
            let made = plan::plan(pipeline, work.as_ref(), spec, deadline, &options).await?;
            Reply::Plan(made.summary(work.as_ref()))
        }
        Job::Render { run_id, shard } => {
            let work = work(run_id).await;
            let done = render::render(pipeline, work.as_ref(), shard, invocation.deadline).await?;
            Reply::Shard(done)
        }
        Job::Finish { run_id } => {
            let work = work(run_id).await;
            let report = finish::finish(pipeline, work.as_ref(), invocation.deadline).await?;
            Reply::Finished {
                summary: RunSummary::of(&report),
                report: Box::new(report),
            }
        }
    };
    Ok(reply)
}

/// Builds the pipeline once, then serves invocations until the runtime stops.
/// An invalid configuration fails the init with a message naming the variable.
pub async fn serve(env: impl Fn(&str) -> Option<String>) -> Result<(), lambda_runtime::Error> {
    let config = RawConfig::from_env(env)
        .validate()
        .inspect_err(|e: &ConfigError| {
            error!(error_type = "ConfigInvalid", "invalid configuration: {e}");
        })?;
    info!(source = %config.source, dest = %config.dest, charts_prefix = %config.charts_prefix,
          time_zone = %config.time_zone, "initialised");
    let pipeline = Pipeline::connect(config).await;
    let pipeline = &pipeline;
    // Each invocation's future boxed: the modes' futures are deep, and inlined
    // into the runtime's they pass the compiler's query depth.
    lambda_runtime::run(service_fn(move |event| Box::pin(handle(pipeline, event)))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    // REQ-LA-006: a deadline past at the start is no deadline; the margin
    // never takes more than half of a short invocation.
    #[test]
    fn the_deadline_of_an_invocation() {
        let now = SystemTime::now();
        let margin = secs(30);
        let left = |d: Option<Instant>| d.map(|d| d.saturating_duration_since(Instant::now()));
        // cargo-lambda's 600000 ms read as a date: 1970.
        let in_1970 = SystemTime::UNIX_EPOCH + Duration::from_mins(10);
        assert_eq!(invocation_deadline(in_1970, now, margin), None);
        assert_eq!(invocation_deadline(now - secs(1), now, margin), None);
        assert_eq!(invocation_deadline(now, now, margin), None);
        let long = left(invocation_deadline(now + secs(900), now, margin)).unwrap();
        assert!(long <= secs(870) && long > secs(869), "{long:?}");
        let short = left(invocation_deadline(now + secs(10), now, margin)).unwrap();
        assert!(short <= secs(5) && short > secs(4), "{short:?}");
    }

    // REQ-LA-006: the one line the runtime logs for a failed invocation is
    // its type and message, not the report it carries.
    #[test]
    fn a_failed_invocation_debugs_as_one_short_line() {
        let report = crate::report::RunReport {
            skipped: (0..2_000)
                .map(|n| crate::report::SkippedAuthor {
                    slug: format!("author-{n}"),
                    id: format!("id-{n}"),
                    reason: "shared_slug".into(),
                    detail: None,
                })
                .collect(),
            ..crate::report::RunReport::default()
        };
        let e = HandlerError::Run(Failed::with(RunError::deadline_of(&report), report));
        let line = format!("{e:?}");
        assert!(
            line.starts_with("[DeadlineExceeded] the deadline came"),
            "{line}"
        );
        assert!(!line.contains('\n') && line.len() < 400, "{line}");
    }
}
