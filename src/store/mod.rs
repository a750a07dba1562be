//! The storage seam: stream an object, read its fingerprint, put an object.
//!
//! Two honest implementations, both used for real: [`s3::S3Store`] through
//! `aws-sdk-s3`, and [`local::LocalStore`], a directory on disk (the embedded
//! default). A [`Location`] names either, as `s3://bucket[/prefix]` or a path.

pub(crate) mod changed;
pub mod local;
pub mod s3;

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufRead;

/// A streaming object body.
pub type ObjectReader = Pin<Box<dyn AsyncBufRead + Send>>;

/// What a store knows about an existing object, enough to skip an identical put.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectMeta {
    /// The hex SHA-256 of the content, when the store can tell it: stored with
    /// the object (S3 user metadata `sha256`), never guessed from the `ETag`,
    /// which is not an MD5 under SSE-KMS or for a multipart object.
    pub sha256_hex: Option<String>,
    /// The stored `Cache-Control`, for stores that keep headers.
    pub cache_control: Option<String>,
    pub content_type: Option<String>,
    /// The object's `ETag` as the store's conditional writes compare it (the
    /// content's SHA-256 for a local file), so a put can require the object
    /// it looked at to be the one it replaces.
    pub etag: Option<String>,
}

/// The headers an object is written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHeaders {
    pub content_type: &'static str,
    pub cache_control: Option<String>,
    /// The body's hex SHA-256 when the caller has it already (a chart compared
    /// with the stored one), so it is computed once per put; the S3 store
    /// computes it otherwise. Stored as user metadata [`SHA256_METADATA`].
    pub sha256_hex: Option<String>,
}

impl ObjectHeaders {
    /// A private object that no cache keeps (reports, the lease, the review
    /// page, a scaled-out run's work files).
    pub fn no_store(content_type: &'static str) -> Self {
        ObjectHeaders {
            content_type,
            cache_control: Some("no-store".into()),
            sha256_hex: None,
        }
    }
}

/// A storage failure, classified so the caller can tell a missing object from a
/// denied one from a flaky network.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{location} does not exist")]
    NotFound { location: String },
    #[error("bucket {bucket} does not exist")]
    NoSuchBucket { bucket: String },
    #[error("access denied to {location}: {message}")]
    AccessDenied { location: String, message: String },
    #[error("reading or writing {location} failed: {message}")]
    Failed { location: String, message: String },
    #[error("{location} was changed by someone else (a conditional write's precondition failed)")]
    PreconditionFailed { location: String },
    #[error("{location}: {source}")]
    Io {
        location: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// True when the object or its bucket is missing.
    pub(crate) fn is_missing(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound { .. } | StoreError::NoSuchBucket { .. }
        )
    }
}

/// An object's bytes with its `ETag`.
pub type Tagged = (Vec<u8>, String);

/// What must hold for a conditional write to go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// The object does not exist (`If-None-Match: *`).
    Absent,
    /// The object is the one read with this `ETag` (`If-Match`).
    ETag(String),
}

/// What a [`Store`] call returns: boxed, so the trait stays object-safe.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// One write of a batch ([`Store::put_all`]): as [`Store::put_if`] with its
/// precondition, as [`Store::put`] without one.
#[derive(Debug)]
pub struct Put {
    pub key: String,
    pub body: Vec<u8>,
    pub headers: ObjectHeaders,
    pub precondition: Option<Precondition>,
}

/// Asked right before each write of a batch: an error there writes nothing
/// of that object (the run lost its lease while the batch waited).
pub type Ready = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Marks a batch abandoned when dropped before the batch is done: the future
/// waiting for it went away (a deadline), and the thread making its file
/// calls, which runs on regardless, must write nothing more.
#[derive(Default)]
pub(crate) struct WaitedFor {
    abandoned: Arc<std::sync::atomic::AtomicBool>,
}

impl WaitedFor {
    /// The check a writing thread asks right before each write: an error
    /// once this guard is dropped.
    pub(crate) fn watch(&self) -> impl Fn() -> Result<(), String> + Send + Sync + 'static {
        let abandoned = Arc::clone(&self.abandoned);
        move || {
            if abandoned.load(std::sync::atomic::Ordering::SeqCst) {
                return Err("not written: the run stopped waiting for it".into());
            }
            Ok(())
        }
    }
}

impl Drop for WaitedFor {
    fn drop(&mut self) {
        self.abandoned
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The error of a write of a batch that was stopped before it was made
/// ([`Ready`] said no, or the run stopped waiting for it).
fn not_written(store: &dyn Store, key: &str, message: String) -> StoreError {
    StoreError::Failed {
        location: store.describe(key),
        message,
    }
}

/// The narrow storage interface every stage that does I/O goes through.
pub trait Store: Send + Sync + fmt::Debug {
    /// A printable name for `key` (`s3://bucket/key` or a path).
    fn describe(&self, key: &str) -> String;
    /// Streams an object.
    fn open<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ObjectReader>;
    /// The fingerprint of an object, `None` when it does not exist.
    fn head<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<ObjectMeta>>;
    /// Every key under `prefix` (a relative key prefix ending with `/`), relative
    /// to the store, so a run can skip the metadata request for objects that do
    /// not exist yet.
    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, HashSet<String>>;
    /// Writes an object whole.
    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        headers: &'a ObjectHeaders,
    ) -> StoreFuture<'a, ()>;
    /// When the object was last written (S3 `LastModified`, a file's mtime).
    fn last_modified<'a>(&'a self, key: &'a str) -> StoreFuture<'a, DateTime<Utc>>;
    /// Deletes an object; deleting one that is not there succeeds.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
    /// Reads a small object whole (a previous run report), `None` when it does not exist.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move { Ok(self.get_tagged(key).await?.map(|(bytes, _)| bytes)) })
    }
    /// Reads a small object whole with its `ETag`, `None` when it does not exist.
    fn get_tagged<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Tagged>>;
    /// Writes an object only if `precondition` holds, returning its new `ETag`;
    /// [`StoreError::PreconditionFailed`] when it does not.
    fn put_if<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        headers: &'a ObjectHeaders,
        precondition: Precondition,
    ) -> StoreFuture<'a, String>;
    /// Writes each of `puts`, asking `ready` right before each, and answers
    /// for each in order: S3 all at once, each a request of its own
    /// ([`put_each`]); the local directory, whose writes cost a hand-off to a
    /// blocking thread each, one after another in one hand-off.
    fn put_all(&self, puts: Vec<Put>, ready: Ready) -> BoxFuture<'_, Vec<Result<(), StoreError>>>;
    /// Whether [`ObjectMeta::cache_control`] reflects what was stored.
    fn keeps_headers(&self) -> bool;
    /// Checks that the store exists and can be reached, before any work is done
    /// for it (a missing bucket is one clear error, not one per chart).
    fn check(&self) -> StoreFuture<'_, ()>;
    /// Makes every write made so far durable, before the chart state that
    /// vouches for them is written: S3 answers a write once it is durable
    /// (nothing to do); a local directory writes its charts without a sync
    /// each ([`BlockingStore::put_all_now`]) and syncs them here, its file
    /// system at once.
    fn sync(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    /// The store's calls made on the calling thread, for a store whose calls
    /// are plain file calls (the local directory); `None` for one whose
    /// calls are requests (S3).
    fn blocking(&self) -> Option<&dyn BlockingStore> {
        None
    }
}

/// A store whose calls are plain file calls, made on the thread that asks:
/// a drawing thread writes the chart it drew itself, with no hand-off of its
/// bytes to another thread and back, and no third busy thread beside the
/// drawing ones (the files cost CPU on the same cores either way).
pub trait BlockingStore: Send + Sync {
    /// [`Store::head`], here and now.
    fn head_now(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    /// [`Store::put_all`], here and now: `ready` is asked right before each
    /// write's file calls, and an error there writes nothing of that object.
    /// A write is whole when it lands (no reader, and no kill, sees half of
    /// one), durable once [`Store::sync`] returns: no sync each, which on a
    /// disk would keep a drawing thread waiting for the device.
    fn put_all_now(
        &self,
        puts: Vec<Put>,
        ready: &dyn Fn() -> Result<(), String>,
    ) -> Vec<Result<(), StoreError>>;
}

/// [`Store::put_all`] as separate requests, all at once.
pub(crate) fn put_each(
    store: &dyn Store,
    puts: Vec<Put>,
    ready: Ready,
) -> BoxFuture<'_, Vec<Result<(), StoreError>>> {
    Box::pin(futures::future::join_all(puts.into_iter().map(
        move |put| {
            let ready = ready.clone();
            async move {
                ready().map_err(|message| not_written(store, &put.key, message))?;
                match put.precondition {
                    Some(precondition) => store
                        .put_if(&put.key, put.body, &put.headers, precondition)
                        .await
                        .map(drop),
                    None => store.put(&put.key, put.body, &put.headers).await,
                }
            }
        },
    )))
}

/// Where a run reads or writes: a local directory or an S3 bucket and prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// `s3://bucket[/prefix]` or a directory path.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.len() < 3
                    || bucket.len() > 63
                    || !bucket.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
                    })
                {
                    return Err(format!(
                        "{text:?}: {bucket:?} is not a valid S3 bucket name"
                    ));
                }
                Ok(Location::S3 {
                    bucket: bucket.to_string(),
                    prefix: normalize_prefix(prefix),
                })
            }
            None if text.is_empty() => Err("an empty path is not a location".into()),
            None => Ok(Location::Local(PathBuf::from(text))),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// `a/b` -> `a/b/`, `` -> ``, `/a//` -> `a/`.
pub(crate) fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

/// Opens the stores of one process. Every S3 store it opens shares one SDK
/// client (one connection pool, one credentials cache, one retry counter) per
/// distinct [`s3::S3Options`]: the source and the destination share one, and
/// so does every scaled-out step a warm Lambda serves. Only a source bucket in
/// another region (`SOURCE_BUCKET_REGION`) gets a second, since a client's
/// region is fixed when it is built.
#[derive(Debug, Clone, Default)]
pub struct Connector {
    retries: s3::RetryCounter,
    clients: Arc<tokio::sync::Mutex<Vec<(s3::S3Options, aws_sdk_s3::Client)>>>,
}

impl Connector {
    /// A store for `location`; an S3 one reuses the client built for `options`.
    pub(crate) async fn open(
        &self,
        location: &Location,
        options: &s3::S3Options,
    ) -> Arc<dyn Store> {
        match location {
            Location::Local(root) => Arc::new(local::LocalStore::new(root.clone())),
            Location::S3 { bucket, prefix } => Arc::new(s3::S3Store::new(
                self.client(options).await,
                bucket.clone(),
                prefix.clone(),
                self.retries.clone(),
                options.read_part_bytes,
            )),
        }
    }

    async fn client(&self, options: &s3::S3Options) -> aws_sdk_s3::Client {
        let mut clients = self.clients.lock().await;
        if let Some((_, client)) = clients.iter().find(|(o, _)| o == options) {
            return client.clone();
        }
        let client = s3::client(options, self.retries.clone()).await;
        clients.push((options.clone(), client.clone()));
        client
    }

    /// Requests sent again (by the SDK's retry policy, or a ranged read
    /// resumed) by every store this opened, since the process started.
    pub(crate) fn retries(&self) -> u64 {
        self.retries.retries()
    }

    /// How many SDK clients were built (one, unless regions differ).
    #[cfg(test)]
    async fn clients(&self) -> usize {
        self.clients.lock().await.len()
    }
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The user-metadata key the SHA-256 of a chart is stored under on S3
/// (`x-amz-meta-sha256`).
pub(crate) const SHA256_METADATA: &str = "sha256";

#[cfg(test)]
mod tests {
    use super::*;

    // One S3 client per process: the source, the destination and a work
    // location share one; only another region needs its own.
    #[tokio::test]
    async fn the_stores_of_a_process_share_one_client() {
        let connector = Connector::default();
        let options = s3::S3Options::default();
        let at = |bucket: &str| Location::S3 {
            bucket: bucket.into(),
            prefix: String::new(),
        };
        connector.open(&at("source"), &options).await;
        connector.open(&at("charts"), &options).await;
        connector.open(&at("charts"), &options).await;
        assert_eq!(connector.clients().await, 1);
        let elsewhere = s3::S3Options {
            region: Some("eu-west-1".into()),
            ..options
        };
        connector.open(&at("source"), &elsewhere).await;
        assert_eq!(connector.clients().await, 2);
    }

    #[test]
    fn locations_parse() {
        let cases: &[(&str, Result<Location, ()>)] = &[
            (
                "s3://my-bucket",
                Ok(Location::S3 {
                    bucket: "my-bucket".into(),
                    prefix: String::new(),
                }),
            ),
            (
                "s3://my-bucket/",
                Ok(Location::S3 {
                    bucket: "my-bucket".into(),
                    prefix: String::new(),
                }),
            ),
            (
                "s3://my-bucket/a/b",
                Ok(Location::S3 {
                    bucket: "my-bucket".into(),
                    prefix: "a/b/".into(),
                }),
            ),
            ("./out", Ok(Location::Local("./out".into()))),
            ("s3://AB", Err(())),
            ("s3://Upper-Case", Err(())),
            ("", Err(())),
        ];
        for (text, want) in cases {
            assert_eq!(Location::parse(text).map_err(|_| ()), *want, "case {text}");
        }
    }

    #[test]
    fn sha256_matches_a_known_digest() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
