//! REQ-OP-002: one run at a time. A run holds `reports/lease.json` (taken with a
//! conditional write on S3, a lock file on a local directory); a second run that
//! finds it live fails with `RunInProgress`, naming the holder.

use std::time::Duration;

use crate::common::*;

const AS_OF: [&str; 4] = ["--lookback-days", "5475", "--as-of", "2025-11-25T17:45:00Z"];

fn assert_in_progress(out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error [RunInProgress]"), "{stderr}");
    assert!(stderr.contains("run cli-"), "names the holder: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_runs_on_s3_one_wins() {
    let server = S3Server::with_fixtures().await;
    // The first run's read of the posts hangs for one attempt timeout (3 s),
    // holding the lease all that time.
    server.faults.lock().unwrap().hang_next_get = Some("all-blog-posts".into());
    let first = {
        let env = server.env();
        tokio::spawn(async move {
            let extra = [&AS_OF[..], &["--s3-attempt-timeout-seconds", "3"]].concat();
            author_stats(&s3_run_args(&extra), &env).await
        })
    };
    let mut held = false;
    for _ in 0..100 {
        if server.faults.lock().unwrap().injected > 0 {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(held, "the first run never reached its read");
    assert!(
        server
            .keys(CHARTS_BUCKET)
            .await
            .contains(&"reports/lease.json".to_string())
    );
    let second = run_s3(&server, &AS_OF).await;
    assert_in_progress(&second);

    let first = first.await.unwrap();
    ok_report(&first);
    let lease: serde_json::Value =
        serde_json::from_slice(&server.get(CHARTS_BUCKET, "reports/lease.json").await).unwrap();
    assert_eq!(lease["released"], true, "{lease}");
    // Released: the next run takes it over.
    ok_report(&run_s3(&server, &AS_OF).await);
}

/// The committed fixtures in a temporary source whose posts file is a named
/// pipe (a run reading it blocks until the test writes it), an empty
/// destination, and the pipe's path.
fn fixtures_with_posts_pipe() -> (tempfile::TempDir, tempfile::TempDir, std::path::PathBuf) {
    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    let dest = tempfile::tempdir().unwrap();
    let posts = src.path().join("contentful/all-blog-posts.jsonl.gz");
    std::fs::remove_file(&posts).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&posts)
        .status()
        .unwrap();
    assert!(made.success());
    (src, dest, posts)
}

/// Waits (at most 5 s) for a run to take the lock file of `dest`; its path.
async fn wait_for_lock(dest: &std::path::Path) -> std::path::PathBuf {
    let lock = dest.join("reports/lease.json");
    for _ in 0..200 {
        if lock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(lock.exists(), "the first run took no lock");
    lock
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_runs_on_a_local_dir_one_wins() {
    // The first run reads its posts from a pipe the test fills only after the
    // second run has tried: the first holds the lock file all that time.
    let (src, dest, posts) = fixtures_with_posts_pipe();
    let first = {
        let (src, dest) = (src.path().to_path_buf(), dest.path().to_path_buf());
        tokio::spawn(async move { run_local(&src, &dest, &AS_OF).await })
    };
    let lock = wait_for_lock(dest.path()).await;
    let second = run_local(src.path(), dest.path(), &AS_OF).await;
    assert_in_progress(&second);

    // Feed the pipe; the first run finishes and releases the lock.
    let fixture = std::fs::read(data("posts.jsonl")).unwrap();
    tokio::task::spawn_blocking(move || std::fs::write(&posts, fixture))
        .await
        .unwrap()
        .unwrap();
    ok_report(&first.await.unwrap());
    let lease: serde_json::Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    assert_eq!(lease["released"], true, "{lease}");

    // An expired lease of a run that was killed is taken over.
    std::fs::write(
        &lock,
        r#"{"run_id":"killed","as_of":"2025-11-25T17:45:00Z","acquired_at":"2025-11-25T17:45:00Z","expires_at":"2025-11-25T18:00:00Z"}"#,
    )
    .unwrap();
    let posts = src.path().join("contentful/all-blog-posts.jsonl.gz");
    std::fs::remove_file(&posts).unwrap();
    local_fixtures(src.path());
    ok_report(&run_local(src.path(), dest.path(), &AS_OF).await);
}

/// Starts `author-stats args` as a child the test can `kill -9`.
fn spawn_run(args: &[&str], env: &[(&str, String)]) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_author-stats"));
    cmd.args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

const TTL: [&str; 2] = ["--lease-ttl-seconds", "4"];

/// A lease record's instant `field`.
fn instant(lease: &serde_json::Value, field: &str) -> chrono::DateTime<chrono::Utc> {
    lease[field]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("{field} of {lease}"))
        .to_utc()
}

/// Waits, reading the lease object, until `done` holds for it (at most a
/// minute: a test that waits longer has failed).
async fn lease_until(
    read: &impl AsyncFn() -> Option<serde_json::Value>,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..600 {
        if let Some(lease) = read().await
            && done(&lease)
        {
            return lease;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the lease never {what}: {:?}", read().await);
}

/// The run that holds the lease is blocked. Once its lease is past its first
/// term and renewed (the lease object says so), a second run is still
/// refused. Then the holder is killed with SIGKILL, and a new run takes the
/// lease over once the last renewal's term and its allowance are past,
/// never before.
async fn live_then_killed(
    mut holder: tokio::process::Child,
    read_lease: impl AsyncFn() -> Option<serde_json::Value>,
    second: impl AsyncFn() -> std::process::Output,
    unblock: impl FnOnce(),
) {
    let first = lease_until(&read_lease, "was taken", |_| true).await;
    let first_term = instant(&first, "expires_at");
    lease_until(&read_lease, "was renewed past its first term", |l| {
        instant(l, "expires_at") > first_term && chrono::Utc::now() > first_term
    })
    .await;
    assert_in_progress(&second().await);
    holder.start_kill().unwrap();
    holder.wait().await.unwrap();
    unblock();
    let last = read_lease().await.expect("the killed run's lease");
    assert_eq!(last["run_id"], first["run_id"], "still the killed run's");
    let ttl = chrono::Duration::seconds(last["ttl_seconds"].as_i64().unwrap());
    // Expired once its term and the skew allowance (a quarter TTL) are past.
    let free_at = instant(&last, "expires_at") + ttl / 4;
    let taken = loop {
        let tried_at = chrono::Utc::now();
        let out = second().await;
        if out.status.success() {
            break out;
        }
        assert_in_progress(&out);
        assert!(
            tried_at < free_at + chrono::Duration::seconds(2),
            "still refused at {tried_at}, the lease was free at {free_at}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    ok_report(&taken);
    let next = read_lease().await.expect("the new run's lease");
    assert_ne!(next["run_id"], last["run_id"], "taken over");
    assert!(
        instant(&next, "acquired_at") >= free_at,
        "taken over at {} before the killed run's lease was free at {free_at}",
        next["acquired_at"]
    );
}

// REQ-TR-011: a run blocked on a slow read keeps its lease by renewing it
// (even past its TTL); killed with SIGKILL, it frees the lease within the TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_run_keeps_its_lease_and_a_killed_one_frees_it_on_a_local_dir() {
    let (src, dest, posts) = fixtures_with_posts_pipe();
    let (s, d) = (src.path().to_str().unwrap(), dest.path().to_str().unwrap());
    let args = |extra: &[&'static str]| {
        [
            &["run", "--source", s, "--dest", d, "--max-bad-share", "0.2"][..],
            &AS_OF,
            &TTL,
            extra,
        ]
        .concat()
    };
    let holder = spawn_run(&args(&[]), &[]);
    wait_for_lock(dest.path()).await;
    let second = async || author_stats(&args(&[]), &[]).await;
    let lease_file = dest.path().join("reports/lease.json");
    let read_lease = async || {
        let bytes = std::fs::read(&lease_file).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    live_then_killed(holder, read_lease, second, || {
        std::fs::remove_file(&posts).unwrap();
        local_fixtures(src.path());
    })
    .await;
}

// REQ-TR-011: the same on S3: the holder's read hangs, its renewals go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_run_keeps_its_lease_and_a_killed_one_frees_it_on_s3() {
    let server = S3Server::with_fixtures().await;
    server.faults.lock().unwrap().hang_next_get = Some("all-blog-posts".into());
    let holder_args = [&AS_OF[..], &TTL, &["--s3-attempt-timeout-seconds", "30"]].concat();
    let holder = spawn_run(&s3_run_args(&holder_args), &server.env());
    for _ in 0..200 {
        if server.faults.lock().unwrap().injected > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server.faults.lock().unwrap().injected > 0,
        "the first run never reached its read"
    );
    let args = [&AS_OF[..], &TTL].concat();
    let second = async || run_s3(&server, &args).await;
    let read_lease = async || {
        let keys = server.keys(CHARTS_BUCKET).await;
        if !keys.iter().any(|k| k == "reports/lease.json") {
            return None;
        }
        serde_json::from_slice(&server.get(CHARTS_BUCKET, "reports/lease.json").await).ok()
    };
    live_then_killed(holder, read_lease, second, || {}).await;
}
