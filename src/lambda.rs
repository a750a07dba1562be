//! The Lambda face: configuration and the S3 client are built once at init from
//! the environment; each invocation turns its event into a plan, runs it within
//! the invocation's deadline, and answers with the run report or a typed error.

use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use tracing::{error, info};

use crate::config::{ConfigError, RawConfig};
use crate::event::{EventError, RunRequest};
use crate::metrics::{RunMetrics, Window};
use crate::report::RunReport;
use crate::run::{Invocation, Pipeline, RunError, run};

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

/// Handles one invocation, and writes its metric record whatever the outcome.
pub async fn handle(
    pipeline: &Pipeline,
    event: LambdaEvent<Value>,
) -> Result<RunReport, HandlerError> {
    let started = Instant::now();
    let request_id = event.context.request_id.clone();
    let plan = RunRequest::from_value(event.payload).and_then(|r| r.resolve(Utc::now()));
    let result = match &plan {
        Ok(plan) => {
            let remaining = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            let invocation = Invocation {
                id: request_id.clone(),
                deadline: Some(
                    Instant::now() + remaining.saturating_sub(pipeline.config.deadline_margin),
                ),
                lease_until: DateTime::<Utc>::from(event.context.deadline()),
            };
            info!(request_id = %request_id, remaining_ms = remaining.as_millis() as u64, "invocation");
            run(pipeline, plan, &invocation)
                .await
                .map_err(HandlerError::from)
        }
        Err(e) => Err(HandlerError::Event(e.clone())),
    };
    let error_type = result.as_ref().err().map(HandlerError::error_type);
    let report = match &result {
        Ok(report) => Some(report),
        Err(HandlerError::Run(e)) => e.report(),
        Err(HandlerError::Event(_)) => None,
    };
    let record = RunMetrics {
        window: Window::of(plan.as_ref().ok()),
        error_type,
        report,
        duration_ms: started.elapsed().as_millis() as u64,
        request_id: &request_id,
    }
    .to_emf(Utc::now().timestamp_millis());
    // Its own stdout line: CloudWatch Logs extracts the metrics from it.
    println!("{record}");
    if let Err(e) = &result {
        error!(error_type = e.error_type(), "{e}");
    }
    result
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
