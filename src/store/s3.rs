//! S3 as a store, through `aws-sdk-s3` with `aws-config`'s default chain, so the
//! standard variables (`AWS_REGION`, `AWS_ENDPOINT_URL`, credentials) apply.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use tokio_util::io::StreamReader;

mod ranged;
use super::{
    ObjectHeaders, ObjectMeta, ObjectReader, Precondition, SHA256_METADATA, Store, StoreError,
    StoreFuture, Tagged, sha256_hex,
};

/// Client settings beyond the SDK's own environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Options {
    /// Path-style addressing, for S3-compatible servers (`S3_FORCE_PATH_STYLE`).
    pub force_path_style: bool,
    /// Size of the ranged GETs an object is read in (`S3_READ_PART_MIB`).
    pub read_part_bytes: u64,
    /// Longest wait for one attempt's response (`S3_ATTEMPT_TIMEOUT_SECONDS`):
    /// a request whose answer never comes is retried instead of hanging the run.
    pub attempt_timeout: Duration,
    /// Longest time for one call, retries included (`S3_OPERATION_TIMEOUT_SECONDS`).
    pub operation_timeout: Duration,
    /// The bucket's region when it is not the default chain's
    /// (`SOURCE_BUCKET_REGION`): the Rust SDK does not follow S3's 301 to it.
    pub region: Option<String>,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            force_path_style: false,
            read_part_bytes: DEFAULT_READ_PART_MIB * MIB,
            attempt_timeout: Duration::from_secs(DEFAULT_ATTEMPT_TIMEOUT_SECONDS),
            operation_timeout: Duration::from_secs(DEFAULT_OPERATION_TIMEOUT_SECONDS),
            region: None,
        }
    }
}

/// An attempt that has not answered in 20 s is stuck: an 8 MiB range arrives in
/// well under a second inside a region, and a chart PUT is a few dozen KB.
pub(crate) const DEFAULT_ATTEMPT_TIMEOUT_SECONDS: u64 = 20;
/// Three attempts with backoff fit in 90 s; ten of those in a row would still
/// leave most of a 900 s function.
pub(crate) const DEFAULT_OPERATION_TIMEOUT_SECONDS: u64 = 90;

pub(crate) const MIB: u64 = 1024 * 1024;
/// Default part size of ranged reads: AWS's guidance for byte-range fetches is 8-16 MB.
pub(crate) const DEFAULT_READ_PART_MIB: u64 = 8;

/// Counts operations and attempts, so a run can report how many requests the
/// SDK's retry policy sent again (attempts - operations).
#[derive(Debug, Clone, Default)]
pub struct RetryCounter {
    operations: Arc<AtomicU64>,
    attempts: Arc<AtomicU64>,
    /// Ranged reads resumed after a dropped connection (outside the SDK's policy).
    resumes: Arc<AtomicU64>,
}

impl RetryCounter {
    pub fn retries(&self) -> u64 {
        self.attempts
            .load(Ordering::Relaxed)
            .saturating_sub(self.operations.load(Ordering::Relaxed))
            + self.resumes.load(Ordering::Relaxed)
    }

    /// A ranged read resumed after its connection dropped: a retry the SDK did not see.
    pub(crate) fn count_resume(&self) {
        self.resumes.fetch_add(1, Ordering::Relaxed);
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Intercept for RetryCounter {
    fn name(&self) -> &'static str {
        "RetryCounter"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.operations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Builds a client from the default chain, counting retries into `retries`.
pub async fn client(options: &S3Options, retries: RetryCounter) -> Client {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // The timeouts bound the wait for a response's headers; a body that stalls
    // mid-stream is caught by the SDK's stalled-stream protection (on by default)
    // and, above both, by the run's deadline.
    let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(options.attempt_timeout)
        .operation_timeout(options.operation_timeout)
        .build();
    let mut builder = aws_sdk_s3::config::Builder::from(&shared);
    if let Some(region) = &options.region {
        builder = builder.region(aws_sdk_s3::config::Region::new(region.clone()));
    }
    let config = builder
        .force_path_style(options.force_path_style)
        .timeout_config(timeouts)
        .interceptor(retries)
        .build();
    Client::from_conf(config)
}

#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    retries: RetryCounter,
    read_part_bytes: u64,
}

impl S3Store {
    /// `prefix` is empty or ends with `/`; keys are appended to it. `retries` is
    /// the counter the client was built with.
    pub fn new(
        client: Client,
        bucket: String,
        prefix: String,
        retries: RetryCounter,
        read_part_bytes: u64,
    ) -> Self {
        S3Store {
            client,
            bucket,
            prefix,
            retries,
            read_part_bytes,
        }
    }

    fn ranged_source(&self, key: &str) -> ranged::Source {
        ranged::Source::new(
            self.client.clone(),
            self.bucket.clone(),
            self.key(key),
            self.describe(key),
            self.retries.clone(),
        )
    }

    /// A PUT of `body` with its headers and its SHA-256 as user metadata, so
    /// the next run can tell an identical chart without trusting the `ETag` to be
    /// an MD5.
    fn put_request(
        &self,
        key: &str,
        body: Vec<u8>,
        headers: &ObjectHeaders,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        let sha256 = headers
            .sha256_hex
            .clone()
            .unwrap_or_else(|| sha256_hex(&body));
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .content_type(headers.content_type)
            .set_cache_control(headers.cache_control.clone())
            .metadata(SHA256_METADATA, sha256)
            .body(ByteStream::from(body))
    }

    fn head_request(
        &self,
        key: &str,
    ) -> aws_sdk_s3::operation::head_object::builders::HeadObjectFluentBuilder {
        self.client
            .head_object()
            .bucket(&self.bucket)
            .key(self.key(key))
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn classify<E>(&self, key: &str, err: SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let location = self.describe(key);
        // A HEAD answer has no body, so no error code: its status says it.
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_string).or_else(|| match status {
            Some(403) => Some("AccessDenied".to_string()),
            Some(404) => Some("NotFound".to_string()),
            _ => None,
        });
        let message = match (err.message(), status) {
            (Some(m), _) => m.to_string(),
            (None, Some(status)) => format!("HTTP {status} without an error body"),
            (None, None) => aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
        };
        match code.as_deref() {
            Some("NoSuchKey" | "NotFound") => StoreError::NotFound { location },
            Some("NoSuchBucket") => StoreError::NoSuchBucket {
                bucket: self.bucket.clone(),
            },
            Some("AccessDenied" | "Forbidden" | "InvalidAccessKeyId" | "SignatureDoesNotMatch") => {
                StoreError::AccessDenied { location, message }
            }
            _ => StoreError::Failed { location, message },
        }
    }
}

impl Store for S3Store {
    fn describe(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(key))
    }

    fn open<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ObjectReader> {
        Box::pin(async move {
            let part = self.read_part_bytes.max(1);
            let source = self.ranged_source(key);
            let whole =
                |out: GetObjectOutput| Ok(Box::pin(out.body.into_async_read()) as ObjectReader);
            let out = match source.get(Some(&(0..part)), None).await {
                Ok(out) => out,
                // An empty object has no byte 0 to ask for: read it whole.
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                    let out = source
                        .get(None, None)
                        .await
                        .map_err(|e| self.classify(key, e))?;
                    return whole(out);
                }
                Err(e) => return Err(self.classify(key, e)),
            };
            // A server that ignores Range answers 200 with the whole object.
            let Some(total) = out.content_range().and_then(ranged::total_size) else {
                return whole(out);
            };
            let etag = out.e_tag().map(str::to_string);
            let first_range = 0..part.min(total);
            let later = ranged::later_parts(total, part);
            tracing::debug!(
                object = %source.location(),
                bytes = total,
                parts = later.len() + 1,
                "reading in ranged parts"
            );
            let stream = ranged::object_stream(source, etag, out.body, first_range, later);
            Ok(Box::pin(StreamReader::new(stream)) as ObjectReader)
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<ObjectMeta>> {
        Box::pin(async move {
            match self.head_request(key).send().await {
                Ok(out) => Ok(Some(ObjectMeta {
                    // The checksum the object was written with; an object without
                    // one (written by something else) never matches and is re-put.
                    sha256_hex: out
                        .metadata()
                        .and_then(|m| m.get(SHA256_METADATA))
                        .map(|h| h.to_ascii_lowercase()),
                    cache_control: out.cache_control().map(str::to_string),
                    content_type: out.content_type().map(str::to_string),
                    etag: out.e_tag().map(str::to_string),
                })),
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                    let err = self.classify(key, e);
                    match err {
                        StoreError::NoSuchBucket { .. } => Err(err),
                        _ => Ok(None),
                    }
                }
                Err(e) => Err(self.classify(key, e)),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, HashSet<String>> {
        Box::pin(async move {
            let mut keys = HashSet::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(self.key(prefix))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.classify(prefix, e))?;
                for object in page.contents() {
                    if let Some(key) = object
                        .key()
                        .and_then(|k| k.strip_prefix(self.prefix.as_str()))
                    {
                        keys.insert(key.to_string());
                    }
                }
            }
            Ok(keys)
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        headers: &'a ObjectHeaders,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let sent = self.put_request(key, body, headers).send().await;
            sent.map(drop).map_err(|e| self.classify(key, e))
        })
    }

    fn last_modified<'a>(&'a self, key: &'a str) -> StoreFuture<'a, DateTime<Utc>> {
        Box::pin(async move {
            let out = self
                .head_request(key)
                .send()
                .await
                .map_err(|e| self.classify(key, e))?;
            out.last_modified()
                .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
                .ok_or_else(|| StoreError::Failed {
                    location: self.describe(key),
                    message: "the object has no Last-Modified time".into(),
                })
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(self.key(key))
                .send()
                .await
                .map_err(|e| self.classify(key, e))?;
            Ok(())
        })
    }

    fn get_tagged<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Tagged>> {
        Box::pin(async move {
            let out = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(self.key(key))
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    return match self.classify(key, e) {
                        StoreError::NotFound { .. } => Ok(None),
                        other => Err(other),
                    };
                }
            };
            let tag = out.e_tag().unwrap_or_default().to_string();
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| StoreError::Failed {
                    location: self.describe(key),
                    message: e.to_string(),
                })?
                .into_bytes()
                .to_vec();
            Ok(Some((bytes, tag)))
        })
    }

    fn put_if<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        headers: &'a ObjectHeaders,
        precondition: Precondition,
    ) -> StoreFuture<'a, String> {
        Box::pin(async move {
            let request = self.put_request(key, body, headers);
            let request = match precondition {
                Precondition::Absent => request.if_none_match("*"),
                Precondition::ETag(tag) => request.if_match(tag),
            };
            match request.send().await {
                Ok(out) => Ok(out.e_tag().unwrap_or_default().to_string()),
                // 412: the precondition failed; 409: a concurrent conditional
                // write to the same key won the race.
                Err(e)
                    if e.raw_response()
                        .is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) =>
                {
                    Err(StoreError::PreconditionFailed {
                        location: self.describe(key),
                    })
                }
                Err(e) => Err(self.classify(key, e)),
            }
        })
    }

    fn put_all(
        &self,
        puts: Vec<super::Put>,
        ready: super::Ready,
    ) -> futures::future::BoxFuture<'_, Vec<Result<(), StoreError>>> {
        super::put_each(self, puts, ready)
    }

    fn keeps_headers(&self) -> bool {
        true
    }

    fn check(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            match self.client.head_bucket().bucket(&self.bucket).send().await {
                Ok(_) => Ok(()),
                Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
                    // A bucket that does not exist answers 404 to anyone.
                    Some(404) => Err(StoreError::NoSuchBucket {
                        bucket: self.bucket.clone(),
                    }),
                    // HeadBucket needs s3:ListBucket, which the function's role has
                    // only for its own prefixes; a 403 says nothing about the bucket.
                    Some(403) => Ok(()),
                    _ => Err(self.classify("", e)),
                },
            }
        })
    }
}
