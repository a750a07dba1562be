//! Reading one S3 object as several byte-range GETs in flight at once.
//!
//! One S3 connection delivers tens of MB/s; the posts export is 65 MB of gzip,
//! and the decoder behind this reader inflates it faster than one connection
//! delivers it. So the object is read in parts of `part_bytes`: the first GET
//! (`bytes=0-…`) tells the size and the `ETag`, its body is streamed to the reader
//! at once, and the remaining parts are fetched [`PARTS_IN_FLIGHT`] at a time,
//! each pinned to that `ETag` with `If-Match` and downloading on a task of its
//! own, and handed on in order. Memory is bounded by about
//! `(PARTS_IN_FLIGHT + 2) * part_bytes`.
//!
//! A connection that drops inside a part is resumed from the byte it stopped at
//! (up to [`RESUMES_PER_PART`] times); an object replaced while it is read fails
//! the read (412 on a later part) instead of mixing two exports.

use std::io;
use std::ops::Range;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use futures::channel::mpsc;
use futures::{FutureExt, SinkExt, Stream, StreamExt, TryStreamExt};
use tokio_util::task::AbortOnDropHandle;

use super::RetryCounter;

/// Parts fetched ahead of the one being read.
pub(crate) const PARTS_IN_FLIGHT: usize = 4;
/// Times a part whose connection dropped is resumed before the read fails.
pub(crate) const RESUMES_PER_PART: u32 = 2;

/// What a ranged read needs of the store it reads from.
#[derive(Clone)]
pub(super) struct Source {
    client: Client,
    bucket: String,
    /// The full object key.
    key: String,
    /// `s3://bucket/key`, for messages.
    location: String,
    /// Counts resumed parts, so the report's `s3_retries` includes them.
    retries: RetryCounter,
}

/// The object's total size from a `Content-Range: bytes a-b/total` header.
pub(crate) fn total_size(content_range: &str) -> Option<u64> {
    let (unit, rest) = content_range.trim().split_once(' ')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    rest.rsplit_once('/')?.1.parse().ok()
}

/// The ranges after the first part, in order.
pub(crate) fn later_parts(total: u64, part_bytes: u64) -> Vec<Range<u64>> {
    let mut parts = Vec::new();
    let mut start = part_bytes;
    while start < total {
        let end = (start + part_bytes).min(total);
        parts.push(start..end);
        start = end;
    }
    parts
}

/// `first-last`, inclusive, as HTTP ranges and messages show a range.
fn inclusive(range: &Range<u64>) -> String {
    format!("{}-{}", range.start, range.end - 1)
}

fn header_range(range: &Range<u64>) -> String {
    format!("bytes={}", inclusive(range))
}

impl Source {
    pub(super) fn new(
        client: Client,
        bucket: String,
        key: String,
        location: String,
        retries: RetryCounter,
    ) -> Self {
        Source {
            client,
            bucket,
            key,
            location,
            retries,
        }
    }

    /// `s3://bucket/key`, for messages.
    pub(super) fn location(&self) -> &str {
        &self.location
    }

    /// GETs `range` (the whole object when `None`), pinned to `etag` when known.
    pub(super) async fn get(
        &self,
        range: Option<&Range<u64>>,
        etag: Option<&str>,
    ) -> Result<GetObjectOutput, SdkError<GetObjectError>> {
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_range(range.map(header_range))
            .set_if_match(etag.map(str::to_string))
            .send()
            .await
    }

    fn part_error(&self, range: &Range<u64>, err: SdkError<GetObjectError>) -> io::Error {
        let status = err.raw_response().map(|r| r.status().as_u16());
        if status == Some(412) {
            return io::Error::other(format!(
                "{} changed while it was read (its ETag no longer matches at bytes {}); \
                 nothing was published, run again on the new export",
                self.location,
                inclusive(range)
            ));
        }
        io::Error::other(format!(
            "{} bytes {}: {}",
            self.location,
            inclusive(range),
            DisplayErrorContext(&err)
        ))
    }
}

struct PartState {
    source: Source,
    etag: Option<String>,
    /// Next byte to deliver, and the end of the part.
    pos: u64,
    end: u64,
    body: Option<ByteStream>,
    resumes_left: u32,
    done: bool,
}

/// The bytes of one part as they arrive. `first` is the body of a GET already
/// sent for exactly this range.
pub(crate) fn part_stream(
    source: Source,
    etag: Option<String>,
    range: Range<u64>,
    first: Option<ByteStream>,
) -> impl Stream<Item = io::Result<Bytes>> + Send {
    let state = PartState {
        source,
        etag,
        pos: range.start,
        end: range.end,
        body: first,
        resumes_left: RESUMES_PER_PART,
        done: false,
    };
    futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let item = next_chunk(&mut s).await;
        match item {
            Ok(Some(bytes)) => Some((Ok(bytes), s)),
            Ok(None) => None,
            Err(e) => {
                s.done = true;
                Some((Err(e), s))
            }
        }
    })
}

async fn next_chunk(s: &mut PartState) -> io::Result<Option<Bytes>> {
    loop {
        if s.pos >= s.end {
            return Ok(None);
        }
        let range = s.pos..s.end;
        let body = if let Some(body) = &mut s.body {
            body
        } else {
            let out = s
                .source
                .get(Some(&range), s.etag.as_deref())
                .await
                .map_err(|e| s.source.part_error(&range, e))?;
            s.body.insert(out.body)
        };
        let failure = match body.try_next().await {
            Ok(Some(bytes)) if bytes.is_empty() => continue,
            Ok(Some(bytes)) => {
                let len = bytes.len() as u64;
                if len > s.end - s.pos {
                    return Err(io::Error::other(format!(
                        "{}: the server sent more than bytes {}",
                        s.source.location,
                        inclusive(&range)
                    )));
                }
                s.pos += len;
                return Ok(Some(bytes));
            }
            Ok(None) => format!("the body ended at byte {}", s.pos),
            Err(e) => format!("{} at byte {}", DisplayErrorContext(&e), s.pos),
        };
        if s.resumes_left == 0 {
            return Err(io::Error::other(format!(
                "{}: reading bytes {} failed after {RESUMES_PER_PART} resumes: {failure}",
                s.source.location,
                inclusive(&range)
            )));
        }
        s.resumes_left -= 1;
        s.source.retries.count_resume();
        tracing::warn!(
            object = %s.source.location,
            at = s.pos,
            problem = %failure,
            "resuming a dropped S3 read"
        );
        s.body = None;
    }
}

/// The whole object, in order: the first part's body streamed as it arrives,
/// then the later parts, fetched [`PARTS_IN_FLIGHT`] ahead on their own task.
/// Must be called inside the async runtime.
pub(crate) fn object_stream(
    source: Source,
    etag: Option<String>,
    first: ByteStream,
    first_range: Range<u64>,
    later: Vec<Range<u64>>,
) -> impl Stream<Item = io::Result<Bytes>> + Send {
    let head = part_stream(source.clone(), etag.clone(), first_range, Some(first));
    // The bound keeps one finished part waiting besides those being fetched.
    let (mut tx, rx) = mpsc::channel::<io::Result<Vec<Bytes>>>(0);
    tokio::spawn(async move {
        // Each range downloads on a task of its own, so the ranges keep arriving
        // while this task waits to hand the oldest one on.
        let mut parts = futures::stream::iter(later)
            .map(|range| {
                // Aborted when dropped: the reader stopped early.
                AbortOnDropHandle::new(tokio::spawn(
                    part_stream(source.clone(), etag.clone(), range, None)
                        .try_collect::<Vec<Bytes>>(),
                ))
                .map(|joined| {
                    joined.unwrap_or_else(|e| {
                        Err(io::Error::other(format!("a range download stopped: {e}")))
                    })
                })
            })
            .buffered(PARTS_IN_FLIGHT);
        while let Some(part) = parts.next().await {
            let failed = part.is_err();
            if tx.send(part).await.is_err() || failed {
                return; // the reader stopped, or this part failed and ends the object
            }
        }
    });
    let tail = rx.flat_map(|part| {
        futures::stream::iter(match part {
            Ok(chunks) => chunks.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    });
    head.chain(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_gives_the_total() {
        assert_eq!(total_size("bytes 0-8388607/65000000"), Some(65_000_000));
        assert_eq!(total_size("bytes 0-99/100"), Some(100));
        assert_eq!(total_size("bytes */100"), Some(100));
        assert_eq!(total_size("bytes 0-99/*"), None);
        assert_eq!(total_size("items 0-99/100"), None);
        assert_eq!(total_size(""), None);
    }

    #[test]
    fn later_parts_cover_the_rest_exactly_once() {
        assert_eq!(later_parts(10, 4), vec![4..8, 8..10]);
        assert_eq!(later_parts(8, 4), vec![4..8]);
        assert_eq!(later_parts(4, 4), Vec::<Range<u64>>::new());
        assert_eq!(later_parts(3, 4), Vec::<Range<u64>>::new());
        for total in [1u64, 7, 64, 65, 1000] {
            let parts = later_parts(total, 8);
            let mut next = 8.min(total);
            for p in &parts {
                assert_eq!(p.start, next);
                assert!(p.end - p.start <= 8 && p.end > p.start);
                next = p.end;
            }
            assert_eq!(next, total);
        }
    }

    #[test]
    fn header_ranges_are_inclusive() {
        assert_eq!(header_range(&(0..8)), "bytes=0-7");
        assert_eq!(header_range(&(8..10)), "bytes=8-9");
    }
}
