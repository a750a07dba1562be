//! What every mode works with: the [`Pipeline`] (configuration and the two
//! stores), the [`Invocation`] (who runs, until when), the destination's
//! lease, and the deadline helper [`within`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::cdn::Cdn;
use crate::config::Config;
use crate::error::RunError;
use crate::lease::{self, Lease, LeaseRecord};
use crate::store::s3::S3Options;
use crate::store::{Connector, Location, Store};

/// What a run needs: configuration and the two stores, opened through one
/// [`Connector`] (one S3 client for the process).
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub config: Config,
    pub source: Arc<dyn Store>,
    pub dest: Arc<dyn Store>,
    /// The distribution in front of the charts, when one is configured.
    pub(crate) cdn: Option<Cdn>,
    connector: Connector,
}

impl Pipeline {
    /// Opens the stores the configuration names.
    pub async fn connect(config: Config) -> Self {
        let connector = Connector::default();
        let source_s3 = S3Options {
            region: config.source_region.clone(),
            ..config.s3.clone()
        };
        let source = connector.open(&config.source, &source_s3).await;
        let dest = connector.open(&config.dest, &config.s3).await;
        let cdn = match &config.cloudfront_distribution_id {
            Some(id) => Some(Cdn::connect(id.clone()).await),
            None => None,
        };
        Pipeline {
            config,
            source,
            dest,
            cdn,
            connector,
        }
    }

    /// Another store beside the destination (a scaled-out run's work
    /// location), on the same client.
    pub(crate) async fn open(&self, location: &Location) -> Arc<dyn Store> {
        self.connector.open(location, &self.config.s3).await
    }

    /// Requests sent again by every store of this pipeline so far; a mode
    /// reports the difference over its own work (a warm Lambda serves many).
    pub(crate) fn s3_retries(&self) -> u64 {
        self.connector.retries()
    }
}

/// Who runs a request, and until when.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Names the run in the lease and the logs (Lambda's request id).
    pub id: String,
    /// The instant by which all work stops (the caller has kept its margin for
    /// the report); `None`: no deadline.
    pub deadline: Option<Instant>,
}

impl Invocation {
    /// A command-line run: no deadline (its lease is renewed as a Lambda
    /// run's is, every quarter of `LEASE_TTL_SECONDS`).
    pub fn cli() -> Self {
        let now = Utc::now();
        Invocation {
            id: format!(
                "cli-{}-{}",
                std::process::id(),
                now.format("%Y%m%dT%H%M%S%.3fZ")
            ),
            deadline: None,
        }
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

/// Runs `work` until `deadline`; `None` when the deadline came first.
pub(crate) async fn within<F: Future>(deadline: Option<Instant>, work: F) -> Option<F::Output> {
    match deadline {
        None => Some(work.await),
        Some(d) => tokio::time::timeout_at(tokio::time::Instant::from_std(d), work)
            .await
            .ok(),
    }
}

/// Runs `work` until `deadline`; the deadline coming first is the error
/// [`RunError::DeadlineAt`] naming `stage` (what was being done).
pub(crate) async fn bounded<T, F>(
    deadline: Option<Instant>,
    stage: &'static str,
    work: F,
) -> Result<T, RunError>
where
    F: Future<Output = Result<T, RunError>>,
{
    within(deadline, work)
        .await
        .unwrap_or(Err(RunError::DeadlineAt { stage }))
}

pub(crate) fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}
