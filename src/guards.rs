//! The guards: every check of the request and the inputs against the last
//! published run (`reports/latest.json`) and the configured limits. Not a stage
//! of their own: plain functions of what was read, called by the stages and
//! modes where that is known; a failed one is a [`Guard`], the run publishes
//! nothing and still writes its report.
//!
//! Where each is called: [`read_previous_run`] and [`check_as_of`] before anything is
//! read; [`check_export_age`] before the posts are read; [`check_share`] on
//! each file read; [`check_erase`] once the master is read; [`check_posts`]
//! (no records, orphans, and [`check_count`]) once both are.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::error::Guard;
use crate::pipeline::Pipeline;
use crate::records::LineStats;
use crate::report::{FileReport, PreviousRun};
use crate::request::RunSpec;
use crate::tally::Tally;

/// How far ahead of this machine's clock an `as_of` may be: the scheduler's
/// time and the function's clock agree to well under a second, and a person's
/// "now" typed by hand is at most a minute or two off.
pub(crate) const AS_OF_AHEAD_ALLOWANCE: chrono::Duration = chrono::Duration::minutes(5);

/// The last published run, from `reports/latest.json`; `None` only when the
/// object does not exist (the first run). One that exists but cannot be read
/// or parsed fails closed with [`Guard::LastRunUnreadable`]: guessing "first
/// run" would let a replayed old request rewind the site.
pub(crate) async fn read_previous_run(pipeline: &Pipeline) -> Result<Option<PreviousRun>, Guard> {
    let key = format!("{}latest.json", pipeline.config.reports_prefix);
    let unreadable = |problem: String| Guard::LastRunUnreadable {
        location: pipeline.dest.describe(&key),
        problem,
    };
    match pipeline.dest.get_tagged(&key).await {
        Ok(None) => Ok(None),
        Ok(Some((bytes, etag))) => PreviousRun::from_report_json(&bytes)
            .map(|p| PreviousRun {
                etag: Some(etag),
                ..p
            })
            .map(Some)
            .ok_or_else(|| unreadable("not a run report with as_of and posts.counted".into())),
        // The guard's message carries the error; the run logs it once.
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// Runs move forward in time: an `as_of` older than the last published run's
/// would replace newer charts with older ones (equal is the scheduler's
/// retry), and one ahead of the clock by more than [`AS_OF_AHEAD_ALLOWANCE`]
/// would make every later run look like a rewind. Dry runs publish nothing and
/// pass both.
pub(crate) fn check_as_of(
    spec: &RunSpec,
    previous: Option<&PreviousRun>,
    now: DateTime<Utc>,
) -> Result<(), Guard> {
    if !spec.dry_run && spec.as_of > now + AS_OF_AHEAD_ALLOWANCE {
        return Err(Guard::AsOfAhead {
            as_of: spec.as_of,
            now,
            allowance_s: AS_OF_AHEAD_ALLOWANCE.num_seconds(),
        });
    }
    match previous {
        Some(p) if spec.as_of < p.as_of && !spec.dry_run && !spec.allow_older_as_of => {
            Err(Guard::AsOfRewind {
                as_of: spec.as_of,
                previous: p.as_of,
            })
        }
        _ => Ok(()),
    }
}

/// The posts export must have been written within `MAX_EXPORT_AGE_HOURS` of `as_of`.
pub(crate) fn check_export_age(
    config: &Config,
    spec: &RunSpec,
    location: &str,
    modified: DateTime<Utc>,
) -> Result<(), Guard> {
    match config.max_export_age {
        Some(age) if modified < spec.as_of - age && !spec.allow_stale_export => {
            Err(Guard::ExportStale {
                location: location.to_string(),
                modified,
                hours: age.num_hours(),
                as_of: spec.as_of,
            })
        }
        _ => Ok(()),
    }
}

/// The posts look like a real export: some records, not far fewer nor far
/// more counted than the last published run, and few posts whose author is
/// missing from the master.
pub(crate) fn check_posts(
    config: &Config,
    spec: &RunSpec,
    posts: &FileReport,
    tally: &Tally,
    master_location: &str,
    previous: Option<&PreviousRun>,
) -> Result<(), Guard> {
    if posts.lines.records == 0 {
        return Err(Guard::InputEmpty {
            location: posts.location.clone(),
        });
    }
    let orphans = &tally.posts.orphans;
    let share = orphans.count as f64 / posts.lines.records as f64;
    if share > config.max_bad_share && !spec.allow_orphans {
        return Err(Guard::MasterIncomplete {
            location: master_location.to_string(),
            orphans: orphans.count,
            records: posts.lines.records,
            share: share * 100.0,
            limit: config.max_bad_share * 100.0,
            samples: orphans.sample_lines.clone(),
        });
    }
    check_count(config, spec, tally.posts.counted, previous)
}

/// Counted posts may not drop by more than `MAX_SHRINK`, nor grow by more
/// than `MAX_GROWTH`, against the last published run (unless the request
/// allows it for this run); the first run has nothing to compare with.
pub(crate) fn check_count(
    config: &Config,
    spec: &RunSpec,
    counted: u64,
    previous: Option<&PreviousRun>,
) -> Result<(), Guard> {
    let Some(previous) = previous.filter(|p| p.posts_counted > 0) else {
        return Ok(());
    };
    let ratio = counted as f64 / previous.posts_counted as f64;
    let (drop, growth) = (1.0 - ratio, ratio - 1.0);
    if drop > config.max_shrink && !spec.allow_shrink {
        return Err(Guard::InputShrunk {
            counted,
            previous: previous.posts_counted,
            drop: drop * 100.0,
            limit: config.max_shrink * 100.0,
        });
    }
    if growth > config.max_growth && !spec.allow_growth {
        return Err(Guard::InputGrown {
            counted,
            previous: previous.posts_counted,
            growth: growth * 100.0,
            limit: config.max_growth * 100.0,
        });
    }
    Ok(())
}

/// An erasure names authors gone from the master: a slug some master row
/// still carries would be drawn again (or is a mistake), so it is refused.
pub(crate) fn check_erase(spec: &RunSpec, directory: &Tally) -> Result<(), Guard> {
    let present = directory.master_slugs();
    let named: Vec<String> = spec
        .erase
        .iter()
        .filter(|s| present.contains(s.as_str()))
        .cloned()
        .collect();
    if named.is_empty() {
        Ok(())
    } else {
        Err(Guard::ErasePresent { slugs: named })
    }
}

/// Fails when more than `limit` of the non-blank lines are bad.
pub(crate) fn check_share(file: &FileReport, limit: f64) -> Result<(), Guard> {
    let stats: &LineStats = &file.lines;
    let bad = stats.bad_total();
    if stats.lines == 0 || bad == 0 {
        return Ok(());
    }
    let share = bad as f64 / stats.lines as f64;
    if share > limit {
        let reasons = stats
            .bad
            .iter()
            .map(|(k, v)| format!("{k} {} (lines {:?})", v.count, v.sample_lines))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Guard::InputBroken {
            location: file.location.clone(),
            bad,
            lines: stats.lines,
            share: share * 100.0,
            limit: limit * 100.0,
            reasons,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn spec(as_of: &str) -> RunSpec {
        RunSpec {
            lookback_days: 7,
            as_of: t(as_of),
            authors: None,
            dry_run: false,
            allow_older_as_of: false,
            allow_mass_prune: false,
            ..RunSpec::default()
        }
    }

    // REQ-RL-001, REQ-RL-002
    #[test]
    fn as_of_may_not_move_back_unless_allowed() {
        let previous = PreviousRun {
            as_of: t("2026-11-26T17:45:00Z"),
            posts_counted: 10,
            etag: None,
        };
        let cases: &[(&str, &str, bool, bool, bool)] = &[
            ("later", "2026-11-27T17:45:00Z", false, false, true),
            ("equal (retry)", "2026-11-26T17:45:00Z", false, false, true),
            ("older", "2026-11-25T17:45:00Z", false, false, false),
            ("older, allowed", "2026-11-25T17:45:00Z", true, false, true),
            ("older, dry run", "2026-11-25T17:45:00Z", false, true, true),
        ];
        for (name, as_of, allow, dry, ok) in cases {
            let mut p = spec(as_of);
            p.allow_older_as_of = *allow;
            p.dry_run = *dry;
            let got = check_as_of(&p, Some(&previous), t("2026-11-28T00:00:00Z"));
            assert_eq!(got.is_ok(), *ok, "case {name}: {got:?}");
            if let Err(e) = got {
                let text = e.to_string();
                assert!(
                    text.contains("2026-11-26 17:45:00 UTC"),
                    "case {name}: {text}"
                );
                assert!(text.contains("--allow-older-as-of"), "case {name}: {text}");
            }
        }
        let now = t("2026-11-28T00:00:00Z");
        assert!(check_as_of(&spec("2000-01-01T00:00:00Z"), None, now).is_ok());
    }

    // REQ-TR-002: an as_of ahead of the clock is refused, with a small allowance.
    #[test]
    fn as_of_may_not_be_ahead_of_the_clock() {
        let now = t("2026-11-28T00:00:00Z");
        let cases: &[(&str, &str, bool, bool)] = &[
            ("now", "2026-11-28T00:00:00Z", false, true),
            ("within the allowance", "2026-11-28T00:05:00Z", false, true),
            ("just past it", "2026-11-28T00:05:01Z", false, false),
            ("year 9999", "9999-12-31T23:59:59Z", false, false),
            ("ahead, dry run", "2027-01-01T00:00:00Z", true, true),
        ];
        for (name, as_of, dry, ok) in cases {
            let mut p = spec(as_of);
            p.dry_run = *dry;
            let got = check_as_of(&p, None, now);
            assert_eq!(got.is_ok(), *ok, "case {name}: {got:?}");
            if let Err(e) = got {
                assert_eq!(e.error_type(), "AsOfAhead", "case {name}");
            }
        }
    }

    // REQ-RL-005
    fn config() -> Config {
        crate::config::RawConfig::from_env(|_| None)
            .with(crate::config::SOURCE_BUCKET, "src")
            .with(crate::config::CHARTS_BUCKET, "dest")
            .validate()
            .unwrap()
    }

    // REQ-RL-005, REQ-TR-004: the count may neither shrink nor grow past its
    // limit against the last published run, unless this run allows it.
    #[test]
    #[allow(
        clippy::type_complexity,
        reason = "the table of cases reads best inline"
    )]
    fn the_count_is_judged_against_the_last_published_run() {
        let prev = |n| PreviousRun {
            as_of: t("2026-11-26T00:00:00Z"),
            posts_counted: n,
            etag: None,
        };
        let config = config();
        let cases: &[(&str, u64, Option<u64>, bool, bool, Option<&str>)] = &[
            ("first run", 10, None, false, false, None),
            ("grew 10%", 110, Some(100), false, false, None),
            (
                "a year of growth, 7%",
                64_200,
                Some(60_000),
                false,
                false,
                None,
            ),
            ("grew 50%", 150, Some(100), false, false, None),
            ("doubled", 200, Some(100), false, false, Some("InputGrown")),
            ("doubled, allowed", 200, Some(100), false, true, None),
            ("dropped 10%", 90, Some(100), false, false, None),
            (
                "dropped 11%",
                89,
                Some(100),
                false,
                false,
                Some("InputShrunk"),
            ),
            ("dropped 11%, allowed", 89, Some(100), true, false, None),
            ("empty previous", 0, Some(0), false, false, None),
        ];
        for (name, counted, previous, allow_shrink, allow_growth, want) in cases {
            let previous = previous.map(prev);
            let mut p = spec("2026-11-27T00:00:00Z");
            p.allow_shrink = *allow_shrink;
            p.allow_growth = *allow_growth;
            let got = check_count(&config, &p, *counted, previous.as_ref());
            assert_eq!(
                got.as_ref().err().map(Guard::error_type),
                *want,
                "case {name}: {got:?}"
            );
        }
        let p = spec("2026-11-27T00:00:00Z");
        let err = check_count(&config, &p, 50, Some(&prev(100))).unwrap_err();
        assert!(err.to_string().contains("50 posts counted, 100"), "{err}");
        assert!(err.to_string().contains("--allow-shrink"), "{err}");
        let err = check_count(&config, &p, 250, Some(&prev(100))).unwrap_err();
        assert!(err.to_string().contains("growth of 150.0%"), "{err}");
        assert!(err.to_string().contains("--allow-growth"), "{err}");
    }
}
