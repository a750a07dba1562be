//! REQ-IN-008: an export in parts (a posts key ending in `/`) gives the same
//! charts and counts as the same posts in one object, on local directories and
//! on the S3 test server.

use crate::common::*;

const PARTS: &str = "contentful/all-blog-posts/";

/// The fixture posts cut into three parts: two gzip, one plain.
fn fixture_parts() -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(data("posts.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(6)
        .enumerate()
        .map(|(i, chunk)| {
            let body = format!("{}\n", chunk.join("\n")).into_bytes();
            let body = if i == 1 {
                body
            } else {
                gzip_two_members(&body)
            };
            (format!("{PARTS}part-{i}.jsonl.gz"), body)
        })
        .collect()
}

/// The backfill of `src` read as one object and as the parts under [`PARTS`]:
/// both reports and both destinations.
async fn both_ways(
    src: &std::path::Path,
) -> (
    serde_json::Value,
    serde_json::Value,
    tempfile::TempDir,
    tempfile::TempDir,
) {
    let (one, parts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let single = ok_report(&run_local(src, one.path(), BACKFILL).await);
    let split_args = [BACKFILL, &["--posts-key", PARTS]].concat();
    let split = ok_report(&run_local(src, parts.path(), &split_args).await);
    (single, split, one, parts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_on_a_local_dir_read_as_one_export() {
    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    for (key, body) in fixture_parts() {
        let path = src.path().join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let (single, split, one, parts) = both_ways(src.path()).await;
    assert_eq!(report_counts(&single), report_counts(&split));
    assert!(
        split["posts_file"]["location"]
            .as_str()
            .unwrap()
            .ends_with("(3 parts)"),
        "{}",
        split["posts_file"]
    );
    assert_eq!(chart_files(one.path()), chart_files(parts.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_on_s3_read_as_one_export() {
    let server = S3Server::with_fixtures().await;
    for (key, body) in fixture_parts() {
        server.put(SOURCE_BUCKET, &key, body).await;
    }
    let single = ok_report(&run_s3(&server, &[BACKFILL, &["--dry-run"]].concat()).await);
    let split = ok_report(&run_s3(&server, &[BACKFILL, &["--posts-key", PARTS]].concat()).await);
    assert_eq!(
        report_counts(&single)["posts"],
        report_counts(&split)["posts"]
    );
    assert_eq!(split["authors"]["published"], 3);
    // A prefix with no part is a missing export.
    let out = run_s3(
        &server,
        &[BACKFILL, &["--posts-key", "contentful/none/"]].concat(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[SourceMissing]") && stderr.contains("no part"),
        "{stderr}"
    );
}

// `sample-data --parts`: a generated export in seven parts, read both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_in_seven_parts_reads_as_the_single_file() {
    let src = tempfile::tempdir().unwrap();
    sample_data(src.path(), 1500, 60, &["--parts", "7"]).await;
    let parts = std::fs::read_dir(src.path().join(PARTS)).unwrap().count();
    assert_eq!(parts, 7);
    let (a, b, one, split) = both_ways(src.path()).await;
    assert_eq!(report_counts(&a)["posts"], report_counts(&b)["posts"]);
    assert_eq!(a["authors"], b["authors"]);
    assert_eq!(chart_files(one.path()), chart_files(split.path()));
}
