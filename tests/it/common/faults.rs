//! Faults injected in front of the S3 test server, chosen per request: errors,
//! cut connections, requests that never answer, `ETags` that are no MD5.

/// Faults to inject in front of the S3 server, chosen per request.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// The first PUT of each key answers `503 SlowDown` (its retry passes).
    pub put_slowdown_first: bool,
    /// The first N GETs of a key containing the text answer `500 InternalError`.
    pub get_errors: Vec<(String, usize)>,
    /// PUTs of keys containing one of these always answer `500 InternalError`.
    pub put_always_fails: Vec<String>,
    /// GETs of keys containing the text are cut after this many body bytes.
    pub cut_get_after: Option<(String, usize)>,
    /// The next GET of a key containing the text is cut after this many body
    /// bytes; later GETs pass.
    pub cut_next_get_after: Option<(String, usize)>,
    /// GETs of keys containing the text that carry `If-Match` answer
    /// `412 PreconditionFailed`: the object was replaced since the first GET.
    pub replaced_mid_read: Option<String>,
    /// Every GET of a source object: (path, Range header, whether If-Match was sent).
    pub gets: Vec<(String, Option<String>, bool)>,
    /// Each PUT is delayed this long (a long delay is a PUT that stalls).
    pub put_delay_ms: u64,
    /// The next GET of a key containing the text never gets a response; later
    /// GETs pass.
    pub hang_next_get: Option<String>,
    /// PUTs of keys containing the text never get a response.
    pub hang_puts_of: Option<String>,
    /// DELETEs of keys containing the text never get a response.
    pub hang_deletes_of: Option<String>,
    /// Listings (`GET` with `list-type`) whose URI contains the text never
    /// get a response.
    pub hang_lists_of: Option<String>,
    /// Responses about keys containing the text carry an `ETag` that is not the
    /// MD5 of the object, as under SSE-KMS or after a multipart upload.
    pub non_md5_etags_of: Option<String>,
    /// Counters of what was injected.
    pub injected: usize,
    put_keys: std::collections::HashSet<String>,
}

pub(super) type SharedFaults = std::sync::Arc<std::sync::Mutex<Faults>>;

enum Verdict {
    Pass,
    Hang,
    Error(u16, &'static str),
    Cut(usize),
}

impl Faults {
    fn judge(&mut self, req: &http::Request<hyper::body::Incoming>) -> Verdict {
        let (method, path) = (req.method(), req.uri().path());
        if method == http::Method::GET && path.contains("/contentful/") {
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let if_match = header("if-match").is_some();
            self.gets
                .push((path.to_string(), header("range"), if_match));
            if if_match
                && let Some(key) = &self.replaced_mid_read
                && path.contains(key.as_str())
            {
                self.injected += 1;
                return Verdict::Error(412, "PreconditionFailed");
            }
            if let Some((key, n)) = &self.cut_next_get_after
                && path.contains(key.as_str())
            {
                let n = *n;
                self.cut_next_get_after = None;
                self.injected += 1;
                return Verdict::Cut(n);
            }
        }
        if method == http::Method::PUT {
            if let Some(key) = &self.hang_puts_of
                && path.contains(key.as_str())
            {
                self.injected += 1;
                return Verdict::Hang;
            }
            let first = self.put_keys.insert(path.to_string());
            if self
                .put_always_fails
                .iter()
                .any(|k| path.contains(k.as_str()))
            {
                self.injected += 1;
                return Verdict::Error(500, "InternalError");
            }
            if self.put_slowdown_first && first {
                self.injected += 1;
                return Verdict::Error(503, "SlowDown");
            }
        }
        if method == http::Method::DELETE
            && let Some(key) = &self.hang_deletes_of
            && path.contains(key.as_str())
        {
            self.injected += 1;
            return Verdict::Hang;
        }
        if method == http::Method::GET {
            let uri = req.uri().to_string();
            if let Some(text) = &self.hang_lists_of
                && uri.contains("list-type")
                && uri.contains(text.as_str())
            {
                self.injected += 1;
                return Verdict::Hang;
            }
            if let Some(key) = &self.hang_next_get
                && path.contains(key.as_str())
            {
                self.hang_next_get = None;
                self.injected += 1;
                return Verdict::Hang;
            }
            for (key, left) in &mut self.get_errors {
                if *left > 0 && path.contains(key.as_str()) {
                    *left -= 1;
                    self.injected += 1;
                    return Verdict::Error(500, "InternalError");
                }
            }
            if let Some((key, n)) = &self.cut_get_after
                && path.contains(key.as_str())
            {
                self.injected += 1;
                return Verdict::Cut(*n);
            }
        }
        Verdict::Pass
    }
}

use s3_test_server::BoxBody;

fn s3_error(status: u16, code: &str) -> http::Response<BoxBody> {
    use http_body_util::BodyExt;
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected fault</Message></Error>"
    );
    http::Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(
            http_body_util::Full::new(bytes::Bytes::from(xml))
                .map_err(|e| match e {})
                .boxed(),
        )
        .unwrap()
}

/// The body's first `limit` bytes, then an error: the connection drops mid-object.
fn cut(body: s3s::Body, limit: usize) -> BoxBody {
    use futures::StreamExt;
    use http_body_util::BodyExt;
    let mut sent = 0usize;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e })?;
        if sent >= limit {
            return Err("injected: connection cut".into());
        }
        let take = chunk.len().min(limit - sent);
        sent += take;
        Ok(http_body::Frame::data(chunk.slice(..take)))
    });
    BodyExt::boxed(http_body_util::StreamBody::new(stream))
}

/// One request through the fault layer, then (unless it fails it) the server.
pub(super) async fn faulty_call(
    service: &s3s::service::S3Service,
    faults: &SharedFaults,
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<BoxBody>, s3s::HttpError> {
    let (verdict, delay) = {
        let mut f = faults.lock().unwrap();
        let delay = if req.method() == http::Method::PUT {
            f.put_delay_ms
        } else {
            0
        };
        (f.judge(&req), delay)
    };
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let rewrite_etag = {
        let f = faults.lock().unwrap();
        f.non_md5_etags_of
            .as_ref()
            .is_some_and(|k| req.uri().path().contains(k.as_str()))
    };
    let response = faulty_response(service, verdict, req).await?;
    Ok(if rewrite_etag {
        non_md5_etag(response)
    } else {
        response
    })
}

/// Replaces the `ETag` of a response with one that is no MD5 of anything.
fn non_md5_etag(mut response: http::Response<BoxBody>) -> http::Response<BoxBody> {
    if let Some(tag) = response.headers().get("etag").cloned() {
        let mixed = format!(
            "\"{}-3\"",
            tag.to_str()
                .unwrap_or("")
                .trim_matches('"')
                .chars()
                .rev()
                .collect::<String>()
        );
        response
            .headers_mut()
            .insert("etag", http::HeaderValue::from_str(&mixed).unwrap());
    }
    response
}

async fn faulty_response(
    service: &s3s::service::S3Service,
    verdict: Verdict,
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<BoxBody>, s3s::HttpError> {
    use http_body_util::BodyExt;
    Ok(match verdict {
        Verdict::Hang => std::future::pending().await,
        Verdict::Error(status, code) => s3_error(status, code),
        Verdict::Pass => service
            .call(req.map(s3s::Body::from))
            .await?
            .map(BodyExt::boxed),
        Verdict::Cut(n) => service
            .call(req.map(s3s::Body::from))
            .await?
            .map(|b| cut(b, n)),
    })
}
