//! REQ-EV-001: every sample event in `events/` parses, validates and runs end to
//! end, so the samples cannot go stale.

use author_stats_batch::request::RunRequest;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_parses_and_runs() {
    let mut names = Vec::new();
    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    for entry in std::fs::read_dir(repo().join("events")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let request =
            RunRequest::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        request
            .resolve(chrono::Utc::now())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let dest = tempfile::tempdir().unwrap();
        let out = run_local(
            src.path(),
            dest.path(),
            &["--event", path.to_str().unwrap()],
        )
        .await;
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let report = report_of(&out);
        assert_reconciles(&report);
        assert!(
            report["authors"]["active"].as_u64().unwrap() >= 1,
            "{}: nothing selected",
            path.display()
        );
        names.push(path.file_name().unwrap().to_string_lossy().to_string());
    }
    names.sort();
    assert_eq!(
        names,
        vec!["backfill-15y.json", "manual-test.json", "nightly.json"]
    );
}
