//! The run report: what was read, what was skipped and why, what every selected
//! author came to, and how long each stage took. It always reconciles:
//! `active = published + unchanged + skipped + failed + undone + not_published`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::records::LineStats;
use crate::tally::{MasterProblem, PostCounts};

/// What one file contributed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    pub location: String,
    #[serde(flatten)]
    pub lines: LineStats,
}

/// An author that was selected but not drawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedAuthor {
    pub slug: String,
    pub id: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An author whose chart could not be drawn or written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedAuthor {
    pub slug: String,
    pub error: String,
}

/// Counts of what happened to the selected authors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorCounts {
    /// Selected: wanted by the request (its window or its names), or with a
    /// published chart that is not current (`drawn_by_reason` says which).
    pub active: usize,
    /// At least one of the chart and its data was written.
    pub published: usize,
    /// Chart and data already identical in the destination.
    pub unchanged: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Not started before the deadline.
    pub undone: usize,
    /// Drawn in a dry run, nothing written.
    pub not_published: usize,
    /// Charts of authors no longer drawable in the master, deleted (or, in a
    /// dry run, that would be). Not part of `active`.
    pub deleted: usize,
}

/// Milliseconds per stage. Drawing and publishing overlap: `draw_and_publish` is
/// their wall time, `draw_cpu` the summed drawing time across threads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTimes {
    pub read_authors_ms: u64,
    pub read_posts_ms: u64,
    pub select_ms: u64,
    pub draw_and_publish_ms: u64,
    pub draw_cpu_ms: u64,
    pub total_ms: u64,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunReport {
    pub as_of: DateTime<Utc>,
    pub window_start: DateTime<Utc>,
    pub lookback_days: u32,
    pub time_zone: String,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_authors: Option<Vec<String>>,
    pub posts_file: FileReport,
    pub authors_file: FileReport,
    /// Posts not counted in any month, by cause, and those counted.
    pub posts: PostCounts,
    /// Every problem in the author master, active author or not.
    pub master_problems: Vec<MasterProblem>,
    pub authors: AuthorCounts,
    pub skipped: Vec<SkippedAuthor>,
    pub failed: Vec<FailedAuthor>,
    pub undone: Vec<String>,
    /// Skipped authors by reason.
    pub skipped_by_reason: BTreeMap<String, usize>,
    /// Objects written and their bytes.
    pub objects_written: usize,
    pub bytes_written: u64,
    /// Mean PNG size over the charts drawn.
    pub mean_png_bytes: u64,
    /// Requests the S3 client sent again after a transient error (source and
    /// destination), up to the end of publishing, plus ranged reads resumed
    /// after a dropped connection.
    pub s3_retries: u64,
    pub stages: StageTimes,
    /// Slugs whose chart and data were deleted (in a dry run: would be).
    pub deleted: Vec<String>,
    /// Slugs that would have been deleted, kept because more than `MAX_PRUNE`
    /// would have gone (`PruneTooLarge`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prune_withheld: Vec<String>,
    /// Charts whose author is absent from the master, kept until the prune
    /// grace period has passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prune_pending: Vec<PendingPrune>,
    /// The `CloudFront` invalidation made for the charts this run deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidation: Option<InvalidationReport>,
    /// Slugs deleted at once because the request's `erase` named them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub erased: Vec<String>,
    /// The charts selected to be drawn, by the first reason that selected
    /// each (`window`, `named`, `missing`, `new`, `theme`, `renderer`,
    /// `changed`: [`crate::freshness::DrawReason`]).
    #[serde(default)]
    pub drawn_by_reason: BTreeMap<String, usize>,
    /// In a dry run, each chart it would draw and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_draw: Vec<WouldDraw>,
    /// Charts due for deletion that the deadline or an error left (the next
    /// run deletes them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prune_undone: Vec<String>,
    /// The `as_of` and counted posts of the last published run this run was
    /// checked against, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousRun>,
    /// Objects under a parts prefix that are not named as parts, not read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_objects: Vec<String>,
    /// When the posts export was last written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posts_exported_at: Option<DateTime<Utc>>,
    /// Why the run failed, when it did (the report is written either way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ReportedError>,
    /// Where this report was written, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_location: Option<String>,
}

/// What `CloudFront` was asked to forget after the deletions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidationReport {
    /// The paths sent (the objects deleted, or one wildcard).
    pub paths: Vec<String>,
    /// The invalidation's id, when it was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why it was not made (the deleted charts stay cached until they expire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A chart a dry run would draw, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WouldDraw {
    pub slug: String,
    pub reason: String,
}

/// A chart kept through the prune grace period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPrune {
    pub slug: String,
    /// The `as_of` of the first run that found no master row for it.
    pub absent_since: DateTime<Utc>,
    /// The `as_of` from which a run deletes it.
    pub due_at: DateTime<Utc>,
}

/// What a run remembers of the last published run (`reports/latest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousRun {
    pub as_of: DateTime<Utc>,
    /// Posts counted in a month by that run.
    pub posts_counted: u64,
    /// The `ETag` of `latest.json` as read: this run replaces that object
    /// only (a run that lost its lease cannot rewind a newer run's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

impl PreviousRun {
    /// Reads the two facts from a report's JSON; `None` when it has neither.
    pub(crate) fn from_report_json(bytes: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let as_of = value.get("as_of")?.as_str()?;
        Some(PreviousRun {
            as_of: DateTime::parse_from_rfc3339(as_of)
                .ok()?
                .with_timezone(&Utc),
            posts_counted: value.get("posts")?.get("counted")?.as_u64()?,
            etag: None,
        })
    }
}

/// A failed run's error, as the Lambda reply and the CLI give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedError {
    pub error_type: String,
    pub message: String,
}

/// What became of one selected author's chart (also what a render writes of
/// each chart for the finish).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartOutcome {
    /// At least one of the PNG and its JSON was written.
    Published {
        bytes: u64,
        objects: usize,
        png_bytes: u64,
    },
    /// Both already identical in the destination.
    Unchanged {
        png_bytes: u64,
    },
    /// Drawn in a dry run.
    NotPublished {
        png_bytes: u64,
    },
    Failed(String),
    /// Not finished before the deadline.
    Undone,
}

/// One selected author's chart: its slug, outcome and drawing time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChartResult {
    pub slug: String,
    /// The fingerprint of what was drawn ([`crate::freshness::fingerprint`]).
    #[serde(default)]
    pub fingerprint: String,
    pub outcome: ChartOutcome,
    pub draw_cpu: std::time::Duration,
}

impl AuthorCounts {
    /// The accounted-for total that must equal `active`.
    pub(crate) fn accounted(&self) -> usize {
        self.published
            + self.unchanged
            + self.skipped
            + self.failed
            + self.undone
            + self.not_published
    }
}

impl RunReport {
    /// True when every selected author is accounted for exactly once.
    pub fn reconciles(&self) -> bool {
        self.authors.active == self.authors.accounted()
            && self.authors.skipped == self.skipped.len()
            && self.authors.failed == self.failed.len()
            && self.authors.undone == self.undone.len()
            && self.skipped_by_reason.values().sum::<usize>() == self.skipped.len()
            && self.authors.deleted == self.deleted.len()
    }

    /// Accounts for one selected author that was skipped before drawing.
    pub(crate) fn record_skipped(&mut self, skipped: SkippedAuthor) {
        *self
            .skipped_by_reason
            .entry(skipped.reason.clone())
            .or_default() += 1;
        self.skipped.push(skipped);
        self.authors.skipped += 1;
    }

    /// Accounts for one drawn (or abandoned) chart; returns the PNG size when
    /// one was drawn.
    pub fn record(&mut self, chart: ChartResult) -> Option<u64> {
        let a = &mut self.authors;
        match chart.outcome {
            ChartOutcome::Published {
                bytes,
                objects,
                png_bytes,
            } => {
                a.published += 1;
                self.objects_written += objects;
                self.bytes_written += bytes;
                Some(png_bytes)
            }
            ChartOutcome::Unchanged { png_bytes } => {
                a.unchanged += 1;
                Some(png_bytes)
            }
            ChartOutcome::NotPublished { png_bytes } => {
                a.not_published += 1;
                Some(png_bytes)
            }
            ChartOutcome::Failed(error) => {
                a.failed += 1;
                self.failed.push(FailedAuthor {
                    slug: chart.slug,
                    error,
                });
                None
            }
            ChartOutcome::Undone => {
                a.undone += 1;
                self.undone.push(chart.slug);
                None
            }
        }
    }

    /// A one-line summary for logs and the CLI.
    pub fn summary(&self) -> String {
        let a = &self.authors;
        format!(
            "active {} = published {} + unchanged {} + skipped {} + failed {} + undone {} + not published (dry run) {}; \
             deleted {}; posts: {} lines, {} bad, {} orphans, {} unpublished, {} future; {} ms",
            a.active,
            a.published,
            a.unchanged,
            a.skipped,
            a.failed,
            a.undone,
            a.not_published,
            a.deleted,
            self.posts_file.lines.lines,
            self.posts_file.lines.bad_total(),
            self.posts.orphans.count,
            self.posts.unpublished,
            self.posts.future,
            self.stages.total_ms
        )
    }
}

/// What a scaled-out run's finish answers the state machine: the counts of
/// its report and where the whole report is, sized independently of the run
/// (Step Functions' 256 KiB limit applies to a task's result before its
/// `Output` trims it; a report listing thousands of skipped authors would
/// fail the execution after everything was published).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub as_of: DateTime<Utc>,
    pub window_start: DateTime<Utc>,
    pub dry_run: bool,
    pub authors: AuthorCounts,
    pub posts_counted: u64,
    /// The charts selected to be drawn, by reason.
    pub drawn_by_reason: BTreeMap<String, usize>,
    /// How many of each list the report holds.
    pub deleted: usize,
    pub prune_undone: usize,
    pub prune_pending: usize,
    /// Where the whole report was written.
    pub report_location: Option<String>,
}

impl RunSummary {
    pub fn of(report: &RunReport) -> Self {
        RunSummary {
            as_of: report.as_of,
            window_start: report.window_start,
            dry_run: report.dry_run,
            authors: report.authors.clone(),
            posts_counted: report.posts.counted,
            drawn_by_reason: report.drawn_by_reason.clone(),
            deleted: report.deleted.len(),
            prune_undone: report.prune_undone.len(),
            prune_pending: report.prune_pending.len(),
            report_location: report.report_location.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciliation_catches_a_lost_author() {
        let mut r = RunReport {
            authors: AuthorCounts {
                active: 3,
                published: 1,
                unchanged: 1,
                skipped: 1,
                ..Default::default()
            },
            ..RunReport::default()
        };
        r.skipped.push(SkippedAuthor {
            slug: "s".into(),
            id: "1".into(),
            reason: "shared_slug".into(),
            detail: None,
        });
        r.skipped_by_reason.insert("shared_slug".into(), 1);
        assert!(r.reconciles());
        r.authors.active = 4;
        assert!(!r.reconciles());
        r.authors.active = 3;
        r.skipped.clear();
        assert!(!r.reconciles());
    }
}
