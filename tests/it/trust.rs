//! The public numbers cannot be silently wrong: each case an adversarial
//! review found (an exporter's glitch, a replay, a crash) reproduced on local
//! directories and on the S3 test server, and refused or absorbed.

use crate::common::*;
use crate::guards::{AS_OF, Target, assert_refused, backfill_at};

// REQ-TR-001: only a missing latest.json means "first run"; one that exists
// but cannot be parsed fails closed, naming the object, and publishes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_last_run_report_fails_closed() {
    for target in Target::both().await {
        ok_report(&target.run(&backfill_at(AS_OF)).await);
        let chart = target.get("author-monthly-stats/sato-taro.png").await;
        for garbage in [&b"{\"as_of\": \"2025-11"[..], b"", b"[1, 2]"] {
            target.put_dest("reports/latest.json", garbage.to_vec()).await;
            // A replayed old request would rewind everything if this passed.
            let out = target.run(&backfill_at("2024-01-01T00:00:00Z")).await;
            assert_refused(&target, &out, "LastRunUnreadable", &["reports/latest.json"]);
            assert_eq!(
                target.get("reports/latest.json").await,
                garbage,
                "{}: latest.json is left for the operator",
                target.name()
            );
            assert_eq!(target.get("author-monthly-stats/sato-taro.png").await, chart);
        }
    }
}

// REQ-TR-002: an as_of far ahead of the clock is refused before anything is
// read, so latest.json cannot be moved into the future.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_as_of_ahead_of_the_clock_is_refused() {
    for target in Target::both().await {
        let out = target.run(&backfill_at("9999-01-01T00:00:00Z")).await;
        assert_refused(&target, &out, "AsOfAhead", &["9999-01-01 00:00:00 UTC"]);
        assert!(
            !target.keys().await.iter().any(|k| k == "reports/latest.json"),
            "{}",
            target.name()
        );
        // A nightly after it runs as usual.
        ok_report(&target.run(NIGHTLY).await);
    }
}

// REQ-TR-001: an S3 error reading latest.json (every attempt answers 500) is
// not a first run either: a replayed old event during an outage is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_error_on_the_last_run_report_fails_closed() {
    let server = S3Server::with_fixtures().await;
    ok_report(&run_s3(&server, &backfill_at(AS_OF)).await);
    let latest = server.get(CHARTS_BUCKET, "reports/latest.json").await;
    server.faults.lock().unwrap().get_errors = vec![("reports/latest.json".into(), 1_000)];
    let out = run_s3(&server, &backfill_at("2024-01-01T00:00:00Z")).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error [LastRunUnreadable]"), "{stderr}");
    server.faults.lock().unwrap().get_errors.clear();
    assert_eq!(server.get(CHARTS_BUCKET, "reports/latest.json").await, latest);
}
