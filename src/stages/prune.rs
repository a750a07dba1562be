//! Stage 5, prune: the charts of authors no longer drawable are deleted,
//! within the `MAX_PRUNE` bound (a dry run only lists them).

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use tracing::{info, warn};

use crate::error::Guard;
use crate::pipeline::{Pipeline, within};
use crate::report::RunReport;
use crate::request::RunSpec;

/// Every key under the charts prefix, or `None` when the listing failed (then
/// every chart is checked one by one and nothing is pruned).
pub(crate) async fn list_charts(pipeline: &Pipeline) -> Option<HashSet<String>> {
    match pipeline.dest.list(&pipeline.config.charts_prefix).await {
        Ok(keys) => Some(keys),
        Err(e) => {
            warn!(error = %e, "listing the charts failed; checking each chart instead, and pruning nothing");
            None
        }
    }
}

/// The slugs of the charts (`<slug>.png`, `<slug>.json`) under the charts
/// prefix whose slug is not drawable; other objects are never candidates.
pub(crate) fn prune_candidates(
    charts_prefix: &str,
    existing: &HashSet<String>,
    drawable: &HashSet<&str>,
) -> (BTreeSet<String>, usize) {
    let mut gone = BTreeSet::new();
    let mut present = 0;
    for key in existing {
        let Some(name) = key.strip_prefix(charts_prefix) else {
            continue;
        };
        let (slug, is_png) = match (name.strip_suffix(".png"), name.strip_suffix(".json")) {
            (Some(slug), _) => (slug, true),
            (None, Some(slug)) => (slug, false),
            (None, None) => continue,
        };
        if slug.is_empty() || slug.contains('/') {
            continue;
        }
        present += usize::from(is_png);
        if drawable.contains(slug) {
            continue;
        }
        gone.insert(slug.to_string());
    }
    (gone, present)
}

/// Deletes the charts of authors who are no longer drawable, within the
/// `MAX_PRUNE` limit (a dry run only lists them). Returns the guard when the
/// limit held the deletions back.
pub(crate) async fn prune(
    pipeline: &Pipeline,
    plan: &RunSpec,
    drawable: &HashSet<&str>,
    existing: Option<&HashSet<String>>,
    deadline: Option<Instant>,
    report: &mut RunReport,
) -> Option<Guard> {
    let config = &pipeline.config;
    let existing = existing?;
    if deadline.is_some_and(|d| Instant::now() >= d) {
        warn!(
            "the deadline came before pruning; charts of removed authors stay until the next run"
        );
        return None;
    }
    let (gone, present) = prune_candidates(&config.charts_prefix, existing, drawable);
    if gone.is_empty() {
        return None;
    }
    let limit = config.prune_limit(present);
    if gone.len() > limit && !plan.allow_mass_prune {
        report.prune_withheld = gone.into_iter().collect();
        return Some(Guard::PruneTooLarge {
            count: report.prune_withheld.len(),
            limit,
        });
    }
    if plan.dry_run {
        info!(count = gone.len(), slugs = ?gone, "dry run: these charts would be deleted");
        report.deleted = gone.into_iter().collect();
        report.authors.deleted = report.deleted.len();
        return None;
    }
    for slug in gone {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            warn!("the deadline came while pruning; the rest goes in the next run");
            break;
        }
        let mut deleted = true;
        for ext in ["png", "json"] {
            let key = format!("{}{slug}.{ext}", config.charts_prefix);
            if !existing.contains(&key) {
                continue;
            }
            if let Err(e) = within(deadline, pipeline.dest.delete(&key))
                .await
                .unwrap_or(Ok(()))
            {
                warn!(key = %key, error = %e, "deleting a removed author's chart failed; it is tried again next run");
                deleted = false;
            }
        }
        if deleted {
            info!(slug = %slug, "deleted the chart of an author no longer in the master");
            report.deleted.push(slug);
        }
    }
    report.authors.deleted = report.deleted.len();
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // REQ-RL-008: only `<slug>.png` and `<slug>.json` of undrawable slugs.
    #[test]
    fn prune_candidates_are_charts_of_undrawable_slugs() {
        let keys: HashSet<String> = [
            "c/keep.png",
            "c/keep.json",
            "c/gone.png",
            "c/gone.json",
            "c/only-json.json",
            "c/index.html",
            "c/nested/x.png",
            "c/.png",
            "other/gone2.png",
        ]
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
        let drawable: HashSet<&str> = ["keep"].into_iter().collect();
        let (gone, present) = prune_candidates("c/", &keys, &drawable);
        assert_eq!(
            gone.into_iter().collect::<Vec<_>>(),
            vec!["gone".to_string(), "only-json".to_string()]
        );
        assert_eq!(present, 2);
    }
}
