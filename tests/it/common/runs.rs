//! `author-stats` runs (as a child process, as in production) and the checks
//! on the reports they print.

use std::path::Path;
use std::process::Output;

use super::s3_server::S3Server;

/// Every file below `root`, as paths relative to it (keys of a local store), sorted.
pub(crate) fn files_under(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let key = path.strip_prefix(root).unwrap().to_string_lossy();
                out.push(key.to_string());
            }
        }
    }
    let mut files = Vec::new();
    walk(root, root, &mut files);
    files.sort();
    files
}

/// The files a run published under a local destination: everything but its
/// lock file (`reports/lease.json`, left behind released), relative to it.
pub(crate) fn published_files(dest: &Path) -> Vec<String> {
    let mut files = files_under(dest);
    files.retain(|f| f != "reports/lease.json");
    files
}

/// Runs the `author-stats` binary with `args` and extra environment.
pub(crate) async fn author_stats(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_author-stats"));
    cmd.args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

/// `author-stats sample-data DIR --posts N --authors N [extra]`, which must succeed.
pub(crate) async fn sample_data(dir: &Path, posts: usize, authors: usize, extra: &[&str]) {
    let (posts, authors) = (posts.to_string(), authors.to_string());
    let dir = dir.to_str().unwrap();
    let args = [
        &["sample-data", dir, "--posts", &posts, "--authors", &authors][..],
        extra,
    ]
    .concat();
    let made = author_stats(&args, &[]).await;
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
}

/// The report a run printed.
pub(crate) fn report_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not a report ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The report of a run that must have succeeded, checked to reconcile.
pub(crate) fn ok_report(out: &Output) -> serde_json::Value {
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
pub(crate) fn assert_reconciles(report: &serde_json::Value) {
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

/// The nightly and backfill windows of the fixtures, as flags.
pub(crate) const NIGHTLY: &[&str] = &["--lookback-days", "7", "--as-of", "2025-11-25T17:45:00Z"];
pub(crate) const BACKFILL: &[&str] =
    &["--lookback-days", "5475", "--as-of", "2025-11-25T17:45:00Z"];

/// The arguments of `author-stats run` from the test server's source bucket to
/// its charts bucket, at the default limits.
pub(crate) fn s3_run_args_strict<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "--source",
        "s3://source-bucket",
        "--dest",
        "s3://charts-bucket",
        "--s3-force-path-style",
    ];
    args.extend_from_slice(extra);
    args
}

/// [`s3_run_args_strict`] for the fixtures, which have two bad lines in
/// sixteen: the bad-line limit is raised.
pub(crate) fn s3_run_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = s3_run_args_strict(&["--max-bad-share", "0.2"]);
    args.extend_from_slice(extra);
    args
}

/// `author-stats run` from the test server's source bucket to its charts bucket.
pub(crate) async fn run_s3(server: &S3Server, extra: &[&str]) -> Output {
    author_stats(&s3_run_args(extra), &server.env()).await
}

/// Where the test server keeps `key` of `bucket`: its HEAD answer.
pub(crate) async fn head(
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

/// Asserts that the charts bucket holds nothing a run published.
pub(crate) async fn assert_nothing_published(server: &S3Server) {
    // A refused run's own report (`reports/run-*.json`) is not a publication.
    let mut published = server.published(super::CHARTS_BUCKET).await;
    published.retain(|k| !k.starts_with("reports/run-"));
    assert!(published.is_empty(), "published: {published:?}");
}

/// `author-stats run` between two local directories, with the same raised limit.
pub(crate) async fn run_local(src: &Path, dest: &Path, extra: &[&str]) -> Output {
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

/// What two runs of the same input must agree on, whatever their timing.
pub(crate) fn report_counts(report: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "authors": report["authors"],
        "posts": {
            "counted": report["posts"]["counted"],
            "unpublished": report["posts"]["unpublished"],
            "future": report["posts"]["future"],
            "orphans": report["posts"]["orphans"]["count"],
        },
        "lines": report["posts_file"]["lines"],
        "records": report["posts_file"]["records"],
    })
}

/// Every chart and chart data file under `dir`'s charts prefix, with its bytes.
pub(crate) fn chart_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let root = dir.join("author-monthly-stats");
    let mut out: Vec<(String, Vec<u8>)> = files_under(&root)
        .into_iter()
        .filter(|name| name.ends_with(".png") || name.ends_with(".json"))
        .map(|name| {
            let bytes = std::fs::read(root.join(&name)).unwrap();
            (name, bytes)
        })
        .collect();
    out.sort();
    out
}
