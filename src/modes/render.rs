//! The render step: draws and publishes one shard's charts exactly as a run
//! would, after checking that the destination has not moved on since the
//! plan. A render holds one shard in memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::info;

use crate::deadline::{bounded, ms};
use crate::error::{Failed, RunError};
use crate::gallery::ChartCard;
use crate::lease::Kept;
use crate::pipeline::{Pipeline, RunContext};
use crate::report::ChartOutcome;
use crate::stages::publish::draw_and_publish;
use crate::store::Store;
use crate::work::{
    ShardReport, ShardSummary, check_destination, done_key, put_json, read_plan, read_shard,
    shard_of,
};

/// How often a render reads the plan's lease while it writes: one small GET
/// per render every half second bounds the writes after a release to those
/// already in flight or started within it.
pub(crate) const LEASE_WATCH: Duration = Duration::from_millis(500);

/// Draws and publishes one shard's charts exactly as a run would, and writes
/// the shard's outcomes to `done/<id>.json`. Fails (after writing them) when a
/// chart failed or was left undone, so the caller retries the shard.
pub async fn render(
    pipeline: &Pipeline,
    work: &dyn Store,
    shard: &str,
    deadline: Option<Instant>,
) -> Result<ShardSummary, Failed> {
    let start = (Instant::now(), pipeline.s3_retries());
    let plan = bounded(deadline, "reading the plan", read_plan(pipeline, work)).await?;
    let run = RunContext::started_at(pipeline, &plan.spec, deadline, start);
    let shard_ref = shard_of(&plan, work, shard)?.clone();
    check_destination(pipeline, &plan, deadline).await?;
    let reading = read_shard(work, &plan, &shard_ref);
    let to_draw = bounded(deadline, "reading the shard", reading).await?;
    let cards: Vec<ChartCard> = to_draw
        .iter()
        .map(|c| ChartCard::of(c, pipeline.config.theme.light.language))
        .collect();
    info!(run_id = %plan.run_id, shard, authors = to_draw.len(), "render started");
    // Every write waits on the plan's lease, watched while the shard is drawn:
    // once it is released, taken over or expired, nothing more is written.
    let watched = plan
        .lease
        .clone()
        .filter(|_| !plan.spec.dry_run)
        .map(|l| Kept::watch(l, Arc::clone(&pipeline.dest), LEASE_WATCH));
    // Without a listing, each chart is checked against the destination (a HEAD)
    // before it is put: a shard cannot afford to list every chart.
    let charts = draw_and_publish(&run, to_draw, None, watched.as_ref()).await;
    drop(watched);
    let count = |f: fn(&ChartOutcome) -> bool| charts.iter().filter(|c| f(&c.outcome)).count();
    let summary = ShardSummary {
        run_id: plan.run_id.clone(),
        shard: shard.to_string(),
        authors: charts.len(),
        published: count(|o| matches!(o, ChartOutcome::Published { .. })),
        unchanged: count(|o| matches!(o, ChartOutcome::Unchanged { .. })),
        failed: count(|o| matches!(o, ChartOutcome::Failed(_))),
        undone: count(|o| matches!(o, ChartOutcome::Undone)),
        draw_and_publish_ms: ms(run.started.elapsed()),
    };
    let report = ShardReport {
        summary,
        plan_nonce: plan.nonce.clone(),
        s3_retries: run.retries(),
        charts,
        cards,
    };
    // The charts this report names as published are durable before it is:
    // the finish vouches for them in the chart state on its word.
    if !plan.spec.dry_run {
        bounded(deadline, "syncing the shard's charts", async {
            pipeline.dest.sync().await.map_err(RunError::Destination)
        })
        .await?;
    }
    put_json(work, &done_key(shard), &report).await?;
    let summary = report.summary;
    info!(
        shard,
        published = summary.published,
        unchanged = summary.unchanged,
        failed = summary.failed,
        undone = summary.undone,
        ms = summary.draw_and_publish_ms,
        "render finished"
    );
    if summary.failed > 0 || summary.undone > 0 {
        return Err(RunError::Shard {
            shard: shard.to_string(),
            failed: summary.failed,
            undone: summary.undone,
        }
        .into());
    }
    Ok(summary)
}
