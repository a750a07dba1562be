//! One `CloudWatch` Embedded Metric Format (EMF) record per invocation, success or
//! failure, so alarms and the dashboard see runs, not only Lambda's invocations.
//!
//! The record is one JSON object on its own stdout line: `CloudWatch` Logs turns
//! it into metrics in namespace [`NAMESPACE`], dimension `Window`, without a
//! `PutMetricData` call (no extra permission, no extra latency). The format is
//! small and fixed, so it is written with `serde_json` here rather than through
//! a metrics facade: `metrics_cloudwatch_embedded` would bring a recorder, a
//! registry and a flush cycle for twelve numbers written once.

use serde_json::{Map, Value, json};

use crate::freshness::DrawReason;
use crate::report::RunReport;
use crate::request::RunSpec;

pub(crate) const NAMESPACE: &str = "AuthorStats";

/// Lookbacks up to this many days are the nightly (the schedule sends 7).
pub(crate) const NIGHTLY_MAX_LOOKBACK_DAYS: u32 = 31;

/// Which kind of run a record is about: the metrics' one dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Window {
    Nightly,
    Backfill,
    /// Authors named in the request, or a request that could not be read.
    Manual,
}

impl Window {
    pub(crate) fn of(spec: Option<&RunSpec>) -> Self {
        match spec {
            None => Window::Manual,
            Some(p) => Window::classify(p.lookback_days, p.authors.is_some()),
        }
    }

    /// The window of the run a report is about (a scaled-out run's finish).
    pub(crate) fn of_report(report: &RunReport) -> Self {
        Window::classify(report.lookback_days, report.requested_authors.is_some())
    }

    fn classify(lookback_days: u32, named_authors: bool) -> Self {
        if named_authors {
            Window::Manual
        } else if lookback_days <= NIGHTLY_MAX_LOOKBACK_DAYS {
            Window::Nightly
        } else {
            Window::Backfill
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Window::Nightly => "nightly",
            Window::Backfill => "backfill",
            Window::Manual => "manual",
        }
    }
}

/// What one invocation came to.
#[derive(Debug, Clone)]
pub(crate) struct RunMetrics<'a> {
    pub window: Window,
    /// `None` on success.
    pub error_type: Option<&'a str>,
    /// The report, when the run got far enough to make one.
    pub report: Option<&'a RunReport>,
    pub duration_ms: u64,
    pub request_id: &'a str,
}

/// The metric names, in the order they are declared, with their units.
pub(crate) const METRICS: &[(&str, &str)] = &[
    ("RunSucceeded", "Count"),
    ("AuthorsActive", "Count"),
    ("ChartsPublished", "Count"),
    ("ChartsUnchanged", "Count"),
    ("ChartsFailed", "Count"),
    ("ChartsDeleted", "Count"),
    ("AuthorsSkipped", "Count"),
    ("AuthorsUndone", "Count"),
    ("PostsCounted", "Count"),
    ("BadPostLines", "Count"),
    ("OrphanPosts", "Count"),
    // The charts selected to be drawn, by reason (`drawn_by_reason`), so a
    // night that drew 900 charts instead of 200 says why.
    ("ChartsDrawnWindow", "Count"),
    ("ChartsDrawnNamed", "Count"),
    ("ChartsDrawnMissing", "Count"),
    ("ChartsDrawnNew", "Count"),
    ("ChartsDrawnTheme", "Count"),
    ("ChartsDrawnRenderer", "Count"),
    ("ChartsDrawnChanged", "Count"),
    ("RunDuration", "Milliseconds"),
];

impl RunMetrics<'_> {
    fn values(&self) -> [u64; 19] {
        let r = self.report;
        let a = r.map(|r| &r.authors);
        let count = |f: fn(&crate::report::AuthorCounts) -> usize| a.map_or(0, |a| f(a) as u64);
        let drawn = |reason: DrawReason| {
            r.and_then(|r| r.drawn_by_reason.get(reason.key()))
                .map_or(0, |n| *n as u64)
        };
        [
            u64::from(self.error_type.is_none()),
            count(|a| a.active),
            count(|a| a.published),
            count(|a| a.unchanged),
            count(|a| a.failed),
            count(|a| a.deleted),
            count(|a| a.skipped),
            count(|a| a.undone),
            r.map_or(0, |r| r.posts.counted),
            r.map_or(0, |r| r.posts_file.lines.bad_total()),
            r.map_or(0, |r| r.posts.orphans.count),
            drawn(DrawReason::Window),
            drawn(DrawReason::Named),
            drawn(DrawReason::Missing),
            drawn(DrawReason::New),
            drawn(DrawReason::Theme),
            drawn(DrawReason::Renderer),
            drawn(DrawReason::Changed),
            self.duration_ms,
        ]
    }

    /// The EMF record, stamped `timestamp_ms` (Unix milliseconds).
    pub(crate) fn to_emf(&self, timestamp_ms: i64) -> Value {
        let declared: Vec<Value> = METRICS
            .iter()
            .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
            .collect();
        let mut record = Map::new();
        record.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Window"]],
                    "Metrics": declared,
                }],
            }),
        );
        record.insert("Window".into(), self.window.name().into());
        for ((name, _), value) in METRICS.iter().zip(self.values()) {
            record.insert((*name).into(), value.into());
        }
        // Properties: searchable in Logs Insights, not metrics.
        record.insert("ErrorType".into(), self.error_type.unwrap_or("").into());
        record.insert("RequestId".into(), self.request_id.into());
        Value::Object(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::RunRequest;

    fn spec(json: &str) -> RunSpec {
        RunRequest::from_json(json)
            .unwrap()
            .resolve(chrono::Utc::now())
            .unwrap()
    }

    #[test]
    fn window_follows_the_request() {
        let cases: &[(&str, Option<&str>, Window)] = &[
            ("nightly", Some(r#"{"lookback_days":7}"#), Window::Nightly),
            ("a month", Some(r#"{"lookback_days":31}"#), Window::Nightly),
            (
                "backfill",
                Some(r#"{"lookback_days":5475}"#),
                Window::Backfill,
            ),
            ("named", Some(r#"{"authors":["a"]}"#), Window::Manual),
            ("unreadable", None, Window::Manual),
        ];
        for (name, json, want) in cases {
            let p = json.map(spec);
            assert_eq!(Window::of(p.as_ref()), *want, "case {name}");
        }
    }

    #[test]
    fn a_failed_run_without_a_report_is_a_record_of_zeros() {
        let m = RunMetrics {
            window: Window::Nightly,
            error_type: Some("ExportStale"),
            report: None,
            duration_ms: 12,
            request_id: "r-1",
        };
        let v = m.to_emf(1_700_000_000_000);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "AuthorStats"
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            19
        );
        assert_eq!(v["RunSucceeded"], 0);
        assert_eq!(v["RunDuration"], 12);
        assert_eq!(v["ErrorType"], "ExportStale");
        assert_eq!(v["Window"], "nightly");
    }
}
