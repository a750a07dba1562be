//! The guards that keep a run from publishing wrong or stale charts while
//! reporting success, each with its override, on local directories and on the S3
//! test server alike.

use crate::common::*;

// REQ-RL-001, REQ-RL-002
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_older_than_the_last_published_one_is_refused_unless_allowed() {
    for target in Target::both().await {
        ok_report(&target.run(&backfill_at(AS_OF)).await);
        let before = target.get("author-monthly-stats/sato-taro.png").await;

        let older = "2025-11-24T17:45:00Z";
        let out = target.run(&backfill_at(older)).await;
        assert_refused(
            &target,
            &out,
            "AsOfRewind",
            &[
                "2025-11-24 17:45:00 UTC",
                "2025-11-25 17:45:00 UTC",
                "--allow-older-as-of",
            ],
        );
        assert_eq!(
            target.get("author-monthly-stats/sato-taro.png").await,
            before
        );
        assert_eq!(
            target.json("reports/latest.json").await["as_of"],
            AS_OF,
            "{}: latest.json stays the last published run",
            target.name()
        );
        assert_eq!(
            target.failed_report().await["error"]["error_type"],
            "AsOfRewind"
        );

        // The scheduler's retry (the same as_of) and a dry run pass.
        ok_report(&target.run(&backfill_at(AS_OF)).await);
        ok_report(
            &target
                .run(&[&backfill_at(older)[..], &["--dry-run"]].concat())
                .await,
        );
        // So does a deliberate redraw of the past.
        let report = ok_report(
            &target
                .run(&[&backfill_at(older)[..], &["--allow-older-as-of"]].concat())
                .await,
        );
        assert_eq!(report["as_of"], "2025-11-24T17:45:00Z");
        assert_eq!(
            target.json("reports/latest.json").await["as_of"],
            "2025-11-24T17:45:00Z"
        );
    }
}

// REQ-RL-003
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_without_posts_is_refused() {
    for target in Target::both().await {
        target.put_source(POSTS, Vec::new()).await;
        let out = target.run(&backfill_at(AS_OF)).await;
        assert_refused(&target, &out, "InputEmpty", &["all-blog-posts.jsonl.gz"]);
        assert!(target.charts().await.is_empty(), "{}", target.name());
        assert!(
            !target
                .keys()
                .await
                .contains(&"reports/latest.json".to_string()),
            "{}",
            target.name()
        );
    }
}

// REQ-RL-004
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_older_than_the_limit_is_refused_unless_the_check_is_off() {
    // The export was last written three days before the as_of (an as_of
    // ahead of the clock is refused on its own, AsOfAhead).
    let later = AS_OF;
    for target in Target::both().await {
        target.set_source_mtime(POSTS, "2025-11-22T17:45:00Z");
        let out = target.run(&backfill_at(later)).await;
        assert_refused(
            &target,
            &out,
            "ExportStale",
            &[
                "all-blog-posts.jsonl.gz",
                "last written at",
                "48 h",
                "MAX_EXPORT_AGE_HOURS",
                "--max-export-age-hours",
            ],
        );
        assert!(target.charts().await.is_empty(), "{}", target.name());
        let out = target
            .run(&[&backfill_at(later)[..], &["--max-export-age-hours", "100"]].concat())
            .await;
        ok_report(&out);
        let out = target
            .run(&[&backfill_at(later)[..], &["--max-export-age-hours", "0"]].concat())
            .await;
        ok_report(&out);
        // REQ-TR-005: the one-run override, as a request field, not a setting.
        let out = target
            .run(&[&backfill_at(later)[..], &["--allow-stale-export"]].concat())
            .await;
        ok_report(&out);
    }
}

// REQ-RL-005
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_fewer_counted_posts_than_last_time_are_refused() {
    for target in Target::both().await {
        let first = ok_report(&target.run(&backfill_at(AS_OF)).await);
        let counted = first["posts"]["counted"].as_u64().unwrap();
        assert_eq!(counted, 11);
        // A cut-short export: sato-taro's posts are gone.
        let cut = fixture_lines("posts.jsonl", |l| !l.contains("\"a1\""));
        target.put_source(POSTS, cut).await;
        let before = target.get("author-monthly-stats/sato-taro.json").await;
        let out = target.run(&backfill_at(AS_OF)).await;
        assert_refused(
            &target,
            &out,
            "InputShrunk",
            &[
                "8 posts counted, 11 in the last published run",
                "MAX_SHRINK",
                "--max-shrink",
            ],
        );
        assert_eq!(
            target.get("author-monthly-stats/sato-taro.json").await,
            before,
            "{}: nothing published",
            target.name()
        );
        ok_report(
            &target
                .run(&[&backfill_at(AS_OF)[..], &["--max-shrink", "0.5"]].concat())
                .await,
        );
    }
}

// REQ-RL-006
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_of_authors_missing_from_a_cut_short_master_are_refused() {
    for target in Target::both().await {
        let cut = fixture_lines("authors.jsonl", |l| !l.contains("\"a1\""));
        target.put_source(AUTHORS, gzip_two_members(&cut)).await;
        let out = target.run(&backfill_at(AS_OF)).await;
        assert_refused(
            &target,
            &out,
            "MasterIncomplete",
            &["6 of 14 posts", "authorProfile.jsonl.gz", "--max-bad-share"],
        );
        assert!(target.charts().await.is_empty(), "{}", target.name());
        let report = ok_report(
            &target
                .run(&[&backfill_at(AS_OF)[..], &["--max-bad-share", "0.5"]].concat())
                .await,
        );
        assert_eq!(report["posts"]["orphans"]["count"], 6);
    }
}

// REQ-RL-007, REQ-RL-008
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_of_authors_gone_from_the_master_are_deleted() {
    for target in Target::both().await {
        ok_report(&target.run(&backfill_at(AS_OF)).await);
        assert_eq!(
            target.charts().await,
            vec!["jane-doe.png", "old-timer.png", "sato-taro.png"]
        );
        // Still in the master, not active this week: the chart stays.
        let nightly = ok_report(&target.run(NIGHTLY).await);
        assert_eq!(nightly["deleted"], serde_json::json!([]));
        assert_eq!(target.charts().await.len(), 3);

        remove_old_timer(&target).await;
        // Without the grace period (REQ-TR-003 has it): deleted on the first run.
        let shrink = ["--max-shrink", "0.5", "--prune-grace-hours", "0"];
        let dry = ok_report(
            &target
                .run(&[NIGHTLY, &shrink, &["--dry-run"]].concat())
                .await,
        );
        assert_eq!(
            dry["deleted"],
            serde_json::json!(["old-timer"]),
            "{}",
            target.name()
        );
        assert_eq!(target.charts().await.len(), 3, "a dry run deletes nothing");

        let report = ok_report(&target.run(&[NIGHTLY, &shrink].concat()).await);
        assert_eq!(
            report["deleted"],
            serde_json::json!(["old-timer"]),
            "{}",
            target.name()
        );
        assert_eq!(report["authors"]["deleted"], 1);
        let keys = target.keys().await;
        assert!(
            !keys.iter().any(|k| k.contains("old-timer")),
            "{}: {keys:?}",
            target.name()
        );
        for kept in [
            "author-monthly-stats/jane-doe.json",
            "author-monthly-stats/sato-taro.png",
        ] {
            assert!(
                keys.contains(&kept.to_string()),
                "{}: {keys:?}",
                target.name()
            );
        }
        if let Target::Local { .. } = target {
            // The review page stays, and shows what went.
            let page =
                String::from_utf8(target.get("author-monthly-stats/index.html").await).unwrap();
            assert!(page.contains("old-timer") && page.contains("deleted"));
        }
    }
}

// REQ-RL-009
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_prune_is_held_back_unless_allowed() {
    for target in Target::both().await {
        ok_report(&target.run(&backfill_at(AS_OF)).await);
        remove_old_timer(&target).await;
        let args = [
            NIGHTLY,
            &[
                "--max-shrink",
                "0.5",
                "--max-prune",
                "0",
                "--prune-grace-hours",
                "0",
            ],
        ]
        .concat();
        let out = target.run(&args).await;
        assert_refused(
            &target,
            &out,
            "PruneTooLarge",
            &[
                "1 chart(s)",
                "limit of 0",
                "--allow-mass-prune",
                "MAX_PRUNE",
            ],
        );
        let report = report_of(&out);
        assert_eq!(report["prune_withheld"], serde_json::json!(["old-timer"]));
        assert_eq!(report["deleted"], serde_json::json!([]));
        let a = &report["authors"];
        assert_eq!(
            a["published"].as_u64().unwrap() + a["unchanged"].as_u64().unwrap(),
            2,
            "the run's charts were published: {a}"
        );
        assert_eq!(
            target.json("reports/latest.json").await["error"]["error_type"],
            "PruneTooLarge",
            "{}: a run that published is the last published run",
            target.name()
        );
        assert!(target.charts().await.contains(&"old-timer.png".to_string()));

        let report = ok_report(
            &target
                .run(&[&args[..], &["--allow-mass-prune"]].concat())
                .await,
        );
        assert_eq!(report["deleted"], serde_json::json!(["old-timer"]));
        assert!(!target.charts().await.contains(&"old-timer.png".to_string()));
    }
}

// REQ-IN-007: a post line far past the 8 MiB fast path is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_of_any_length_is_counted() {
    let body = "本文".repeat(5 * 1024 * 1024);
    let long = format!(
        "{{\"body\":\"{body}\",\"author_id\":\"a2\",\"first_published_at\":\"2025-03-03T03:00:00Z\",\"title\":\"長い記事\"}}\n"
    );
    let mut posts = std::fs::read(data("posts.jsonl")).unwrap();
    posts.extend_from_slice(long.as_bytes());
    for target in Target::both().await {
        target.put_source(POSTS, gzip_two_members(&posts)).await;
        let report = ok_report(&target.run(&backfill_at(AS_OF)).await);
        assert_eq!(report["posts"]["counted"], 12, "{}", target.name());
        assert!(report["posts_file"]["bad"].get("line_too_long").is_none());
        let jane = target.json("author-monthly-stats/jane-doe.json").await;
        let march = series_of(&jane)
            .into_iter()
            .find(|(m, _)| m == "2025-03")
            .unwrap();
        assert_eq!(march.1, 1, "{}", target.name());
    }
}

// REQ-RL-010: a GET whose response never comes is given up after the attempt
// timeout and retried, instead of holding the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_that_never_answers_is_retried_after_the_attempt_timeout() {
    let server = S3Server::with_fixtures().await;
    server.faults.lock().unwrap().hang_next_get = Some("all-blog-posts".into());
    let started = std::time::Instant::now();
    let out = run_s3(
        &server,
        &[
            &backfill_at(AS_OF)[..],
            &["--s3-attempt-timeout-seconds", "1"],
        ]
        .concat(),
    )
    .await;
    let report = ok_report(&out);
    assert_eq!(server.faults.lock().unwrap().injected, 1);
    assert!(report["s3_retries"].as_u64().unwrap() >= 1, "{report}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the hung GET held the run for {:?}",
        started.elapsed()
    );
}
