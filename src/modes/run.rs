//! One whole run in one invocation. It owns the run's outline and its one
//! lease: [`run`] holds the destination's lease (renewed while it works,
//! checked before every write) around [`run_stages`], which is the outline a
//! reader follows, one call per stage, all sharing one
//! [`RunContext`]. Why it is shaped so: nothing
//! is published until both files were read whole and judged sound, and the
//! deadline covers every stage, so work still in flight when it comes is
//! abandoned and reported as undone, leaving the margin for the report.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use crate::deadline::{bounded, within};
use crate::error::{Failed, RunError};
use crate::freshness::{Look, Present};
use crate::gallery::ChartCard;
use crate::lease::Kept;
use crate::modes::read_judged;
use crate::modes::{LeaseTerm, take_lease};
use crate::pipeline::{Invocation, Pipeline, RunContext};
use crate::report::RunReport;
use crate::request::RunSpec;
use crate::stages::end::{end_published, end_unpublished};
use crate::stages::prune::{list_charts, prune};
use crate::stages::publish::{draw_and_publish, record_charts};
use crate::stages::select::{Published, record_selection, select_authors};
use crate::stages::state::{landed, record_published, write_ahead};
use crate::tally::MonthlyCounts;

/// Runs one request end to end, holding the destination's lease while it does
/// (a dry run writes nothing and takes none).
pub async fn run(
    pipeline: &Pipeline,
    spec: &RunSpec,
    invocation: &Invocation,
) -> Result<RunReport, Failed> {
    if spec.dry_run {
        return run_stages(pipeline, spec, invocation.deadline, None).await;
    }
    let ttl = pipeline.config.lease_ttl;
    let term = LeaseTerm::Renewed(ttl);
    let taking = take_lease(pipeline, &invocation.id, spec.as_of, term);
    let held = bounded(invocation.deadline, "taking the lease", taking)
        .await?
        .keep(Arc::clone(&pipeline.dest), ttl);
    let result = run_stages(pipeline, spec, invocation.deadline, Some(&held)).await;
    held.release(pipeline.dest.as_ref(), Utc::now()).await;
    result
}

/// The stages in order. `deadline`, when given, is the instant by which all
/// work stops; `lease`, when held, is checked before every write (what a newer
/// run must not see rewound).
async fn run_stages(
    pipeline: &Pipeline,
    spec: &RunSpec,
    deadline: Option<Instant>,
    lease: Option<&Kept>,
) -> Result<RunReport, Failed> {
    let still_held = || lease.map_or(Ok(()), Kept::check).map_err(RunError::Lease);
    let run = RunContext::start(pipeline, spec, deadline);
    let judged = read_judged(&run).await?;
    let (mut report, tally, mut stored) = (judged.report, judged.tally, judged.stored);

    // One listing tells which charts exist already (new ones are put without a
    // metadata request first, missing ones are drawn) and which belong to
    // authors who are gone. Cut short by the deadline, it is not known:
    // nothing is pruned.
    let existing = within(deadline, list_charts(pipeline)).await.flatten();

    let t = Instant::now();
    let look = Look::of(&pipeline.config.theme);
    let published = Published {
        state: &stored.state,
        look: &look,
        present: Present {
            charts_prefix: &pipeline.config.charts_prefix,
            keys: existing.as_ref(),
        },
    };
    let to_draw: Vec<MonthlyCounts> = select_authors(&tally, spec, published, &mut report)
        .1
        .map(|d| d.counts)
        .collect();
    record_selection(&mut report, to_draw.len(), t.elapsed());
    if !spec.dry_run {
        let slugs = to_draw.iter().map(|c| c.slug.as_str());
        if let Err(e) = write_ahead(pipeline, &mut stored, slugs, deadline, lease, None).await {
            return Err(end_unpublished(&run, report, e).await);
        }
    }

    let t = Instant::now();
    let mut cards: Vec<ChartCard> = to_draw
        .iter()
        .map(|c| ChartCard::of(c, pipeline.config.theme.light.language))
        .collect();
    let charts = draw_and_publish(&run, to_draw, existing.as_ref(), lease).await;
    let landed = landed(&charts);
    record_charts(&mut report, charts, &mut cards, t.elapsed());

    still_held()?;
    let master = tally.master_slugs().into_iter().collect();
    let prune_guard = prune(&run, &master, existing.as_ref(), &mut report, lease).await;
    run.account(&mut report);
    if !spec.dry_run {
        record_published(pipeline, &mut stored, &landed, &report, lease, None).await?;
    }
    still_held()?;
    end_published(&run, report, &cards, prune_guard).await
}
