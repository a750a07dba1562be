//! Ranged reads of the source objects: a posts file of many parts reads exactly
//! as it does from a local directory, a dropped part is resumed, and an export
//! replaced during the read fails the run before anything is published.

use crate::common::*;

const POSTS_KEY: &str = "contentful/all-blog-posts.jsonl.gz";

/// A sample export several MiB of gzip long (so 1 MiB parts make several
/// ranges) with few authors (so a debug build draws it quickly), uploaded to a
/// fresh server.
async fn server_with_sample() -> (S3Server, tempfile::TempDir) {
    let server = S3Server::start(&[SOURCE_BUCKET, CHARTS_BUCKET]).await;
    let export = server.put_sample(4000, 30).await;
    (server, export)
}

fn posts_gzip_bytes(export: &tempfile::TempDir) -> u64 {
    std::fs::metadata(export.path().join(POSTS_KEY))
        .unwrap()
        .len()
}

async fn backfill_in_1_mib_parts(server: &S3Server) -> std::process::Output {
    run_s3(server, &[BACKFILL, &["--s3-read-part-mib", "1"]].concat()).await
}

/// What a run read: line statistics and the unattributed posts.
fn read_summary(report: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "posts_lines": report["posts_file"]["lines"],
        "authors_lines": report["authors_file"]["lines"],
        "posts": report["posts"],
        "authors": report["authors"],
    })
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

// REQ-IN-006, REQ-IN-001: the posts file read as 1 MiB ranges, several in flight,
// gives the same lines and the same chart bytes as the file read from disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_many_ranges_reads_the_same_as_from_disk() {
    let (server, export) = server_with_sample().await;
    let size = posts_gzip_bytes(&export);
    let parts = size.div_ceil(1024 * 1024) as usize;
    assert!(parts >= 4, "the sample is {size} bytes: too few parts");

    let out = backfill_in_1_mib_parts(&server).await;
    let report = ok_report(&out);
    let local_out = tempfile::tempdir().unwrap();
    let local = ok_report(&run_local(export.path(), local_out.path(), BACKFILL).await);
    assert_eq!(read_summary(&report), read_summary(&local));
    assert!(report["authors"]["published"].as_u64().unwrap() > 10);

    // Every range once, in 1 MiB steps, each after the first pinned to the ETag.
    let gets: Vec<_> = server
        .faults
        .lock()
        .unwrap()
        .gets
        .iter()
        .filter(|(path, _, _)| path.ends_with("all-blog-posts.jsonl.gz"))
        .cloned()
        .collect();
    let mut ranges: Vec<(u64, u64)> = gets
        .iter()
        .map(|(_, range, _)| {
            let r = range.as_deref().expect("every GET is ranged");
            let (a, b) = r.strip_prefix("bytes=").unwrap().split_once('-').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    assert_eq!(ranges.len(), parts, "{gets:?}");
    assert!(!gets[0].2, "the first GET learns the ETag");
    assert!(gets[1..].iter().all(|g| g.2), "later GETs send If-Match");
    ranges.sort_unstable();
    let mut next = 0;
    for (a, b) in ranges {
        assert_eq!(a, next);
        next = b + 1;
    }
    assert_eq!(next, size);

    // The same charts, byte for byte.
    for key in server.keys(CHARTS_BUCKET).await {
        if let Some(name) = key.strip_prefix("author-monthly-stats/") {
            let on_disk = std::fs::read(local_out.path().join("author-monthly-stats").join(name))
                .unwrap_or_else(|e| panic!("{name} locally: {e}"));
            assert!(
                server.get(CHARTS_BUCKET, &key).await == on_disk,
                "{name} differs"
            );
        }
    }
}

// REQ-FT-006: a connection dropped inside a ranged read is resumed where it
// stopped, counted as a retry, and the run reads exactly what it would have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_range_is_resumed() {
    let (server, _export) = server_with_sample().await;
    let clean = ok_report(&backfill_in_1_mib_parts(&server).await);

    let (server, _export) = server_with_sample().await;
    server.faults.lock().unwrap().cut_next_get_after = Some(("all-blog-posts".into(), 300_000));
    let out = backfill_in_1_mib_parts(&server).await;
    let report = ok_report(&out);
    assert_eq!(read_summary(&report), read_summary(&clean));
    assert!(report["s3_retries"].as_u64().unwrap() >= 1, "{report}");
    assert!(
        stderr(&out).contains("resuming a dropped S3 read"),
        "{}",
        stderr(&out)
    );
    // The resumed GET asked for the rest of the first range only, from where
    // the cut left it (at most the 300,000 bytes sent: the server may drop some
    // of them unflushed when it aborts the connection), pinned to the ETag.
    let faults = server.faults.lock().unwrap();
    let resumed = faults.gets.iter().any(|(path, range, if_match)| {
        let from = range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix("-1048575"))
            .and_then(|from| from.parse::<u64>().ok());
        path.ends_with("all-blog-posts.jsonl.gz")
            && *if_match
            && from.is_some_and(|from| from > 0 && from <= 300_000)
    });
    assert!(resumed, "{:?}", faults.gets);
}

// REQ-FT-007, REQ-IO-002: the export replaced while it is read (a later range
// answers 412) fails the run, saying so, and publishes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_replaced_during_the_read_publishes_nothing() {
    let (server, _export) = server_with_sample().await;
    server.faults.lock().unwrap().replaced_mid_read = Some("all-blog-posts".into());
    let out = backfill_in_1_mib_parts(&server).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains("[SourceUnreadable]") && text.contains("changed while it was read"),
        "{text}"
    );
    assert_nothing_published(&server).await;
}

// REQ-IN-006, REQ-IN-001: an empty object has no byte 0 to ask a range of (S3
// answers 416); it is read whole, and the run ends as it does on an empty file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_object_reads_like_an_empty_file() {
    let server = S3Server::with_fixtures().await;
    server.put(SOURCE_BUCKET, POSTS_KEY, Vec::new()).await;
    let out = run_s3(&server, BACKFILL).await;

    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    std::fs::write(src.path().join(POSTS_KEY), b"").unwrap();
    let dest = tempfile::tempdir().unwrap();
    let local = run_local(src.path(), dest.path(), BACKFILL).await;

    assert_eq!(out.status.code(), local.status.code(), "{}", stderr(&out));
    let (report, local) = (report_of(&out), report_of(&local));
    assert_eq!(report["posts_file"]["lines"], local["posts_file"]["lines"]);
    assert_eq!(report["authors"], local["authors"]);
}
