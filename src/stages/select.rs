//! Stage 2, select: the authors to draw (active in the window, named by the
//! request, or with a published chart that is not current:
//! [`crate::freshness`]), taken one at a time; the skipped ones go into the
//! report.

use std::time::Duration;

use tracing::{info, warn};

use crate::deadline::ms;
use crate::freshness::{ChartState, Look, Present, fingerprint, why_draw};
use crate::report::{RunReport, SkippedAuthor, WouldDraw};
use crate::request::RunSpec;
use crate::tally::{MonthlyCounts, SkipReason, Tally};

/// One author to draw: the master's `id` and the chart's data (why it is
/// drawn is counted in the report as it is taken).
pub(crate) struct ToDraw {
    pub(crate) id: String,
    pub(crate) counts: MonthlyCounts,
}

/// What selection compares each author's chart with: the recorded
/// fingerprints, the look this run draws with, and the charts the destination
/// holds.
pub(crate) struct Published<'a> {
    pub(crate) state: &'a ChartState,
    pub(crate) look: &'a Look,
    pub(crate) present: Present<'a>,
}

/// Picks the authors to draw, one at a time as the caller takes them (a plan
/// writes each into its shard and forgets it): the ones the request wants
/// (its window or its names) and every other author whose published chart is
/// not what this run would draw ([`why_draw`]). Returns at most how many it
/// will give; `authors.active` and `drawn_by_reason` grow as they are taken,
/// and the skipped ones go into the report as they come.
pub(crate) fn select_authors<'t>(
    tally: &'t Tally,
    spec: &RunSpec,
    published: Published<'t>,
    report: &'t mut RunReport,
) -> (usize, impl Iterator<Item = ToDraw> + 't) {
    for p in &report.master_problems {
        warn!(id = ?p.id, slug = ?p.slug, reason = p.reason.key(), "author master problem; this author is never drawn");
    }
    let candidates = tally.candidates(spec.window_start(), spec.authors.as_ref());
    let most = candidates.len();
    let dry_run = spec.dry_run;
    let to_draw = candidates.into_iter().filter_map(move |pick| {
        let wanted = pick.wanted;
        let s = pick.resolve();
        let reason = match s.outcome {
            Ok(counts) => {
                let fingerprint = fingerprint(&counts, published.look);
                let reason = why_draw(
                    wanted,
                    &counts.slug,
                    &fingerprint,
                    published.state,
                    published.look,
                    &published.present,
                )?;
                report.authors.active += 1;
                *report
                    .drawn_by_reason
                    .entry(reason.key().to_string())
                    .or_default() += 1;
                if dry_run {
                    report.would_draw.push(WouldDraw {
                        slug: counts.slug.clone(),
                        reason: reason.key().to_string(),
                    });
                }
                return Some(ToDraw {
                    id: s.author.id,
                    counts,
                });
            }
            Err(reason) => reason,
        };
        report.authors.active += 1;
        warn!(slug = ?s.author.slug, id = ?s.author.id, reason = reason.key(), "author skipped");
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
    (most, to_draw)
}

/// The select stage's log line and time, once its authors were taken.
pub(crate) fn record_selection(report: &mut RunReport, to_draw: usize, took: Duration) {
    report.stages.select_ms = ms(took);
    info!(
        active = report.authors.active,
        to_draw,
        skipped = report.authors.skipped,
        by_reason = ?report.drawn_by_reason,
        "stage select done"
    );
}
