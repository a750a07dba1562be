//! Nothing lost under faults: a fault layer in front of the S3 test server fails
//! chosen requests, and every run still accounts for every author.

use crate::common::*;

async fn backfill(server: &S3Server, extra: &[&str]) -> std::process::Output {
    run_s3(server, &[BACKFILL, extra].concat()).await
}

async fn charts(server: &S3Server) -> Vec<String> {
    server
        .keys(CHARTS_BUCKET)
        .await
        .into_iter()
        .filter(|k| k.starts_with("author-monthly-stats/"))
        .collect()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

// REQ-FT-001: transient 503/500 on PUTs and source GETs are retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_are_retried() {
    let server = S3Server::with_fixtures().await;
    {
        let mut f = server.faults.lock().unwrap();
        f.put_slowdown_first = true;
        f.get_errors = vec![("all-blog-posts".into(), 1), ("authorProfile".into(), 1)];
    }
    let out = backfill(&server, &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report = report_of(&out);
    assert_reconciles(&report);
    assert_eq!(report["authors"]["published"], 3);
    // Fifteen chart objects (three authors' data and four images), two
    // reports, the chart state and the lease, each refused once, plus two
    // source GETs.
    assert_eq!(
        server.faults.lock().unwrap().injected,
        21,
        "faults were injected"
    );
    assert_eq!(charts(&server).await.len(), 15);
}

// REQ-FT-002, REQ-IN-005: a connection that keeps dropping mid-stream (every
// GET, so every resume too) fails the run cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_never_publishes_half_a_file() {
    let server = S3Server::with_fixtures().await;
    server.faults.lock().unwrap().cut_get_after = Some(("all-blog-posts".into(), 50));
    let out = backfill(&server, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Whether the drop is seen while the response head is awaited (the SDK's
    // retries give up) or in the body (the resumes give up) depends on timing;
    // either way the read fails.
    assert!(
        stderr(&out).contains("[SourceUnreadable]"),
        "{}",
        stderr(&out)
    );
    assert_nothing_published(&server).await;
}

// REQ-FT-003, REQ-LA-002: PUTs that fail for good for some slugs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_put_failures_are_listed_and_a_rerun_writes_only_those() {
    let server = S3Server::with_fixtures().await;
    server.faults.lock().unwrap().put_always_fails = vec!["/jane-doe.png".into()];
    let out = backfill(&server, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("[PublishFailed]") && stderr(&out).contains("jane-doe"),
        "{}",
        stderr(&out)
    );
    let report = report_of(&out);
    assert_reconciles(&report);
    assert_eq!(report["authors"]["published"], 2);
    assert_eq!(report["failed"][0]["slug"], "jane-doe");
    assert!(
        !charts(&server)
            .await
            .contains(&"author-monthly-stats/jane-doe.png".to_string())
    );

    server.faults.lock().unwrap().put_always_fails.clear();
    let again = backfill(&server, &[]).await;
    assert!(again.status.success(), "{}", stderr(&again));
    let report = report_of(&again);
    assert_reconciles(&report);
    assert_eq!(
        report["authors"]["published"], 1,
        "only jane-doe is written again"
    );
    assert_eq!(report["authors"]["unchanged"], 2);
}

// REQ-FT-004: a missing charts bucket and denied access are one clear error each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_and_denied_access() {
    let server = S3Server::start(&[SOURCE_BUCKET]).await;
    server.put_fixtures().await;
    let out = backfill(&server, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("[PublishFailed]") && err.contains("bucket charts-bucket does not exist"),
        "{err}"
    );
    assert_eq!(err.matches("error [").count(), 1, "one error: {err}");

    let mut env = server.env();
    env.retain(|(k, _)| *k != "AWS_SECRET_ACCESS_KEY");
    env.push(("AWS_SECRET_ACCESS_KEY", "wrong-secret".into()));
    let dest = tempfile::tempdir().unwrap();
    let out = author_stats(
        &[
            &[
                "run",
                "--source",
                "s3://source-bucket",
                "--dest",
                dest.path().to_str().unwrap(),
                "--s3-force-path-style",
            ],
            BACKFILL,
        ]
        .concat(),
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("[AccessDenied]")
            && err.contains("s3://source-bucket/contentful/all-blog-posts.jsonl.gz"),
        "{err}"
    );
    assert_eq!(
        published_files(dest.path()),
        Vec::<String>::new(),
        "nothing written"
    );
}
