//! The run request: what the scheduler (or a person) asks one run to do, and its
//! validation into a [`RunSpec`].
//!
//! The same JSON shape arrives as a Lambda event, as a file given to
//! `author-stats run --event`, and from the CLI flags. Unknown fields are rejected,
//! so a typo (`lookback_day`) fails loudly instead of silently running the default.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Lookback used when a request does not name one.
pub(crate) const DEFAULT_LOOKBACK_DAYS: u32 = 7;
/// The accepted range of `lookback_days` (100 years at most).
pub const LOOKBACK_RANGE: std::ops::RangeInclusive<u32> = 1..=36_500;
/// Authors a shard holds unless told otherwise: about 2.5 s of drawing on one
/// core, well inside one invocation.
pub(crate) const DEFAULT_SHARD_AUTHORS: usize = 2_000;
/// The earliest and latest `as_of` a request may name: a blog's export is
/// from 1970 on and before year 10,000, which every report writes and reads
/// back as RFC 3339 (an `as_of` before year 0 was published once and made
/// `latest.json` unreadable for good).
fn as_of_range() -> (DateTime<Utc>, DateTime<Utc>) {
    let latest = DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z")
        .map_or(DateTime::<Utc>::MAX_UTC, |t| t.to_utc());
    (DateTime::<Utc>::UNIX_EPOCH, latest)
}
/// The most slugs `authors` or `erase` may name: 10,000 slugs of up to 200
/// bytes keep an event within Lambda's 256 KiB asynchronous payload and the
/// report that names each of them small.
pub(crate) const MAX_LISTED: usize = 10_000;
/// The accepted range of `shard_authors`.
pub(crate) const SHARD_AUTHORS_RANGE: std::ops::RangeInclusive<usize> = 1..=100_000;

/// The request as it arrives, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Authors with a post in `(as_of - lookback_days, as_of]` are redrawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback_days: Option<i64>,
    /// The end of the window, RFC 3339; the scheduler passes its scheduled time so a
    /// retry covers the same window. Default: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// Redraw exactly these slugs, whatever their activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authors: Option<Vec<String>>,
    /// Draw but publish nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Accept an `as_of` older than the last published run's (a deliberate
    /// redraw of the past); otherwise such a run fails with `AsOfRewind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_older_as_of: Option<bool>,
    /// Delete the charts of removed authors even when more than `MAX_PRUNE`
    /// would go; otherwise none is deleted and the run ends `PruneTooLarge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_mass_prune: Option<bool>,
    /// Publish this one run past the orphan limit (`MasterIncomplete`): after
    /// an author was erased from the master, their posts are orphans until the
    /// export drops them. The bad-line limit still holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_orphans: Option<bool>,
    /// Publish this one run although the counted posts fell by more than
    /// `MAX_SHRINK` (`InputShrunk`): the posts really went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_shrink: Option<bool>,
    /// Publish this one run although the counted posts grew by more than
    /// `MAX_GROWTH` (`InputGrown`): the posts really came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_growth: Option<bool>,
    /// Publish this one run from an export older than `MAX_EXPORT_AGE_HOURS`
    /// (`ExportStale`): the exporter is known to be late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_stale_export: Option<bool>,
    /// Delete the charts of these slugs now, without the prune grace period:
    /// an operator's erasure of authors no longer in the master (naming one
    /// still in the master is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erase: Option<Vec<String>>,
    /// A scaled-out run's step (absent: one whole run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Names a scaled-out run and its work location (`work/<run_id>/`); the
    /// state machine passes its execution name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The shard a `render` draws, as the plan lists it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Most authors in one shard of a `plan` (default 2,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_authors: Option<usize>,
}

/// The steps of a scaled-out run (see [`crate::modes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Plan,
    Render,
    Finish,
}

/// What a request asks for, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// One whole run.
    Run(RunSpec),
    Plan {
        spec: RunSpec,
        run_id: String,
        shard_authors: usize,
    },
    Render {
        run_id: String,
        shard: String,
    },
    Finish {
        run_id: String,
    },
}

/// A validated request. The `allow_*` overrides hold for this run only, so
/// nobody edits the function's environment for one night.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpec {
    pub lookback_days: u32,
    pub as_of: DateTime<Utc>,
    /// `Some` when the request named authors: those are drawn, activity aside.
    pub authors: Option<BTreeSet<String>>,
    pub dry_run: bool,
    pub allow_older_as_of: bool,
    pub allow_mass_prune: bool,
    #[serde(default)]
    pub allow_orphans: bool,
    #[serde(default)]
    pub allow_shrink: bool,
    #[serde(default)]
    pub allow_growth: bool,
    #[serde(default)]
    pub allow_stale_export: bool,
    /// Slugs to delete at once (see [`RunRequest::erase`]).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub erase: BTreeSet<String>,
}

/// A request that cannot be run; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the run request is not valid JSON for this function: {0}")]
    Json(String),
    #[error("field `{field}`: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
}

/// A JSON value whose objects repeat no key (`serde_json`'s `Value` keeps the
/// last: `"dry_run":true, "dry_run":false` would publish).
pub(crate) struct UniqueKeys(pub(crate) serde_json::Value);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = serde_json::Value;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(v.into())
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(v.into())
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(v.into())
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(v.into())
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(v.into())
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(serde_json::Value::Null)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(UniqueKeys(v)) = seq.next_element()? {
                    out.push(v);
                }
                Ok(out.into())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = serde_json::Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    let UniqueKeys(value) = map.next_value()?;
                    if out.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
                    }
                    out.insert(key, value);
                }
                Ok(out.into())
            }
        }
        d.deserialize_any(Visit).map(UniqueKeys)
    }
}

impl RunRequest {
    /// Parses the JSON text of a request.
    pub fn from_json(text: &str) -> Result<Self, EventError> {
        let value: UniqueKeys =
            serde_json::from_str(text).map_err(|e| EventError::Json(e.to_string()))?;
        Self::from_value(value.0)
    }

    /// Reads a request from a parsed JSON value, which must be an object (serde
    /// would otherwise accept an array, taking fields by position).
    pub fn from_value(value: serde_json::Value) -> Result<Self, EventError> {
        if !value.is_object() {
            return Err(EventError::Json(format!(
                "expected a JSON object, found {value}"
            )));
        }
        serde_json::from_value(value).map_err(|e| EventError::Json(e.to_string()))
    }

    /// Validates the request; `now` is used when `as_of` is absent.
    pub fn resolve(&self, now: DateTime<Utc>) -> Result<RunSpec, EventError> {
        let lookback = self
            .lookback_days
            .unwrap_or(i64::from(DEFAULT_LOOKBACK_DAYS));
        let lookback_days = u32::try_from(lookback)
            .ok()
            .filter(|d| LOOKBACK_RANGE.contains(d))
            .ok_or_else(|| out_of_range("lookback_days", lookback, &LOOKBACK_RANGE))?;
        let as_of = match &self.as_of {
            None => now,
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| EventError::Field {
                    field: "as_of",
                    problem: format!("{text:?} is not an RFC 3339 timestamp ({e})"),
                })?,
        };
        let (earliest, latest) = as_of_range();
        if !(earliest..=latest).contains(&as_of) {
            return Err(EventError::Field {
                field: "as_of",
                problem: format!(
                    "{as_of} is outside {earliest}..{latest}, the instants an export of this blog can have"
                ),
            });
        }
        for (field, list) in [("authors", &self.authors), ("erase", &self.erase)] {
            if let Some(list) = list
                && list.len() > MAX_LISTED
            {
                return Err(EventError::Field {
                    field,
                    problem: format!(
                        "{} slugs, over {MAX_LISTED}: split the request (the report names each one)",
                        list.len()
                    ),
                });
            }
        }
        let authors = match &self.authors {
            None => None,
            Some(list) if list.is_empty() => {
                return Err(EventError::Field {
                    field: "authors",
                    problem: "an empty list would draw nothing; omit the field to use the window"
                        .into(),
                });
            }
            Some(list) => {
                if let Some(blank) = list.iter().find(|s| s.trim().is_empty()) {
                    return Err(EventError::Field {
                        field: "authors",
                        problem: format!("{blank:?} is not a slug"),
                    });
                }
                Some(list.iter().cloned().collect())
            }
        };
        Ok(RunSpec {
            lookback_days,
            as_of,
            authors,
            dry_run: self.dry_run.unwrap_or(false),
            allow_older_as_of: self.allow_older_as_of.unwrap_or(false),
            allow_mass_prune: self.allow_mass_prune.unwrap_or(false),
            allow_orphans: self.allow_orphans.unwrap_or(false),
            allow_shrink: self.allow_shrink.unwrap_or(false),
            allow_growth: self.allow_growth.unwrap_or(false),
            allow_stale_export: self.allow_stale_export.unwrap_or(false),
            erase: self.erase_slugs()?,
        })
    }
}

impl RunRequest {
    /// The `erase` slugs, each a plausible slug (the run checks them against
    /// the master and the charts).
    fn erase_slugs(&self) -> Result<BTreeSet<String>, EventError> {
        let Some(list) = &self.erase else {
            return Ok(BTreeSet::new());
        };
        let bad = |problem: String| EventError::Field {
            field: "erase",
            problem,
        };
        if list.is_empty() {
            return Err(bad("an empty list erases nothing; omit the field".into()));
        }
        if let Some(slug) = list.iter().find(|s| {
            s.trim().is_empty() || s.contains('/') || s.as_str() == ".." || s.as_str() == "."
        }) {
            return Err(bad(format!("{slug:?} is not a slug")));
        }
        Ok(list.iter().cloned().collect())
    }

    /// Validates the request into the job it asks for; `now` is used when
    /// `as_of` is absent. A field that the job does not use is an error, so a
    /// misplaced one is not silently ignored.
    pub fn job(&self, now: DateTime<Utc>) -> Result<Job, EventError> {
        let field = |field: &'static str, problem: String| EventError::Field { field, problem };
        let run_id = || -> Result<String, EventError> {
            let id = self.run_id.clone().ok_or_else(|| {
                field(
                    "run_id",
                    "required with \"mode\" (the state machine passes its execution name)".into(),
                )
            })?;
            check_run_id(&id).map_err(|p| field("run_id", p))?;
            Ok(id)
        };
        let not_for = |mode: &str, given: &[(&'static str, bool)]| -> Result<(), EventError> {
            match given.iter().find(|(_, present)| *present) {
                Some((name, _)) => Err(field(name, format!("not used by {mode}; remove it"))),
                None => Ok(()),
            }
        };
        let run_fields = [
            ("lookback_days", self.lookback_days.is_some()),
            ("as_of", self.as_of.is_some()),
            ("authors", self.authors.is_some()),
            ("dry_run", self.dry_run.is_some()),
            ("allow_older_as_of", self.allow_older_as_of.is_some()),
            ("allow_mass_prune", self.allow_mass_prune.is_some()),
            ("allow_orphans", self.allow_orphans.is_some()),
            ("allow_shrink", self.allow_shrink.is_some()),
            ("allow_growth", self.allow_growth.is_some()),
            ("allow_stale_export", self.allow_stale_export.is_some()),
            ("erase", self.erase.is_some()),
            ("shard_authors", self.shard_authors.is_some()),
        ];
        match self.mode {
            None => {
                not_for(
                    "a run without \"mode\"",
                    &[
                        ("run_id", self.run_id.is_some()),
                        ("shard", self.shard.is_some()),
                        ("shard_authors", self.shard_authors.is_some()),
                    ],
                )?;
                Ok(Job::Run(self.resolve(now)?))
            }
            Some(Mode::Plan) => {
                not_for("mode plan", &[("shard", self.shard.is_some())])?;
                let range = SHARD_AUTHORS_RANGE;
                let shard_authors = self.shard_authors.unwrap_or(DEFAULT_SHARD_AUTHORS);
                if !range.contains(&shard_authors) {
                    return Err(out_of_range("shard_authors", shard_authors, &range));
                }
                Ok(Job::Plan {
                    spec: self.resolve(now)?,
                    run_id: run_id()?,
                    shard_authors,
                })
            }
            Some(Mode::Render) => {
                not_for("mode render", &run_fields)?;
                let shard = self
                    .shard
                    .clone()
                    .ok_or_else(|| field("shard", "required with mode render".into()))?;
                check_shard_id(&shard).map_err(|p| field("shard", p))?;
                Ok(Job::Render {
                    run_id: run_id()?,
                    shard,
                })
            }
            Some(Mode::Finish) => {
                not_for("mode finish", &run_fields)?;
                not_for("mode finish", &[("shard", self.shard.is_some())])?;
                Ok(Job::Finish { run_id: run_id()? })
            }
        }
    }
}

/// The error of a number field outside its accepted range.
fn out_of_range<T: std::fmt::Display>(
    field: &'static str,
    value: impl std::fmt::Display,
    range: &std::ops::RangeInclusive<T>,
) -> EventError {
    EventError::Field {
        field,
        problem: format!(
            "{value} is out of range {}..={}",
            range.start(),
            range.end()
        ),
    }
}

impl RunSpec {
    /// The exclusive start of the activity window.
    pub fn window_start(&self) -> DateTime<Utc> {
        self.as_of - Duration::days(i64::from(self.lookback_days))
    }
}

/// A run id safe as one key segment: Step Functions' execution names fit.
pub(crate) fn check_run_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a run id: 1 to 128 of A-Z a-z 0-9 - _ ."
        ))
    }
}

/// A shard id from a request: digits, as the plan names them.
pub(crate) fn check_shard_id(id: &str) -> Result<(), String> {
    if !id.is_empty() && id.len() <= 16 && id.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a shard id (digits, as plan.json lists them)"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // the tables of cases read best inline
mod tests {

    // REQ-IA-006: EventBridge Scheduler starts the state machine without an
    // execution name, so Step Functions names it with a UUID; every UUID is
    // a valid run id (the plan's work prefix is named after it).
    #[test]
    fn an_execution_name_step_functions_makes_is_a_run_id() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for _ in 0..10_000 {
            let b: [u8; 16] = rng.r#gen();
            let uuid = format!(
                "{}-{}-{}-{}-{}",
                hex::encode(&b[0..4]),
                hex::encode(&b[4..6]),
                hex::encode(&b[6..8]),
                hex::encode(&b[8..10]),
                hex::encode(&b[10..16])
            );
            assert!(check_run_id(&uuid).is_ok(), "{uuid}");
        }
    }

    // REQ-IA-006: the scheduler's <aws.scheduler.scheduled-time>, in the form
    // its documentation gives (2022-03-22T18:59:43Z), is an as_of.
    #[test]
    fn the_scheduled_time_is_an_as_of() {
        let request =
            RunRequest::from_json(r#"{"lookback_days": 7, "as_of": "2022-03-22T18:59:43Z"}"#)
                .unwrap()
                .resolve(
                    DateTime::parse_from_rfc3339("2022-03-22T19:00:00Z")
                        .unwrap()
                        .with_timezone(&Utc),
                )
                .unwrap();
        assert_eq!(request.as_of.to_rfc3339(), "2022-03-22T18:59:43+00:00");
    }

    use super::*;

    // REQ-EV-005: what a real export cannot have, or a person cannot mean,
    // is refused with the field named: an as_of outside 1970..9999, a list
    // over MAX_LISTED, a key given twice.
    #[test]
    fn implausible_requests_are_refused() {
        let many = |n: usize| {
            let slugs: Vec<String> = (0..n).map(|i| format!("\"s{i}\"")).collect();
            slugs.join(",")
        };
        let cases: Vec<(&str, String, Option<&str>)> = vec![
            (
                "year 0",
                r#"{"as_of":"0000-01-01T00:00:00+23:59"}"#.into(),
                Some("as_of"),
            ),
            (
                "before 1970",
                r#"{"as_of":"1969-12-31T23:59:59Z"}"#.into(),
                Some("as_of"),
            ),
            ("1970", r#"{"as_of":"1970-01-01T00:00:00Z"}"#.into(), None),
            (
                "year 9999",
                r#"{"as_of":"9999-12-31T23:59:59Z"}"#.into(),
                None,
            ),
            (
                "authors at the bound",
                format!(r#"{{"authors":[{}]}}"#, many(MAX_LISTED)),
                None,
            ),
            (
                "authors over",
                format!(r#"{{"authors":[{}]}}"#, many(MAX_LISTED + 1)),
                Some("authors"),
            ),
            (
                "erase over",
                format!(r#"{{"erase":[{}]}}"#, many(MAX_LISTED + 1)),
                Some("erase"),
            ),
            (
                "duplicate key",
                r#"{"dry_run":true,"dry_run":false}"#.into(),
                Some("duplicate key \"dry_run\""),
            ),
            (
                "nested duplicate",
                r#"{"authors":["a"],"x":{"k":1,"k":2}}"#.into(),
                Some("duplicate key"),
            ),
        ];
        for (name, json, refused) in cases {
            let got = RunRequest::from_json(&json).and_then(|r| r.resolve(now()));
            match (refused, got) {
                (None, Ok(_)) => {}
                (Some(needle), Err(e)) => {
                    assert!(e.to_string().contains(needle), "case {name}: {e}");
                }
                (want, got) => panic!("case {name}: want {want:?}, got {got:?}"),
            }
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    // REQ-EV-001, REQ-EV-002
    #[test]
    fn requests_resolve_or_name_the_field() {
        let cases: &[(&str, &str, Result<(u32, &str, bool), &str>)] = &[
            (
                "nightly",
                r#"{"lookback_days":7,"as_of":"2025-11-25T17:45:00Z"}"#,
                Ok((7, "2025-11-25T17:45:00Z", false)),
            ),
            ("defaults", "{}", Ok((7, "2026-01-01T00:00:00Z", false))),
            (
                "backfill",
                r#"{"lookback_days":5475}"#,
                Ok((5475, "2026-01-01T00:00:00Z", false)),
            ),
            (
                "max",
                r#"{"lookback_days":36500}"#,
                Ok((36500, "2026-01-01T00:00:00Z", false)),
            ),
            (
                "dry run",
                r#"{"dry_run":true}"#,
                Ok((7, "2026-01-01T00:00:00Z", true)),
            ),
            (
                "offset as_of",
                r#"{"as_of":"2025-11-26T02:45:00+09:00"}"#,
                Ok((7, "2025-11-25T17:45:00Z", false)),
            ),
            ("zero", r#"{"lookback_days":0}"#, Err("lookback_days")),
            ("negative", r#"{"lookback_days":-3}"#, Err("lookback_days")),
            (
                "too big",
                r#"{"lookback_days":36501}"#,
                Err("lookback_days"),
            ),
            (
                "huge",
                r#"{"lookback_days":99999999999}"#,
                Err("lookback_days"),
            ),
            ("bad as_of", r#"{"as_of":"tomorrow"}"#, Err("as_of")),
            ("empty authors", r#"{"authors":[]}"#, Err("authors")),
            ("blank author", r#"{"authors":[" "]}"#, Err("authors")),
            (
                "unknown field",
                r#"{"lookback_day":7}"#,
                Err("lookback_day"),
            ),
            (
                "string lookback",
                r#"{"lookback_days":"7"}"#,
                Err("invalid type"),
            ),
            ("not an object", r"[7]", Err("expected a JSON object")),
        ];
        for (name, json, want) in cases {
            let got = RunRequest::from_json(json).and_then(|r| r.resolve(now()));
            match (got, want) {
                (Ok(spec), Ok((days, as_of, dry))) => {
                    assert_eq!(spec.lookback_days, *days, "case {name}");
                    assert_eq!(
                        spec.as_of
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        *as_of,
                        "case {name}"
                    );
                    assert_eq!(spec.dry_run, *dry, "case {name}");
                }
                (Err(e), Err(needle)) => {
                    assert!(e.to_string().contains(needle), "case {name}: {e}");
                }
                (got, want) => panic!("case {name}: got {got:?}, want {want:?}"),
            }
        }
    }

    // REQ-RL-002, REQ-RL-009: the overrides are request fields, off by default.
    #[test]
    fn overrides_are_off_unless_asked_for() {
        let spec = RunRequest::from_json("{}").unwrap().resolve(now()).unwrap();
        assert!(!spec.allow_older_as_of && !spec.allow_mass_prune);
        let spec = RunRequest::from_json(r#"{"allow_older_as_of":true,"allow_mass_prune":true}"#)
            .unwrap()
            .resolve(now())
            .unwrap();
        assert!(spec.allow_older_as_of && spec.allow_mass_prune);
    }

    #[test]
    fn named_authors_are_kept_as_a_set() {
        let spec = RunRequest::from_json(r#"{"authors":["b","a","b"]}"#)
            .unwrap()
            .resolve(now())
            .unwrap();
        assert_eq!(
            spec.authors.unwrap().into_iter().collect::<Vec<_>>(),
            vec!["a", "b"]
        );
    }

    // REQ-AG-003: window start is exclusive, as_of inclusive.
    #[test]
    fn window_start_is_lookback_days_before_as_of() {
        let spec = RunRequest {
            lookback_days: Some(7),
            as_of: Some("2025-11-25T17:45:00Z".into()),
            ..Default::default()
        }
        .resolve(now())
        .unwrap();
        assert_eq!(
            spec.window_start().to_rfc3339(),
            "2025-11-18T17:45:00+00:00"
        );
    }

    // REQ-SC-005: the steps of a scaled-out run, and the fields each takes.
    #[test]
    fn modes_resolve_to_jobs_or_name_the_field() {
        let cases: &[(&str, &str, Result<&str, &str>)] = &[
            ("no mode", r#"{"lookback_days":7}"#, Ok("run")),
            (
                "plan",
                r#"{"mode":"plan","run_id":"exec-1","lookback_days":7}"#,
                Ok("plan"),
            ),
            (
                "render",
                r#"{"mode":"render","run_id":"exec-1","shard":"00003"}"#,
                Ok("render"),
            ),
            (
                "finish",
                r#"{"mode":"finish","run_id":"exec-1"}"#,
                Ok("finish"),
            ),
            ("plan without run_id", r#"{"mode":"plan"}"#, Err("run_id")),
            ("run with run_id", r#"{"run_id":"x"}"#, Err("run_id")),
            (
                "run with shard_authors",
                r#"{"shard_authors":5}"#,
                Err("shard_authors"),
            ),
            (
                "render without shard",
                r#"{"mode":"render","run_id":"e"}"#,
                Err("shard"),
            ),
            (
                "render, bad shard",
                r#"{"mode":"render","run_id":"e","shard":"../1"}"#,
                Err("shard"),
            ),
            (
                "render with a window",
                r#"{"mode":"render","run_id":"e","shard":"1","as_of":"2025-01-01T00:00:00Z"}"#,
                Err("as_of"),
            ),
            (
                "finish with shard",
                r#"{"mode":"finish","run_id":"e","shard":"1"}"#,
                Err("shard"),
            ),
            (
                "run_id with a slash",
                r#"{"mode":"finish","run_id":"a/b"}"#,
                Err("run_id"),
            ),
            (
                "shard_authors zero",
                r#"{"mode":"plan","run_id":"e","shard_authors":0}"#,
                Err("shard_authors"),
            ),
        ];
        for (name, json, expected) in cases {
            let got = RunRequest::from_json(json).and_then(|r| r.job(now()));
            match (got, expected) {
                (Ok(job), Ok(kind)) => {
                    let is = match job {
                        Job::Run(_) => "run",
                        Job::Plan { .. } => "plan",
                        Job::Render { .. } => "render",
                        Job::Finish { .. } => "finish",
                    };
                    assert_eq!(is, *kind, "case {name}");
                }
                (Err(EventError::Field { field, .. }), Err(want)) => {
                    assert_eq!(field, *want, "case {name}");
                }
                (got, _) => panic!("case {name}: {got:?}"),
            }
        }
        let unknown = RunRequest::from_json(r#"{"mode":"draw"}"#).unwrap_err();
        assert!(unknown.to_string().contains("draw"), "{unknown}");
    }

    #[test]
    fn run_and_shard_ids_are_single_safe_segments() {
        for ok in ["0f3c-2026-11-27", "exec_1.a", "A"] {
            assert!(check_run_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(129)] {
            assert!(check_run_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_shard_id("00012").is_ok());
        for bad in ["", "1a", "../x", "00000000000000001"] {
            assert!(check_shard_id(bad).is_err(), "{bad:?}");
        }
    }
}
