//! The whole run against a real
//! S3-compatible server, through the `author-stats` binary and the SDK's default
//! credential and endpoint chain.

use crate::common::*;

async fn run_nightly(server: &S3Server, extra: &[&str]) -> std::process::Output {
    run_s3(server, &[NIGHTLY, extra].concat()).await
}

// REQ-IO-001, REQ-PU-001, REQ-PU-002, REQ-PU-003, REQ-RP-001, REQ-CH-001, REQ-IN-001
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_run_against_s3_writes_exact_keys_and_second_run_uploads_nothing() {
    let server = S3Server::with_fixtures().await;

    let out = run_nightly(&server, &[]).await;
    assert!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = report_of(&out);
    assert_reconciles(&report);
    // The window's four (two drawn, two skipped) and old-timer, whose chart
    // is missing from the new destination.
    assert_eq!(report["authors"]["active"], 5);
    assert_eq!(report["authors"]["published"], 3);
    assert_eq!(report["authors"]["skipped"], 2);
    assert_eq!(
        report["drawn_by_reason"],
        serde_json::json!({"window": 2, "missing": 1})
    );
    assert_eq!(report["skipped_by_reason"]["shared_slug"], 1);
    assert_eq!(report["skipped_by_reason"]["unsafe_slug"], 1);
    assert_eq!(report["posts"]["orphans"]["count"], 1);
    assert_eq!(
        report["posts"]["orphans"]["sample_lines"],
        serde_json::json!([15])
    );
    assert_eq!(report["posts"]["unpublished"], 1);
    assert_eq!(report["posts"]["future"], 1);
    assert_eq!(
        report["posts_file"]["bad"]["bad_timestamp"]["sample_lines"],
        serde_json::json!([16])
    );
    assert_eq!(
        report["posts_file"]["bad"]["invalid_json"]["sample_lines"],
        serde_json::json!([17])
    );
    // Each author's data and four images.
    assert_eq!(report["objects_written"], 15);

    let keys = server.keys(CHARTS_BUCKET).await;
    let charts: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .filter(|k| !k.starts_with("reports/"))
        .collect();
    let mut want: Vec<String> = ["jane-doe", "old-timer", "sato-taro"]
        .iter()
        .flat_map(|slug| author_stats_batch::chart_keys::keys_of("author-monthly-stats/", slug))
        .collect();
    want.sort();
    assert_eq!(charts, want);
    assert!(
        keys.contains(&"reports/latest.json".to_string()),
        "{keys:?}"
    );
    assert_eq!(
        keys.iter()
            .filter(|k| k.starts_with("reports/run-"))
            .count(),
        1
    );

    let png = server
        .get(CHARTS_BUCKET, "author-monthly-stats/sato-taro.png")
        .await;
    assert_eq!(png_size(&png), (1200, 600));
    let data = chart_data(&server, "sato-taro").await;
    assert_eq!(series_of(&data), sato_taro_series());
    assert_eq!(data["total"], 3);
    assert_eq!(data["display_name"], "佐藤 太郎");
    assert_eq!(data["time_zone"], "Asia/Tokyo");
    assert_eq!(data["as_of"], "2025-11-25T17:45:00Z");
    let data = chart_data(&server, "jane-doe").await;
    assert_eq!(series_of(&data), jane_doe_series());

    let head = head(&server, CHARTS_BUCKET, "author-monthly-stats/sato-taro.png").await;
    assert_eq!(head.content_type(), Some("image/png"));
    assert_eq!(head.cache_control(), Some("public, max-age=3600"));

    // The same request again: nothing changed, nothing uploaded; old-timer's
    // chart is current and not drawn.
    let again = run_nightly(&server, &[]).await;
    assert!(again.status.success());
    let report = report_of(&again);
    assert_reconciles(&report);
    assert_eq!(report["authors"]["published"], 0);
    assert_eq!(report["authors"]["unchanged"], 2);
    assert_eq!(report["objects_written"], 0);
    assert_eq!(report["drawn_by_reason"], serde_json::json!({"window": 2}));

    // A new Cache-Control is a change worth uploading.
    let header = run_nightly(&server, &["--cache-control", "public, max-age=600"]).await;
    let report = report_of(&header);
    assert_eq!(report["authors"]["published"], 2);
}

// REQ-IN-004, REQ-IO-002: a broken input fails before anything is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_input_publishes_nothing() {
    let server = S3Server::with_fixtures().await;
    // At the default 1% limit, two bad lines in sixteen is a broken export.
    let out = author_stats(&s3_run_args_strict(NIGHTLY), &server.env()).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[InputBroken]") && stderr.contains("2 of 16 lines"),
        "{stderr}"
    );
    assert_nothing_published(&server).await;
    // A refusal like every other: the report is printed and written to
    // reports/run-*.json (not latest.json), with the error and the bad lines.
    let report = report_of(&out);
    assert_eq!(report["error"]["error_type"], "InputBroken", "{report}");
    assert_eq!(report["posts_file"]["lines"], 16, "{report}");
    let reports: Vec<String> = server.keys(CHARTS_BUCKET).await;
    assert!(
        reports.iter().any(|k| k.starts_with("reports/run-")),
        "{reports:?}"
    );
    assert!(
        !reports.iter().any(|k| k == "reports/latest.json"),
        "{reports:?}"
    );

    // A truncated gzip is a read error, also before anything is published.
    let posts = std::fs::read(data("posts.jsonl")).unwrap();
    let mut gz = gzip_two_members(&posts);
    gz.truncate(gz.len() - 10);
    server
        .put(SOURCE_BUCKET, "contentful/all-blog-posts.jsonl.gz", gz)
        .await;
    let out = run_nightly(&server, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[SourceUnreadable]"), "{stderr}");
    assert_nothing_published(&server).await;
}

// REQ-IO-003: a missing source object or bucket is one clear error naming it
// (the posts export is the first object looked at: its age is checked first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_source_names_bucket_and_key() {
    let server = S3Server::start(&[SOURCE_BUCKET, CHARTS_BUCKET]).await;
    let out = run_nightly(&server, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[SourceMissing]")
            && stderr.contains("s3://source-bucket/contentful/all-blog-posts.jsonl.gz"),
        "{stderr}"
    );
    assert_nothing_published(&server).await;
}

// REQ-PU-003, REQ-OP-003: an unchanged chart is recognised by the SHA-256 stored
// with it, not by its ETag, which is no MD5 under SSE-KMS or after a multipart
// upload (the fault layer rewrites every chart's ETag).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_charts_are_found_by_checksum_when_etags_are_not_md5s() {
    let server = S3Server::with_fixtures().await;
    server.faults.lock().unwrap().non_md5_etags_of = Some("author-monthly-stats/".into());
    let first = ok_report(&run_s3(&server, NIGHTLY).await);
    assert_eq!(first["authors"]["published"], 3);
    let head = head(&server, CHARTS_BUCKET, "author-monthly-stats/sato-taro.png").await;
    let png = server
        .get(CHARTS_BUCKET, "author-monthly-stats/sato-taro.png")
        .await;
    assert!(
        head.e_tag().unwrap().ends_with("-3\""),
        "{:?}",
        head.e_tag()
    );
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("sha256"))
            .map(String::as_str),
        Some(author_stats_batch::store::sha256_hex(&png).as_str())
    );
    let second = ok_report(&run_s3(&server, NIGHTLY).await);
    assert_eq!(second["authors"]["unchanged"], 2, "{second}");
    assert_eq!(second["authors"]["published"], 0);
    assert_eq!(second["objects_written"], 0);
}

/// The chart data `<slug>.json` the run put in the charts bucket.
async fn chart_data(server: &S3Server, slug: &str) -> serde_json::Value {
    let key = format!("author-monthly-stats/{slug}.json");
    serde_json::from_slice(&server.get(CHARTS_BUCKET, &key).await).unwrap()
}

// REQ-CH-008: `images` names each image by its key in the bucket, under the
// destination's own prefix, so a page builds its URLs from the JSON alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_keys_are_the_bucket_keys_under_a_destination_prefix() {
    let server = S3Server::with_fixtures().await;
    let args = [
        &[
            "run",
            "--source",
            "s3://source-bucket",
            "--dest",
            "s3://charts-bucket/site/",
            "--s3-force-path-style",
            "--max-bad-share",
            "0.2",
        ][..],
        BACKFILL,
    ]
    .concat();
    let report = ok_report(&author_stats(&args, &server.env()).await);
    assert_eq!(report["authors"]["published"], 3);
    let keys = server.keys(CHARTS_BUCKET).await;
    let data: serde_json::Value = serde_json::from_slice(
        &server
            .get(CHARTS_BUCKET, "site/author-monthly-stats/sato-taro.json")
            .await,
    )
    .unwrap();
    let images = data["images"].as_object().unwrap();
    assert_eq!(images.len(), 4);
    for (name, image) in images {
        let key = image["key"].as_str().unwrap();
        assert!(
            key.starts_with("site/author-monthly-stats/"),
            "{name}: {key}"
        );
        assert!(
            keys.iter().any(|k| k == key),
            "{name}: {key} is not in {keys:?}"
        );
    }
}
