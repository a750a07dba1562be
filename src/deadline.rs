//! The deadline a run keeps (Lambda's, less a margin): work bounded by it,
//! and durations as the report counts them.

use std::time::{Duration, Instant};

use crate::error::RunError;

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
