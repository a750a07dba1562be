//! The pipeline and the Lambda handler called in this process, as the runtime's
//! own examples test a handler: `Pipeline` on local stores, `handle` with a
//! default context. Faster to debug than through a child process, and the typed
//! report is checked, not its JSON.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use author_stats_batch::config::{self, RawConfig};
use author_stats_batch::error::RunError;
use author_stats_batch::lambda::{HandlerError, Reply, handle};
use author_stats_batch::modes::run::run;
use author_stats_batch::pipeline::{Invocation, Pipeline};
use author_stats_batch::request::RunRequest;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;

use crate::common::*;

/// The committed fixtures in a temporary source, an empty destination, and a
/// pipeline between them (the directories live as long as the pair).
struct Local {
    _src: tempfile::TempDir,
    dest: tempfile::TempDir,
    pipeline: Pipeline,
}

async fn local_pipeline() -> Local {
    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    let dest = tempfile::tempdir().unwrap();
    let config = RawConfig::default()
        .with(config::SOURCE_BUCKET, src.path().display().to_string())
        .with(config::CHARTS_BUCKET, dest.path().display().to_string())
        .with(config::MAX_BAD_RECORD_SHARE, "0.2")
        .validate()
        .unwrap();
    Local {
        _src: src,
        dest,
        pipeline: Pipeline::connect(config).await,
    }
}

impl Local {
    /// Calls the handler with `json` as the event and a default context with
    /// two minutes to run, as the runtime's own examples make one.
    async fn handle(&self, json: serde_json::Value) -> Result<Reply, HandlerError> {
        self.handle_text(&json.to_string()).await
    }

    /// Calls the handler with `text` as the event's JSON, as the runtime
    /// hands it over.
    async fn handle_text(&self, text: &str) -> Result<Reply, HandlerError> {
        let mut context = Context::default();
        context.request_id = "in-process".into();
        let deadline = SystemTime::now() + Duration::from_mins(2);
        context.deadline = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let raw = serde_json::value::RawValue::from_string(text.to_string()).unwrap();
        handle(&self.pipeline, LambdaEvent::new(raw, context)).await
    }
}

// REQ-EV-005, REQ-LA-002: an event the runtime can hand over but no request
// can be (a key twice, nesting past 128 levels, a lone surrogate) is
// EventInvalid, and publishes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_events_are_event_invalid() {
    let local = local_pipeline().await;
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let cases = [
        (
            "duplicate key",
            r#"{"dry_run":true,"dry_run":false}"#.to_string(),
        ),
        ("deep", format!(r#"{{"authors":{deep}}}"#)),
        ("lone surrogate", r#"{"authors":["\ud800"]}"#.to_string()),
        (
            "year 0",
            r#"{"as_of":"0000-01-01T00:00:00+23:59"}"#.to_string(),
        ),
    ];
    for (name, text) in cases {
        let e = local.handle_text(&text).await.unwrap_err();
        assert_eq!(e.error_type(), "EventInvalid", "case {name}: {e}");
    }
}

// REQ-RP-001, REQ-IO-001
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_runs_in_process_on_local_stores() {
    let local = local_pipeline().await;
    let pipeline = &local.pipeline;
    let plan = RunRequest::from_json(r#"{"lookback_days":5475,"as_of":"2025-11-25T17:45:00Z"}"#)
        .unwrap()
        .resolve(chrono::Utc::now())
        .unwrap();
    let report = run(pipeline, &plan, &Invocation::cli()).await.unwrap();
    assert!(report.reconciles(), "{}", report.summary());
    assert_eq!(report.authors.active, 6);
    assert_eq!(report.authors.published, 3);
    assert_eq!(report.posts.counted, 11);

    // The same as_of again: everything unchanged, and a day earlier is refused.
    let again = run(pipeline, &plan, &Invocation::cli()).await.unwrap();
    assert_eq!(again.authors.unchanged, 3);
    let older = RunRequest::from_json(r#"{"lookback_days":5475,"as_of":"2025-11-24T17:45:00Z"}"#)
        .unwrap()
        .resolve(chrono::Utc::now())
        .unwrap();
    let refused = run(pipeline, &older, &Invocation::cli()).await.unwrap_err();
    assert_eq!(refused.error_type(), "AsOfRewind");
    assert!(matches!(refused.error, RunError::Guard(..)));
    assert!(refused.report().is_some_and(|r| r.error.is_some()));
}

// REQ-LA-001, REQ-LA-002, REQ-EV-005
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_answers_with_the_report_or_a_typed_error() {
    let local = local_pipeline().await;

    let reply = local
        .handle(json!({"lookback_days": 7, "as_of": "2025-11-25T17:45:00Z"}))
        .await
        .unwrap();
    // The answer is the bounded summary; the report is at its location.
    let answer = serde_json::to_value(&reply).unwrap();
    assert!(answer.get("skipped").is_none(), "{answer}");
    assert!(answer["report_location"].as_str().is_some(), "{answer}");
    assert_eq!(answer["authors"]["skipped"], 2, "{answer}");
    let report = reply.report().unwrap();
    assert!(report.reconciles());
    // The window's four and old-timer, whose chart is missing.
    assert_eq!(report.authors.active, 5);
    assert_eq!(report.authors.published, 3);

    let invalid = local.handle(json!({"lookback_days": 0})).await.unwrap_err();
    assert_eq!(invalid.error_type(), "EventInvalid");
    let diagnostic = lambda_runtime::Diagnostic::from(invalid);
    assert!(diagnostic.error_message.contains("lookback_days"));
}

// REQ-SC-005: the Lambda takes the scaled-out steps as events with "mode"; the
// plan answers the shards the state machine maps over, and the work goes
// under `work/<run_id>/` of the destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_runs_plan_render_and_finish_events() {
    let local = local_pipeline().await;
    let planned = local
        .handle(
            json!({"mode": "plan", "run_id": "exec-1", "shard_authors": 2,
            "lookback_days": 5475, "as_of": "2025-11-25T17:45:00Z"}),
        )
        .await
        .unwrap();
    let reply = serde_json::to_value(&planned).unwrap();
    let shards: Vec<String> = reply["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shard"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shards, ["00000", "00001"], "{reply}");
    assert!(local.dest.path().join("work/exec-1/plan.json").exists());
    for shard in &shards {
        let done = local
            .handle(json!({"mode": "render", "run_id": "exec-1", "shard": shard}))
            .await
            .unwrap();
        let done = serde_json::to_value(&done).unwrap();
        assert_eq!(done["failed"], 0, "{done}");
    }
    let finished = local
        .handle(json!({"mode": "finish", "run_id": "exec-1"}))
        .await
        .unwrap();
    let report = finished.report().unwrap();
    assert!(report.reconciles());
    assert_eq!(report.authors.published, 3);
    // REQ-SC-007: the finish answers a summary of fixed fields (the state
    // machine's Output reads `authors`); the whole report is in S3.
    let answer = serde_json::to_value(&finished).unwrap();
    assert_eq!(answer["authors"]["published"], 3, "{answer}");
    assert!(answer.get("skipped").is_none(), "{answer}");
    assert!(answer.get("master_problems").is_none(), "{answer}");
    let location = answer["report_location"].as_str().unwrap();
    assert!(location.contains("reports/run-"), "{answer}");

    // A field the step does not use is refused, naming it.
    let misplaced = local
        .handle(json!({"mode": "render", "run_id": "exec-1", "shard": "00000", "lookback_days": 7}))
        .await
        .unwrap_err();
    assert_eq!(misplaced.error_type(), "EventInvalid");
    assert!(
        misplaced.to_string().contains("lookback_days"),
        "{misplaced}"
    );
}

/// A lease of the handler's request id ("in-process"), live until 4 s from
/// now, as a first delivery still at work leaves it.
fn own_lease(expires_in_ms: i64) -> Vec<u8> {
    let now = chrono::Utc::now();
    serde_json::to_vec(&json!({
        "run_id": "in-process",
        "as_of": "2025-11-25T17:45:00Z",
        "acquired_at": now,
        "expires_at": now + chrono::Duration::milliseconds(expires_in_ms),
        "released": false,
        "ttl_seconds": 4,
    }))
    .unwrap()
}

// REQ-TR-012: a second delivery of a request whose first delivery is alive
// (its lease renewed while the second watches) answers as a duplicate, not
// an error: no retry, no dead letter, no page; a crashed first delivery's
// lease (same request id, not renewed) is taken over and the run done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_delivery_ends_quietly_and_a_crashed_one_is_taken_over() {
    let local = local_pipeline().await;
    let lock = local.dest.path().join("reports/lease.json");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(&lock, own_lease(4_000)).unwrap();
    // The first delivery renews its lease every second.
    let renewing = {
        let lock = lock.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                std::fs::write(&lock, own_lease(4_000)).unwrap();
            }
        })
    };
    let event = json!({"lookback_days": 7, "as_of": "2025-11-25T17:45:00Z"});
    let reply = local.handle(event.clone()).await.unwrap();
    match &reply {
        Reply::Duplicate {
            duplicate_of,
            message,
        } => {
            assert_eq!(duplicate_of, "in-process");
            assert!(message.contains("duplicate delivery"), "{message}");
        }
        other => panic!("not a duplicate: {other:?}"),
    }
    assert!(!local.dest.path().join("reports/latest.json").exists());
    // The first delivery dies: its lease is no longer renewed.
    renewing.abort();
    std::fs::write(&lock, own_lease(3_000)).unwrap();
    let reply = local.handle(event).await.unwrap();
    assert!(
        reply
            .report()
            .is_some_and(author_stats_batch::report::RunReport::reconciles),
        "{reply:?}"
    );
    assert!(local.dest.path().join("reports/latest.json").exists());
}
