//! Why a run stops: the [`Guard`]s that refuse wrong or stale inputs, the
//! [`RunError`] that says why (with a stable `error_type` for alarms and the
//! Lambda reply), and [`Failed`], what every mode returns on failure: the
//! error and, beside it, the report when the run got far enough to make one.

use chrono::{DateTime, Utc};

use crate::config::{
    MAX_BAD_RECORD_SHARE, MAX_EXPORT_AGE_HOURS, MAX_GROWTH, MAX_PRUNE, MAX_SHRINK,
};
use crate::lease::LeaseError;
use crate::report::{ReportedError, RunReport};
use crate::store::StoreError;

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
         seems to have stopped. To publish from it once, run with \"allow_stale_export\": true \
         (--allow-stale-export); or raise or disable (0) {} ({})", MAX_EXPORT_AGE_HOURS.env, MAX_EXPORT_AGE_HOURS.flag
    )]
    ExportStale {
        location: String,
        modified: DateTime<Utc>,
        hours: i64,
        as_of: DateTime<Utc>,
    },
    #[error(
        "{counted} posts counted, {previous} in the last published run: a drop of {drop:.1}%, over the \
         {limit:.1}% limit; the export looks cut short. If the posts really went, run once with \
         \"allow_shrink\": true (--allow-shrink), or raise {} ({})",
        MAX_SHRINK.env, MAX_SHRINK.flag
    )]
    InputShrunk {
        counted: u64,
        previous: u64,
        drop: f64,
        limit: f64,
    },
    #[error(
        "{counted} posts counted, {previous} in the last published run: a growth of {growth:.1}%, over the \
         {limit:.1}% limit; the export looks doubled (appended to itself, or a part read twice). If the posts \
         really came, run once with \"allow_growth\": true (--allow-growth), or raise {} ({})",
        MAX_GROWTH.env, MAX_GROWTH.flag
    )]
    InputGrown {
        counted: u64,
        previous: u64,
        growth: f64,
        limit: f64,
    },
    #[error(
        "{orphans} of {records} posts ({share:.2}%) name an author_id that is not in {location}, over the \
         {limit:.2}% limit: the author master looks incomplete. Sample lines {samples:?}. After erasing an \
         author, run once with \"allow_orphans\": true (--allow-orphans); or raise {} ({}), which also \
         loosens the bad-line limit",
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
    #[error(
        "as_of {as_of} is more than {allowance_s} s ahead of this machine's clock ({now}): a run from the \
         future would move reports/latest.json ahead and every nightly after it would be refused as a rewind"
    )]
    AsOfAhead {
        as_of: DateTime<Utc>,
        now: DateTime<Utc>,
        allowance_s: i64,
    },
    #[error(
        "{location} exists but cannot be read or parsed ({problem}); the guards that compare with the last \
         published run cannot be skipped, so nothing was published. Restore it from the newest reports/run-*.json \
         that published (no \"error\", or its own error PruneTooLarge/PublishFailed/DeadlineExceeded), or \
         delete it only if the destination really has never been published to"
    )]
    LastRunUnreadable { location: String, problem: String },
    #[error(
        "{location} exists but cannot be read or parsed ({problem}); without it no run can tell which \
         published charts are current, so nothing was published. Delete it: the next run then draws every \
         chart again and writes it anew (docs/operations.md, \"The chart state\")"
    )]
    ChartStateUnreadable { location: String, problem: String },
    #[error(
        "\"erase\" names {slugs:?}, still in the author master: an erasure is for authors gone from it \
         (remove the row first, or drop the slug from the request); nothing was published"
    )]
    ErasePresent { slugs: Vec<String> },
}

impl Guard {
    pub fn error_type(&self) -> &'static str {
        match self {
            Guard::AsOfRewind { .. } => "AsOfRewind",
            Guard::InputEmpty { .. } => "InputEmpty",
            Guard::ExportStale { .. } => "ExportStale",
            Guard::InputShrunk { .. } => "InputShrunk",
            Guard::InputGrown { .. } => "InputGrown",
            Guard::MasterIncomplete { .. } => "MasterIncomplete",
            Guard::PruneTooLarge { .. } => "PruneTooLarge",
            Guard::AsOfAhead { .. } => "AsOfAhead",
            Guard::LastRunUnreadable { .. } => "LastRunUnreadable",
            Guard::ChartStateUnreadable { .. } => "ChartStateUnreadable",
            Guard::ErasePresent { .. } => "ErasePresent",
            Guard::InputBroken { .. } | Guard::NoAuthors { .. } => "InputBroken",
        }
    }
}

/// Why a run failed. Every variant says what to look at; the report, when
/// there is one, travels beside it in [`Failed`].
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("source object missing: {0}")]
    SourceMissing(#[source] StoreError),
    #[error("cannot read the source: {0}")]
    SourceUnreadable(#[source] StoreError),
    #[error("{0}")]
    Guard(Guard),
    #[error(
        "{failed} of {active} charts failed to publish ({slugs}); the others were published and the report lists each failure"
    )]
    Publish {
        failed: usize,
        active: usize,
        /// The first few failed slugs, and how many more.
        slugs: String,
    },
    #[error(
        "the deadline came before {undone} of {active} authors were drawn and published; run the same request again to \
        finish them (unchanged charts are not uploaded again)"
    )]
    Deadline { undone: usize, active: usize },
    #[error(
        "the deadline came while reading the inputs; nothing was published. Give the function more time \
        or memory (DEADLINE_MARGIN_SECONDS keeps {margin_s} s for the report)"
    )]
    DeadlineReading { margin_s: u64 },
    #[error(
        "the deadline came while {stage}; this step stopped there. Run the same request again \
        (DEADLINE_MARGIN_SECONDS keeps the end of the invocation free)"
    )]
    DeadlineAt { stage: &'static str },
    #[error("cannot publish to the destination, nothing was written: {0}")]
    Destination(#[source] StoreError),
    #[error("{0}")]
    Lease(#[source] LeaseError),
    #[error("writing the run report failed: {0}")]
    Report(#[source] StoreError),
    #[error(
        "writing the chart state failed: {0}; the charts this run was drawing are drawn again by the next run"
    )]
    StateWrite(#[source] StoreError),
    #[error(
        "the chart state changed under this run ({0}): another run is publishing to this destination, \
         so this one stopped writing; the next run draws again every chart either was drawing"
    )]
    StateConflict(#[source] StoreError),
    #[error("the work location of a scaled-out run is not usable: {location}: {problem}")]
    Work { location: String, problem: String },
    #[error(
        "run {run_id} is not finished: {} shard(s) have no report ({}); render them (again), then finish",
        .missing.len(), first_few(.missing)
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

impl RunError {
    /// A stable name for the kind of failure, for alarms and people.
    pub fn error_type(&self) -> &'static str {
        match self {
            RunError::SourceMissing(_) => "SourceMissing",
            RunError::SourceUnreadable(StoreError::AccessDenied { .. }) => "AccessDenied",
            RunError::SourceUnreadable(_) => "SourceUnreadable",
            RunError::Guard(guard) => guard.error_type(),
            RunError::Publish { .. }
            | RunError::Report(_)
            | RunError::Destination(_)
            | RunError::StateWrite(_) => "PublishFailed",
            RunError::StateConflict(_) => "LeaseLost",
            RunError::Deadline { .. }
            | RunError::DeadlineReading { .. }
            | RunError::DeadlineAt { .. } => "DeadlineExceeded",
            RunError::Lease(LeaseError::Held { .. }) => "RunInProgress",
            RunError::Lease(LeaseError::Lost { .. }) => "LeaseLost",
            RunError::Lease(LeaseError::Duplicate { .. }) => "DuplicateDelivery",
            RunError::Lease(LeaseError::Store { .. }) => "PublishFailed",
            RunError::Work { .. } => "WorkInvalid",
            RunError::Incomplete { .. } => "RunIncomplete",
            RunError::Shard { failed, .. } if *failed > 0 => "PublishFailed",
            RunError::Shard { .. } => "DeadlineExceeded",
            RunError::Internal(_) => "Internal",
        }
    }

    /// Some charts of `report` failed to publish.
    pub(crate) fn publish_of(report: &RunReport) -> Self {
        let slugs: Vec<&str> = report.failed.iter().map(|f| f.slug.as_str()).collect();
        RunError::Publish {
            failed: report.authors.failed,
            active: report.authors.active,
            slugs: first_few(&slugs),
        }
    }

    /// Some authors of `report` were left undone at the deadline.
    pub(crate) fn deadline_of(report: &RunReport) -> Self {
        RunError::Deadline {
            undone: report.authors.undone,
            active: report.authors.active,
        }
    }
}

/// A run that failed: why, and beside it the run's report when the run got
/// far enough to make one (it was also written, unless writing it failed: a
/// `Report` error, or a warning in the log for a run stopped before it
/// published).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Failed {
    #[source]
    pub error: RunError,
    pub report: Option<Box<RunReport>>,
}

impl Failed {
    /// `error` with the report of the run it stopped.
    pub(crate) fn with(error: RunError, report: RunReport) -> Self {
        Failed {
            error,
            report: Some(Box::new(report)),
        }
    }

    pub fn error_type(&self) -> &'static str {
        self.error.error_type()
    }

    /// The report, when the run got far enough to make one.
    pub fn report(&self) -> Option<&RunReport> {
        self.report.as_deref()
    }
}

impl From<RunError> for Failed {
    fn from(error: RunError) -> Self {
        Failed {
            error,
            report: None,
        }
    }
}

/// The first ten of `items`, and how many more: an error message stays one
/// short line however large the run (the whole list is in the report).
fn first_few<S: AsRef<str>>(items: &[S]) -> String {
    let mut text: Vec<&str> = items.iter().take(10).map(AsRef::as_ref).collect();
    let more = items.len().saturating_sub(10);
    let more = format!("and {more} more");
    if items.len() > 10 {
        text.push(&more);
    }
    text.join(", ")
}

pub(crate) fn source_error(e: StoreError) -> RunError {
    if e.is_missing() {
        RunError::SourceMissing(e)
    } else {
        RunError::SourceUnreadable(e)
    }
}

/// The error as a report states it.
pub(crate) fn reported(error: &RunError) -> ReportedError {
    ReportedError {
        error_type: error.error_type().to_string(),
        message: error.to_string(),
    }
}

/// What stops a stage: a failure (the run ends with the error alone), or a
/// refusal (a guard, or the deadline while reading), after which the run
/// still writes its report.
pub(crate) enum Stop<G = Guard> {
    Failed(RunError),
    Refused(G),
}

impl<G> From<RunError> for Stop<G> {
    fn from(e: RunError) -> Self {
        Stop::Failed(e)
    }
}

impl From<Guard> for Stop {
    fn from(g: Guard) -> Self {
        Stop::Refused(g)
    }
}
