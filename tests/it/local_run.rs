//! REQ-IO-001, REQ-EV-003, REQ-EV-004, REQ-CH-002: the same pipeline on local
//! directories (the embedded default).

use crate::common::*;

// REQ-IO-001, REQ-AG-005, REQ-CH-002
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_on_local_directories_is_deterministic() {
    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let backfill = ["--lookback-days", "5475", "--as-of", "2025-11-25T17:45:00Z"];
    for dest in [a.path(), b.path()] {
        let out = run_local(src.path(), dest, &backfill).await;
        let report = ok_report(&out);
        assert_eq!(report["authors"]["active"], 6);
        assert_eq!(report["authors"]["published"], 3);
        assert_eq!(report["skipped_by_reason"]["shared_slug"], 2);
    }
    let charts = |d: &std::path::Path| files_under(&d.join("author-monthly-stats"));
    let mut want = vec!["index.html".to_string()];
    for slug in ["jane-doe", "old-timer", "sato-taro"] {
        want.extend(author_stats_batch::chart_keys::keys_of("", slug));
    }
    want.sort();
    assert_eq!(charts(a.path()), want);
    // The review page carries the run's timings; the charts and data do not.
    for name in charts(a.path()).into_iter().filter(|n| n != "index.html") {
        let x = std::fs::read(a.path().join("author-monthly-stats").join(&name)).unwrap();
        let y = std::fs::read(b.path().join("author-monthly-stats").join(&name)).unwrap();
        assert!(x == y, "{name} differs between two runs");
    }
    let old: serde_json::Value = serde_json::from_slice(
        &std::fs::read(a.path().join("author-monthly-stats/old-timer.json")).unwrap(),
    )
    .unwrap();
    let series = series_of(&old);
    assert_eq!(series.len(), 165);
    assert_eq!(series.first().unwrap(), &("2012-03".to_string(), 1));
    assert_eq!(series[14], ("2013-05".to_string(), 1));
    assert_eq!(series.last().unwrap(), &("2025-11".to_string(), 0));
    assert_eq!(old["display_name"], "古参 三郎 🍣");
}

// REQ-EV-003, REQ-EV-004
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_authors_and_dry_run() {
    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    let dest = tempfile::tempdir().unwrap();
    let out = run_local(
        src.path(),
        dest.path(),
        &[
            "--authors",
            "old-timer,ghost",
            "--dry-run",
            "--as-of",
            "2025-11-25T17:45:00Z",
        ],
    )
    .await;
    let report = ok_report(&out);
    // The two named, and the two other drawable authors, whose charts are
    // missing from the empty destination: what it would draw, and why.
    assert_eq!(report["authors"]["active"], 4);
    assert_eq!(report["authors"]["not_published"], 3);
    assert_eq!(
        report["would_draw"],
        serde_json::json!([
            {"slug": "jane-doe", "reason": "missing"},
            {"slug": "old-timer", "reason": "named"},
            {"slug": "sato-taro", "reason": "missing"},
        ])
    );
    assert_eq!(report["skipped"][0]["slug"], "ghost");
    assert_eq!(report["skipped"][0]["reason"], "unknown_slug");
    assert_eq!(
        std::fs::read_dir(dest.path()).unwrap().count(),
        0,
        "a dry run writes nothing"
    );
}

// REQ-EV-002: a bad request is refused with the field named, before any work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_settings_exit_2_naming_the_field() {
    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    let dest = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--lookback-days", "0"], "lookback_days"),
        (&["--as-of", "yesterday"], "as_of"),
        (&["--time-zone", "Mars/Base"], "MONTH_TIMEZONE"),
        (&["--charts-prefix", "../up"], "CHARTS_PREFIX"),
    ];
    for (args, needle) in cases {
        let out = run_local(src.path(), dest.path(), args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 0);
}

// REQ-EV-005: `run --event` with a step's event (a render's) is refused with
// exit 2, not run whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steps_event_is_not_a_run() {
    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    let dest = tempfile::tempdir().unwrap();
    let event = src.path().join("render.json");
    std::fs::write(
        &event,
        r#"{"mode": "render", "run_id": "r1", "shard": "00000"}"#,
    )
    .unwrap();
    let out = run_local(
        src.path(),
        dest.path(),
        &["--event", event.to_str().unwrap()],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mode"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 0);
}

// REQ-RP-002: `latest.json` is written last: a review page that cannot be
// written fails the run (PublishFailed) and leaves no latest.json naming no
// error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_review_page_leaves_no_latest_report() {
    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    let dest = tempfile::tempdir().unwrap();
    // A folder where the page goes: its write cannot replace it.
    std::fs::create_dir_all(dest.path().join("author-monthly-stats/index.html/x")).unwrap();
    let out = run_local(src.path(), dest.path(), NIGHTLY).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[PublishFailed]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dest.path().join("reports/latest.json").exists());
}
