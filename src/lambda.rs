//! The Lambda face: configuration and the S3 client are built once at init from
//! the environment; each invocation turns its event into a job (a whole run, or
//! a scaled-out run's plan, render or finish), runs it within the invocation's
//! deadline, and answers with its report or a typed error.

use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use tracing::{error, info};

use crate::config::{ConfigError, RawConfig};
use crate::error::RunError;
use crate::lease::LeaseError;
use crate::metrics::{RunMetrics, Window};
use crate::modes::plan::{self, PlanOptions};
use crate::modes::run::run;
use crate::modes::work::{self, PlanSummary, ShardSummary};
use crate::modes::{finish, render};
use crate::pipeline::{Invocation, Pipeline};
use crate::report::RunReport;
use crate::request::{EventError, Job, RunRequest};

/// A failed invocation. `error_type` is stable: alarms and people key on it.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("invalid run request: {0}")]
    Event(#[from] EventError),
    #[error(transparent)]
    Run(#[from] RunError),
}

impl HandlerError {
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Event(_) => "EventInvalid",
            HandlerError::Run(e) => e.error_type(),
        }
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
    Run(Box<RunReport>),
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
            Reply::Run(report) => Some(report),
            _ => None,
        }
    }
}

/// Handles one invocation, and writes the run's metric record whatever the
/// outcome: for a whole run, a finish, or a plan that stopped the run (a
/// render's outcome reaches the state machine, which retries it).
pub async fn handle(pipeline: &Pipeline, event: LambdaEvent<Value>) -> Result<Reply, HandlerError> {
    let started = Instant::now();
    let request_id = event.context.request_id.clone();
    let job = RunRequest::from_value(event.payload).and_then(|r| r.job(Utc::now()));
    let remaining = event
        .context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let deadline = Some(Instant::now() + remaining.saturating_sub(pipeline.config.deadline_margin));
    info!(request_id = %request_id, remaining_ms = remaining.as_millis() as u64, "invocation");
    let invocation = Invocation {
        id: request_id.clone(),
        deadline,
    };
    let result = match &job {
        Ok(job) => serve_job(pipeline, job, invocation).await,
        Err(e) => Err(HandlerError::Event(e.clone())),
    };
    let result = match result {
        Err(HandlerError::Run(RunError::Lease(e @ LeaseError::Duplicate { .. }))) => {
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
        Ok(Job::Run(plan)) => Some(Window::of(Some(plan))),
        Ok(Job::Plan { plan, .. }) => result.is_err().then(|| Window::of(Some(plan))),
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
    if let Err(e) = &result {
        error!(error_type = e.error_type(), "{e}");
    }
    result
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
        Job::Run(plan) => Reply::Run(Box::new(run(pipeline, plan, &invocation).await?)),
        Job::Plan {
            plan,
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
            let made = plan::plan(pipeline, work.as_ref(), plan, deadline, &options).await?;
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
            Reply::Run(Box::new(report))
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
    lambda_runtime::run(service_fn(move |event| handle(pipeline, event))).await
}
