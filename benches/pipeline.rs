//! The end-to-end benchmark: the release `author-stats` binary on the default
//! sample export (and on one with 4x the posts), the nightly window and the
//! 15-year backfill, each to a local directory and to an S3-compatible server on
//! 127.0.0.1; then the Python/matplotlib yardstick on the same data and window.
//!
//! `cargo bench --bench pipeline` (see docs/performance.md). Set
//! `BENCH_YARDSTICK_BACKFILL=1` to also time the yardstick's full backfill
//! (minutes). Results are printed and written to `target/bench/results.md`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;

const AS_OF: &str = "2025-11-25T17:45:00Z";
const KEY: &str = "bench-key";
const SECRET: &str = "bench-secret";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_author-stats")
}

/// Writes the sample export once per size.
fn sample(dir: &Path, posts: usize) {
    if dir.join("contentful/all-blog-posts.jsonl.gz").exists() {
        return;
    }
    let t = Instant::now();
    let status = Command::new(bin())
        .args([
            "sample-data",
            dir.to_str().unwrap(),
            "--posts",
            &posts.to_string(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    eprintln!(
        "sample export of {posts} posts written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

struct Measured {
    wall_s: f64,
    peak_rss_mb: f64,
    report: serde_json::Value,
}

/// Runs the binary and measures wall time and peak RSS (wait4's rusage, which
/// reaps the child itself).
#[allow(clippy::zombie_processes)]
fn measure(args: &[&str], env: &[(&str, String)]) -> Measured {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .args(["--log", "warn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let t = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).unwrap();
        out
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; status and usage are valid out-pointers.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall_s = t.elapsed().as_secs_f64();
    assert_eq!(pid, child.id() as libc::pid_t);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "run failed: {args:?}"
    );
    let out = reader.join().unwrap();
    Measured {
        wall_s,
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        report: serde_json::from_slice(&out).expect("a report on stdout"),
    }
}

struct S3 {
    endpoint: String,
    root: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start_s3(source: &Path) -> S3 {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("bench-source/contentful");
    std::fs::create_dir_all(&src).unwrap();
    for f in ["all-blog-posts.jsonl.gz", "authorProfile.jsonl.gz"] {
        std::fs::copy(source.join("contentful").join(f), src.join(f)).unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
    let mut builder = s3s::service::S3ServiceBuilder::new(fs);
    builder.set_auth(s3s::auth::SimpleAuth::from_single(KEY, SECRET));
    let service = builder.build();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let _ = ConnBuilder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    S3 {
        endpoint,
        root,
        _rt: rt,
    }
}

impl S3 {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// A fresh, empty charts bucket.
    fn fresh_bucket(&self, name: &str) -> String {
        let dir = self.root.path().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        format!("s3://{name}")
    }
}

fn row(label: &str, m: &Measured) -> String {
    let r = &m.report;
    let s = &r["stages"];
    let charts =
        r["authors"]["published"].as_u64().unwrap() + r["authors"]["unchanged"].as_u64().unwrap();
    let mb = r["posts_file"]["bytes"].as_f64().unwrap() / 1e6;
    let read_s = s["read_posts_ms"].as_f64().unwrap() / 1000.0;
    format!(
        "| {label} | {:.2} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} |",
        m.wall_s,
        s["read_posts_ms"],
        s["select_ms"],
        s["draw_and_publish_ms"],
        s["draw_cpu_ms"],
        charts,
        charts as f64 / m.wall_s,
        mb / read_s.max(1e-9),
        m.peak_rss_mb,
        r["bytes_written"].as_f64().unwrap() / 1e6,
        r["mean_png_bytes"].as_f64().unwrap() / 1e3,
    )
}

/// The Python/matplotlib yardstick (bench/yardstick.py) in the tools venv.
fn yardstick(data: &Path, lookback: &str, out: &Path) -> Option<(f64, u64)> {
    let python = root().join(".tools/venv/bin/python");
    if !python.exists() {
        eprintln!(
            "yardstick skipped: {} missing (run scripts/bench.sh)",
            python.display()
        );
        return None;
    }
    let _ = std::fs::remove_dir_all(out);
    let t = Instant::now();
    let output = Command::new(python)
        .arg(root().join("bench/yardstick.py"))
        .args([
            data.to_str().unwrap(),
            out.to_str().unwrap(),
            lookback,
            AS_OF,
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "yardstick failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let charts = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    Some((t.elapsed().as_secs_f64(), charts))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benchmarks; nothing to list here
    }
    let work = root().join("target/bench");
    std::fs::create_dir_all(&work).unwrap();
    let one = work.join("data-1x");
    let four = work.join("data-4x");
    sample(&one, 60_000);
    sample(&four, 240_000);

    let mut lines = vec![
        "| run | wall s | read+parse ms | aggregate ms | draw+publish ms | draw CPU ms | charts | charts/s | MB/s unpacked | peak RSS MB | MB written | mean PNG KB |".to_string(),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |".to_string(),
    ];
    let mut results = Vec::new();
    for (data, size) in [(&one, "1x"), (&four, "4x")] {
        let s3 = start_s3(data);
        for (window, lookback) in [("nightly", "7"), ("backfill", "5475")] {
            if size == "4x" && window == "nightly" {
                continue;
            }
            let local = work.join(format!("out-{size}-{window}"));
            let _ = std::fs::remove_dir_all(&local);
            let common = ["--lookback-days", lookback, "--as-of", AS_OF];
            let m = measure(
                &[
                    &[
                        "run",
                        "--source",
                        data.to_str().unwrap(),
                        "--dest",
                        local.to_str().unwrap(),
                    ],
                    &common[..],
                ]
                .concat(),
                &[],
            );
            let label = format!("{window} {size}, local dir");
            lines.push(row(&label, &m));
            results.push((label, m));
            if size == "1x" {
                let bucket = s3.fresh_bucket(&format!("bench-{window}"));
                let m = measure(
                    &[
                        &[
                            "run",
                            "--source",
                            "s3://bench-source",
                            "--dest",
                            &bucket,
                            "--s3-force-path-style",
                        ],
                        &common[..],
                    ]
                    .concat(),
                    &s3.env(),
                );
                let label = format!("{window} {size}, local S3 server");
                lines.push(row(&label, &m));
                results.push((label, m));
            }
        }
    }

    lines.push(String::new());
    let rss = |label: &str| {
        results
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, m)| m.peak_rss_mb)
            .unwrap_or(0.0)
    };
    let (r1, r4) = (rss("backfill 1x, local dir"), rss("backfill 4x, local dir"));
    lines.push(format!(
        "Peak RSS, backfill to a local dir: {r1:.0} MB at 1x posts, {r4:.0} MB at 4x ({:+.1}%).",
        (r4 - r1) / r1 * 100.0
    ));

    let wall = |label: &str| {
        results
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, m)| m.wall_s)
            .unwrap_or(0.0)
    };
    if let Some((py_s, py_charts)) = yardstick(&one, "7", &work.join("py-nightly")) {
        let ours = wall("nightly 1x, local dir");
        lines.push(format!(
            "Yardstick (Python/matplotlib), nightly 1x: {py_s:.1} s for {py_charts} charts; ours {ours:.2} s: {:.0}x faster.",
            py_s / ours
        ));
    }
    if std::env::var_os("BENCH_YARDSTICK_BACKFILL").is_some()
        && let Some((py_s, py_charts)) = yardstick(&one, "5475", &work.join("py-backfill"))
    {
        let ours = wall("backfill 1x, local dir");
        lines.push(format!(
            "Yardstick (Python/matplotlib), backfill 1x: {py_s:.1} s for {py_charts} charts; ours {ours:.2} s: {:.0}x faster.",
            py_s / ours
        ));
    }
    let text = lines.join("\n");
    println!("{text}");
    std::fs::write(work.join("results.md"), format!("{text}\n")).unwrap();
}
