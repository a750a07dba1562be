//! REQ-SC-001..004: a scaled-out run (plan, one render per shard in parallel
//! processes, finish) publishes the same bytes and the same report counts as
//! one `run` on the same input and `as_of`; a render retried after a failure
//! changes nothing; finish refuses a plan with shards not rendered.

use std::process::Output;

use crate::common::*;

/// The shard ids a plan printed.
fn shards_of(plan: &Output) -> Vec<String> {
    assert!(
        plan.status.success(),
        "plan failed: {}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    summary["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shard"].as_str().unwrap().to_string())
        .collect()
}

/// Renders every shard, each in its own process, all at once.
async fn render_all(
    work: &str,
    dest: &str,
    shards: &[String],
    extra: &[&str],
    env: &[(&str, String)],
) -> Vec<Output> {
    let renders = shards.iter().map(|shard| {
        let args = [
            &["render", "--work", work, "--shard", shard, "--dest", dest][..],
            extra,
        ]
        .concat();
        async move { author_stats(&args, env).await }
    });
    futures::future::join_all(renders).await
}

fn error_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

// REQ-SC-001, REQ-SC-002, REQ-SC-004
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_render_finish_publish_what_one_run_publishes() {
    let src = tempfile::tempdir().unwrap();
    sample_data(src.path(), 3000, 150, &[]).await;
    let (one, two, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (src_s, two_s) = (src.path().to_str().unwrap(), two.path().to_str().unwrap());
    let work_s = work.path().to_str().unwrap();
    let stale_ok = ["--max-export-age-hours", "0"];
    let single =
        ok_report(&run_local(src.path(), one.path(), &[BACKFILL, &stale_ok].concat()).await);

    let plan_args = [
        &["plan", "--source", src_s, "--work", work_s, "--dest", two_s][..],
        BACKFILL,
        &stale_ok,
        &["--shard-authors", "40", "--max-bad-share", "0.2"],
    ]
    .concat();
    let shards = shards_of(&author_stats(&plan_args, &[]).await);
    let planned: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("plan.json")).unwrap()).unwrap();
    let to_draw = single["authors"]["active"].as_u64().unwrap()
        - single["authors"]["skipped"].as_u64().unwrap();
    assert_eq!(
        shards.len() as u64,
        to_draw.div_ceil(40),
        "{}",
        planned["shards"]
    );
    assert_eq!(planned["to_draw"].as_u64(), Some(to_draw));
    assert_eq!(planned["time_zone"], "Asia/Tokyo");
    assert!(planned["inputs"]["posts"]["bytes"].as_u64().unwrap() > 0);
    // The destination is held for the whole scaled-out run.
    let held = run_local(src.path(), two.path(), &[BACKFILL, &stale_ok].concat()).await;
    assert!(
        error_of(&held).contains("[RunInProgress]"),
        "{}",
        error_of(&held)
    );

    // Finish before every shard is rendered: nothing is published.
    let first = render_all(work_s, two_s, &shards[..1], &[], &[]).await;
    assert!(first[0].status.success(), "{}", error_of(&first[0]));
    let early = author_stats(&["finish", "--work", work_s, "--dest", two_s], &[]).await;
    assert_eq!(early.status.code(), Some(1));
    assert!(
        error_of(&early).contains("[RunIncomplete]"),
        "{}",
        error_of(&early)
    );
    assert!(!two.path().join("reports/latest.json").exists());

    for out in render_all(work_s, two_s, &shards[1..], &[], &[]).await {
        assert!(out.status.success(), "{}", error_of(&out));
    }
    let finished =
        ok_report(&author_stats(&["finish", "--work", work_s, "--dest", two_s], &[]).await);
    assert_eq!(report_counts(&single), report_counts(&finished));
    for key in [
        "skipped",
        "failed",
        "undone",
        "deleted",
        "objects_written",
        "bytes_written",
        "mean_png_bytes",
    ] {
        assert_eq!(single[key], finished[key], "{key}");
    }
    assert_eq!(chart_files(one.path()), chart_files(two.path()));
    assert!(two.path().join("reports/latest.json").exists());
    assert!(two.path().join("author-monthly-stats/index.html").exists());
    // The lease was released: a run may follow at once.
    let lease: serde_json::Value =
        serde_json::from_slice(&std::fs::read(two.path().join("reports/lease.json")).unwrap())
            .unwrap();
    assert_eq!(lease["released"], true);
    let charts = chart_files(two.path());

    // REQ-TR-008: after the finish, a replayed render publishes nothing (the
    // plan's lease is no longer the run's), and a second finish changes
    // nothing and answers with the first one's report.
    let replay = render_all(work_s, two_s, &shards[..1], &[], &[]).await;
    assert_eq!(replay[0].status.code(), Some(1));
    assert!(
        error_of(&replay[0]).contains("[LeaseLost]"),
        "{}",
        error_of(&replay[0])
    );
    let latest = std::fs::read(two.path().join("reports/latest.json")).unwrap();
    let second =
        ok_report(&author_stats(&["finish", "--work", work_s, "--dest", two_s], &[]).await);
    assert_eq!(report_counts(&second), report_counts(&finished));
    assert_eq!(
        std::fs::read(two.path().join("reports/latest.json")).unwrap(),
        latest
    );
    assert_eq!(chart_files(two.path()), charts);
    assert_eq!(chart_files(one.path()), charts);
}

/// Every chart object under the charts prefix of the test server's charts bucket.
async fn s3_charts(server: &S3Server) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for key in server.keys(CHARTS_BUCKET).await {
        if let Some(name) = key.strip_prefix("author-monthly-stats/")
            && (name.ends_with(".png") || name.ends_with(".json"))
        {
            out.push((name.to_string(), server.get(CHARTS_BUCKET, &key).await));
        }
    }
    out
}

// REQ-SC-002, REQ-SC-003: on S3, with the work under the charts bucket's
// private work/ prefix, and a render that fails and is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_render_retried_publishes_the_same_charts_on_s3() {
    let server = S3Server::with_fixtures().await;
    let env = server.env();
    let work = "s3://charts-bucket/work/test-run-1";
    let s3 = ["--s3-force-path-style", "--max-bad-share", "0.2"];
    let plan_args = [
        &[
            "plan",
            "--source",
            "s3://source-bucket",
            "--work",
            work,
            "--dest",
            "s3://charts-bucket",
            "--run-id",
            "test-run-1",
            "--shard-authors",
            "1",
        ][..],
        BACKFILL,
        &s3,
    ]
    .concat();
    let shards = shards_of(&author_stats(&plan_args, &env).await);
    assert_eq!(shards.len(), 3, "three authors to draw, one a shard");
    assert!(
        server
            .keys(CHARTS_BUCKET)
            .await
            .contains(&"work/test-run-1/plan.json".to_string())
    );

    server.faults.lock().unwrap().put_always_fails = vec!["sato-taro.png".into()];
    let renders = render_all(work, "s3://charts-bucket", &shards, &s3, &env).await;
    let failed: Vec<&Output> = renders.iter().filter(|o| !o.status.success()).collect();
    assert_eq!(failed.len(), 1, "only sato-taro's shard fails");
    assert!(
        error_of(failed[0]).contains("[PublishFailed]"),
        "{}",
        error_of(failed[0])
    );
    let finish = [
        &["finish", "--work", work, "--dest", "s3://charts-bucket"][..],
        &s3,
    ]
    .concat();
    // Finished with the failure in it, the run ends as a run would: the failed
    // chart named, the report written and carried by the error.
    let early = author_stats(&finish, &env).await;
    assert_eq!(early.status.code(), Some(1));
    assert!(
        error_of(&early).contains("[PublishFailed]"),
        "{}",
        error_of(&early)
    );
    let early = report_of(&early);
    assert_eq!(early["failed"][0]["slug"], "sato-taro", "{early}");
    assert!(early["report_location"].as_str().is_some(), "{early}");

    server.faults.lock().unwrap().put_always_fails.clear();
    for out in render_all(work, "s3://charts-bucket", &shards, &s3, &env).await {
        assert!(out.status.success(), "{}", error_of(&out));
    }
    let finished = ok_report(&author_stats(&finish, &env).await);

    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    let dest = tempfile::tempdir().unwrap();
    let single = ok_report(&run_local(src.path(), dest.path(), BACKFILL).await);
    assert_eq!(
        report_counts(&single)["posts"],
        report_counts(&finished)["posts"]
    );
    let a = &finished["authors"];
    assert_eq!(
        a["published"].as_u64().unwrap() + a["unchanged"].as_u64().unwrap(),
        single["authors"]["published"].as_u64().unwrap(),
        "{a}"
    );
    assert_eq!(s3_charts(&server).await, chart_files(dest.path()));
    assert!(
        server
            .keys(CHARTS_BUCKET)
            .await
            .contains(&"reports/latest.json".to_string())
    );
}

// REQ-SC-004: what a step is given is checked before anything is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_refuse_a_missing_plan_or_shard() {
    let (work, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (w, d) = (work.path().to_str().unwrap(), dest.path().to_str().unwrap());
    let render = author_stats(
        &["render", "--work", w, "--shard", "00000", "--dest", d],
        &[],
    )
    .await;
    assert_eq!(render.status.code(), Some(1));
    assert!(
        error_of(&render).contains("[WorkInvalid]") && error_of(&render).contains("no plan here"),
        "{}",
        error_of(&render)
    );
    let bad = author_stats(
        &["render", "--work", w, "--shard", "../x", "--dest", d],
        &[],
    )
    .await;
    assert_eq!(bad.status.code(), Some(2), "{}", error_of(&bad));
    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    let plan = author_stats(
        &[
            &[
                "plan",
                "--source",
                src.path().to_str().unwrap(),
                "--work",
                w,
                "--dest",
                d,
                "--max-bad-share",
                "0.2",
            ][..],
            BACKFILL,
        ]
        .concat(),
        &[],
    )
    .await;
    assert_eq!(shards_of(&plan), vec!["00000".to_string()]);
    let missing = author_stats(
        &["render", "--work", w, "--shard", "00007", "--dest", d],
        &[],
    )
    .await;
    assert!(
        error_of(&missing).contains("has no shard \"00007\""),
        "{}",
        error_of(&missing)
    );
    // A step given another theme than the plan's would draw other charts
    // than the ones selected: refused, nothing drawn.
    let theme = work.path().join("green.json");
    std::fs::write(&theme, r##"{"bar": "#2f855a"}"##).unwrap();
    let themed = author_stats(
        &[
            "render",
            "--work",
            w,
            "--shard",
            "00000",
            "--dest",
            d,
            "--theme",
            theme.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(
        error_of(&themed).contains("[WorkInvalid]") && error_of(&themed).contains("theme"),
        "{}",
        error_of(&themed)
    );
}

// REQ-SC-003, REQ-RL-001, REQ-FR-007: a plan's lease released by hand and
// taken by a newer run: no render of the older plan puts a chart (LeaseLost,
// checked before each write), and a plan that publishes needs its destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_never_publishes_over_a_newer_run() {
    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    let (work, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (w, d) = (work.path().to_str().unwrap(), dest.path().to_str().unwrap());
    let plan_args = |dest: Option<&str>| {
        let mut args: Vec<String> = [
            "plan",
            "--source",
            src.path().to_str().unwrap(),
            "--work",
            w,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        if let Some(dest) = dest {
            args.extend(["--dest".to_string(), dest.to_string()]);
        }
        args.extend(["--max-bad-share", "0.2"].iter().map(ToString::to_string));
        args.extend(BACKFILL.iter().map(ToString::to_string));
        args
    };
    let without: Vec<String> = plan_args(None);
    let without: Vec<&str> = without.iter().map(String::as_str).collect();
    let refused = author_stats(&without, &[]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        error_of(&refused).contains("--dest"),
        "{}",
        error_of(&refused)
    );
    let with: Vec<String> = plan_args(Some(d));
    let with: Vec<&str> = with.iter().map(String::as_str).collect();
    let shards = shards_of(&author_stats(&with, &[]).await);
    // The operator releases the plan's lease; a newer run takes it and publishes.
    std::fs::remove_file(dest.path().join("reports/lease.json")).unwrap();
    let newer = [
        "--lookback-days",
        "5475",
        "--as-of",
        "2025-11-26T17:45:00Z",
        "--max-export-age-hours",
        "0",
    ];
    ok_report(&run_local(src.path(), dest.path(), &newer).await);
    let before = chart_files(dest.path());
    let render = author_stats(
        &["render", "--work", w, "--shard", &shards[0], "--dest", d],
        &[],
    )
    .await;
    assert_eq!(render.status.code(), Some(1));
    assert!(
        error_of(&render).contains("[LeaseLost]"),
        "{}",
        error_of(&render)
    );
    assert_eq!(chart_files(dest.path()), before, "nothing was put");
}

// REQ-TR-008: a plan made again under a used run_id cannot be finished from
// the old plan's done/ files (each carries its plan's nonce), and a finish
// replayed after a newer run published is refused instead of rewinding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replan_or_a_late_finish_cannot_publish_old_work() {
    let src = tempfile::tempdir().unwrap();
    sample_data(src.path(), 600, 30, &[]).await;
    let (dest, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (src_s, dest_s) = (src.path().to_str().unwrap(), dest.path().to_str().unwrap());
    let work_s = work.path().to_str().unwrap();
    let stale_ok = ["--max-export-age-hours", "0"];
    // Planned twice under the same run_id (a retry, or by hand): the second
    // plan takes over its own run id's lease and disowns the first's shards.
    let plan_args = [
        &[
            "plan", "--source", src_s, "--work", work_s, "--dest", dest_s, "--run-id", "r1",
        ][..],
        BACKFILL,
        &stale_ok,
        &["--shard-authors", "10"],
    ]
    .concat();
    let shards = shards_of(&author_stats(&plan_args, &[]).await);
    for out in render_all(work_s, dest_s, &shards, &[], &[]).await {
        assert!(out.status.success(), "{}", error_of(&out));
    }
    shards_of(&author_stats(&plan_args, &[]).await);
    let finish = ["finish", "--work", work_s, "--dest", dest_s];
    let out = author_stats(&finish, &[]).await;
    assert!(
        error_of(&out).contains("[RunIncomplete]"),
        "{}",
        error_of(&out)
    );
    assert!(!dest.path().join("reports/latest.json").exists());

    // Rendered again under the new plan, it finishes; then a newer run
    // publishes, and a replayed finish of a fresh plan of the old as_of is
    // refused (the destination moved on).
    for out in render_all(work_s, dest_s, &shards, &[], &[]).await {
        assert!(out.status.success(), "{}", error_of(&out));
    }
    ok_report(&author_stats(&finish, &[]).await);
    // Planned a third time under the same run id after it finished: the old
    // finished.json is the old plan's, so this plan is finished for real and
    // its lease released (the next run is not RunInProgress).
    let shards = shards_of(&author_stats(&plan_args, &[]).await);
    for out in render_all(work_s, dest_s, &shards, &[], &[]).await {
        assert!(out.status.success(), "{}", error_of(&out));
    }
    let again = ok_report(&author_stats(&finish, &[]).await);
    assert!(again["stages"]["draw_and_publish_ms"].is_u64(), "{again}");
    let next = [
        &["run", "--source", src_s, "--dest", dest_s][..],
        BACKFILL,
        &stale_ok,
    ]
    .concat();
    ok_report(&author_stats(&next, &[]).await);
    let old = tempfile::tempdir().unwrap();
    let old_s = old.path().to_str().unwrap();
    let old_plan = [
        &[
            "plan", "--source", src_s, "--work", old_s, "--dest", dest_s, "--run-id", "r0",
        ][..],
        BACKFILL,
        &stale_ok,
    ]
    .concat();
    let old_shards = shards_of(&author_stats(&old_plan, &[]).await);
    let latest = dest.path().join("reports/latest.json");
    let mut report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&latest).unwrap()).unwrap();
    // A newer run published (its as_of a day later than this plan's).
    let as_of = chrono::DateTime::parse_from_rfc3339(report["as_of"].as_str().unwrap()).unwrap()
        + chrono::Duration::days(1);
    report["as_of"] = as_of.to_rfc3339().into();
    std::fs::write(&latest, serde_json::to_vec(&report).unwrap()).unwrap();
    let before = std::fs::read(&latest).unwrap();
    for out in render_all(old_s, dest_s, &old_shards, &[], &[]).await {
        assert!(
            error_of(&out).contains("[AsOfRewind]"),
            "{}",
            error_of(&out)
        );
    }
    let out = author_stats(&["finish", "--work", old_s, "--dest", dest_s], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        error_of(&out).contains("[AsOfRewind]") || error_of(&out).contains("[RunIncomplete]"),
        "{}",
        error_of(&out)
    );
    assert_eq!(std::fs::read(&latest).unwrap(), before);
}
