//! The finish step: merges the shards' outcomes into the run report (the same
//! schema, reconciling), prunes, and ends the run as a single run would
//! (`reports/latest.json`, the review page). It holds one outcome per
//! selected author.
//!
//! It owns the one thing a run does that the steps must agree on: the chart
//! state the renders landed ([`record_finished`] accepts only the plan's
//! state or its own earlier write), and it finishes a plan once
//! (`finished.json`, stamped with the plan's nonce). Everything else is a
//! run's own stages, so the steps publish what one run would.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use tracing::{info, warn};

use crate::deadline::{bounded, ms, within};
use crate::error::{Failed, RunError};
use crate::lease::Kept;
use crate::modes::render::LEASE_WATCH;
use crate::pipeline::{Pipeline, RunContext};
use crate::report::RunReport;
use crate::stages::end::end_published;
use crate::stages::prune::{list_charts, prune};
use crate::stages::publish::record_charts;
use crate::stages::state::{landed, read_chart_state, record_published, state_key};
use crate::store::{Store, StoreError};
use crate::work::{
    FINISHED_KEY, MASTER_SLUGS_KEY, ShardReport, WorkPlan, check_destination, done_key, get_json,
    get_work, put_json, read_plan, work_error,
};

/// Merges the shard reports into the run report, prunes, writes the report,
/// `reports/latest.json` and the review page, and releases the lease: the end
/// of a run, with the same outcome and error a single run would have.
pub async fn finish(
    pipeline: &Pipeline,
    work: &dyn Store,
    deadline: Option<Instant>,
) -> Result<RunReport, Failed> {
    let started = Instant::now();
    let reads = async {
        let plan = read_plan(pipeline, work).await?;
        let finished = get_json::<Finished>(work, FINISHED_KEY).await?;
        Ok((plan, finished))
    };
    let (plan, finished) = bounded(deadline, "reading the plan", reads).await?;
    // A plan is finished once: a second finish (a replay, a retry whose reply
    // was lost) changes nothing and answers with the first one's report. A
    // finish of an earlier plan under the same run id is not this plan's.
    match finished {
        Some(done) if done.plan_nonce == plan.nonce => {
            warn!(run_id = %plan.run_id, location = %work.describe(FINISHED_KEY),
                  "this plan was finished already; nothing changed");
            return Ok(done.report);
        }
        Some(_) => info!(run_id = %plan.run_id,
                         "the finish there is an earlier plan's under this run id; finishing this one"),
        None => {}
    }
    check_destination(pipeline, &plan, deadline).await?;
    let (lease, nonce) = (plan.lease.clone(), plan.nonce.clone());
    let result = finish_stages(pipeline, work, plan, deadline, started).await;
    // Only a finish that succeeded frees the lease; a failed one leaves it to
    // expire, so no other run publishes over a half-finished one meanwhile.
    if let Ok(report) = &result {
        let done = FinishedRef {
            plan_nonce: &nonce,
            report,
        };
        put_json(work, FINISHED_KEY, &done).await?;
        if let Some(held) = lease {
            held.release(pipeline.dest.as_ref(), Utc::now()).await;
        }
    }
    result
}

/// `finished.json`: the report of a finished plan, stamped with that plan's
/// nonce, so it answers for that plan only.
#[derive(serde::Deserialize)]
struct Finished {
    plan_nonce: String,
    report: RunReport,
}

#[derive(serde::Serialize)]
struct FinishedRef<'a> {
    plan_nonce: &'a str,
    report: &'a RunReport,
}

async fn finish_stages(
    pipeline: &Pipeline,
    work: &dyn Store,
    plan: WorkPlan,
    deadline: Option<Instant>,
    started: Instant,
) -> Result<RunReport, Failed> {
    let run = RunContext::since(pipeline, &plan.spec, deadline, plan.started_at);
    let reading = futures::stream::iter(plan.shards.iter())
        .map(|s| async move {
            (
                s.shard.clone(),
                get_json::<ShardReport>(work, &done_key(&s.shard)).await,
            )
        })
        .buffered(pipeline.config.upload_concurrency.max(1))
        .collect::<Vec<(String, Result<Option<ShardReport>, RunError>)>>();
    let reads = bounded(deadline, "reading the shards' reports", async {
        Ok(reading.await)
    })
    .await?;
    let mut missing = Vec::new();
    let mut shards = Vec::with_capacity(reads.len());
    for (id, read) in reads {
        match read? {
            Some(report)
                if report.summary.run_id == plan.run_id && report.plan_nonce == plan.nonce =>
            {
                shards.push(report);
            }
            Some(_) | None => missing.push(id),
        }
    }
    if !missing.is_empty() {
        return Err(RunError::Incomplete {
            run_id: plan.run_id.clone(),
            missing,
        }
        .into());
    }

    let mut report = plan.report;
    let mut charts = Vec::with_capacity(plan.to_draw);
    let mut cards = Vec::with_capacity(plan.to_draw);
    let mut took = Duration::ZERO;
    for shard in shards {
        took += Duration::from_millis(shard.summary.draw_and_publish_ms);
        report.s3_retries += shard.s3_retries;
        cards.extend(shard.cards);
        charts.extend(shard.charts);
    }
    // A run records its charts in slug order.
    charts.sort_by(|a, b| a.slug.cmp(&b.slug));
    let landed = landed(&charts);
    record_charts(&mut report, charts, &mut cards, took);

    let master_text = bounded(
        deadline,
        "reading the master's slugs",
        get_work(work, MASTER_SLUGS_KEY),
    )
    .await?
    .ok_or_else(|| work_error(work, MASTER_SLUGS_KEY, "missing: the plan is not whole"))?;
    let master_text = String::from_utf8(master_text)
        .map_err(|e| work_error(work, MASTER_SLUGS_KEY, e.to_string()))?;
    let master: HashSet<&str> = master_text.lines().filter(|l| !l.is_empty()).collect();
    // The deletions wait on the plan's lease, watched while they run.
    let watched = plan
        .lease
        .clone()
        .filter(|_| !plan.spec.dry_run)
        .map(|l| Kept::watch(l, Arc::clone(&pipeline.dest), LEASE_WATCH));
    // Cut short by the deadline, it is not known: nothing is pruned.
    let existing = within(deadline, list_charts(pipeline)).await.flatten();
    let prune_guard = prune(
        &run,
        &master,
        existing.as_ref(),
        &mut report,
        watched.as_ref(),
    )
    .await;
    if !plan.spec.dry_run {
        let planned = (plan.nonce.as_str(), plan.chart_state_etag.as_deref());
        record_finished(pipeline, planned, &landed, &report, watched.as_ref()).await?;
    }
    run.account(&mut report);
    info!(run_id = %plan.run_id, ms = ms(started.elapsed()), "shards merged and pruned");
    end_published(&run, report, &cards, prune_guard).await
}

/// Records the charts the renders landed in the chart state, over the state
/// the plan wrote (or this plan's earlier finish): anything else means
/// another run wrote it meanwhile.
async fn record_finished(
    pipeline: &Pipeline,
    (nonce, planned_etag): (&str, Option<&str>),
    landed: &[(String, String)],
    report: &RunReport,
    lease: Option<&Kept>,
) -> Result<(), Failed> {
    let mut stored = read_chart_state(pipeline)
        .await
        .map_err(|guard| Failed::with(RunError::Guard(guard), report.clone()))?;
    let ours = stored.state.written_by.as_deref() == Some(nonce);
    if stored.etag.as_deref() != planned_etag && !ours {
        return Err(RunError::StateConflict(StoreError::PreconditionFailed {
            location: pipeline.dest.describe(&state_key(pipeline)),
        })
        .into());
    }
    Ok(record_published(pipeline, &mut stored, landed, report, lease, Some(nonce)).await?)
}
