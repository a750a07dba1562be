//! The public numbers cannot be silently wrong: each case an adversarial
//! review found (an exporter's glitch, a replay, a crash) reproduced on local
//! directories and on the S3 test server, and refused or absorbed.

use crate::common::*;

// REQ-TR-001: only a missing latest.json means "first run"; one that exists
// but cannot be parsed fails closed, naming the object, and publishes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_last_run_report_fails_closed() {
    for target in Target::both().await {
        ok_report(&target.run(&backfill_at(AS_OF)).await);
        let chart = target.get("author-monthly-stats/sato-taro.png").await;
        for garbage in [&b"{\"as_of\": \"2025-11"[..], b"", b"[1, 2]"] {
            target
                .put_dest("reports/latest.json", garbage.to_vec())
                .await;
            // A replayed old request would rewind everything if this passed.
            let out = target.run(&backfill_at("2024-01-01T00:00:00Z")).await;
            assert_refused(&target, &out, "LastRunUnreadable", &["reports/latest.json"]);
            assert_eq!(
                target.get("reports/latest.json").await,
                garbage,
                "{}: latest.json is left for the operator",
                target.name()
            );
            assert_eq!(
                target.get("author-monthly-stats/sato-taro.png").await,
                chart
            );
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
            !target
                .keys()
                .await
                .iter()
                .any(|k| k == "reports/latest.json"),
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
    assert_eq!(
        server.get(CHARTS_BUCKET, "reports/latest.json").await,
        latest
    );
}

const CHART: &str = "author-monthly-stats/sato-taro.png";

/// The committed author master with sato-taro's row (a1) replaced by `rows`.
fn master_with(rows: &[&str]) -> Vec<u8> {
    let mut text = String::new();
    for line in std::fs::read_to_string(data("authors.jsonl"))
        .unwrap()
        .lines()
    {
        if line.contains("\"a1\"") {
            for row in rows {
                text.push_str(row);
                text.push('\n');
            }
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    gzip_two_members(text.as_bytes())
}

// REQ-TR-003: one bad master row never deletes a present author's chart, and
// a real removal waits for the grace period (two nights a day apart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_master_row_never_deletes_a_chart() {
    let a1 = r#"{"id":"a1","slug":"sato-taro","display_name":"佐藤 太郎"}"#;
    let glitches: &[(&str, Vec<&str>)] = &[
        ("duplicated row (pagination overlap)", vec![a1, a1]),
        (
            "display_name null",
            vec![r#"{"id":"a1","slug":"sato-taro","display_name":null}"#],
        ),
        (
            "display_name missing",
            vec![r#"{"id":"a1","slug":"sato-taro"}"#],
        ),
        (
            "broken escape",
            vec![r#"{"id":"a1","slug":"sato-taro","display_name":"\x"}"#],
        ),
        (
            "a new author with the same slug",
            vec![
                a1,
                r#"{"id":"a9","slug":"sato-taro","display_name":"新人"}"#,
            ],
        ),
    ];
    for target in Target::both().await {
        ok_report(&target.run(&backfill_at(AS_OF)).await);
        for (name, rows) in glitches {
            target.put_source(AUTHORS, master_with(rows)).await;
            // Without a valid a1 row its posts are orphans and the count
            // drops: this run lets both pass, to reach the prune (the guards
            // would otherwise stop it before, which would prove nothing).
            let args = [
                "--prune-grace-hours",
                "0",
                "--allow-orphans",
                "--allow-shrink",
            ];
            let out = target.run(&[NIGHTLY, &args].concat()).await;
            let report = ok_report(&out);
            assert_eq!(
                report["deleted"],
                serde_json::json!([]),
                "{} / {name}: {report}",
                target.name()
            );
            assert!(
                target.keys().await.contains(&CHART.to_string()),
                "{} / {name}: the chart was deleted",
                target.name()
            );
        }
    }
}

// REQ-TR-003, REQ-TR-006: an author really gone is deleted only once absent
// for the grace period between the runs' as_of; an erase deletes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_author_is_deleted_after_the_grace_period_or_by_erase() {
    for target in Target::both().await {
        ok_report(&target.run(&backfill_at(AS_OF)).await);
        remove_old_timer(&target).await;
        let allow = ["--max-shrink", "0.5"];
        let night = |as_of: &'static str| {
            [&["--lookback-days", "7", "--as-of", as_of][..], &allow].concat()
        };
        // Night 1: absent, kept, and the report says until when.
        let first = ok_report(&target.run(&night(AS_OF)).await);
        assert_eq!(first["deleted"], serde_json::json!([]), "{}", target.name());
        assert_eq!(first["prune_pending"][0]["slug"], "old-timer", "{first}");
        assert_eq!(
            first["prune_pending"][0]["due_at"], "2025-11-26T17:45:00Z",
            "{first}"
        );
        assert!(target.charts().await.contains(&"old-timer.png".to_string()));
        // A rerun the same night (same as_of, later wall clock): still kept.
        let again = ok_report(&target.run(&night(AS_OF)).await);
        assert_eq!(again["deleted"], serde_json::json!([]));
        // Night 2, 24 hours of as_of later: deleted.
        let second = ok_report(&target.run(&night("2025-11-26T17:45:00Z")).await);
        assert_eq!(
            second["deleted"],
            serde_json::json!(["old-timer"]),
            "{}: {second}",
            target.name()
        );
        assert!(!target.charts().await.contains(&"old-timer.png".to_string()));
    }
    for target in Target::both().await {
        ok_report(&target.run(&backfill_at(AS_OF)).await);
        // Erasing an author still in the master is refused, naming it.
        let out = target
            .run(&[NIGHTLY, &["--erase", "old-timer"]].concat())
            .await;
        assert_refused(&target, &out, "ErasePresent", &["old-timer"]);
        assert!(target.charts().await.contains(&"old-timer.png".to_string()));
        // Once the row is gone, the erase deletes at once.
        remove_old_timer(&target).await;
        let out = target
            .run(&[NIGHTLY, &["--max-shrink", "0.5", "--erase", "old-timer"]].concat())
            .await;
        let report = ok_report(&out);
        assert_eq!(
            report["deleted"],
            serde_json::json!(["old-timer"]),
            "{}",
            target.name()
        );
        assert_eq!(report["erased"], serde_json::json!(["old-timer"]));
        assert!(!target.charts().await.contains(&"old-timer.png".to_string()));
    }
}

// REQ-TR-005, REQ-TR-006: erasing a prolific author (their posts become
// orphans over the limit) cannot wedge the job: one run with allow_orphans
// publishes, without loosening the bad-line limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_cannot_wedge_the_job() {
    for target in Target::both().await {
        ok_report(&target.run(&backfill_at(AS_OF)).await);
        target.put_source(AUTHORS, master_with(&[])).await;
        let out = target.run(NIGHTLY).await;
        assert_refused(&target, &out, "MasterIncomplete", &["--allow-orphans"]);
        let out = target
            .run(
                &[
                    NIGHTLY,
                    &["--allow-orphans", "--allow-shrink", "--erase", "sato-taro"],
                ]
                .concat(),
            )
            .await;
        let report = ok_report(&out);
        assert_eq!(
            report["deleted"],
            serde_json::json!(["sato-taro"]),
            "{}",
            target.name()
        );
        assert!(!target.keys().await.contains(&CHART.to_string()));
        // The override held for that run only.
        let out = target.run(NIGHTLY).await;
        assert_refused(&target, &out, "MasterIncomplete", &[]);
    }
}

// REQ-TR-004, REQ-TR-010: an export appended to itself is every post twice:
// refused as broken (half its records are duplicates), publishing nothing;
// the same growth in new posts is refused as growth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doubled_export_is_refused() {
    for target in Target::both().await {
        ok_report(&target.run(&backfill_at(AS_OF)).await);
        let chart = target.get(CHART).await;
        let posts = std::fs::read(data("posts.jsonl")).unwrap();
        target
            .put_source(POSTS, [posts.clone(), posts.clone()].concat())
            .await;
        let out = target.run(&backfill_at(AS_OF)).await;
        assert_refused(&target, &out, "InputBroken", &["duplicate"]);
        assert_eq!(target.get(CHART).await, chart, "{}", target.name());
        // The same posts again under new titles are new posts: growth.
        let renamed = String::from_utf8(posts.clone())
            .unwrap()
            .replace("\"title\":\"", "\"title\":\"2: ");
        target
            .put_source(POSTS, [posts, renamed.into_bytes()].concat())
            .await;
        let out = target.run(&backfill_at(AS_OF)).await;
        assert_refused(&target, &out, "InputGrown", &["--allow-growth"]);
        assert_eq!(target.get(CHART).await, chart, "{}", target.name());
    }
}

/// The fixture's first post (sato-taro's August post) as another record of
/// the same post: the same instant spelled in UTC, other ignored fields.
const SAME_POST_AGAIN: &str = "{\"first_published_at\":\"2025-08-10T01:00:00Z\",\"author_id\":\"a1\",\"title\":\"八月の記事\",\"body\":\"edited\",\"sys_id\":\"other\"}\n";

// REQ-TR-010: a post repeated in one export or across two parts counts once,
// as a `duplicate` record in the report; the chart is the one without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_post_counts_once() {
    let lenient = ["--max-bad-share", "0.5"];
    for target in Target::both().await {
        let single = ok_report(
            &target
                .run(&[&backfill_at(AS_OF)[..], &lenient].concat())
                .await,
        );
        let chart = target.json("author-monthly-stats/sato-taro.json").await;
        let posts = std::fs::read(data("posts.jsonl")).unwrap();
        target
            .put_source(POSTS, [&posts[..], SAME_POST_AGAIN.as_bytes()].concat())
            .await;
        let once = ok_report(
            &target
                .run(&[&backfill_at(AS_OF)[..], &lenient].concat())
                .await,
        );
        assert_eq!(
            once["posts"]["counted"],
            single["posts"]["counted"],
            "{}",
            target.name()
        );
        assert_eq!(once["posts_file"]["bad"]["duplicate"]["count"], 1, "{once}");
        assert_eq!(
            target.json("author-monthly-stats/sato-taro.json").await,
            chart
        );
        // Across parts: the second part repeats a post of the first.
        target
            .put_source(
                "contentful/parts/part-00000.jsonl.gz",
                gzip_two_members(&posts),
            )
            .await;
        target
            .put_source(
                "contentful/parts/part-00001.jsonl",
                SAME_POST_AGAIN.as_bytes().to_vec(),
            )
            .await;
        let args = [
            &backfill_at(AS_OF)[..],
            &lenient,
            &["--posts-key", "contentful/parts/"],
        ]
        .concat();
        let parts = ok_report(&target.run(&args).await);
        assert_eq!(
            parts["posts"]["counted"],
            single["posts"]["counted"],
            "{}",
            target.name()
        );
        assert_eq!(
            parts["posts_file"]["bad"]["duplicate"]["count"], 1,
            "{parts}"
        );
        assert_eq!(
            target.json("author-monthly-stats/sato-taro.json").await,
            chart
        );
    }
}

// REQ-TR-007, REQ-FR-001: the first run of a new calendar month (Asia/Tokyo)
// redraws every author, because every series grew a month (not as a special
// case): an author who stopped posting gets this month's zero and a falling
// "last 12 months" total; later nights draw only their window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_run_of_a_month_redraws_every_author() {
    for target in Target::both().await {
        ok_report(&target.run(&backfill_at(AS_OF)).await);
        let night = |as_of: &'static str| ["--lookback-days", "7", "--as-of", as_of];
        let same_month = ok_report(&target.run(&night("2025-11-26T17:45:00Z")).await);
        assert!(
            same_month["drawn_by_reason"].get("changed").is_none(),
            "{same_month}"
        );
        // 2025-11-30T17:45Z is 2025-12-01 02:45 in Tokyo: a new month there.
        let first = ok_report(&target.run(&night("2025-11-30T17:45:00Z")).await);
        assert!(
            first["drawn_by_reason"]["changed"].as_u64() >= Some(1),
            "{}: {first}",
            target.name()
        );
        for slug in ["old-timer", "sato-taro", "jane-doe"] {
            let data = target
                .json(&format!("author-monthly-stats/{slug}.json"))
                .await;
            let months = data["months"].as_array().unwrap();
            assert_eq!(
                months.last().unwrap()["month"],
                "2025-12",
                "{}: {slug}",
                target.name()
            );
        }
        let next = ok_report(&target.run(&night("2025-12-01T17:45:00Z")).await);
        assert!(next["drawn_by_reason"].get("changed").is_none(), "{next}");
        assert!(next["authors"]["active"].as_u64() < first["authors"]["active"].as_u64());
    }
}

// REQ-TR-009: under a parts prefix only objects named as parts are read; a
// retried part left beside them is listed in the report, not counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_copy_under_the_parts_prefix_is_not_counted() {
    for target in Target::both().await {
        let single = ok_report(&target.run(&backfill_at(AS_OF)).await);
        let posts = gzip_two_members(&std::fs::read(data("posts.jsonl")).unwrap());
        target
            .put_source("contentful/parts/part-00000.jsonl.gz", posts.clone())
            .await;
        target
            .put_source("contentful/parts/part-00000.jsonl.gz.retry-1", posts)
            .await;
        let args = [
            &backfill_at(AS_OF)[..],
            &["--posts-key", "contentful/parts/"],
        ]
        .concat();
        let parts = ok_report(&target.run(&args).await);
        assert_eq!(
            parts["posts"]["counted"],
            single["posts"]["counted"],
            "{}",
            target.name()
        );
        assert_eq!(
            parts["ignored_objects"],
            serde_json::json!(["contentful/parts/part-00000.jsonl.gz.retry-1"]),
            "{}",
            target.name()
        );
    }
}
