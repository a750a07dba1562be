//! The modes: each orders the [stages](crate::stages) and nothing else.
//! [`run`] is one whole run; [`plan`], [`render`] and [`finish`] are the same
//! run in three steps for Step Functions' Distributed Map, sharing the
//! [work files](crate::work). What the run and the plan share is here, once:
//! reading and judging the inputs ([`read_judged`]), where a refusal ends in
//! [`end_unpublished`], which writes the report and publishes nothing.

pub mod finish;
pub mod plan;
pub mod render;
pub mod run;

use chrono::{DateTime, Utc};
use tracing::info;

use crate::config::Config;
use crate::deadline::within;
use crate::error::{Failed, RunError, Stop};
use crate::guards::{check_as_of, read_previous_run};
use crate::lease::{self, Lease, LeaseRecord};
use crate::pipeline::{Pipeline, RunContext};
use crate::report::RunReport;
use crate::request::RunSpec;
use crate::stages::end::end_unpublished;
use crate::stages::inputs::read_inputs;
use crate::stages::state::{Stored, read_chart_state};
use crate::tally::Tally;

/// A run as far as its inputs, read and judged.
pub(crate) struct Judged {
    pub(crate) report: RunReport,
    pub(crate) tally: Tally,
    /// The chart state as read: what the published charts show.
    pub(crate) stored: Stored,
}

/// The stages up to the judged inputs. A run stopped on the way (a guard, the
/// deadline while reading) writes its report and publishes nothing.
pub(crate) async fn read_judged(run: &RunContext<'_>) -> Result<Judged, Failed> {
    let mut report = new_report(&run.pipeline.config, run.spec);
    match read_and_judge(run, &mut report).await {
        Ok((tally, stored)) => Ok(Judged {
            report,
            tally,
            stored,
        }),
        Err(Stop::Failed(e)) => Err(e.into()),
        Err(Stop::Refused(e)) => Err(end_unpublished(run, report, e).await),
    }
}

/// A report of `spec` before anything was read.
fn new_report(config: &Config, spec: &RunSpec) -> RunReport {
    info!(as_of = %spec.as_of, lookback_days = spec.lookback_days, dry_run = spec.dry_run,
          source = %config.source, dest = %config.dest, "run started");
    RunReport {
        as_of: spec.as_of,
        window_start: spec.window_start(),
        lookback_days: spec.lookback_days,
        time_zone: config.time_zone.name().to_string(),
        dry_run: spec.dry_run,
        requested_authors: spec.authors.as_ref().map(|a| a.iter().cloned().collect()),
        ..RunReport::default()
    }
}

/// The first stages, up to both inputs read and judged: the last published
/// run and the chart state, the `as_of` guard, then the reading within the
/// deadline. A stop that
/// happens once the report has something to say is a `Stop::Refused` carrying
/// its [`RunError`]: the caller ends the run with [`end_unpublished`].
async fn read_and_judge(
    run: &RunContext<'_>,
    report: &mut RunReport,
) -> Result<(Tally, Stored), Stop<RunError>> {
    let RunContext {
        pipeline,
        spec,
        deadline,
        ..
    } = *run;
    let deadline_reading = || {
        Stop::Refused(RunError::DeadlineReading {
            margin_s: pipeline.config.deadline_margin.as_secs(),
        })
    };
    let previous = within(deadline, read_previous_run(pipeline))
        .await
        .ok_or_else(deadline_reading)?;
    let judged = previous.and_then(|previous| {
        report.previous = previous;
        check_as_of(spec, report.previous.as_ref(), Utc::now())
    });
    if let Err(guard) = judged {
        return Err(Stop::Refused(RunError::Guard(guard)));
    }
    let stored = match within(deadline, read_chart_state(pipeline)).await {
        None => return Err(deadline_reading()),
        Some(Err(guard)) => return Err(Stop::Refused(RunError::Guard(guard))),
        Some(Ok(stored)) => stored,
    };
    match within(deadline, read_inputs(pipeline, spec, report)).await {
        Some(Ok(tally)) => Ok((tally, stored)),
        Some(Err(Stop::Failed(e))) => Err(Stop::Failed(e)),
        Some(Err(Stop::Refused(guard))) => Err(Stop::Refused(RunError::Guard(guard))),
        None => Err(deadline_reading()),
    }
}

/// How long a lease is taken for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LeaseTerm {
    /// Renewed by its holder, lasting this long after each renewal.
    Renewed(std::time::Duration),
    /// Held until then without renewal (a scaled-out run's, from its plan).
    Until(DateTime<Utc>),
}

/// Checks the destination (a missing one is one clear error, before any work)
/// and takes its lease for `run_id` for `term`.
pub(crate) async fn take_lease(
    pipeline: &Pipeline,
    run_id: &str,
    as_of: DateTime<Utc>,
    term: LeaseTerm,
) -> Result<Lease, RunError> {
    pipeline.dest.check().await.map_err(RunError::Destination)?;
    let key = format!("{}{}", pipeline.config.reports_prefix, lease::LEASE_NAME);
    let now = Utc::now();
    let (expires_at, ttl_seconds) = match term {
        LeaseTerm::Renewed(ttl) => (now + lease::chrono_duration(ttl), ttl.as_secs()),
        LeaseTerm::Until(until) => (until, 0),
    };
    let record = LeaseRecord {
        run_id: run_id.to_string(),
        as_of,
        acquired_at: now,
        expires_at,
        released: false,
        ttl_seconds,
    };
    lease::acquire(pipeline.dest.as_ref(), &key, record)
        .await
        .map_err(RunError::Lease)
}
