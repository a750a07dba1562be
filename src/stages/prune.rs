//! Stage 4, prune: the charts of authors gone from the master are deleted,
//! and never on one night's word. A chart is a candidate only when no row of
//! the current master carries its slug ([`prune_candidates`]); it is deleted
//! once its author has been absent from every master read for
//! `PRUNE_GRACE_HOURS`, measured between the runs' `as_of` and tracked in
//! [`PRUNE_STATE`] ([`plan_prune`]), or at once when the request's `erase`
//! names it; `MAX_PRUNE` bounds the deletions by grace (a dry run only lists
//! them).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::cdn::invalidation_paths;
use crate::chart::Image;
use crate::chart_keys::{Object, keys_of, parse_key};
use crate::deadline::within;
use crate::error::Guard;
use crate::lease::Kept;
use crate::pipeline::{Pipeline, RunContext};
use crate::report::{InvalidationReport, PendingPrune, RunReport};
use crate::request::RunSpec;
use crate::store::ObjectHeaders;
use crate::store::changed;

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

/// The slugs with objects under the charts prefix ([`parse_key`]: any image
/// or the data) that no row of the master carries, and how many light charts
/// there are; other objects are never candidates, and an author still in the
/// master with a problem keeps theirs.
pub(crate) fn prune_candidates(
    charts_prefix: &str,
    existing: &HashSet<String>,
    master: &HashSet<&str>,
) -> (BTreeSet<String>, usize) {
    let mut gone = BTreeSet::new();
    let mut present = 0;
    for key in existing {
        let Some((slug, object)) = parse_key(charts_prefix, key) else {
            continue;
        };
        present += usize::from(object == Object::Image(Image::Light));
        if master.contains(slug) {
            continue;
        }
        gone.insert(slug.to_string());
    }
    (gone, present)
}

/// The prune state under the reports prefix: when each chart's author was
/// first found absent from the master (`as_of` of that run), so a chart is
/// deleted only once its author has been gone for `PRUNE_GRACE_HOURS`.
pub(crate) const PRUNE_STATE: &str = "prune-state.json";
const PRUNE_STATE_VERSION: u32 = 1;

/// `reports/prune-state.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PruneState {
    pub(crate) version: u32,
    /// Slug -> the `as_of` of the first run that found no master row for it.
    pub(crate) absent: BTreeMap<String, DateTime<Utc>>,
}

/// What prune decided, before any delete: the pure part of the stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrunePlan {
    /// Gone for the grace period (or named by `erase`): to delete now.
    pub(crate) due: BTreeSet<String>,
    /// Of those, the ones an `erase` named (not bound by `MAX_PRUNE`).
    pub(crate) erased: BTreeSet<String>,
    /// Absent, inside the grace period.
    pub(crate) pending: Vec<PendingPrune>,
    /// The state to keep after the deletes (the due ones drop out as deleted).
    pub(crate) state: PruneState,
}

/// Decides which candidates are due: a candidate's absence starts at the
/// first run that saw it gone (kept in `state`) and is measured between the
/// runs' `as_of`, never the wall clock; a slug back in the master leaves the
/// state. An `erase` is due at once.
pub(crate) fn plan_prune(
    candidates: &BTreeSet<String>,
    state: &PruneState,
    spec: &RunSpec,
    grace: chrono::Duration,
) -> PrunePlan {
    let mut plan = PrunePlan {
        due: BTreeSet::new(),
        erased: BTreeSet::new(),
        pending: Vec::new(),
        state: PruneState {
            version: PRUNE_STATE_VERSION,
            absent: BTreeMap::new(),
        },
    };
    for slug in candidates {
        // The clock starts at the first run that saw it gone and never moves:
        // a redraw of the past must not make a recent absence look old.
        let since = state.absent.get(slug).copied().unwrap_or(spec.as_of);
        plan.state.absent.insert(slug.clone(), since);
        if spec.erase.contains(slug) {
            plan.erased.insert(slug.clone());
            plan.due.insert(slug.clone());
        } else if spec.as_of - since >= grace {
            plan.due.insert(slug.clone());
        } else {
            plan.pending.push(PendingPrune {
                slug: slug.clone(),
                absent_since: since,
                due_at: since + grace,
            });
        }
    }
    plan
}

/// Deletes the charts of authors absent from the master for the grace period
/// (or erased), within the `MAX_PRUNE` limit (a dry run only lists them).
/// Returns the guard when the limit held the deletions back.
pub(crate) async fn prune(
    run: &RunContext<'_>,
    master: &HashSet<&str>,
    existing: Option<&HashSet<String>>,
    report: &mut RunReport,
    lease: Option<&Kept>,
) -> Option<Guard> {
    let RunContext {
        pipeline,
        spec,
        deadline,
        ..
    } = *run;
    let config = &pipeline.config;
    let existing = existing?;
    if deadline.is_some_and(|d| Instant::now() >= d) {
        warn!(
            "the deadline came before pruning; charts of removed authors stay until the next run"
        );
        return None;
    }
    let (candidates, present) = prune_candidates(&config.charts_prefix, existing, master);
    let state_key = format!("{}{PRUNE_STATE}", config.reports_prefix);
    let state = match within(deadline, read_state(pipeline, &state_key)).await {
        Some(Ok(state)) => state,
        Some(Err(problem)) => {
            // Without the clocks a deletion cannot be judged: none this run.
            warn!(location = %pipeline.dest.describe(&state_key), problem = %problem,
                  "the prune state cannot be read; nothing is pruned this run (delete the object to start the clocks again)");
            return None;
        }
        None => {
            warn!("the deadline came while reading the prune state; nothing is pruned this run");
            return None;
        }
    };
    // The absence clocks run on the newest as_of published so far: a redraw
    // of the past neither starts a clock in the past nor rewinds one.
    let mut clock = spec.clone();
    if let Some(previous) = &report.previous {
        clock.as_of = clock.as_of.max(previous.as_of);
    }
    let mut decided = plan_prune(&candidates, &state, &clock, config.prune_grace);
    report.prune_pending.clone_from(&decided.pending);
    report.erased = decided.erased.iter().cloned().collect();
    let by_grace = decided.due.len() - decided.erased.len();
    let limit = config.prune_limit(present);
    let mut guard = None;
    if by_grace > limit && !spec.allow_mass_prune {
        let withheld: Vec<String> = decided.due.difference(&decided.erased).cloned().collect();
        guard = Some(Guard::PruneTooLarge {
            count: withheld.len(),
            limit,
        });
        report.prune_withheld = withheld;
        decided.due = decided.erased.clone();
    }
    if spec.dry_run {
        info!(count = decided.due.len(), slugs = ?decided.due, "dry run: these charts would be deleted");
        report.deleted = decided.due.into_iter().collect();
        report.authors.deleted = report.deleted.len();
        return guard;
    }
    let by = Deleting {
        existing,
        deadline,
        lease,
    };
    delete_charts(pipeline, &decided.due, &by, report, &mut decided.state).await;
    invalidate_deleted(pipeline, spec, report).await;
    if let Some(Err(e)) = lease.map(Kept::check) {
        warn!(error = %e, "the lease is lost; the prune state is not written");
        return guard;
    }
    if decided.state.absent != state.absent {
        let body = serde_json::to_vec_pretty(&decided.state).unwrap_or_default();
        let headers = ObjectHeaders::no_store(changed::JSON);
        let write = pipeline.dest.put(&state_key, body, &headers);
        match within(deadline, write).await {
            Some(Ok(())) => {}
            // The next run starts the clocks of the new candidates again: a
            // later deletion, never an earlier one.
            Some(Err(e)) => warn!(error = %e, "writing the prune state failed"),
            None => warn!("the deadline came while writing the prune state"),
        }
    }
    if !decided.state.absent.is_empty() {
        info!(
            pending = decided.state.absent.len(),
            "charts of authors absent from the master, kept through the grace period"
        );
    }
    guard
}

/// Asks the CDN to forget the charts this run deleted (an erased chart must
/// not stay served from a cache): one invalidation per run, its caller
/// reference the run's `as_of` and the slugs, so a retried run does not make
/// a second one. A failure is reported, not fatal: the objects are gone.
async fn invalidate_deleted(pipeline: &Pipeline, spec: &RunSpec, report: &mut RunReport) {
    let Some(cdn) = &pipeline.cdn else {
        return;
    };
    if report.deleted.is_empty() {
        return;
    }
    let paths = invalidation_paths(&pipeline.config.charts_key_prefix(), &report.deleted);
    let reference = format!(
        "author-stats-{}-{}",
        spec.as_of.timestamp(),
        &crate::store::sha256_hex(report.deleted.join("\n").as_bytes())[..16]
    );
    let made = cdn.invalidate(paths.clone(), reference).await;
    report.invalidation = Some(InvalidationReport {
        paths,
        id: made.as_ref().ok().cloned(),
        error: made.err(),
    });
}

async fn read_state(pipeline: &Pipeline, key: &str) -> Result<PruneState, String> {
    match pipeline.dest.get(key).await {
        Ok(None) => Ok(PruneState::default()),
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Deletes each due chart (its images and data) within the deadline; a chart
/// deleted leaves the state, one cut short or failed stays in it (due again
/// next run) and is reported as undone, never as deleted.
/// What bounds the deletions: the keys known to exist, the deadline, and the
/// lease (none is deleted once it is lost).
struct Deleting<'a> {
    existing: &'a HashSet<String>,
    deadline: Option<Instant>,
    lease: Option<&'a Kept>,
}

async fn delete_charts(
    pipeline: &Pipeline,
    due: &BTreeSet<String>,
    by: &Deleting<'_>,
    report: &mut RunReport,
    state: &mut PruneState,
) {
    let config = &pipeline.config;
    let Deleting {
        existing,
        deadline,
        lease,
    } = *by;
    for slug in due {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            warn!(slug = ?slug, "the deadline came while pruning; the rest goes in the next run");
            report.prune_undone.push(slug.clone());
            continue;
        }
        if let Some(Err(e)) = lease.map(Kept::check) {
            warn!(slug = ?slug, error = %e, "the lease is lost; nothing more is deleted");
            report.prune_undone.push(slug.clone());
            continue;
        }
        let mut deleted = true;
        for key in keys_of(&config.charts_prefix, slug) {
            if !existing.contains(&key) {
                continue;
            }
            match within(deadline, pipeline.dest.delete(&key)).await {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    warn!(key = %key, error = %e, "deleting a removed author's chart failed; it is tried again next run");
                    deleted = false;
                }
                None => {
                    warn!(key = %key, "the deadline came while deleting; it is tried again next run");
                    deleted = false;
                }
            }
        }
        if deleted {
            info!(slug = ?slug, "deleted the chart of an author no longer in the master");
            report.deleted.push(slug.clone());
            state.absent.remove(slug);
        } else {
            report.prune_undone.push(slug.clone());
        }
    }
    report.authors.deleted = report.deleted.len();
}

#[cfg(test)]
mod tests {
    use super::*;

    // REQ-RL-008, REQ-TR-003: only the objects of slugs no master row carries
    // (an image or the data left alone by a stopped prune included).
    #[test]
    fn prune_candidates_are_charts_of_slugs_gone_from_the_master() {
        let keys: HashSet<String> = [
            "c/keep.png",
            "c/keep.json",
            "c/gone.png",
            "c/gone.json",
            "c/only-json.json",
            "c/dark/only-dark.png",
            "c/compact/keep.png",
            "c/index.html",
            "c/nested/x.png",
            "c/.png",
            "other/gone2.png",
        ]
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
        let master: HashSet<&str> = ["keep"].into_iter().collect();
        let (gone, present) = prune_candidates("c/", &keys, &master);
        assert_eq!(
            gone.into_iter().collect::<Vec<_>>(),
            vec![
                "gone".to_string(),
                "only-dark".to_string(),
                "only-json".to_string()
            ]
        );
        assert_eq!(present, 2);
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    // REQ-TR-003: deleted only after the grace period, measured between the
    // runs' as_of; an erase is due at once; a slug back in the master drops out.
    #[test]
    fn a_chart_is_deleted_only_after_its_author_was_gone_for_the_grace_period() {
        let grace = chrono::Duration::hours(24);
        let spec = |as_of: &str, erase: &[&str]| RunSpec {
            as_of: t(as_of),
            erase: erase.iter().map(|s| (*s).to_string()).collect(),
            ..RunSpec::default()
        };
        let gone: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        // Night 1: both first seen absent; nothing is due.
        let night1 = plan_prune(
            &gone,
            &PruneState::default(),
            &spec("2026-11-01T17:45:00Z", &[]),
            grace,
        );
        assert!(night1.due.is_empty());
        assert_eq!(night1.pending.len(), 2);
        assert_eq!(night1.state.absent["a"], t("2026-11-01T17:45:00Z"));
        // A rerun an hour later (as_of, not the wall clock): still nothing.
        let rerun = plan_prune(
            &gone,
            &night1.state,
            &spec("2026-11-01T18:45:00Z", &[]),
            grace,
        );
        assert!(rerun.due.is_empty());
        // Night 2: 24 hours later both are due, unless "b" came back.
        let only_a: BTreeSet<String> = ["a".to_string()].into();
        let night2 = plan_prune(
            &only_a,
            &night1.state,
            &spec("2026-11-02T17:45:00Z", &[]),
            grace,
        );
        assert_eq!(night2.due, only_a);
        assert!(!night2.state.absent.contains_key("b"), "back in the master");
        // An erase is due at once, on the first night.
        let erased = plan_prune(
            &gone,
            &PruneState::default(),
            &spec("2026-11-01T17:45:00Z", &["b"]),
            grace,
        );
        assert_eq!(erased.due, ["b".to_string()].into());
        assert_eq!(erased.erased, ["b".to_string()].into());
        // A grace of 0 deletes at once.
        let now = plan_prune(
            &gone,
            &PruneState::default(),
            &spec("2026-11-01T17:45:00Z", &[]),
            chrono::Duration::zero(),
        );
        assert_eq!(now.due, gone);
        // An older as_of (a redraw of the past) moves the clock neither way,
        // and deletes nothing early.
        let back = plan_prune(
            &gone,
            &night1.state,
            &spec("2026-10-01T00:00:00Z", &[]),
            grace,
        );
        assert_eq!(back.state.absent["a"], t("2026-11-01T17:45:00Z"));
        assert!(back.due.is_empty());
        let fresh = plan_prune(
            &gone,
            &PruneState::default(),
            &spec("2026-10-01T00:00:00Z", &[]),
            grace,
        );
        let after = plan_prune(
            &gone,
            &fresh.state,
            &spec("2026-10-01T01:00:00Z", &[]),
            grace,
        );
        assert!(after.due.is_empty(), "an hour after its author left");
    }
}
