//! The plan step: reads both inputs once, runs every guard and selects the
//! authors, exactly as a run does, then writes the selection in shards to the
//! work location. Memory: the plan holds authors x months (the tally), never
//! the posts.
//!
//! It owns the scaled-out run's lease (taken for the state machine's whole
//! timeout, since no process lives from the plan to the finish to renew it)
//! and the shards' boundaries ([`write_shards`]); `plan.json` is written
//! last, so its presence means the plan is whole.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::Utc;
use futures::StreamExt;
use tracing::{info, warn};

use crate::deadline::{bounded, ms, within};
use crate::error::{Failed, RunError};
use crate::freshness::{Look, Present};
use crate::lease::Lease;
use crate::modes::read_judged;
use crate::modes::{LeaseTerm, take_lease};
use crate::pipeline::{Pipeline, RunContext};
use crate::request::RunSpec;
use crate::stages::prune::list_charts;
use crate::stages::select::{Published, ToDraw, record_selection, select_authors};
use crate::stages::state::write_ahead;
use crate::store::Store;
use crate::work::{
    Inputs, MASTER_SLUGS_KEY, PLAN_KEY, PLAN_VERSION, ShardAuthor, ShardRef, WorkPlan, fingerprint,
    put_json, put_work, shard_key, work_error,
};

/// How long a scaled-out run holds the destination's lease: the state
/// machine's timeout. Finish releases it sooner.
const SCALE_OUT_LEASE: chrono::Duration = chrono::Duration::hours(2);

/// How a plan is made.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub run_id: String,
    pub shard_authors: usize,
    /// Whether the pipeline's destination is the real one: the plan is judged
    /// against its last published run and its chart state and takes its
    /// lease. Only a dry run may be planned without one (`plan` given no
    /// `--dest`: the work location stands in).
    pub has_dest: bool,
}

/// Reads both inputs once, runs every guard, selects the authors and writes
/// the plan to `work`, reading within `deadline`. A guard that stops it writes
/// the report as a run would (to the destination's `reports/run-*.json`). The
/// lease it takes lasts the whole scaled-out run ([`SCALE_OUT_LEASE`]), not
/// the plan's invocation.
pub async fn plan(
    pipeline: &Pipeline,
    work: &dyn Store,
    spec: &RunSpec,
    deadline: Option<Instant>,
    options: &PlanOptions,
) -> Result<WorkPlan, Failed> {
    if !options.has_dest && !spec.dry_run {
        return Err(RunError::Work {
            location: work.describe(""),
            problem: "a plan that publishes needs its destination (--dest): it decides which \
                      charts are current from the destination's chart state and takes its lease"
                .into(),
        }
        .into());
    }
    let lease = if options.has_dest && !spec.dry_run {
        let term = LeaseTerm::Until(Utc::now() + SCALE_OUT_LEASE);
        let taking = take_lease(pipeline, &options.run_id, spec.as_of, term);
        Some(bounded(deadline, "taking the lease", taking).await?)
    } else {
        None
    };
    let planned = plan_stages(pipeline, work, spec, deadline, options, lease.clone()).await;
    if planned.is_err()
        && let Some(held) = lease
    {
        held.release(pipeline.dest.as_ref(), Utc::now()).await;
    }
    planned
}

async fn plan_stages(
    pipeline: &Pipeline,
    work: &dyn Store,
    spec: &RunSpec,
    deadline: Option<Instant>,
    options: &PlanOptions,
    lease: Option<Lease>,
) -> Result<WorkPlan, Failed> {
    let config = &pipeline.config;
    let run = RunContext::start(pipeline, spec, deadline);
    let judged = read_judged(&run).await?;
    let (mut report, tally, mut stored) = (judged.report, judged.tally, judged.stored);
    // Which charts the destination holds: a missing one is drawn.
    let existing = within(deadline, list_charts(pipeline)).await.flatten();

    let master: Vec<&str> = tally.master_slugs().into_iter().collect();
    let mut text = master.join("\n");
    text.push('\n');
    let master_written = put_work(
        work,
        MASTER_SLUGS_KEY,
        text.into_bytes(),
        "text/plain; charset=utf-8",
    );
    bounded(deadline, "writing the master's slugs", master_written).await?;

    // Each author's series is made as its shard is written, and freed then.
    let t = Instant::now();
    let look = Look::of(&config.theme);
    let published = Published {
        state: &stored.state,
        look: &look,
        present: Present {
            charts_prefix: &config.charts_prefix,
            keys: existing.as_ref(),
        },
    };
    let mut drawing = BTreeSet::new();
    let (most, to_draw) = select_authors(&tally, spec, published, &mut report);
    let to_draw = to_draw.inspect(|d| {
        drawing.insert(d.counts.slug.clone());
    });
    let per_shard = shard_size(most, options.shard_authors);
    let shards_written = write_shards(work, to_draw, per_shard, config.upload_concurrency);
    let shards = bounded(deadline, "writing the shards", shards_written).await?;
    let to_draw_count = shards.iter().map(|s| s.authors).sum();
    record_selection(&mut report, to_draw_count, t.elapsed());
    // The charts the renders will write leave the state before any is
    // written: a render stopped half-way leaves them to the next run.
    let nonce = format!("{:016x}", rand::random::<u64>());
    if !spec.dry_run {
        let slugs = drawing.iter().map(String::as_str);
        write_ahead(pipeline, &mut stored, slugs, deadline, None, Some(&nonce)).await?;
    }
    run.account(&mut report);
    let plan = WorkPlan {
        version: PLAN_VERSION,
        run_id: options.run_id.clone(),
        nonce,
        started_at: run.started_at,
        as_of: spec.as_of,
        window_start: spec.window_start(),
        time_zone: report.time_zone.clone(),
        charts_prefix: config.charts_prefix.clone(),
        look: look.clone(),
        spec: spec.clone(),
        inputs: Inputs {
            posts: fingerprint(&report.posts_file, report.posts_exported_at),
            authors: fingerprint(&report.authors_file, None),
        },
        selected: report.authors.active,
        to_draw: to_draw_count,
        shards,
        lease,
        chart_state_etag: stored.etag,
        report,
    };
    bounded(
        deadline,
        "writing the plan",
        put_json(work, PLAN_KEY, &plan),
    )
    .await?;
    info!(run_id = %plan.run_id, shards = plan.shards.len(), to_draw = plan.to_draw,
          skipped = plan.report.authors.skipped, work = %work.describe(PLAN_KEY),
          ms = ms(run.started.elapsed()), "plan written");
    Ok(plan)
}

/// The most shards a plan makes: its answer lists them (about 32 bytes
/// each), and Step Functions holds a state's data to 256 KiB; 5,000 shards
/// keep the answer under 160 KiB however large the run.
pub(crate) const MAX_SHARDS: usize = 5_000;

/// The authors per shard: as asked, or more when `active` authors would need
/// more than [`MAX_SHARDS`] shards of that size.
fn shard_size(active: usize, asked: usize) -> usize {
    let asked = asked.max(1);
    let needed = active.div_ceil(MAX_SHARDS);
    if needed > asked {
        warn!(
            active,
            asked,
            per_shard = needed,
            max_shards = MAX_SHARDS,
            "more shards than a plan's answer may list: shards are made larger"
        );
        needed
    } else {
        asked
    }
}

/// Writes the authors to draw in shards of at most `per_shard`, in selection
/// order, so shard order is the run's order. The authors are taken from the
/// selection as each shard's upload starts, and freed once written, so at most
/// `concurrency` shards are in memory.
async fn write_shards(
    work: &dyn Store,
    to_draw: impl Iterator<Item = ToDraw>,
    per_shard: usize,
    concurrency: usize,
) -> Result<Vec<ShardRef>, RunError> {
    let mut authors = to_draw;
    let mut next = 0usize;
    let shards = std::iter::from_fn(|| {
        let chunk: Vec<ToDraw> = authors.by_ref().take(per_shard.max(1)).collect();
        next += 1;
        (!chunk.is_empty()).then(|| (format!("{:05}", next - 1), chunk))
    });
    let written: Vec<Result<ShardRef, RunError>> = futures::stream::iter(shards)
        .map(|(id, chunk)| async move {
            let key = shard_key(&id);
            let authors = chunk.len();
            let mut body = Vec::new();
            for author in chunk {
                let line = ShardAuthor::from_counts(author.id, author.counts);
                serde_json::to_writer(&mut body, &line)
                    .map_err(|e| work_error(work, &key, e.to_string()))?;
                body.push(b'\n');
            }
            put_work(work, &key, body, "application/x-ndjson").await?;
            Ok(ShardRef { shard: id, authors })
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut refs = written.into_iter().collect::<Result<Vec<_>, RunError>>()?;
    refs.sort_by(|a, b| (a.shard.len(), &a.shard).cmp(&(b.shard.len(), &b.shard)));
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    // REQ-SC-007: a plan's answer is bounded whatever the run's size.
    #[test]
    fn shards_are_made_larger_rather_than_too_many() {
        assert_eq!(shard_size(100, 2_000), 2_000);
        assert_eq!(shard_size(10_000_000, 2_000), 2_000);
        assert_eq!(shard_size(10_000_001, 2_000), 2_001);
        assert_eq!(shard_size(1_100_000_000, 2_000), 220_000);
        assert_eq!(shard_size(5, 0), 1);
    }
}
