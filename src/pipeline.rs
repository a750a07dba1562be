//! What every mode works with: the [`Pipeline`] (configuration, the two
//! stores and the CDN, opened once) and the [`Invocation`] (who runs, until
//! when). The lease a run takes is in [`crate::lease`], the deadline helpers
//! in [`crate::deadline`].

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::cdn::Cdn;
use crate::config::Config;
use crate::deadline::ms;
use crate::report::RunReport;
use crate::request::RunSpec;
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

    /// A pipeline from the `source` directory to the `dest` directory, every
    /// other setting its default: for the unit tests.
    #[cfg(test)]
    pub(crate) async fn on_dirs(source: &std::path::Path, dest: &std::path::Path) -> Self {
        use crate::config::{CHARTS_BUCKET, RawConfig, SOURCE_BUCKET};
        let config = RawConfig::default()
            .with(SOURCE_BUCKET, source.display().to_string())
            .with(CHARTS_BUCKET, dest.display().to_string())
            .validate()
            .expect("two directories are a valid configuration");
        Pipeline::connect(config).await
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

/// One run as the stages see it: what it runs with, what it was asked, until
/// when, and its bookkeeping (when it started, the process's S3 retries
/// before it), so each stage takes one value for all of them and the report's
/// retries and total time are counted in one place ([`RunContext::account`]).
pub(crate) struct RunContext<'a> {
    pub(crate) pipeline: &'a Pipeline,
    pub(crate) spec: &'a RunSpec,
    /// The instant by which all work stops (Lambda's deadline less the margin).
    pub(crate) deadline: Option<Instant>,
    pub(crate) started: Instant,
    pub(crate) started_at: DateTime<Utc>,
    retries_at_start: u64,
}

impl<'a> RunContext<'a> {
    /// A run starting now.
    pub(crate) fn start(
        pipeline: &'a Pipeline,
        spec: &'a RunSpec,
        deadline: Option<Instant>,
    ) -> Self {
        Self::since(pipeline, spec, deadline, Utc::now())
    }

    /// A run that started at `started` with `retries_at_start` (a render:
    /// its clock starts before it has read its spec from the plan).
    pub(crate) fn started_at(
        pipeline: &'a Pipeline,
        spec: &'a RunSpec,
        deadline: Option<Instant>,
        (started, retries_at_start): (Instant, u64),
    ) -> Self {
        let ago = chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        RunContext {
            pipeline,
            spec,
            deadline,
            started,
            started_at: Utc::now() - ago,
            retries_at_start,
        }
    }

    /// A run that started at `started_at` (a finish: its plan's start), its
    /// S3 retries counted from now.
    pub(crate) fn since(
        pipeline: &'a Pipeline,
        spec: &'a RunSpec,
        deadline: Option<Instant>,
        started_at: DateTime<Utc>,
    ) -> Self {
        let ago = (Utc::now() - started_at).to_std().unwrap_or_default();
        RunContext {
            pipeline,
            spec,
            deadline,
            started: Instant::now().checked_sub(ago).unwrap_or_else(Instant::now),
            started_at,
            retries_at_start: pipeline.s3_retries(),
        }
    }

    /// The S3 retries of this run so far.
    pub(crate) fn retries(&self) -> u64 {
        self.pipeline.s3_retries() - self.retries_at_start
    }

    /// Counts this run's S3 retries and its time so far into `report`.
    pub(crate) fn account(&self, report: &mut RunReport) {
        report.s3_retries += self.retries();
        report.stages.total_ms = ms(self.started.elapsed());
    }
}
