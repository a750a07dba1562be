//! Shared helpers: the S3 test server, fixtures, and checks on written charts.

#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;

pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key";
pub const SOURCE_BUCKET: &str = "source-bucket";
pub const CHARTS_BUCKET: &str = "charts-bucket";

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn data(name: &str) -> PathBuf {
    repo().join("tests/data").join(name)
}

/// gzip `bytes` as two members split mid-way, as a concatenated export would be.
pub fn gzip_two_members(bytes: &[u8]) -> Vec<u8> {
    let (a, b) = bytes.split_at(bytes.len() / 2);
    let mut out = Vec::new();
    for part in [a, b] {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(part).unwrap();
        out.extend(enc.finish().unwrap());
    }
    out
}

/// Faults to inject in front of the S3 server, chosen per request.
#[derive(Debug, Default)]
pub struct Faults {
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
    /// Responses about keys containing the text carry an ETag that is not the
    /// MD5 of the object, as under SSE-KMS or after a multipart upload.
    pub non_md5_etags_of: Option<String>,
    /// Counters of what was injected.
    pub injected: usize,
    put_keys: std::collections::HashSet<String>,
}

pub type SharedFaults = std::sync::Arc<std::sync::Mutex<Faults>>;

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
        if method == http::Method::GET {
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

type BoxBody =
    http_body_util::combinators::BoxBody<bytes::Bytes, Box<dyn std::error::Error + Send + Sync>>;

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
async fn faulty_call(
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

/// Replaces the ETag of a response with one that is no MD5 of anything.
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

/// A real S3-compatible server (s3s-fs) on 127.0.0.1, serving a temp directory,
/// with signed requests checked against one key pair, behind a fault layer.
pub struct S3Server {
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
    pub faults: SharedFaults,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Server {
    pub async fn start(buckets: &[&str]) -> S3Server {
        let root = tempfile::tempdir().unwrap();
        for b in buckets {
            std::fs::create_dir(root.path().join(b)).unwrap();
        }
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let faults = SharedFaults::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = faults.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                let faults = shared.clone();
                let faulty =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let service = service.clone();
                        let faults = faults.clone();
                        async move { faulty_call(&service, &faults, req).await }
                    });
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), faulty)
                        .await;
                });
            }
        });
        S3Server {
            addr,
            root,
            faults,
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn client(&self) -> Client {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .force_path_style(true)
            .build();
        Client::from_conf(config)
    }

    /// The environment a process needs to reach this server through the SDK's
    /// default chain.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/nonexistent".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
        ]
    }

    pub async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.client()
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let out = self
            .client()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        out.body.collect().await.unwrap().into_bytes().to_vec()
    }

    /// Every key in a bucket, sorted.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let out = self
            .client()
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        let mut keys: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        keys.sort();
        keys
    }

    /// The keys a run published: everything but the lease it held
    /// (`reports/lease.json`, left behind released).
    pub async fn published(&self, bucket: &str) -> Vec<String> {
        let mut keys = self.keys(bucket).await;
        keys.retain(|k| k != "reports/lease.json");
        keys
    }

    /// Writes a sample export (`author-stats sample-data`) of `posts` posts by
    /// `authors` authors and uploads both files to the source bucket. The
    /// returned directory holds the files, for a local run to compare with.
    pub async fn put_sample(&self, posts: usize, authors: usize) -> tempfile::TempDir {
        let export = tempfile::tempdir().unwrap();
        let made = author_stats(
            &[
                "sample-data",
                export.path().to_str().unwrap(),
                "--posts",
                &posts.to_string(),
                "--authors",
                &authors.to_string(),
            ],
            &[],
        )
        .await;
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        for key in [
            "contentful/all-blog-posts.jsonl.gz",
            "contentful/authorProfile.jsonl.gz",
        ] {
            let bytes = std::fs::read(export.path().join(key)).unwrap();
            self.put(SOURCE_BUCKET, key, bytes).await;
        }
        export
    }

    /// Uploads the committed fixtures, gzipped (two members) like the real export.
    pub async fn put_fixtures(&self) {
        let posts = std::fs::read(data("posts.jsonl")).unwrap();
        let authors = std::fs::read(data("authors.jsonl")).unwrap();
        self.put(
            SOURCE_BUCKET,
            "contentful/all-blog-posts.jsonl.gz",
            gzip_two_members(&posts),
        )
        .await;
        self.put(
            SOURCE_BUCKET,
            "contentful/authorProfile.jsonl.gz",
            gzip_two_members(&authors),
        )
        .await;
    }
}

/// Copies the fixtures into `dir/contentful/` (posts plain, authors gzipped).
pub fn local_fixtures(dir: &Path) {
    let c = dir.join("contentful");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::copy(data("posts.jsonl"), c.join("all-blog-posts.jsonl.gz")).unwrap();
    let authors = std::fs::read(data("authors.jsonl")).unwrap();
    std::fs::write(c.join("authorProfile.jsonl.gz"), gzip_two_members(&authors)).unwrap();
}

/// The files a run published under a local destination: everything but its
/// lock file (`reports/lease.json`, left behind released) and the empty
/// `reports/` folder that holds it.
pub fn published_files(dest: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dest, &mut files);
    files.retain(|f| !f.ends_with("reports/lease.json"));
    files
}

/// An external tool a test needs (the Lambda runtime emulator, Chromium):
/// `override_var` names it, else `default`. When it is missing, a plain
/// `cargo test` skips the test and says what is missing and how to get it; under
/// `./scripts/test.sh` (which sets `AUTHOR_STATS_REQUIRE_TOOLS`, as CI does) a
/// missing tool fails the test.
pub fn tool(what: &str, override_var: &str, default: PathBuf) -> Option<PathBuf> {
    let path = std::env::var_os(override_var)
        .map(PathBuf::from)
        .unwrap_or(default);
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "{what} is not at {}: run ./scripts/test.sh (it installs it) or set {override_var}",
        path.display()
    );
    if std::env::var_os("AUTHOR_STATS_REQUIRE_TOOLS").is_some() {
        panic!("{message}");
    }
    eprintln!("skipped: {message}");
    None
}

/// Runs the `author-stats` binary with `args` and extra environment.
pub async fn author_stats(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_author-stats"));
    cmd.args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

/// The report a run printed.
pub fn report_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not a report ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The report of a run that must have succeeded, checked to reconcile.
pub fn ok_report(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "the run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = report_of(out);
    assert_reconciles(&report);
    report
}

/// Asserts the reconciliation every report promises.
pub fn assert_reconciles(report: &serde_json::Value) {
    let a = &report["authors"];
    let n = |k: &str| a[k].as_u64().unwrap();
    assert_eq!(
        n("active"),
        n("published")
            + n("unchanged")
            + n("skipped")
            + n("failed")
            + n("undone")
            + n("not_published"),
        "report does not reconcile: {a}"
    );
    assert_eq!(
        n("skipped") as usize,
        report["skipped"].as_array().unwrap().len()
    );
    assert_eq!(
        n("failed") as usize,
        report["failed"].as_array().unwrap().len()
    );
    assert_eq!(
        n("undone") as usize,
        report["undone"].as_array().unwrap().len()
    );
}

/// Decodes a PNG (every pixel) into its size and RGB(A) bytes.
pub fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG pixels decode");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Decodes a PNG, returning its size.
pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    let (w, h, _) = decode_png(bytes);
    (w, h)
}

/// The expected series of the fixture authors, as `(month, posts)`.
pub fn sato_taro_series() -> Vec<(String, u64)> {
    [
        ("2025-08", 1),
        ("2025-09", 0),
        ("2025-10", 0),
        ("2025-11", 2),
    ]
    .iter()
    .map(|(m, n)| (m.to_string(), *n))
    .collect()
}

pub fn jane_doe_series() -> Vec<(String, u64)> {
    let mut v = vec![("2025-01".to_string(), 1)];
    for m in 2..=10 {
        v.push((format!("2025-{m:02}"), 0));
    }
    v.push(("2025-11".to_string(), 2));
    v
}

pub fn series_of(json: &serde_json::Value) -> Vec<(String, u64)> {
    json["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["month"].as_str().unwrap().to_string(),
                m["posts"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The nightly and backfill windows of the fixtures, as flags.
pub const NIGHTLY: &[&str] = &["--lookback-days", "7", "--as-of", "2025-11-25T17:45:00Z"];
pub const BACKFILL: &[&str] = &["--lookback-days", "5475", "--as-of", "2025-11-25T17:45:00Z"];

/// The arguments of `author-stats run` from the test server's source bucket to
/// its charts bucket. The fixtures have two bad lines in sixteen, so the
/// bad-line limit is raised.
pub fn s3_run_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "--source",
        "s3://source-bucket",
        "--dest",
        "s3://charts-bucket",
        "--s3-force-path-style",
        "--max-bad-share",
        "0.2",
    ];
    args.extend_from_slice(extra);
    args
}

/// `author-stats run` from the test server's source bucket to its charts bucket.
pub async fn run_s3(server: &S3Server, extra: &[&str]) -> Output {
    author_stats(&s3_run_args(extra), &server.env()).await
}

/// Where the test server keeps `key` of `bucket`: its HEAD answer.
pub async fn head(
    server: &S3Server,
    bucket: &str,
    key: &str,
) -> aws_sdk_s3::operation::head_object::HeadObjectOutput {
    server
        .client()
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
}

/// `author-stats run` between two local directories, with the same raised limit.
pub async fn run_local(src: &Path, dest: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--source",
        src.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
        "--max-bad-share",
        "0.2",
    ];
    args.extend_from_slice(extra);
    author_stats(&args, &[]).await
}
