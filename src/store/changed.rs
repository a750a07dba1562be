//! Write what changed: an object whose bytes (and headers) are already in the
//! destination is not uploaded again, so a re-run after a partial failure or a
//! deadline only does the remaining work.

use crate::store::{ObjectHeaders, Precondition, Store, StoreError, sha256_hex};

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

/// Puts `body` at `key` unless an identical object is already there. `exists`
/// is what a listing said: `false` skips the metadata request for a new object.
///
/// The put is conditional on what was looked at: the object's `ETag` from the
/// metadata request (`If-Match`), or its absence (`If-None-Match: *`). A run
/// whose write arrives after another run rewrote the object (it lost its
/// lease while the write was on its way, or was paused) is refused
/// ([`StoreError::PreconditionFailed`]) instead of putting old data back.
/// `ready` is asked right before the put (after the metadata request, which
/// may have waited): an error there writes nothing.
pub(crate) async fn put_if_changed(
    store: &dyn Store,
    key: &str,
    body: Vec<u8>,
    headers: &ObjectHeaders,
    exists: bool,
    ready: &(dyn Fn() -> Result<(), String> + Sync),
) -> Result<Written, StoreError> {
    let sha256 = sha256_hex(&body);
    let meta = if exists {
        store.head(key).await
    } else {
        Ok(None)
    };
    let precondition = match meta {
        Ok(Some(meta)) => {
            let same_headers = !store.keeps_headers()
                || (meta.cache_control == headers.cache_control
                    && meta.content_type.as_deref() == Some(headers.content_type));
            if meta.sha256_hex.as_deref() == Some(sha256.as_str()) && same_headers {
                return Ok(Written::Unchanged);
            }
            meta.etag.map(Precondition::ETag)
        }
        Ok(None) => Some(Precondition::Absent),
        // Without list permission S3 answers a missing object with 403; the put
        // below then either succeeds or reports the denial for what it is.
        Err(StoreError::AccessDenied { .. }) => None,
        Err(e) => return Err(e),
    };
    let len = body.len() as u64;
    let headers = ObjectHeaders {
        sha256_hex: Some(sha256),
        ..headers.clone()
    };
    ready().map_err(|message| StoreError::Failed {
        location: store.describe(key),
        message,
    })?;
    match precondition {
        Some(precondition) => store
            .put_if(key, body, &headers, precondition)
            .await
            .map(drop)?,
        None => store.put(key, body, &headers).await?,
    }
    Ok(Written::Put(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::LocalStore;

    #[tokio::test]
    async fn identical_content_is_not_written_twice() {
        let (_dir, store) = LocalStore::temp();
        let headers = ObjectHeaders {
            content_type: PNG,
            cache_control: Some("public, max-age=60".into()),
            sha256_hex: None,
        };
        assert_eq!(
            put_if_changed(&store, "a.png", vec![1, 2, 3], &headers, false, &|| Ok(()))
                .await
                .unwrap(),
            Written::Put(3)
        );
        assert_eq!(
            put_if_changed(&store, "a.png", vec![1, 2, 3], &headers, true, &|| Ok(()))
                .await
                .unwrap(),
            Written::Unchanged
        );
        assert_eq!(
            put_if_changed(&store, "a.png", vec![1, 2], &headers, true, &|| Ok(()))
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
        let listed_absent =
            put_if_changed(&store, "b.png", vec![1], &headers, false, &|| Ok(())).await;
        assert!(listed_absent.is_ok());
        let again = put_if_changed(&store, "b.png", vec![9], &headers, false, &|| Ok(())).await;
        assert!(
            matches!(again, Err(StoreError::PreconditionFailed { .. })),
            "{again:?}"
        );
    }
}
