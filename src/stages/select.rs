//! Stage 3, select: the authors to draw (active in the window, or named by
//! the request), taken one at a time; the skipped ones go into the report.

use std::time::Duration;

use chrono::{DateTime, Utc};

use tracing::{info, warn};

use crate::pipeline::ms;
use crate::report::{PreviousRun, RunReport, SkippedAuthor};
use crate::request::RunSpec;
use crate::tally::{MonthlyCounts, SkipReason, Tally};

/// One author to draw: the master's `id` and the chart's data.
pub(crate) struct ToDraw {
    pub(crate) id: String,
    pub(crate) counts: MonthlyCounts,
}

/// Picks the authors to draw, one at a time as the caller takes them (a plan
/// writes each into its shard and forgets it); `authors.active` is set before
/// the first (and returned: at most that many are drawn), and the skipped ones
/// go into the report as they come.
pub(crate) fn select_authors<'t>(
    tally: &'t Tally,
    plan: &RunSpec,
    report: &'t mut RunReport,
) -> (usize, impl Iterator<Item = ToDraw> + 't) {
    for p in &report.master_problems {
        warn!(id = %p.id, slug = %p.slug, reason = p.reason.key(), "author master problem; this author is never drawn");
    }
    // The first run of a calendar month (the site's zone) redraws everyone
    // with a post, so no published chart's months end before the current one
    // and no "last 12 months" total stays frozen for an author who stopped.
    let window_start = if monthly_redraw(tally, plan, report.previous.as_ref()) {
        report.monthly_redraw = true;
        info!(as_of = %plan.as_of, "first run of a new month: every author with a post is redrawn");
        DateTime::<Utc>::MIN_UTC
    } else {
        plan.window_start()
    };
    let picks = tally.picks(window_start, plan.authors.as_ref());
    report.authors.active = picks.len();
    let active = picks.len();
    let to_draw = picks.into_iter().filter_map(move |pick| {
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
    });
    (active, to_draw)
}

/// Whether this run is the first of a new calendar month: the last published
/// run's `as_of` fell in an earlier month (in the site's zone). A request that
/// names its authors draws those only; a first run (no last run) draws its
/// window, since nothing was published that could be stale.
pub(crate) fn monthly_redraw(
    tally: &Tally,
    plan: &RunSpec,
    previous: Option<&PreviousRun>,
) -> bool {
    plan.authors.is_none()
        && previous.is_some_and(|p| tally.month_of(p.as_of) < tally.month_of(plan.as_of))
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
