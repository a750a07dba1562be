//! The chart state's reads and writes (`reports/chart-state.json`,
//! [`crate::freshness`]): read with the last published run and failing closed
//! like it, written ahead of publishing (the charts about to be drawn taken
//! out) and after it (those that landed put back), each write conditional on
//! the state this run read or wrote last, and only while the lease is held.

use std::time::Instant;

use tracing::{info, warn};

use crate::deadline::within;
use crate::error::{Guard, RunError};
use crate::freshness::{CHART_STATE, ChartState, Look};
use crate::lease::Kept;
use crate::pipeline::Pipeline;
use crate::report::{ChartOutcome, ChartResult, RunReport};
use crate::store::{ObjectHeaders, Precondition, StoreError, changed};

/// The state as read, with the `ETag` a write must find there (`None`: no
/// state yet, so a write must find none).
#[derive(Debug, Clone, Default)]
pub(crate) struct Stored {
    pub(crate) state: ChartState,
    pub(crate) etag: Option<String>,
}

/// The key of the state.
pub(crate) fn state_key(pipeline: &Pipeline) -> String {
    format!("{}{CHART_STATE}", pipeline.config.reports_prefix)
}

/// Reads the state: missing is an empty state (every chart is drawn), one
/// that cannot be read or parsed stops the run before anything is published.
pub(crate) async fn read_chart_state(pipeline: &Pipeline) -> Result<Stored, Guard> {
    let key = state_key(pipeline);
    let unreadable = |problem: String| Guard::ChartStateUnreadable {
        location: pipeline.dest.describe(&key),
        problem,
    };
    match pipeline.dest.get_tagged(&key).await {
        Ok(None) => {
            info!(location = %pipeline.dest.describe(&key),
                  "no chart state yet: every chart is drawn and recorded by this run");
            Ok(Stored::default())
        }
        Ok(Some((bytes, etag))) => {
            let mut state = ChartState::parse(&bytes).map_err(unreadable)?;
            let prefix = &pipeline.config.charts_prefix;
            if state.charts_prefix.as_ref().is_some_and(|p| p != prefix) {
                warn!(recorded = ?state.charts_prefix, charts_prefix = %prefix,
                      "the chart state is of another charts prefix: every chart here is drawn");
                state = ChartState::default();
            }
            Ok(Stored {
                state,
                etag: Some(etag),
            })
        }
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// Writes `state` if the stored state is still the one `stored` names, and
/// only while `lease` (when given) is held; on success `stored` names the new
/// one. A refused write means another run wrote the state: this one stops.
pub(crate) async fn write_chart_state(
    pipeline: &Pipeline,
    stored: &mut Stored,
    state: ChartState,
    lease: Option<&Kept>,
) -> Result<(), RunError> {
    if let Some(lease) = lease {
        lease.check().map_err(RunError::Lease)?;
    }
    let key = state_key(pipeline);
    let mut state = state;
    state.charts_prefix = Some(pipeline.config.charts_prefix.clone());
    let body = serde_json::to_vec(&state).map_err(|e| RunError::Internal(e.to_string()))?;
    let precondition = match &stored.etag {
        Some(etag) => Precondition::ETag(etag.clone()),
        None => Precondition::Absent,
    };
    let headers = ObjectHeaders::no_store(changed::JSON);
    match pipeline
        .dest
        .put_if(&key, body, &headers, precondition)
        .await
    {
        Ok(etag) => {
            info!(location = %pipeline.dest.describe(&key), charts = state.charts.len(),
                  "chart state written");
            stored.etag = Some(etag);
            stored.state = state;
            Ok(())
        }
        Err(e @ StoreError::PreconditionFailed { .. }) => {
            warn!(error = %e, "the chart state was written by another run; this run stops");
            Err(RunError::StateConflict(e))
        }
        Err(e) => Err(RunError::StateWrite(e)),
    }
}

/// Writes the state ahead of publishing, the charts about to be drawn taken
/// out: a run that stops while writing them (killed, out of time, its lease
/// lost) leaves each to be drawn again by the next run. Written only when it
/// changes; within `deadline`.
pub(crate) async fn write_ahead<'a>(
    pipeline: &Pipeline,
    stored: &mut Stored,
    drawing: impl IntoIterator<Item = &'a str>,
    deadline: Option<Instant>,
    lease: Option<&Kept>,
    written_by: Option<&str>,
) -> Result<(), RunError> {
    let ahead = stored.state.before_publishing(drawing, written_by);
    if ahead == stored.state {
        return Ok(());
    }
    let write = write_chart_state(pipeline, stored, ahead, lease);
    within(deadline, write)
        .await
        .unwrap_or(Err(RunError::DeadlineAt {
            stage: "writing the chart state ahead of publishing",
        }))
}

/// The charts that are in the destination as drawn (published now or found
/// identical), with their fingerprints.
pub(crate) fn landed(charts: &[ChartResult]) -> Vec<(String, String)> {
    charts
        .iter()
        .filter(|c| {
            matches!(
                c.outcome,
                ChartOutcome::Published { .. } | ChartOutcome::Unchanged { .. }
            ) && !c.fingerprint.is_empty()
        })
        .map(|c| (c.slug.clone(), c.fingerprint.clone()))
        .collect()
}

/// Records what a run published: the charts that landed, the ones the prune
/// deleted, and the look they were drawn with. A chart that failed or was
/// left undone stays out of the state (drawn again by the next run).
pub(crate) async fn record_published(
    pipeline: &Pipeline,
    stored: &mut Stored,
    landed: &[(String, String)],
    report: &RunReport,
    lease: Option<&Kept>,
    written_by: Option<&str>,
) -> Result<(), RunError> {
    let mut next = stored.state.clone();
    next.after_publishing(
        landed.iter().map(|(s, f)| (s.as_str(), f.as_str())),
        report.deleted.iter().map(String::as_str),
        &Look::of(&pipeline.config.theme),
        written_by,
    );
    if next == stored.state && stored.etag.is_some() {
        return Ok(());
    }
    // The charts this state vouches for are durable before it is: a machine
    // that stops between the two leaves the old state, whose fingerprints
    // send every chart of this run to be drawn again.
    pipeline.dest.sync().await.map_err(RunError::StateWrite)?;
    write_chart_state(pipeline, stored, next, lease).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::LocalStore;
    use crate::store::{
        BlockingStore, ObjectMeta, ObjectReader, Put, Ready, Store, StoreFuture, Tagged,
    };
    use futures::future::BoxFuture;
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    /// A directory that writes down its syncs and conditional writes, in order.
    #[derive(Debug)]
    struct Recording {
        inner: LocalStore,
        calls: Mutex<Vec<String>>,
    }

    impl Recording {
        fn note(&self, call: String) {
            self.calls.lock().unwrap().push(call);
        }
    }

    impl Store for Recording {
        fn describe(&self, key: &str) -> String {
            self.inner.describe(key)
        }
        fn open<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ObjectReader> {
            self.inner.open(key)
        }
        fn head<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<ObjectMeta>> {
            self.inner.head(key)
        }
        fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, HashSet<String>> {
            self.inner.list(prefix)
        }
        fn put<'a>(
            &'a self,
            key: &'a str,
            body: Vec<u8>,
            headers: &'a ObjectHeaders,
        ) -> StoreFuture<'a, ()> {
            self.note(format!("put {key}"));
            self.inner.put(key, body, headers)
        }
        fn last_modified<'a>(
            &'a self,
            key: &'a str,
        ) -> StoreFuture<'a, chrono::DateTime<chrono::Utc>> {
            self.inner.last_modified(key)
        }
        fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
            self.inner.delete(key)
        }
        fn get_tagged<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Tagged>> {
            self.inner.get_tagged(key)
        }
        fn put_if<'a>(
            &'a self,
            key: &'a str,
            body: Vec<u8>,
            headers: &'a ObjectHeaders,
            precondition: Precondition,
        ) -> StoreFuture<'a, String> {
            self.note(format!("put_if {key}"));
            self.inner.put_if(key, body, headers, precondition)
        }
        fn put_all(
            &self,
            puts: Vec<Put>,
            ready: Ready,
        ) -> BoxFuture<'_, Vec<Result<(), StoreError>>> {
            self.inner.put_all(puts, ready)
        }
        fn keeps_headers(&self) -> bool {
            self.inner.keeps_headers()
        }
        fn check(&self) -> StoreFuture<'_, ()> {
            self.inner.check()
        }
        fn sync(&self) -> StoreFuture<'_, ()> {
            self.note("sync".into());
            self.inner.sync()
        }
        fn blocking(&self) -> Option<&dyn BlockingStore> {
            self.inner.blocking()
        }
    }

    // REQ-FR-007: the charts a run wrote without a sync each are synced
    // before the chart state that vouches for them is written (it fails
    // with the sync in `record_published` removed).
    #[tokio::test]
    async fn the_charts_are_synced_before_the_state_vouches_for_them() {
        let (source, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut pipeline = Pipeline::on_dirs(source.path(), dest.path()).await;
        let recording = Arc::new(Recording {
            inner: LocalStore::new(dest.path().to_path_buf()),
            calls: Mutex::default(),
        });
        pipeline.dest = recording.clone();
        let mut stored = read_chart_state(&pipeline).await.unwrap();
        let landed = [("a".to_string(), "fingerprint".to_string())];
        record_published(
            &pipeline,
            &mut stored,
            &landed,
            &RunReport::default(),
            None,
            None,
        )
        .await
        .unwrap();
        assert_eq!(
            *recording.calls.lock().unwrap(),
            [
                "sync".to_string(),
                format!("put_if {}", state_key(&pipeline))
            ]
        );
        assert!(dest.path().join(state_key(&pipeline)).exists());
    }
}
