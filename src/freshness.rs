//! Whether a published chart is current: the fingerprint of everything a chart
//! shows, the record of the published charts' fingerprints
//! (`reports/chart-state.json`), and why a run draws a chart.
//!
//! A run draws the authors its request wants (the window, or the names) and
//! every other author whose published chart would not be drawn the same now:
//! a fingerprint that changed (a post taken down, moved or re-dated, a new
//! name, a month gone by), a chart missing from the destination, no
//! fingerprint yet (a new slug, or a chart a run was writing when it
//! stopped), or a new theme or renderer. The state is written ahead of
//! publishing with the charts about to be drawn taken out, and again after
//! with those that landed put back, so a run that stops anywhere in between
//! leaves every chart it touched to be drawn again by the next one.
//!
//! Pure: the stages read and write the state ([`crate::stages::state`]).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chart::{RENDERER_VERSION, Themes};
use crate::chart_keys::keys_of;
use crate::tally::{MonthlyCounts, Wanted};

/// The state's name under the reports prefix.
pub(crate) const CHART_STATE: &str = "chart-state.json";
/// The state's format; a state of another version is unreadable (fail closed).
pub(crate) const CHART_STATE_VERSION: u32 = 1;

/// What every chart of a run is drawn with besides its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Look {
    /// The hex SHA-256 of the theme as JSON (every field, defaults included).
    pub theme: String,
    /// [`RENDERER_VERSION`].
    pub renderer: u32,
}

impl Look {
    /// The look of charts drawn with `themes` by this build.
    pub fn of(themes: &Themes) -> Self {
        // Serialising plain structs of numbers, colours and an enum cannot
        // fail; their field order is the declaration's, so the text is stable.
        let json = serde_json::to_vec(themes).unwrap_or_default();
        Look {
            theme: hex::encode(Sha256::digest(&json)),
            renderer: RENDERER_VERSION,
        }
    }
}

/// `reports/chart-state.json`: the fingerprint of each published chart, as
/// far as this job knows it is current. A slug absent from `charts` is drawn
/// by the next run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartState {
    pub version: u32,
    /// The look the charts of the last run that wrote the state were drawn
    /// with; it only tells why a chart is drawn again (a theme or a renderer).
    pub look: Option<Look>,
    /// The scaled-out plan (its nonce) whose steps wrote the state last, so a
    /// finish tried again recognises its own earlier write; `None` for a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_by: Option<String>,
    /// The charts prefix the fingerprints are of: a run with another prefix
    /// (its own charts) finds no fingerprint of them here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charts_prefix: Option<String>,
    /// Slug -> the fingerprint of its published chart and data.
    pub charts: BTreeMap<String, String>,
}

impl ChartState {
    /// The state from its JSON; another version or shape is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let state: ChartState = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if state.version != CHART_STATE_VERSION {
            return Err(format!(
                "version {} (this build reads {CHART_STATE_VERSION})",
                state.version
            ));
        }
        if let Some(bad) = state.charts.values().find(|f| !is_fingerprint(f)) {
            return Err(format!("{bad:?} is not a fingerprint"));
        }
        Ok(state)
    }

    /// The state to write before publishing: the charts about to be drawn
    /// taken out, so a run that stops while writing them leaves them to the
    /// next.
    #[must_use]
    pub fn before_publishing<'a>(
        &self,
        drawing: impl IntoIterator<Item = &'a str>,
        written_by: Option<&str>,
    ) -> Self {
        let mut next = self.clone();
        next.version = CHART_STATE_VERSION;
        next.written_by = written_by.map(str::to_string);
        for slug in drawing {
            next.charts.remove(slug);
        }
        next
    }

    /// Records the charts that are now in the destination as drawn (`slug`,
    /// fingerprint), forgets the deleted ones, and takes `look` as the look of
    /// the charts.
    pub fn after_publishing<'a>(
        &mut self,
        landed: impl IntoIterator<Item = (&'a str, &'a str)>,
        deleted: impl IntoIterator<Item = &'a str>,
        look: &Look,
        written_by: Option<&str>,
    ) {
        self.version = CHART_STATE_VERSION;
        self.written_by = written_by.map(str::to_string);
        for (slug, fingerprint) in landed {
            self.charts
                .insert(slug.to_string(), fingerprint.to_string());
        }
        for slug in deleted {
            self.charts.remove(slug);
        }
        self.look = Some(look.clone());
    }
}

/// Why a run draws a chart; a chart drawn for several is counted under the
/// first, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrawReason {
    /// A post inside the lookback window.
    Window,
    /// Named by the request.
    Named,
    /// The chart or its data is not in the destination.
    Missing,
    /// No fingerprint recorded: a new slug, the first run with the state, or
    /// a chart a stopped run was writing.
    New,
    /// The theme changed since the chart was drawn.
    Theme,
    /// The renderer changed since the chart was drawn.
    Renderer,
    /// What the chart shows changed: its months, total, name or zone.
    Changed,
}

impl DrawReason {
    pub fn key(self) -> &'static str {
        match self {
            DrawReason::Window => "window",
            DrawReason::Named => "named",
            DrawReason::Missing => "missing",
            DrawReason::New => "new",
            DrawReason::Theme => "theme",
            DrawReason::Renderer => "renderer",
            DrawReason::Changed => "changed",
        }
    }
}

/// The fingerprint of everything a chart and its data show: the slug, the
/// display name, the zone, every month and its count (so the total, the
/// first month and the month counted up to), the theme and the renderer.
/// Hex, 32 digits (128 bits of SHA-256). Not the `as_of`: a chart redrawn with
/// the same numbers is the same chart.
pub fn fingerprint(counts: &MonthlyCounts, look: &Look) -> String {
    let mut h = Sha256::new();
    for part in [
        "author-stats chart v1",
        &counts.slug,
        &counts.display_name,
        &counts.time_zone,
        &look.theme,
    ] {
        // Length-prefixed, so no two different tuples hash the same text.
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.update(look.renderer.to_le_bytes());
    let mut months = String::with_capacity(counts.months.len() * 12);
    for m in &counts.months {
        let _ = write!(months, "{}={};", m.month.0, m.posts);
    }
    h.update(months.as_bytes());
    let digest = h.finalize();
    hex::encode(&digest[..16])
}

fn is_fingerprint(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Which charts the destination holds: every image and the data of an
/// author ([`keys_of`]), from one listing of the charts prefix (`None` when it is not known).
pub(crate) struct Present<'a> {
    pub(crate) charts_prefix: &'a str,
    pub(crate) keys: Option<&'a HashSet<String>>,
}

impl Present<'_> {
    /// `Some(false)` when the listing lacks an image or the data.
    fn has(&self, slug: &str) -> Option<bool> {
        let keys = self.keys?;
        Some(
            keys_of(self.charts_prefix, slug)
                .iter()
                .all(|k| keys.contains(k)),
        )
    }
}

/// Why `counts` is drawn by this run, or `None` when its published chart is
/// current: the request wants it, or it is missing, has no fingerprint, or
/// its fingerprint is not `fingerprint`.
pub(crate) fn why_draw(
    wanted: Wanted,
    slug: &str,
    fingerprint: &str,
    state: &ChartState,
    look: &Look,
    present: &Present<'_>,
) -> Option<DrawReason> {
    match wanted {
        Wanted::Window => return Some(DrawReason::Window),
        Wanted::Named => return Some(DrawReason::Named),
        Wanted::Check => {}
    }
    if present.has(slug) == Some(false) {
        return Some(DrawReason::Missing);
    }
    let Some(recorded) = state.charts.get(slug) else {
        return Some(DrawReason::New);
    };
    if recorded == fingerprint {
        return None;
    }
    Some(match &state.look {
        Some(was) if was.theme != look.theme => DrawReason::Theme,
        Some(was) if was.renderer != look.renderer => DrawReason::Renderer,
        _ => DrawReason::Changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::{Month, MonthCount};

    fn counts(slug: &str, name: &str, months: &[(i32, u32)]) -> MonthlyCounts {
        MonthlyCounts {
            slug: slug.into(),
            display_name: name.into(),
            time_zone: "Asia/Tokyo".into(),
            as_of: chrono::DateTime::UNIX_EPOCH,
            total: months.iter().map(|(_, n)| u64::from(*n)).sum(),
            months: months
                .iter()
                .map(|&(m, posts)| MonthCount {
                    month: Month(m),
                    posts,
                })
                .collect(),
        }
    }

    // REQ-FR-001: everything a chart shows is in its fingerprint, and nothing
    // else (the as_of of the run that counted it).
    #[test]
    fn the_fingerprint_changes_with_everything_a_chart_shows() {
        let look = Look::of(&Themes::default());
        let base = counts("sato", "佐藤", &[(100, 1), (101, 0), (102, 3)]);
        let fp = fingerprint(&base, &look);
        assert!(is_fingerprint(&fp));
        let mut later = base.clone();
        later.as_of = chrono::Utc::now();
        assert_eq!(fingerprint(&later, &look), fp, "the as_of is not shown");
        let mut zone = base.clone();
        zone.time_zone = "UTC".into();
        let en = Look::of(&Themes::from_json(Some(r#"{"language":"en"}"#), None).unwrap());
        let dark_bar = Look::of(&Themes::from_json(None, Some(r##"{"bar":"#ff0000"}"##)).unwrap());
        let next_renderer = Look {
            renderer: look.renderer + 1,
            ..look.clone()
        };
        let cases: Vec<(&str, MonthlyCounts, &Look)> = vec![
            (
                "slug",
                counts("sato2", "佐藤", &[(100, 1), (101, 0), (102, 3)]),
                &look,
            ),
            (
                "name",
                counts("sato", "佐藤 花子", &[(100, 1), (101, 0), (102, 3)]),
                &look,
            ),
            (
                "a post taken down",
                counts("sato", "佐藤", &[(100, 1), (101, 0), (102, 2)]),
                &look,
            ),
            (
                "re-dated",
                counts("sato", "佐藤", &[(100, 1), (101, 1), (102, 2)]),
                &look,
            ),
            (
                "a month gone by",
                counts("sato", "佐藤", &[(100, 1), (101, 0), (102, 3), (103, 0)]),
                &look,
            ),
            (
                "first month",
                counts("sato", "佐藤", &[(101, 1), (102, 3)]),
                &look,
            ),
            ("zone", zone, &look),
            ("theme language", base.clone(), &en),
            ("dark theme", base.clone(), &dark_bar),
            ("renderer", base.clone(), &next_renderer),
        ];
        for (name, other, other_look) in cases {
            assert_ne!(fingerprint(&other, other_look), fp, "case {name}");
        }
    }

    // REQ-FR-001, REQ-FR-003: why a chart is drawn, in the order of the reasons.
    #[test]
    fn a_chart_is_drawn_when_wanted_missing_unknown_or_changed() {
        let look = Look::of(&Themes::default());
        let fp = "0123456789abcdef0123456789abcdef";
        let other = "fedcba9876543210fedcba9876543210";
        let state = ChartState {
            version: CHART_STATE_VERSION,
            look: Some(look.clone()),
            written_by: None,
            charts_prefix: None,
            charts: [("a".to_string(), fp.to_string())].into(),
        };
        // "a" and "b" have all five objects; "h" the light chart only, "d"
        // all but the compact dark image.
        let mut keys: HashSet<String> = ["a", "b", "d"]
            .iter()
            .flat_map(|slug| keys_of("c/", slug))
            .collect();
        keys.insert("c/h.png".into());
        keys.remove("c/compact-dark/d.png");
        let listed = Present {
            charts_prefix: "c/",
            keys: Some(&keys),
        };
        let unlisted = Present {
            charts_prefix: "c/",
            keys: None,
        };
        let themed = ChartState {
            look: Some(Look {
                theme: "old".into(),
                ..look.clone()
            }),
            ..state.clone()
        };
        let rendered = ChartState {
            look: Some(Look {
                renderer: 1,
                ..look.clone()
            }),
            ..state.clone()
        };
        let why = |wanted, slug, fingerprint, state, present| {
            why_draw(wanted, slug, fingerprint, state, &look, present)
        };
        let (check, window, named) = (Wanted::Check, Wanted::Window, Wanted::Named);
        let cases = [
            ("current", why(check, "a", fp, &state, &listed), None),
            ("no listing", why(check, "a", fp, &state, &unlisted), None),
            (
                "window",
                why(window, "a", fp, &state, &listed),
                Some(DrawReason::Window),
            ),
            (
                "named",
                why(named, "a", fp, &state, &listed),
                Some(DrawReason::Named),
            ),
            (
                "changed",
                why(check, "a", other, &state, &listed),
                Some(DrawReason::Changed),
            ),
            (
                "no fingerprint",
                why(check, "b", fp, &state, &listed),
                Some(DrawReason::New),
            ),
            (
                "no chart",
                why(check, "z", fp, &state, &listed),
                Some(DrawReason::Missing),
            ),
            (
                "png only",
                why(check, "h", fp, &state, &listed),
                Some(DrawReason::Missing),
            ),
            (
                "a variant missing",
                why(check, "d", fp, &state, &listed),
                Some(DrawReason::Missing),
            ),
            (
                "theme",
                why(check, "a", other, &themed, &listed),
                Some(DrawReason::Theme),
            ),
            (
                "renderer",
                why(check, "a", other, &rendered, &listed),
                Some(DrawReason::Renderer),
            ),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "case {name}");
        }
    }

    // REQ-FR-004: written ahead without the charts being drawn, after with
    // those that landed; an unreadable state is an error, not an empty one.
    #[test]
    fn the_state_forgets_what_is_being_written_until_it_landed() {
        let look = Look::of(&Themes::default());
        let fp = |c: char| c.to_string().repeat(32);
        let state = ChartState {
            version: CHART_STATE_VERSION,
            look: Some(look.clone()),
            written_by: None,
            charts_prefix: None,
            charts: [("a", fp('a')), ("b", fp('b')), ("c", fp('c'))]
                .into_iter()
                .map(|(s, f)| (s.to_string(), f))
                .collect(),
        };
        let mut ahead = state.before_publishing(["a", "b"], None);
        assert_eq!(ahead.charts.keys().collect::<Vec<_>>(), ["c"]);
        let (a2, d) = (fp('d'), fp('e'));
        ahead.after_publishing([("a", a2.as_str()), ("d", d.as_str())], ["c"], &look, None);
        assert_eq!(
            ahead.charts,
            [("a".to_string(), a2.clone()), ("d".to_string(), d.clone())].into()
        );
        let text = serde_json::to_vec(&ahead).unwrap();
        assert_eq!(ChartState::parse(&text).unwrap(), ahead);
        for (name, bad) in [
            ("not json", &b"{"[..]),
            (
                "another version",
                br#"{"version":9,"look":null,"charts":{}}"#,
            ),
            (
                "an unknown field",
                br#"{"version":1,"look":null,"charts":{},"x":1}"#,
            ),
            (
                "not a fingerprint",
                br#"{"version":1,"look":null,"charts":{"a":"zz"}}"#,
            ),
        ] {
            assert!(ChartState::parse(bad).is_err(), "case {name}");
        }
    }
}
