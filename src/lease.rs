//! One run at a time, with or without reserved concurrency: a run holds a lease
//! object under the reports prefix while it publishes.
//!
//! The lease is taken with a conditional write that succeeds only when there is
//! none (`If-None-Match: *`); a lease whose expiry has passed (its run was killed
//! by Lambda's hard stop) or that was released is taken over with `If-Match` on
//! the `ETag` it was read with, so of two runs racing for it exactly one wins.
//!
//! A whole run's lease follows the run, not the clock: it lasts
//! `LEASE_TTL_SECONDS` (default 60) and the holder renews it four times per
//! TTL with `If-Match` ([`Lease::keep`]), on its own task, so a run blocked on
//! a slow read keeps it and a crashed one frees it within one TTL. Expiry is
//! judged with an allowance for clock skew between two callers of a quarter of
//! the holder's TTL. A second delivery of the same request (same run id) finds
//! its own lease: if it is renewed while it watches, the first delivery is
//! alive and this one ends as a duplicate ([`LeaseError::Duplicate`]); if not,
//! the first one crashed and this one takes it over. A scaled-out run's lease
//! is taken by its plan for the state machine's timeout (no process lives
//! from the plan to the finish to renew it) and released by the finish.
//! On a local destination the same object is a lock file
//! ([`crate::store::local::LocalStore::put_if`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::store::changed;
use crate::store::{ObjectHeaders, Precondition, Store, StoreError};

/// The lease object's name under the reports prefix.
pub(crate) const LEASE_NAME: &str = "lease.json";

/// What a lease object says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub run_id: String,
    pub as_of: DateTime<Utc>,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub released: bool,
    /// How long one renewal lasts; 0 for a lease that is not renewed (a
    /// scaled-out run's, or one written before renewal existed).
    #[serde(default)]
    pub ttl_seconds: u64,
}

impl LeaseRecord {
    /// The allowance for skew between the holder's clock and a taker's: a
    /// quarter of the TTL.
    fn skew(&self) -> chrono::Duration {
        chrono::Duration::seconds((self.ttl_seconds / 4) as i64)
    }

    /// Whether another run may take it over at `now` (its clock).
    pub(crate) fn is_free(&self, now: DateTime<Utc>) -> bool {
        self.released || self.expires_at + self.skew() <= now
    }

    /// How often the holder renews a lease of `ttl`.
    pub(crate) fn renewal_interval(ttl: Duration) -> Duration {
        ttl / 4
    }
}

/// A lease this run holds (a scaled-out run keeps it in its plan, from the
/// plan to the finish).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lease {
    key: String,
    etag: String,
    record: LeaseRecord,
}

/// Why a lease could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(
        "another run holds the lease {location}: run {} (as_of {}), taken at {}, until {}; \
         wait for it to finish (or for its expiry if it was killed)",
        .holder.run_id, .holder.as_of, .holder.acquired_at, .holder.expires_at
    )]
    Held {
        location: String,
        holder: LeaseRecord,
    },
    #[error(
        "the lease {location} is no longer this run's: {}; another run took it over (or it expired and \
         was taken), so this step publishes nothing. Start a new run",
        .holder.as_ref().map_or_else(|| "it is gone".to_string(), |h| format!(
            "run {} holds it (as_of {}, until {}{})", h.run_id, h.as_of, h.expires_at,
            if h.released { ", released" } else { "" }))
    )]
    Lost {
        location: String,
        holder: Option<LeaseRecord>,
    },
    /// This request's own lease, renewed by a live delivery of it: this one
    /// is a duplicate delivery and does nothing.
    #[error(
        "the lease {location} is held by this same request (run {}), and it is alive (renewed \
         while this delivery watched): this is a duplicate delivery; it does nothing",
        .holder.run_id
    )]
    Duplicate {
        location: String,
        holder: LeaseRecord,
    },
    #[error("the lease {location} cannot be read or written: {source}")]
    Store {
        location: String,
        #[source]
        source: StoreError,
    },
}

fn headers() -> ObjectHeaders {
    ObjectHeaders::no_store(changed::JSON)
}

fn body(record: &LeaseRecord) -> Vec<u8> {
    serde_json::to_vec_pretty(record).unwrap_or_default()
}

/// Takes the lease at `key` for `record.run_id` until `record.expires_at`.
pub(crate) async fn acquire(
    store: &dyn Store,
    key: &str,
    record: LeaseRecord,
) -> Result<Lease, LeaseError> {
    let location = store.describe(key);
    let store_error = |source| LeaseError::Store {
        location: location.clone(),
        source,
    };
    // A lost race for the takeover is read again, a few times at most.
    for _ in 0..3 {
        match store
            .put_if(key, body(&record), &headers(), Precondition::Absent)
            .await
        {
            Ok(etag) => return Ok(taken(key, etag, record)),
            Err(StoreError::PreconditionFailed { .. }) => {}
            Err(e) => return Err(store_error(e)),
        }
        let Some((bytes, etag)) = store.get_tagged(key).await.map_err(store_error)? else {
            continue; // released and deleted in between: try to create it again
        };
        let current: Option<LeaseRecord> = serde_json::from_slice(&bytes).ok();
        let (current, etag) = match current {
            Some(holder)
                if holder.run_id == record.run_id
                    && holder.ttl_seconds > 0
                    && !holder.is_free(record.acquired_at) =>
            {
                match watch_own(store, key, &location, holder, etag).await? {
                    Some((holder, etag)) => (Some(holder), etag),
                    None => continue,
                }
            }
            // A scaled-out plan's lease (a fixed term, no renewals) held under
            // this very run id: the plan is being made again (a retry by the
            // state machine, or by hand); the new plan takes it over, and its
            // nonce disowns the old plan's shards.
            Some(holder) if holder.run_id == record.run_id && holder.ttl_seconds == 0 => {
                info!(location = %location, run_id = %holder.run_id,
                      "this run id's own plan lease: taken over by the new plan");
                let own = LeaseRecord {
                    released: true,
                    ..holder
                };
                (Some(own), etag)
            }
            other => (other, etag),
        };
        match current {
            Some(holder) if !holder.is_free(record.acquired_at) => {
                return Err(LeaseError::Held { location, holder });
            }
            previous => {
                if previous.is_none() {
                    warn!(location = %location, "the lease object is not a lease; taking it over");
                } else {
                    info!(location = %location, previous = ?previous, "taking over an expired or released lease");
                }
                match store
                    .put_if(key, body(&record), &headers(), Precondition::ETag(etag))
                    .await
                {
                    Ok(etag) => return Ok(taken(key, etag, record)),
                    Err(StoreError::PreconditionFailed { .. }) => {}
                    Err(e) => return Err(store_error(e)),
                }
            }
        }
    }
    match store.get_tagged(key).await.map_err(store_error)? {
        Some((bytes, _)) => match serde_json::from_slice(&bytes) {
            Ok(holder) => Err(LeaseError::Held { location, holder }),
            Err(e) => Err(store_error(StoreError::Failed {
                location: location.clone(),
                message: format!("not a lease: {e}"),
            })),
        },
        None => Err(store_error(StoreError::Failed {
            location: location.clone(),
            message: "the lease kept changing while it was taken".into(),
        })),
    }
}

/// A live lease of this same request: watches it for three renewal intervals.
/// Renewed meanwhile: the first delivery is alive, and this one is a
/// [`LeaseError::Duplicate`]. Not renewed: the first delivery crashed; the
/// lease as it was read (and its `ETag`) is handed back to be taken over.
/// `None`: it was released or deleted meanwhile (try again).
async fn watch_own(
    store: &dyn Store,
    key: &str,
    location: &str,
    holder: LeaseRecord,
    etag: String,
) -> Result<Option<(LeaseRecord, String)>, LeaseError> {
    let ttl = Duration::from_secs(holder.ttl_seconds);
    // Renewals are at most two intervals apart (a stalled one is given up
    // after one): three intervals without a change means none is coming.
    let watch = LeaseRecord::renewal_interval(ttl) * 3;
    let step = (watch / 8).max(Duration::from_millis(100));
    info!(location, run_id = %holder.run_id, watch_ms = watch.as_millis() as u64,
          "this request's own lease is live: watching whether it is renewed");
    let started = tokio::time::Instant::now();
    while started.elapsed() < watch {
        tokio::time::sleep(step).await;
        let now = store
            .get_tagged(key)
            .await
            .map_err(|source| LeaseError::Store {
                location: location.to_string(),
                source,
            })?;
        match now {
            None => return Ok(None),
            Some((_, now_etag)) if now_etag == etag => {}
            Some((bytes, _)) => {
                return match serde_json::from_slice::<LeaseRecord>(&bytes) {
                    Ok(renewed) if renewed.run_id == holder.run_id && !renewed.released => {
                        Err(LeaseError::Duplicate {
                            location: location.to_string(),
                            holder: renewed,
                        })
                    }
                    _ => Ok(None),
                };
            }
        }
    }
    warn!(location, run_id = %holder.run_id,
          "this request's own lease was not renewed: its earlier attempt crashed; taking it over");
    // Free to take: the earlier attempt is dead.
    let taken = LeaseRecord {
        released: true,
        ..holder
    };
    Ok(Some((taken, etag)))
}

fn taken(key: &str, etag: String, record: LeaseRecord) -> Lease {
    info!(run_id = %record.run_id, expires_at = %record.expires_at, "lease taken");
    Lease {
        key: key.to_string(),
        etag,
        record,
    }
}

impl Lease {
    pub fn record(&self) -> &LeaseRecord {
        &self.record
    }

    /// Checks that the lease object is still the one this run wrote (same
    /// `ETag`, so neither taken over nor released since): a scaled-out step
    /// publishes only under its plan's lease.
    pub(crate) async fn check_held(&self, store: &dyn Store) -> Result<(), LeaseError> {
        let location = store.describe(&self.key);
        let found = store
            .get_tagged(&self.key)
            .await
            .map_err(|source| LeaseError::Store {
                location: location.clone(),
                source,
            })?;
        match found {
            // Expired is lost to its holder too: a taker may already see it free.
            Some(_) if Utc::now() >= self.record.expires_at => Err(LeaseError::Lost {
                location: format!("{location} (expired at {})", self.record.expires_at),
                holder: None,
            }),
            Some((_, etag)) if etag == self.etag => Ok(()),
            Some((bytes, _)) => Err(LeaseError::Lost {
                location,
                holder: serde_json::from_slice(&bytes).ok(),
            }),
            None => Err(LeaseError::Lost {
                location,
                holder: None,
            }),
        }
    }

    /// Keeps the lease while the run works: renews it every quarter of `ttl`
    /// on its own task (a run blocked on a slow read or a long draw keeps it).
    pub(crate) fn keep(self, store: Arc<dyn Store>, ttl: Duration) -> Kept {
        Kept::spawn(self, move |lease, lost, stop| {
            renew(store, ttl, lease, lost, stop)
        })
    }

    /// Marks the lease released (only if it is still ours: `If-Match`), so the
    /// next run need not wait for the expiry. A failure is logged: the lease then
    /// frees itself at its expiry.
    pub async fn release(self, store: &dyn Store, now: DateTime<Utc>) {
        let record = LeaseRecord {
            released: true,
            expires_at: now,
            ..self.record
        };
        match store
            .put_if(
                &self.key,
                body(&record),
                &headers(),
                Precondition::ETag(self.etag),
            )
            .await
        {
            Ok(_) => info!(run_id = %record.run_id, "lease released"),
            Err(e) => {
                warn!(error = %e, "releasing the lease failed; it frees itself at its expiry");
            }
        }
    }
}

impl Kept {
    /// Watches a lease this step does not renew (a render under its plan's
    /// lease): every `interval` it checks that the lease object is still the
    /// plan's ([`Lease::check_held`]), and [`Kept::check`] answers lost from
    /// the first check that finds it taken over or released, or once its
    /// expiry passed. Errors reading it are tried again until the expiry.
    pub(crate) fn watch(lease: Lease, store: Arc<dyn Store>, interval: Duration) -> Kept {
        Kept::spawn(lease, move |lease, lost, stop| {
            watch_plan(store, interval, lease, lost, stop)
        })
    }

    /// A kept `lease` whose task (renewing or watching it) shares the lease,
    /// the reason it was lost and the stop signal with the [`Kept`].
    fn spawn<F, T>(lease: Lease, task: T) -> Kept
    where
        T: FnOnce(Arc<Mutex<Lease>>, Arc<Mutex<Option<String>>>, Arc<Notify>) -> F,
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let lease = Arc::new(Mutex::new(lease));
        let lost = Arc::new(Mutex::new(None));
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(task(
            Arc::clone(&lease),
            Arc::clone(&lost),
            Arc::clone(&stop),
        ));
        Kept {
            lease,
            lost,
            stop,
            task: Some(task),
        }
    }
}

/// Reads a plan's lease every `interval` until `stop`; the first read that
/// finds it taken over, released or expired marks it lost and ends.
async fn watch_plan(
    store: Arc<dyn Store>,
    interval: Duration,
    lease: Arc<Mutex<Lease>>,
    lost: Arc<Mutex<Option<String>>>,
    stop: Arc<Notify>,
) {
    loop {
        tokio::select! {
            () = stop.notified() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let held = lease.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match held.check_held(store.as_ref()).await {
            Err(e @ LeaseError::Lost { .. }) => {
                warn!(error = %e, "the plan's lease is lost; this step writes nothing more");
                *lost.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
                return;
            }
            Err(e) => {
                warn!(error = %e, "checking the plan's lease failed; trying again");
            }
            Ok(()) => {}
        }
    }
}

/// How often a held lease's object is read between renewals: half a second
/// of writes at most after a release by hand (about 500 charts on two cores).
const VERIFY: Duration = Duration::from_millis(500);

/// A lease being renewed (or watched) while its run works.
pub(crate) struct Kept {
    lease: Arc<Mutex<Lease>>,
    lost: Arc<Mutex<Option<String>>>,
    stop: Arc<Notify>,
    /// The renewal task; aborted when the `Kept` is dropped without a release
    /// (a run that panicked must not keep its lease alive).
    task: Option<JoinHandle<()>>,
}

/// What [`Kept::check`] reads, owned: the same answer, anywhere.
#[derive(Debug, Clone)]
pub(crate) struct LeaseCheck {
    lease: Arc<Mutex<Lease>>,
    lost: Arc<Mutex<Option<String>>>,
}

impl LeaseCheck {
    pub(crate) fn check(&self) -> Result<(), LeaseError> {
        check(&self.lease, &self.lost)
    }
}

/// Whether `lease` is still this run's: not lost (`lost`), and its last
/// renewal not expired.
fn check(lease: &Mutex<Lease>, lost: &Mutex<Option<String>>) -> Result<(), LeaseError> {
    let lost = lost.lock().unwrap_or_else(PoisonError::into_inner);
    let lease = lease.lock().unwrap_or_else(PoisonError::into_inner);
    // A renewal still in flight proves nothing: past the expiry of the
    // last one that succeeded, a taker may hold it (a stalled write).
    let why = match lost.as_ref() {
        Some(why) => why.clone(),
        None if Utc::now() >= lease.record.expires_at => {
            "its last renewal expired while the next was still being written".to_string()
        }
        None => return Ok(()),
    };
    Err(LeaseError::Lost {
        location: format!("{} ({why})", lease.key),
        holder: None,
    })
}

impl Drop for Kept {
    fn drop(&mut self) {
        self.let_go("the run let its lease go");
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Kept {
    /// Whether the lease is still this run's: not taken over, and renewed in
    /// time. A run checks before it writes what a newer run must not see
    /// rewound (deletions, `latest.json`).
    pub(crate) fn check(&self) -> Result<(), LeaseError> {
        check(&self.lease, &self.lost)
    }

    /// Marks the lease no longer this run's, for every [`LeaseCheck`] of it
    /// (a reason already recorded stays).
    fn let_go(&self, why: &str) {
        let mut lost = self.lost.lock().unwrap_or_else(PoisonError::into_inner);
        lost.get_or_insert_with(|| why.to_string());
    }

    /// [`Kept::check`] for another thread (a batch of writes on the
    /// blocking pool, checked right before each).
    pub(crate) fn checker(&self) -> LeaseCheck {
        LeaseCheck {
            lease: self.lease.clone(),
            lost: self.lost.clone(),
        }
    }

    /// Stops renewing and releases the lease (if it is still ours).
    pub(crate) async fn release(mut self, store: &dyn Store, now: DateTime<Utc>) {
        // A write still on its way (a batch its run stopped waiting for) is
        // refused from here on: once released, the lease may be another run's.
        self.let_go("the run released its lease");
        self.stop.notify_one();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let lease = self
            .lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        lease.release(store, now).await;
    }
}

/// Reads the lease object between renewals: `Some(why)` when it is no longer
/// this run's (taken over, released by hand, deleted). A renewal of ours that
/// landed but answered an error is adopted; a failed read proves nothing (the
/// renewal decides).
async fn verify_held(store: &dyn Store, lease: &Mutex<Lease>) -> Option<String> {
    let (key, etag, ours) = {
        let held = lease.lock().unwrap_or_else(PoisonError::into_inner);
        (held.key.clone(), held.etag.clone(), held.record.clone())
    };
    match store.get_tagged(&key).await {
        Ok(Some((_, now))) if now == etag => None,
        Ok(Some((bytes, now))) => match serde_json::from_slice::<LeaseRecord>(&bytes) {
            Ok(record)
                if record.run_id == ours.run_id
                    && record.acquired_at == ours.acquired_at
                    && !record.released =>
            {
                let mut held = lease.lock().unwrap_or_else(PoisonError::into_inner);
                held.etag = now;
                held.record = record;
                None
            }
            _ => Some("another run took it over, or it was released by hand".into()),
        },
        Ok(None) => Some("the lease object was deleted".into()),
        Err(e) => {
            warn!(error = %e, "reading the lease failed; the next renewal decides");
            None
        }
    }
}

/// Renews `lease` every quarter of `ttl` until `stop`; a renewal refused by
/// its precondition (taken over) or one not made before the lease would
/// expire on a taker's clock marks it lost and ends.
async fn renew(
    store: Arc<dyn Store>,
    ttl: Duration,
    lease: Arc<Mutex<Lease>>,
    lost: Arc<Mutex<Option<String>>>,
    stop: Arc<Notify>,
) {
    let interval = LeaseRecord::renewal_interval(ttl);
    let ttl = chrono_duration(ttl);
    loop {
        // Between renewals the lease object is read every VERIFY (half a
        // second, one small GET): one taken over or released by hand is found
        // lost within a second, not at the next renewal (a quarter of the TTL
        // later).
        let next_renewal = tokio::time::Instant::now() + interval;
        loop {
            let wake = next_renewal.min(tokio::time::Instant::now() + VERIFY);
            tokio::select! {
                () = stop.notified() => return,
                () = tokio::time::sleep_until(wake) => {}
            }
            if tokio::time::Instant::now() >= next_renewal {
                break;
            }
            if let Some(why) = verify_held(store.as_ref(), &lease).await {
                warn!(reason = %why, "the lease is lost; this run publishes nothing more");
                *lost.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
                return;
            }
        }
        let (key, etag, mut record) = {
            let held = lease.lock().unwrap_or_else(PoisonError::into_inner);
            (held.key.clone(), held.etag.clone(), held.record.clone())
        };
        let now = Utc::now();
        record.expires_at = now + ttl;
        // A write that stalls is given up after one interval (and tried
        // again), so renewals stay at most two intervals apart.
        let put = match tokio::time::timeout(
            interval,
            store.put_if(&key, body(&record), &headers(), Precondition::ETag(etag)),
        )
        .await
        {
            Ok(put) => put,
            Err(_) => Err(StoreError::Failed {
                location: store.describe(&key),
                message: "the renewal did not answer within a renewal interval".into(),
            }),
        };
        // Refused: unless the lease there is this very renewal (a write that
        // landed but answered an error, then retried), another run has it.
        let put = match put {
            Err(StoreError::PreconditionFailed { .. }) => match store.get_tagged(&key).await {
                Ok(Some((bytes, etag)))
                    if serde_json::from_slice::<LeaseRecord>(&bytes).ok().as_ref()
                        == Some(&record) =>
                {
                    Ok(etag)
                }
                _ => put,
            },
            other => other,
        };
        let why = match put {
            Ok(etag) => {
                let mut held = lease.lock().unwrap_or_else(PoisonError::into_inner);
                held.etag = etag;
                held.record = record;
                continue;
            }
            Err(StoreError::PreconditionFailed { .. }) => "another run took it over".to_string(),
            Err(e) => {
                let expires = lease
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record
                    .expires_at;
                // Still ours while no taker could see it expired: try again.
                if Utc::now() + chrono_duration(interval) < expires {
                    warn!(error = %e, "renewing the lease failed; trying again");
                    continue;
                }
                format!("it could not be renewed before it expired: {e}")
            }
        };
        warn!(reason = %why, "the lease is lost; this run publishes nothing more");
        *lost.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
        return;
    }
}

/// A std duration as chrono's (saturating: a TTL is at most 900 s).
pub(crate) fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::LocalStore;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The minute `m` of the test's hour.
    fn at(m: i64) -> DateTime<Utc> {
        t("2026-01-01T00:00:00Z") + chrono::Duration::minutes(m)
    }

    /// Run `id` tries to take the lease at minute `m`, for 15 minutes.
    async fn take(store: &LocalStore, id: &str, m: i64) -> Result<Lease, LeaseError> {
        let record = LeaseRecord {
            run_id: id.into(),
            as_of: at(m),
            acquired_at: at(m),
            expires_at: at(m + 15),
            released: false,
            ttl_seconds: 0,
        };
        acquire(store, "reports/lease.json", record).await
    }

    // REQ-OP-002 (the lock file of a local destination)
    #[tokio::test]
    async fn a_live_lease_is_refused_an_expired_or_released_one_taken_over() {
        let (_dir, store) = LocalStore::temp();
        let a = take(&store, "a", 0).await.unwrap();
        let held = take(&store, "b", 5).await.unwrap_err();
        match &held {
            LeaseError::Held { holder, .. } => assert_eq!(holder.run_id, "a"),
            other => panic!("{other}"),
        }
        assert!(held.to_string().contains("run a"), "{held}");
        // Expired: taken over.
        let c = take(&store, "c", 16).await.unwrap();
        assert_eq!(c.record().run_id, "c");
        // a's release must not free c's lease.
        a.release(&store, at(17)).await;
        assert!(take(&store, "d", 18).await.is_err());
        c.release(&store, at(19)).await;
        let e = take(&store, "e", 20).await.unwrap();
        assert_eq!(e.record().run_id, "e");
    }

    /// A renewed lease of `ttl` for run `id`, taken now.
    async fn keep(store: &Arc<LocalStore>, id: &str, ttl: Duration) -> Result<Kept, LeaseError> {
        let now = Utc::now();
        let record = LeaseRecord {
            run_id: id.into(),
            as_of: now,
            acquired_at: now,
            expires_at: now + chrono_duration(ttl),
            released: false,
            ttl_seconds: ttl.as_secs(),
        };
        let store_dyn: Arc<dyn Store> = Arc::clone(store) as Arc<dyn Store>;
        Ok(acquire(store.as_ref(), KEY, record)
            .await?
            .keep(store_dyn, ttl))
    }

    const KEY: &str = "reports/lease.json";

    fn record(expires_at: DateTime<Utc>, ttl_seconds: u64) -> LeaseRecord {
        LeaseRecord {
            run_id: "a".into(),
            as_of: at(0),
            acquired_at: at(0),
            expires_at,
            released: false,
            ttl_seconds,
        }
    }

    // REQ-TR-011: a taker's clock may run ahead of the holder's by up to a
    // quarter of the TTL before the lease counts as expired.
    #[test]
    fn expiry_allows_a_quarter_of_the_ttl_for_skew() {
        let lease = record(at(10), 60);
        let s = chrono::Duration::seconds;
        assert!(!lease.is_free(at(10)));
        assert!(!lease.is_free(at(10) + s(14)));
        assert!(lease.is_free(at(10) + s(15)));
        // A lease that is not renewed has no allowance.
        assert!(record(at(10), 0).is_free(at(10)));
    }

    // REQ-TR-011: a live run keeps its lease past its first expiry by renewing
    // it; once it stops renewing (a crash), the lease frees itself within the
    // TTL and its allowance, and another run takes it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_renewed_lease_is_kept_and_a_crashed_one_frees_itself() {
        let (_dir, store) = LocalStore::temp();
        let store = Arc::new(store);
        let ttl = Duration::from_secs(4);
        let a = keep(&store, "a", ttl).await.unwrap();
        tokio::time::sleep(Duration::from_secs(6)).await;
        match keep(&store, "b", ttl).await {
            Err(LeaseError::Held { holder, .. }) => assert_eq!(holder.run_id, "a"),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("b took a live, renewed lease"),
        }
        assert!(a.check().is_ok());
        // The crash: renewal stops, nothing is released.
        drop(a);
        let crashed = Utc::now();
        let b = loop {
            match keep(&store, "b", ttl).await {
                Ok(b) => break b,
                Err(LeaseError::Held { .. }) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(other) => panic!("{other}"),
            }
        };
        let waited = (Utc::now() - crashed).to_std().unwrap();
        assert!(
            waited <= ttl + ttl / 4 + Duration::from_secs(1),
            "{waited:?}"
        );
        assert!(waited >= ttl * 3 / 4, "{waited:?}: freed before it expired");
        b.release(store.as_ref(), Utc::now()).await;
    }

    // REQ-FR-007: a check handed to another thread (a batch of writes its
    // run stopped waiting for) answers lost once the run released its lease
    // or let it go, before its expiry: another run may hold it by then.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_released_or_dropped_lease_checks_lost_everywhere() {
        let (_dir, store) = LocalStore::temp();
        let store = Arc::new(store);
        let ttl = Duration::from_secs(30);
        let a = keep(&store, "a", ttl).await.unwrap();
        let checker = a.checker();
        assert!(checker.check().is_ok());
        a.release(store.as_ref(), Utc::now()).await;
        let b = keep(&store, "b", ttl).await.unwrap();
        let lost = checker.check().unwrap_err();
        assert!(lost.to_string().contains("released"), "{lost}");
        let checker = b.checker();
        drop(b);
        assert!(checker.check().is_err(), "dropped: let go");
    }

    // REQ-TR-011: a run whose lease was taken over (it stalled past its
    // expiry) learns it at its next renewal and publishes nothing more.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lease_taken_over_is_lost_to_its_old_holder() {
        let (_dir, store) = LocalStore::temp();
        let store = Arc::new(store);
        let ttl = Duration::from_secs(4);
        let a = keep(&store, "a", ttl).await.unwrap();
        // Someone frees it by hand (the runbook's way) and b takes it.
        let (bytes, etag) = store.get_tagged(KEY).await.unwrap().unwrap();
        let mut freed: LeaseRecord = serde_json::from_slice(&bytes).unwrap();
        freed.released = true;
        store
            .put_if(KEY, body(&freed), &headers(), Precondition::ETag(etag))
            .await
            .unwrap();
        let b = keep(&store, "b", ttl).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let lost = a.check().unwrap_err();
        assert!(matches!(lost, LeaseError::Lost { .. }), "{lost}");
        assert!(lost.to_string().contains("took it over"), "{lost}");
        // a's release leaves b's lease alone.
        a.release(store.as_ref(), Utc::now()).await;
        assert!(b.check().is_ok());
        assert!(keep(&store, "c", ttl).await.is_err());
    }

    // REQ-TR-012: a second delivery of a live request (same run id, lease
    // renewed while it watches) is a duplicate; the retry of a crashed one
    // (same run id, not renewed) takes the lease over.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_same_request_again_is_a_duplicate_or_a_takeover() {
        let (_dir, store) = LocalStore::temp();
        let store = Arc::new(store);
        let ttl = Duration::from_secs(4);
        let first = keep(&store, "req-1", ttl).await.unwrap();
        match keep(&store, "req-1", ttl).await {
            Err(e @ LeaseError::Duplicate { .. }) => {
                assert!(e.to_string().contains("duplicate delivery"), "{e}");
            }
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("a live request's lease was taken by its duplicate"),
        }
        drop(first);
        let started = std::time::Instant::now();
        let retry = keep(&store, "req-1", ttl).await.unwrap();
        // It watched three renewal intervals, then took over, well before expiry.
        assert!(started.elapsed() >= ttl / 2, "{:?}", started.elapsed());
        assert!(started.elapsed() < ttl + ttl / 4, "{:?}", started.elapsed());
        assert!(retry.check().is_ok());
        retry.release(store.as_ref(), Utc::now()).await;
    }

    // REQ-TR-011: a renewal still being written proves nothing: once the last
    // renewal that succeeded has expired, the run no longer holds the lease
    // (a taker may have it), whatever the stalled write later answers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lease_past_its_last_renewal_is_not_held() {
        let (_dir, store) = LocalStore::temp();
        let store = Arc::new(store);
        let a = keep(&store, "a", Duration::from_secs(4)).await.unwrap();
        assert!(a.check().is_ok());
        a.lease.lock().unwrap().record.expires_at = Utc::now() - chrono::Duration::seconds(1);
        let lost = a.check().unwrap_err();
        assert!(lost.to_string().contains("expired"), "{lost}");
        a.release(store.as_ref(), Utc::now()).await;
    }
}
