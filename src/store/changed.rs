//! Write what changed: an object whose bytes (and headers) are already in the
//! destination is not uploaded again, so a re-run after a partial failure or a
//! deadline only does the remaining work.

use crate::store::{
    BlockingStore, ObjectHeaders, ObjectMeta, Precondition, Put, Ready, Store, StoreError,
    sha256_hex,
};

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// Uploaded; carries the byte count.
    Put(u64),
    /// Already identical.
    Unchanged,
}

pub(crate) const PNG: &str = "image/png";
pub(crate) const JSON: &str = "application/json";

/// One object to write unless it is already there: its key, bytes, headers,
/// and whether a listing said it `exists` (`false` skips the metadata
/// request for a new object).
pub(crate) struct Object<'a> {
    pub(crate) key: String,
    pub(crate) body: Vec<u8>,
    pub(crate) headers: &'a ObjectHeaders,
    pub(crate) exists: bool,
}

/// Puts each of `objects` unless an identical object is already there, and
/// answers for each in order.
///
/// Each put is conditional on what was looked at: the object's `ETag` from the
/// metadata request (`If-Match`), or its absence (`If-None-Match: *`). A run
/// whose write arrives after another run rewrote the object (it lost its
/// lease while the write was on its way, or was paused) is refused
/// ([`StoreError::PreconditionFailed`]) instead of putting old data back.
/// `ready` is asked right before each put (after the metadata requests,
/// which may have waited): an error there writes nothing of that object. The
/// puts go to the store together ([`Store::put_all`]).
pub(crate) async fn put_all_if_changed(
    store: &dyn Store,
    objects: Vec<Object<'_>>,
    ready: Ready,
) -> Vec<Result<Written, StoreError>> {
    let looked = futures::future::join_all(objects.into_iter().map(|object| async move {
        let meta = if object.exists {
            store.head(&object.key).await
        } else {
            Ok(None)
        };
        prepare(store, object, meta)
    }))
    .await;
    let (puts, answers) = Answers::split(looked);
    let written = store.put_all(puts, ready).await;
    answers.answered(store, written)
}

/// [`put_all_if_changed`] on this thread, for a store whose calls are file
/// calls (`files`, [`Store::blocking`] of `store`): the same looks, the same
/// preconditions, the same answers.
pub(crate) fn put_all_if_changed_now(
    store: &dyn Store,
    files: &dyn BlockingStore,
    objects: Vec<Object<'_>>,
    ready: &dyn Fn() -> Result<(), String>,
) -> Vec<Result<Written, StoreError>> {
    let looked = objects
        .into_iter()
        .map(|object| {
            let meta = if object.exists {
                files.head_now(&object.key)
            } else {
                Ok(None)
            };
            prepare(store, object, meta)
        })
        .collect();
    let (puts, answers) = Answers::split(looked);
    let written = files.put_all_now(puts, ready);
    answers.answered(store, written)
}

/// A batch's answers so far: `Unchanged` or an error for the objects not
/// put, a place for each put's answer.
struct Answers {
    answers: Vec<Result<Written, StoreError>>,
    /// Each put's place in `answers`, its size and its key, in put order.
    pending: Vec<(usize, u64, String)>,
}

impl Answers {
    /// The puts among what was looked at, and the answers so far.
    fn split(looked: Vec<Result<Option<Put>, StoreError>>) -> (Vec<Put>, Answers) {
        let mut answers = Vec::with_capacity(looked.len());
        let (mut puts, mut pending) = (Vec::new(), Vec::new());
        for prepared in looked {
            match prepared {
                Ok(Some(put)) => {
                    pending.push((answers.len(), put.body.len() as u64, put.key.clone()));
                    puts.push(put);
                    // Replaced by the store's answer for it.
                    answers.push(Ok(Written::Unchanged));
                }
                Ok(None) => answers.push(Ok(Written::Unchanged)),
                Err(e) => answers.push(Err(e)),
            }
        }
        (puts, Answers { answers, pending })
    }

    /// Every object's answer, the puts' from `written` (the store's answers in
    /// put order).
    fn answered(
        self,
        store: &dyn Store,
        written: Vec<Result<(), StoreError>>,
    ) -> Vec<Result<Written, StoreError>> {
        let Answers {
            mut answers,
            pending,
        } = self;
        let mut written = written.into_iter();
        for (at, len, key) in pending {
            // A store answers every put; a missing answer fails closed.
            answers[at] = match written.next() {
                Some(result) => result.map(|()| Written::Put(len)),
                None => Err(StoreError::Failed {
                    location: store.describe(&key),
                    message: "the store gave no answer for this write".into(),
                }),
            };
        }
        answers
    }
}

/// The put that writes `object` if it changed (`None`: an identical object
/// is there, as `meta`, the answer to a metadata request, says), under the
/// precondition of what was looked at. The body's SHA-256 is computed only
/// where it is compared or stored: a new object in a store that keeps no
/// headers (the local directory, whose `ETag` is the file's own hash) needs
/// none.
fn prepare(
    store: &dyn Store,
    object: Object<'_>,
    meta: Result<Option<ObjectMeta>, StoreError>,
) -> Result<Option<Put>, StoreError> {
    let Object {
        key, body, headers, ..
    } = object;
    let sha256 = (store.keeps_headers() || matches!(meta, Ok(Some(_)))).then(|| sha256_hex(&body));
    let precondition = match meta {
        Ok(Some(meta)) => {
            let same_headers = !store.keeps_headers()
                || (meta.cache_control == headers.cache_control
                    && meta.content_type.as_deref() == Some(headers.content_type));
            if meta.sha256_hex.is_some() && meta.sha256_hex == sha256 && same_headers {
                return Ok(None);
            }
            meta.etag.map(Precondition::ETag)
        }
        Ok(None) => Some(Precondition::Absent),
        // Without list permission S3 answers a missing object with 403; the put
        // below then either succeeds or reports the denial for what it is.
        Err(StoreError::AccessDenied { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(Some(Put {
        key,
        body,
        headers: ObjectHeaders {
            sha256_hex: sha256,
            ..headers.clone()
        },
        precondition,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::LocalStore;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// One object through [`put_all_if_changed`], always ready.
    async fn put_if_changed(
        store: &dyn Store,
        key: &str,
        body: Vec<u8>,
        headers: &ObjectHeaders,
        exists: bool,
    ) -> Result<Written, StoreError> {
        let object = Object {
            key: key.into(),
            body,
            headers,
            exists,
        };
        put_all_if_changed(store, vec![object], Arc::new(|| Ok(())))
            .await
            .remove(0)
    }

    // REQ-FR-007: a batch answers for each object in order (unchanged, new,
    // changed), and `ready` is asked before each write: once it says no
    // (the lease lost mid-batch), nothing more of the batch is written.
    #[tokio::test]
    async fn a_batch_answers_in_order_and_stops_when_not_ready() {
        let (dir, store) = LocalStore::temp();
        let headers = ObjectHeaders::no_store(PNG);
        put_if_changed(&store, "same.png", vec![1], &headers, false)
            .await
            .unwrap();
        put_if_changed(&store, "old.png", vec![1], &headers, false)
            .await
            .unwrap();
        let object = |key: &str, body: Vec<u8>, exists| Object {
            key: key.into(),
            body,
            headers: &headers,
            exists,
        };
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        // Ready for two writes, then the lease is gone.
        let ready: Ready = Arc::new(move || match counter.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => Ok(()),
            _ => Err("not written: the lease was lost".into()),
        });
        let answers = put_all_if_changed(
            &store,
            vec![
                object("same.png", vec![1], true),
                object("new.png", vec![2, 2], false),
                object("old.png", vec![3, 3, 3], true),
                object("late.png", vec![4], false),
            ],
            ready,
        )
        .await;
        assert!(matches!(answers[0], Ok(Written::Unchanged)), "{answers:?}");
        assert!(matches!(answers[1], Ok(Written::Put(2))), "{answers:?}");
        assert!(matches!(answers[2], Ok(Written::Put(3))), "{answers:?}");
        assert!(
            matches!(&answers[3], Err(StoreError::Failed { message, .. }) if message.contains("lease")),
            "{answers:?}"
        );
        assert_eq!(asked.load(Ordering::SeqCst), 3, "asked once per write");
        assert_eq!(
            std::fs::read(dir.path().join("old.png")).unwrap(),
            [3, 3, 3]
        );
        assert!(!dir.path().join("late.png").exists());
    }

    #[tokio::test]
    async fn identical_content_is_not_written_twice() {
        let (_dir, store) = LocalStore::temp();
        let headers = ObjectHeaders {
            content_type: PNG,
            cache_control: Some("public, max-age=60".into()),
            sha256_hex: None,
        };
        assert_eq!(
            put_if_changed(&store, "a.png", vec![1, 2, 3], &headers, false)
                .await
                .unwrap(),
            Written::Put(3)
        );
        assert_eq!(
            put_if_changed(&store, "a.png", vec![1, 2, 3], &headers, true)
                .await
                .unwrap(),
            Written::Unchanged
        );
        assert_eq!(
            put_if_changed(&store, "a.png", vec![1, 2], &headers, true)
                .await
                .unwrap(),
            Written::Put(2)
        );
        let listed: Vec<String> = store.list("").await.unwrap().into_iter().collect();
        assert_eq!(listed, vec!["a.png".to_string()]);
    }

    // REQ-FR-007: a put that arrives after another writer replaced the object
    // it looked at is refused, not written over the newer one.
    #[tokio::test]
    async fn a_put_over_a_newer_object_is_refused() {
        let (_dir, store) = LocalStore::temp();
        let headers = ObjectHeaders::no_store(PNG);
        store.put("a.png", vec![1], &headers).await.unwrap();
        let looked_at = store.head("a.png").await.unwrap().unwrap().etag.unwrap();
        store.put("a.png", vec![2], &headers).await.unwrap();
        let late = store
            .put_if("a.png", vec![3], &headers, Precondition::ETag(looked_at))
            .await;
        assert!(
            matches!(late, Err(StoreError::PreconditionFailed { .. })),
            "{late:?}"
        );
        assert_eq!(store.get("a.png").await.unwrap(), Some(vec![2]));
        // Listed absent, created meanwhile: refused too.
        let listed_absent = put_if_changed(&store, "b.png", vec![1], &headers, false).await;
        assert!(listed_absent.is_ok());
        let again = put_if_changed(&store, "b.png", vec![9], &headers, false).await;
        assert!(
            matches!(again, Err(StoreError::PreconditionFailed { .. })),
            "{again:?}"
        );
    }
}
