//! The run report: what was read, what was skipped and why, what every selected
//! author came to, and how long each stage took. It always reconciles:
//! `active = published + unchanged + skipped + failed + undone + not_published`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::records::LineStats;
use crate::tally::{MasterProblem, Unattributed};

/// What one file contributed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileReport {
    pub location: String,
    #[serde(flatten)]
    pub lines: LineStats,
}

/// An author that was selected but not drawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedAuthor {
    pub slug: String,
    pub id: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An author whose chart could not be drawn or written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedAuthor {
    pub slug: String,
    pub error: String,
}

/// Counts of what happened to the selected authors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuthorCounts {
    /// Selected by the window (or named in the request).
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
}

/// Milliseconds per stage. Drawing and publishing overlap: `draw_and_publish` is
/// their wall time, `draw_cpu` the summed drawing time across threads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StageTimes {
    pub read_authors_ms: u64,
    pub read_posts_ms: u64,
    pub select_ms: u64,
    pub draw_and_publish_ms: u64,
    pub draw_cpu_ms: u64,
    pub total_ms: u64,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
    pub posts: Unattributed,
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
    /// Where this report was written, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_location: Option<String>,
}

impl AuthorCounts {
    /// The accounted-for total that must equal `active`.
    pub fn accounted(&self) -> usize {
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
    }

    /// A one-line summary for logs and the CLI.
    pub fn summary(&self) -> String {
        let a = &self.authors;
        format!(
            "active {} = published {} + unchanged {} + skipped {} + failed {} + undone {} + not published (dry run) {}; \
             posts: {} lines, {} bad, {} orphans, {} unpublished, {} future; {} ms",
            a.active,
            a.published,
            a.unchanged,
            a.skipped,
            a.failed,
            a.undone,
            a.not_published,
            self.posts_file.lines.lines,
            self.posts_file.lines.bad_total(),
            self.posts.orphans.count,
            self.posts.unpublished,
            self.posts.future,
            self.stages.total_ms
        )
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
