//! The Lambda handler through the real AWS Lambda Runtime Interface Emulator
//! (`aws-lambda-rie`, installed by scripts/tools.sh), with the binary as the
//! bootstrap, against the S3-compatible test server.

use std::time::Duration;

use crate::common::*;

// REQ-LA-001, REQ-LA-002, REQ-EV-001: every sample event through the emulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Lambda runtime emulator; ./scripts/test.sh installs it"]
async fn sample_events_through_the_runtime_emulator() {
    let server = S3Server::with_fixtures().await;
    let emulator = Emulator::start(&function_env(&server, &[])).await;

    let nightly = emulator.invoke(&event("nightly.json")).await;
    assert_reconciles(&report_at(&server, &nightly).await);
    // The window's four (two skipped) and old-timer, whose chart is missing.
    assert_eq!(nightly["authors"]["active"], 5, "{nightly}");
    assert_eq!(nightly["authors"]["published"], 3);
    assert!(
        nightly.get("skipped").is_none(),
        "a bounded summary: {nightly}"
    );
    assert!(
        nightly["report_location"]
            .as_str()
            .unwrap()
            .starts_with("s3://charts-bucket/reports/run-")
    );

    // The manual test and the backfill carry no as_of: they run as of now, a
    // later time than the nightly's, and so are accepted and redraw.
    // The others are drawn too: a year later every series grew (`changed`).
    let manual = emulator.invoke(&event("manual-test.json")).await;
    assert_reconciles(&report_at(&server, &manual).await);
    assert_eq!(manual["drawn_by_reason"]["named"], 2, "{manual}");
    assert!(
        manual["authors"]["published"].as_u64() >= Some(2),
        "{manual}"
    );

    let backfill = emulator.invoke(&event("backfill-15y.json")).await;
    assert_reconciles(&report_at(&server, &backfill).await);
    assert_eq!(backfill["authors"]["active"], 6, "{backfill}");
    let a = &backfill["authors"];
    assert_eq!(
        a["published"].as_u64().unwrap() + a["unchanged"].as_u64().unwrap(),
        3,
        "{backfill}"
    );

    // The nightly sample, sent again after them, would move time back.
    let rewind = emulator.invoke(&event("nightly.json")).await;
    assert_eq!(rewind["errorType"], "AsOfRewind", "{rewind}");

    let keys = server.keys(CHARTS_BUCKET).await;
    for slug in ["jane-doe", "old-timer", "sato-taro"] {
        assert!(
            keys.contains(&format!("author-monthly-stats/{slug}.png")),
            "{keys:?}"
        );
    }
    let png = server
        .get(CHARTS_BUCKET, "author-monthly-stats/sato-taro.png")
        .await;
    assert_eq!(png_size(&png), (1200, 600));

    // REQ-LA-002: a bad event is a typed error.
    let bad = emulator.invoke(r#"{"lookback_days": 0}"#).await;
    assert_eq!(bad["errorType"], "EventInvalid", "{bad}");
    assert_message(&bad, "lookback_days");
    let unknown = emulator.invoke(r#"{"lookback": 7}"#).await;
    assert_eq!(unknown["errorType"], "EventInvalid", "{unknown}");
}

// REQ-LA-003, REQ-RL-010: the deadline covers every stage: one that has passed
// before the inputs are read stops the run there, publishes nothing, writes the
// report and answers with the deadline type; the next run finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Lambda runtime emulator; ./scripts/test.sh installs it"]
async fn deadline_leaves_authors_undone_and_a_rerun_finishes() {
    let server = S3Server::with_fixtures().await;
    // The read of the posts never answers: the deadline (the margin takes at
    // most half of the 5 s) comes while the inputs are read.
    server.faults.lock().unwrap().hang_next_get = Some("all-blog-posts".into());
    let short = Emulator::start(&function_env(
        &server,
        &[
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", "5"),
            ("DEADLINE_MARGIN_SECONDS", "5"),
        ],
    ))
    .await;
    let reply = short.invoke(&event("backfill-15y.json")).await;
    assert_eq!(reply["errorType"], "DeadlineExceeded", "{reply}");
    assert_message(&reply, "while reading the inputs");
    short.stop().await;
    let keys = server.keys(CHARTS_BUCKET).await;
    assert!(!keys.iter().any(|k| k.ends_with(".png")), "{keys:?}");
    assert!(
        !keys.contains(&"reports/latest.json".to_string()),
        "a run that published nothing is not the last published run: {keys:?}"
    );
    let report_key = keys
        .iter()
        .find(|k| k.starts_with("reports/run-"))
        .expect("the report of the stopped run");
    let report: serde_json::Value =
        serde_json::from_slice(&server.get(CHARTS_BUCKET, report_key).await).unwrap();
    assert_eq!(
        report["error"]["error_type"], "DeadlineExceeded",
        "{report}"
    );

    let full = Emulator::start(&function_env(&server, &[])).await;
    let reply = full.invoke(&event("backfill-15y.json")).await;
    assert_reconciles(&report_at(&server, &reply).await);
    assert_eq!(reply["authors"]["published"], 3, "{reply}");
    assert_eq!(reply["authors"]["undone"], 0);
}

// REQ-CF-001, REQ-LA-004: an invalid configuration fails the init, naming the variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Lambda runtime emulator; ./scripts/test.sh installs it"]
async fn invalid_configuration_fails_the_init() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("CHARTS_BUCKET", "charts-bucket")], "SOURCE_BUCKET"),
        (
            &[
                ("SOURCE_BUCKET", "source-bucket"),
                ("CHARTS_BUCKET", "charts-bucket"),
                ("MONTH_TIMEZONE", "Tokyo"),
            ],
            "MONTH_TIMEZONE",
        ),
    ];
    for (vars, needle) in cases {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_author-stats"));
        cmd.env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .env("PATH", "/usr/bin:/bin");
        for (k, v) in *vars {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
            .await
            .unwrap()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(needle) && stderr.contains("ConfigInvalid"),
            "{needle}: {stderr}"
        );
    }
}

// REQ-LA-003, REQ-FT-005, REQ-RL-010: the deadline reached in the middle of a
// backfill (slow uploads): charts still in flight are abandoned and, with those
// not started, listed as undone; the same request again completes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Lambda runtime emulator; ./scripts/test.sh installs it"]
async fn deadline_in_the_middle_of_a_backfill() {
    let server = S3Server::start(&[SOURCE_BUCKET, CHARTS_BUCKET]).await;
    let _export = server.put_sample(2000, 120).await;
    server.faults.lock().unwrap().put_delay_ms = 400;
    // Five objects per author (four images, then the data): a few seconds of
    // work before the deadline publish some authors and leave most undone.
    let short = Emulator::start(&function_env(
        &server,
        &[
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", "8"),
            ("DEADLINE_MARGIN_SECONDS", "3"),
            ("UPLOAD_CONCURRENCY", "4"),
        ],
    ))
    .await;
    // One fixed as_of for both runs, so the rerun can find charts unchanged.
    let backfill = r#"{"lookback_days": 5475, "as_of": "2025-11-25T17:45:00Z"}"#;
    let reply = short.invoke(backfill).await;
    short.stop().await;
    assert_eq!(reply["errorType"], "DeadlineExceeded", "{reply}");
    let first: serde_json::Value =
        serde_json::from_slice(&server.get(CHARTS_BUCKET, "reports/latest.json").await).unwrap();
    assert_reconciles(&first);
    let undone = first["undone"].as_array().unwrap().len();
    let published = first["authors"]["published"].as_u64().unwrap();
    assert!(
        undone > 0 && published > 0,
        "the deadline fell mid-run: {}",
        first["authors"]
    );
    let pngs = server
        .keys(CHARTS_BUCKET)
        .await
        .iter()
        .filter(|k| k.ends_with(".png"))
        .count() as u64;
    // An abandoned upload may still land: never fewer charts than reported, and
    // none beyond the undone ones.
    assert!(
        published <= pngs && pngs <= published + undone as u64,
        "{pngs} charts for {published} published and {undone} undone"
    );

    server.faults.lock().unwrap().put_delay_ms = 0;
    let full = Emulator::start(&function_env(&server, &[])).await;
    let reply = full.invoke(backfill).await;
    assert_reconciles(&report_at(&server, &reply).await);
    assert_eq!(reply["authors"]["undone"], 0, "{reply}");
    let republished = reply["authors"]["published"].as_u64().unwrap();
    let unchanged = reply["authors"]["unchanged"].as_u64().unwrap();
    assert_eq!(
        republished + unchanged,
        published + undone as u64,
        "every chart is there after the rerun: {reply}"
    );
    assert!(
        unchanged >= published && republished <= undone as u64,
        "only the undone ones are written again: {reply}"
    );
}

// REQ-RL-010: a PUT that stalls is abandoned at the deadline, and the function
// answers with its report before Lambda's hard stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Lambda runtime emulator; ./scripts/test.sh installs it"]
async fn a_stalled_put_is_abandoned_at_the_deadline() {
    let server = S3Server::with_fixtures().await;
    server.faults.lock().unwrap().hang_puts_of = Some("author-monthly-stats/".into());
    let short = Emulator::start(&function_env(
        &server,
        &[
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", "8"),
            ("DEADLINE_MARGIN_SECONDS", "3"),
        ],
    ))
    .await;
    let started = std::time::Instant::now();
    let reply = short.invoke(&event("backfill-15y.json")).await;
    let took = started.elapsed();
    short.stop().await;
    assert_eq!(reply["errorType"], "DeadlineExceeded", "{reply}");
    assert_message(&reply, "3 of 6");
    assert!(
        took < Duration::from_secs(8),
        "answered after {took:?}, past the function timeout"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&server.get(CHARTS_BUCKET, "reports/latest.json").await).unwrap();
    assert_reconciles(&report);
    assert_eq!(
        report["undone"],
        serde_json::json!(["jane-doe", "old-timer", "sato-taro"])
    );
}

/// The EMF records in a log: the lines that are JSON objects with `_aws`.
fn metric_records(log: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect()
}

/// The metric names and units as REQ-OP-001 states them: the counts of the
/// run, in order, then `RunDuration` in milliseconds. The requirement is the
/// contract the alarms and the dashboard are written against.
fn documented_metrics() -> Vec<(String, String)> {
    let requirements = include_str!("../../docs/requirements.md");
    let row = requirements
        .lines()
        .find(|l| l.starts_with("| REQ-OP-001 |"))
        .expect("REQ-OP-001 in docs/requirements.md");
    assert!(row.contains("`RunDuration` in milliseconds"), "{row}");
    let counts = row
        .split_once("the counts of the run (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .expect("REQ-OP-001 lists the counts of the run in parentheses")
        .0;
    let mut metrics: Vec<(String, String)> = counts
        .split(", ")
        .map(|name| (name.trim_matches('`').to_string(), "Count".to_string()))
        .collect();
    metrics.push(("RunDuration".into(), "Milliseconds".into()));
    metrics
}

// REQ-OP-001: every invocation writes one EMF record, success or failure, with
// the names, units and values of its run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Lambda runtime emulator; ./scripts/test.sh installs it"]
async fn every_invocation_writes_one_metric_record() {
    let server = S3Server::with_fixtures().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("function.log");
    let emulator = Emulator::start_logged(&function_env(&server, &[]), &log).await;
    let nightly = emulator.invoke(&event("nightly.json")).await;
    assert_reconciles(&report_at(&server, &nightly).await);
    // A guard failure: a day earlier than the published run.
    let rewind = emulator
        .invoke(r#"{"lookback_days": 7, "as_of": "2025-11-24T17:45:00Z"}"#)
        .await;
    assert_eq!(rewind["errorType"], "AsOfRewind", "{rewind}");
    let backfill = emulator.invoke(&event("backfill-15y.json")).await;
    assert_reconciles(&report_at(&server, &backfill).await);
    let invalid = emulator.invoke(r#"{"lookback_days": 0}"#).await;
    assert_eq!(invalid["errorType"], "EventInvalid");
    emulator.stop().await;

    // REQ-LA-006: each failed invocation logs one ERROR line, its type and
    // message, not the report it carries.
    let errors: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["level"] == "ERROR")
        .collect();
    assert_eq!(
        errors.len(),
        2,
        "one ERROR line per failed invocation: {errors:#?}"
    );
    for (line, kind) in errors.iter().zip(["[AsOfRewind]", "[EventInvalid]"]) {
        let text = line.to_string();
        assert!(text.contains(kind), "{text}");
        assert!(!text.contains("posts_file") && text.len() < 1_000, "{text}");
    }

    let records = metric_records(&log);
    assert_eq!(records.len(), 4, "one record per invocation: {records:#?}");
    let want = documented_metrics();
    for r in &records {
        let spec = &r["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], "AuthorStats");
        assert_eq!(spec["Dimensions"], serde_json::json!([["Window"]]));
        let declared: Vec<(String, String)> = spec["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["Name"].as_str().unwrap().to_string(),
                    m["Unit"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(declared, want);
        for (name, _) in &want {
            assert!(r[name.as_str()].is_u64(), "{name} in {r}");
        }
        assert!(r["_aws"]["Timestamp"].is_i64());
    }
    let (ok, guard, back, bad) = (&records[0], &records[1], &records[2], &records[3]);
    assert_eq!(ok["Window"], "nightly");
    assert_eq!(ok["RunSucceeded"], 1);
    assert_eq!(ok["ErrorType"], "");
    assert_eq!(ok["AuthorsActive"], nightly["authors"]["active"]);
    assert_eq!(ok["ChartsPublished"], nightly["authors"]["published"]);
    assert_eq!(ok["AuthorsSkipped"], nightly["authors"]["skipped"]);
    assert_eq!(ok["PostsCounted"], 11);
    assert_eq!(ok["BadPostLines"], 2);
    assert_eq!(ok["OrphanPosts"], 1);
    assert_eq!(guard["Window"], "nightly");
    assert_eq!(guard["RunSucceeded"], 0);
    assert_eq!(guard["ErrorType"], "AsOfRewind");
    assert_eq!(back["Window"], "backfill");
    assert_eq!(back["RunSucceeded"], 1);
    assert_eq!(back["AuthorsActive"], 6);
    assert_eq!(bad["Window"], "manual");
    assert_eq!(bad["ErrorType"], "EventInvalid");
}

// REQ-TR-013: every stage runs under the deadline: an S3 request that never
// answers while the last run report is read, while the lease is taken, or
// while the charts are listed ends the invocation as DeadlineExceeded before
// the function's timeout, not at Lambda's hard stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Lambda runtime emulator; ./scripts/test.sh installs it"]
async fn a_stage_that_hangs_is_cut_at_the_deadline() {
    type Fault = fn(&mut crate::common::faults::Faults);
    let cases: [(&str, Fault); 3] = [
        ("the last run report", |f| {
            f.hang_next_get = Some("reports/latest.json".into());
        }),
        ("the lease", |f| {
            f.hang_puts_of = Some("reports/lease.json".into());
        }),
        ("the chart listing", |f| {
            f.hang_lists_of = Some("author-monthly-stats".into());
        }),
    ];
    for (name, fault) in cases {
        let server = S3Server::with_fixtures().await;
        fault(&mut server.faults.lock().unwrap());
        let short = Emulator::start(&function_env(
            &server,
            &[
                ("AWS_LAMBDA_FUNCTION_TIMEOUT", "7"),
                ("DEADLINE_MARGIN_SECONDS", "3"),
            ],
        ))
        .await;
        let started = std::time::Instant::now();
        let reply = short.invoke(&event("nightly.json")).await;
        let took = started.elapsed();
        short.stop().await;
        assert_eq!(reply["errorType"], "DeadlineExceeded", "{name}: {reply}");
        assert!(
            server.faults.lock().unwrap().injected > 0,
            "{name}: no hang reached"
        );
        assert!(
            took < Duration::from_secs(7),
            "{name}: answered after {took:?}"
        );
    }
}

// REQ-TR-013: a delete the deadline cut short is reported as undone (and the
// author stays due in the prune state), never as deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Lambda runtime emulator; ./scripts/test.sh installs it"]
async fn a_delete_cut_short_by_the_deadline_is_undone() {
    let server = S3Server::with_fixtures().await;
    let short = Emulator::start(&function_env(
        &server,
        &[
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", "7"),
            ("DEADLINE_MARGIN_SECONDS", "3"),
            ("PRUNE_GRACE_HOURS", "0"),
        ],
    ))
    .await;
    let first = short.invoke(&event("backfill-15y.json")).await;
    assert!(first.get("errorType").is_none(), "{first}");
    // old-timer (a6) leaves the master; deleting its chart never answers.
    let authors = fixture_lines("authors.jsonl", |l| !l.contains("\"a6\""));
    server
        .put(
            SOURCE_BUCKET,
            "contentful/authorProfile.jsonl.gz",
            gzip_two_members(&authors),
        )
        .await;
    let posts = fixture_lines("posts.jsonl", |l| !l.contains("\"a6\""));
    server
        .put(SOURCE_BUCKET, "contentful/all-blog-posts.jsonl.gz", posts)
        .await;
    server.faults.lock().unwrap().hang_deletes_of = Some("old-timer".into());
    let started = std::time::Instant::now();
    let reply = short
        .invoke(r#"{"lookback_days": 5475, "allow_shrink": true}"#)
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
    short.stop().await;
    assert!(
        server.faults.lock().unwrap().injected > 0,
        "no delete was hung: {reply}"
    );
    // Answered or not, the run's report is latest.json (the answer is only
    // its summary).
    let report: serde_json::Value =
        serde_json::from_slice(&server.get(CHARTS_BUCKET, "reports/latest.json").await).unwrap();
    assert_eq!(
        report["prune_undone"],
        serde_json::json!(["old-timer"]),
        "{reply}"
    );
    assert_eq!(report["deleted"], serde_json::json!([]), "{report}");
    assert_eq!(report["authors"]["deleted"], 0, "{report}");
    let keys = server.keys(CHARTS_BUCKET).await;
    assert!(
        keys.contains(&"author-monthly-stats/old-timer.png".to_string()),
        "{keys:?}"
    );
    // The next run, its deletes answered, deletes it.
    server.faults.lock().unwrap().hang_deletes_of = None;
    let args = ["--lookback-days", "5475", "--prune-grace-hours", "0"];
    let next = ok_report(&run_s3(&server, &args).await);
    assert_eq!(next["deleted"], serde_json::json!(["old-timer"]), "{next}");
}
