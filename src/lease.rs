//! One run at a time, with or without reserved concurrency: a run holds a lease
//! object under the reports prefix while it publishes.
//!
//! The lease is taken with a conditional write that succeeds only when there is
//! none (`If-None-Match: *`); a lease whose expiry has passed (its run was killed
//! by Lambda's hard stop) or that was released is taken over with `If-Match` on
//! the `ETag` it was read with, so of two runs racing for it exactly one wins. The
//! expiry is the end of the invocation (the function's timeout), so a dead
//! run's lease frees itself. On a local destination the same object is a lock
//! file ([`crate::store::local::LocalStore::put_if`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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
}

impl LeaseRecord {
    /// Whether another run may take it over at `now`.
    pub(crate) fn is_free(&self, now: DateTime<Utc>) -> bool {
        self.released || self.expires_at <= now
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
            other @ (LeaseError::Store { .. } | LeaseError::Lost { .. }) => panic!("{other}"),
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
}
