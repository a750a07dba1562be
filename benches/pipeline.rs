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

const AS_OF: &str = "2025-11-25T17:45:00Z";
/// The per-connection pace of the S3-like server runs.
const PACED_BYTES_PER_S: f64 = 85e6;

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

/// Where the local-dir runs write: `BENCH_OUT_DIR`, else tmpfs (`/dev/shm`)
/// where there is one, else `target/bench`. Each repeat empties its directory
/// first, and on this machine's ext4 allocating inodes next to thousands just
/// deleted costs seconds of kernel time (backfill 1.3 s on tmpfs, 3.3 s on
/// ext4 right after a delete; see docs/performance.md): that is the disk, not
/// the program.
fn out_root(work: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("BENCH_OUT_DIR") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        return shm.join("author-stats-bench");
    }
    work.to_path_buf()
}

struct Measured {
    wall_s: f64,
    /// CPU time of the run (user + system) and, over the same span, of this
    /// process, which hosts the S3 server.
    cpu_s: f64,
    server_cpu_s: f64,
    peak_rss_mb: f64,
    report: serde_json::Value,
}

/// How many times each run is repeated (`BENCH_REPEAT`, default 3); the run
/// with the median wall time is reported, as this shared VM's speed drifts.
fn repeats() -> usize {
    std::env::var("BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(3)
}

/// Runs `run` [`repeats`] times (after `before` each time) and keeps the
/// median by wall time.
fn median_of(mut before: impl FnMut(), mut run: impl FnMut() -> Measured) -> Measured {
    let mut all: Vec<Measured> = (0..repeats())
        .map(|_| {
            before();
            run()
        })
        .collect();
    all.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    let walls: Vec<String> = all.iter().map(|m| format!("{:.2}", m.wall_s)).collect();
    eprintln!("  wall s of each repeat: {}", walls.join(", "));
    all.swap_remove(all.len() / 2)
}

/// Runs the binary and measures wall time and peak RSS (wait4's rusage, which
/// reaps the child itself).
#[allow(clippy::zombie_processes)]
fn measure(args: &[&str], env: &[(&str, String)]) -> Measured {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .args(["--log", "error"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let server_before = self_cpu_s();
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
    let pid = unsafe {
        libc::wait4(
            child.id() as libc::pid_t,
            &raw mut status,
            0,
            &raw mut usage,
        )
    };
    let wall_s = t.elapsed().as_secs_f64();
    let server_cpu_s = self_cpu_s() - server_before;
    assert_eq!(pid, child.id() as libc::pid_t);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "run failed: {args:?}"
    );
    let out = reader.join().unwrap();
    Measured {
        wall_s,
        cpu_s: cpu_s(&usage),
        server_cpu_s,
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        report: serde_json::from_slice(&out).expect("a report on stdout"),
    }
}

fn cpu_s(usage: &libc::rusage) -> f64 {
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// CPU time used so far by this process (the S3 server's threads included).
fn self_cpu_s() -> f64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) };
    cpu_s(&usage)
}

/// The shared S3 test server (`s3-test-server`) on its own runtime, which the
/// benchmark's blocking code does not run on.
struct S3 {
    server: s3_test_server::Server,
    _rt: tokio::runtime::Runtime,
}

/// A response body sent no faster than `bytes_per_s`: one S3 connection's
/// throughput, which the in-process server does not have.
fn paced(body: s3_test_server::BoxBody, bytes_per_s: f64) -> s3_test_server::BoxBody {
    use futures::StreamExt;
    use http_body_util::BodyExt;
    let start = tokio::time::Instant::now();
    let mut sent = 0u64;
    let stream = body.into_data_stream().then(move |chunk| {
        let due = chunk.as_ref().ok().map(|c| {
            sent += c.len() as u64;
            start + std::time::Duration::from_secs_f64(sent as f64 / bytes_per_s)
        });
        async move {
            if let Some(due) = due {
                tokio::time::sleep_until(due).await;
            }
            chunk.map(http_body::Frame::data)
        }
    });
    BodyExt::boxed(http_body_util::StreamBody::new(stream))
}

/// Starts the S3-compatible server with the export in `source`; with
/// `bytes_per_s`, every response body is paced to that rate.
fn start_s3(source: &Path, bytes_per_s: Option<f64>) -> S3 {
    // The server keeps its objects in memory (tmpfs) where there is one: S3's
    // storage does not run on the function's cores, and this machine's ext4
    // spends seconds of kernel time allocating inodes next to the thousands
    // deleted by the previous runs (`recently_deleted` in `perf`).
    let shm = Path::new("/dev/shm");
    let root = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let layer: s3_test_server::Layer = match bytes_per_s {
        None => s3_test_server::passthrough(),
        Some(rate) => std::sync::Arc::new(move |service, req| {
            Box::pin(async move {
                let response = s3_test_server::call(&service, req).await?;
                Ok(response.map(|body| paced(body, rate)))
            })
        }),
    };
    let server = rt.block_on(s3_test_server::Server::start(
        root,
        &["bench-source"],
        layer,
    ));
    // The export arrives through the S3 API, as the exporting system writes it,
    // so the server keeps each object's ETag instead of hashing the whole file
    // on every (ranged) GET of a file copied in behind its back.
    let client = server.client();
    for f in ["all-blog-posts.jsonl.gz", "authorProfile.jsonl.gz"] {
        // Streamed from the file: a peak in this process's memory would show up
        // in the children's peak RSS (they start as a vfork of this process).
        rt.block_on(async {
            let body =
                aws_sdk_s3::primitives::ByteStream::from_path(source.join("contentful").join(f))
                    .await
                    .unwrap();
            client
                .put_object()
                .bucket("bench-source")
                .key(format!("contentful/{f}"))
                .body(body)
                .send()
                .await
        })
        .unwrap();
    }
    S3 { server, _rt: rt }
}

impl S3 {
    fn env(&self) -> Vec<(&'static str, String)> {
        self.server.env()
    }

    /// Empties (or creates) a charts bucket.
    fn fresh_bucket(&self, name: &str) {
        self.server.fresh_bucket(name);
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
        "| {label} | {:.2} | {:.2} ({:.2}) | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} |",
        m.wall_s,
        m.cpu_s,
        m.server_cpu_s,
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

#[allow(
    clippy::too_many_lines,
    reason = "the benchmark's one script, read top to bottom"
)]
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

    let out_root = out_root(&work);
    eprintln!("local-dir runs write under {}", out_root.display());
    let mut lines = vec![
        "| run | wall s | CPU s (server) | read+parse ms | aggregate ms | draw+publish ms | draw CPU ms | charts | charts/s | MB/s unpacked | peak RSS MB | MB written | mean PNG KB |".to_string(),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |".to_string(),
    ];
    let mut results = Vec::new();
    for (data, size) in [(&one, "1x"), (&four, "4x")] {
        let s3 = start_s3(data, None);
        for (window, lookback) in [("nightly", "7"), ("backfill", "5475")] {
            if size == "4x" && window == "nightly" {
                continue;
            }
            let local = out_root.join(format!("out-{size}-{window}"));
            let common = ["--lookback-days", lookback, "--as-of", AS_OF];
            let label = format!("{window} {size}, local dir");
            eprintln!("{label}");
            let local_args = [
                &[
                    "run",
                    "--source",
                    data.to_str().unwrap(),
                    "--dest",
                    local.to_str().unwrap(),
                ],
                &common[..],
            ]
            .concat();
            // Every repeat starts from an empty destination, so it draws and
            // writes every chart.
            let m = median_of(
                || {
                    let _ = std::fs::remove_dir_all(&local);
                },
                || measure(&local_args, &[]),
            );
            lines.push(row(&label, &m));
            results.push((label, m));
            if size == "4x" {
                continue;
            }
            // The product's ranged reads, then (nightly only) the object read
            // as one stream, to show what the ranged reads buy.
            let parts: &[(&str, &str)] = if window == "nightly" {
                &[("8", ""), ("64", ", one GET stream")]
            } else {
                &[("8", "")]
            };
            for (part_mib, note) in parts {
                let bucket = format!("bench-{window}");
                let dest = format!("s3://{bucket}");
                let s3_args = [
                    &[
                        "run",
                        "--source",
                        "s3://bench-source",
                        "--dest",
                        &dest,
                        "--s3-force-path-style",
                        "--s3-read-part-mib",
                        part_mib,
                    ],
                    &common[..],
                ]
                .concat();
                let label = format!("{window} {size}, local S3 server{note}");
                eprintln!("{label}");
                let m = median_of(|| s3.fresh_bucket(&bucket), || measure(&s3_args, &s3.env()));
                lines.push(row(&label, &m));
                results.push((label, m));
            }
        }
    }

    // One S3 connection carries about 85-90 MB/s (AWS's planning figure for
    // S3 reads), which the in-process server does not: with its responses paced
    // to 85 MB/s, the nightly read as one stream and as ranged parts.
    let paced = start_s3(&one, Some(PACED_BYTES_PER_S));
    for (part_mib, note) in [("8", ""), ("64", ", one GET stream")] {
        let label = format!("nightly 1x, S3 server paced to 85 MB/s per connection{note}");
        eprintln!("{label}");
        let args = [
            "run",
            "--source",
            "s3://bench-source",
            "--dest",
            "s3://bench-paced",
            "--s3-force-path-style",
            "--s3-read-part-mib",
            part_mib,
            "--lookback-days",
            "7",
            "--as-of",
            AS_OF,
        ];
        let m = median_of(
            || paced.fresh_bucket("bench-paced"),
            || measure(&args, &paced.env()),
        );
        lines.push(row(&label, &m));
        results.push((label, m));
    }
    drop(paced);

    lines.push(String::new());
    // A run's measurement by its label (0 when it did not run).
    let measured = |label: &str, of: fn(&Measured) -> f64| {
        results
            .iter()
            .find(|(l, _)| l == label)
            .map_or(0.0, |(_, m)| of(m))
    };
    let rss = |label: &str| measured(label, |m| m.peak_rss_mb);
    let (r1, r4) = (rss("backfill 1x, local dir"), rss("backfill 4x, local dir"));
    lines.push(format!(
        "Peak RSS, backfill to a local dir: {r1:.0} MB at 1x posts, {r4:.0} MB at 4x ({:+.1}%).",
        (r4 - r1) / r1 * 100.0
    ));

    let wall = |label: &str| measured(label, |m| m.wall_s);
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
