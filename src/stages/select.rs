//! Stage 3, select: the authors to draw (active in the window, or named by
//! the request), taken one at a time; the skipped ones go into the report.

use std::time::Duration;

use tracing::{info, warn};

use crate::pipeline::ms;
use crate::report::{RunReport, SkippedAuthor};
use crate::request::RunSpec;
use crate::tally::{MonthlyCounts, SkipReason, Tally};

/// One author to draw: the master's `id` and the chart's data.
pub(crate) struct ToDraw {
    pub(crate) id: String,
    pub(crate) counts: MonthlyCounts,
}

/// Picks the authors to draw, one at a time as the caller takes them (a plan
/// writes each into its shard and forgets it); `authors.active` is set before
/// the first, and the skipped ones go into the report as they come.
pub(crate) fn select_authors<'t>(
    tally: &'t Tally,
    plan: &RunSpec,
    report: &'t mut RunReport,
) -> impl Iterator<Item = ToDraw> + 't {
    for p in &report.master_problems {
        warn!(id = %p.id, slug = %p.slug, reason = p.reason.key(), "author master problem; this author is never drawn");
    }
    let picks = tally.picks(plan.window_start(), plan.authors.as_ref());
    report.authors.active = picks.len();
    picks.into_iter().filter_map(move |pick| {
        let s = pick.resolve();
        let reason = match s.outcome {
            Ok(counts) => {
                return Some(ToDraw {
                    id: s.author.id,
                    counts,
                });
            }
            Err(reason) => reason,
        };
        warn!(slug = %s.author.slug, id = %s.author.id, reason = reason.key(), "author skipped");
        let detail = match &reason {
            SkipReason::UnsafeSlug(why) => Some(why.clone()),
            _ => None,
        };
        report.record_skipped(SkippedAuthor {
            slug: s.author.slug,
            id: s.author.id,
            reason: reason.key().to_string(),
            detail,
        });
        None
    })
}

/// The select stage's log line and time, once its authors were taken.
pub(crate) fn record_selection(report: &mut RunReport, to_draw: usize, took: Duration) {
    report.stages.select_ms = ms(took);
    info!(
        active = report.authors.active,
        to_draw,
        skipped = report.authors.skipped,
        "stage select done"
    );
}
