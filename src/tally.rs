//! Join posts to authors, count them per calendar month in the site's time zone,
//! and pick the authors a run draws.
//!
//! Memory is authors x months: a post is folded into its author's month count as
//! it streams past and then forgotten. Master problems (a duplicate `id`, a slug
//! shared by two authors, a slug unsafe as a key segment) are decided here, once,
//! so no author can overwrite another's chart.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::records::{Author, Post, ReasonCount};

/// Longest slug accepted, in bytes.
pub(crate) const MAX_SLUG_BYTES: usize = 200;

/// A calendar month, as `year * 12 + (month - 1)`, so consecutive months are
/// consecutive integers. Written as `YYYY-MM` (in the chart data and reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(pub i32);

impl Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:04}-{:02}", self.year(), self.month()))
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Month::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a YYYY-MM month")))
    }
}

impl Month {
    /// Reads `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Self> {
        let (year, month) = text.split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        let (year, month) = (year.parse::<i32>().ok()?, month.parse::<u32>().ok()?);
        (1..=12).contains(&month).then(|| Month::new(year, month))
    }

    pub fn new(year: i32, month: u32) -> Self {
        Month(year * 12 + month as i32 - 1)
    }
    /// The calendar month of `at` in `zone`.
    pub fn of(at: DateTime<Utc>, zone: Tz) -> Self {
        let local = zone.from_utc_datetime(&at.naive_utc());
        Month::new(local.year(), local.month())
    }
    pub fn year(self) -> i32 {
        self.0.div_euclid(12)
    }
    pub fn month(self) -> u32 {
        self.0.rem_euclid(12) as u32 + 1
    }
    /// `YYYY-MM`.
    pub fn label(self) -> String {
        format!("{:04}-{:02}", self.year(), self.month())
    }
}

/// Why an author is not drawn.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Two or more master rows carry this `id`; their posts cannot be attributed.
    DuplicateId,
    /// Another author has the same slug; drawing either would overwrite the other.
    SharedSlug,
    /// The slug cannot be one S3 key segment.
    UnsafeSlug(String),
    /// A requested slug that is not in the master.
    UnknownSlug,
}

impl SkipReason {
    pub fn key(&self) -> &'static str {
        match self {
            SkipReason::DuplicateId => "duplicate_id",
            SkipReason::SharedSlug => "shared_slug",
            SkipReason::UnsafeSlug(_) => "unsafe_slug",
            SkipReason::UnknownSlug => "unknown_slug",
        }
    }
}

/// Checks that a slug is safe as one S3 key segment and as a file name.
pub fn check_slug(slug: &str) -> Result<(), String> {
    if slug.is_empty() {
        return Err("empty".into());
    }
    if slug == "." || slug == ".." {
        return Err("a dot segment".into());
    }
    if slug.len() > MAX_SLUG_BYTES {
        return Err(format!("{} bytes, over {MAX_SLUG_BYTES}", slug.len()));
    }
    if let Some(c) = slug
        .chars()
        .find(|c| *c == '/' || *c == '\\' || c.is_control() || c.is_whitespace())
    {
        return Err(format!("contains {c:?}"));
    }
    // A URL would read these differently from the key: `%2D` decodes to
    // `-` (a link to `jane%2Ddoe` serves `jane-doe`), `?` starts a query and
    // `#` a fragment.
    if let Some(c) = slug.chars().find(|c| matches!(c, '%' | '?' | '#')) {
        return Err(format!("contains {c:?}, which a URL reads differently"));
    }
    // Invisible format characters (zero-width space, bidi overrides and
    // isolates, ...) would let two slugs look alike in a URL or a listing.
    if let Some(c) = slug
        .chars()
        .find(|c| c.general_category() == GeneralCategory::Format)
    {
        return Err(format!(
            "contains the invisible format character U+{:04X}",
            u32::from(c)
        ));
    }
    // One spelling per name: "é" precomposed and decomposed would be two keys.
    if !unicode_normalization::is_nfc(slug) {
        return Err("not in Unicode normalization form C (NFC)".into());
    }
    Ok(())
}

/// A slug as a case-insensitive disk or a person compares it: upper-cased,
/// then lower-cased, so `Σ`, `σ` and final `ς` fold alike, and `ß` as `ss`.
fn case_fold(slug: &str) -> String {
    slug.to_uppercase().to_lowercase()
}

/// One master row and what was decided about it.
#[derive(Debug, Clone)]
struct Entry {
    author: Author,
    /// `Some` when the author is never drawn.
    problem: Option<SkipReason>,
    /// Posts per month, published up to `as_of`.
    months: BTreeMap<Month, u32>,
    last_post: Option<DateTime<Utc>>,
}

/// A master problem, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterProblem {
    pub id: String,
    pub slug: String,
    pub reason: SkipReason,
}

/// Posts not attributed to any chart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostCounts {
    /// `author_id` not in the master.
    pub orphans: ReasonCount,
    /// `first_published_at` is `null`.
    pub unpublished: u64,
    /// Published after `as_of`.
    pub future: u64,
    /// Counted in a month.
    pub counted: u64,
}

/// The join of the author master with the streamed posts.
#[derive(Debug, Clone)]
pub struct Tally {
    zone: Tz,
    as_of: DateTime<Utc>,
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
    /// Rows folded into an earlier row with the same `id`.
    folded: Vec<MasterProblem>,
    /// Slugs of master rows that are not valid author rows (a bad line that
    /// still names its slug): present in the master, never drawn.
    unreadable_rows: BTreeSet<String>,
    pub posts: PostCounts,
}

/// An author a run picked, before its chart data is made.
pub(crate) struct Pick<'t> {
    tally: &'t Tally,
    kind: PickKind<'t>,
    /// Why the run looks at this author.
    pub(crate) wanted: Wanted,
}

/// Why a run looks at an author: the request wants the chart drawn (its
/// window or its names), or the run only checks that the published chart
/// still equals what it would draw now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// A post inside the lookback window.
    Window,
    /// Named by the request's `authors`.
    Named,
    /// Neither: drawn only when the published chart is not current.
    Check,
}

enum PickKind<'t> {
    Entry(&'t Entry),
    /// A requested slug that is not in the master.
    Unknown(String),
    /// A requested slug that more than one author has.
    Shared(&'t Entry),
}

impl Pick<'_> {
    fn slug(&self) -> &str {
        match &self.kind {
            PickKind::Entry(e) | PickKind::Shared(e) => &e.author.slug,
            PickKind::Unknown(slug) => slug,
        }
    }

    fn id(&self) -> &str {
        match &self.kind {
            PickKind::Entry(e) | PickKind::Shared(e) => &e.author.id,
            PickKind::Unknown(_) => "",
        }
    }

    /// The author and the chart data, or why the author is not drawn.
    pub(crate) fn resolve(&self) -> Resolved {
        match &self.kind {
            PickKind::Entry(e) => self.tally.resolve_entry(e),
            PickKind::Unknown(slug) => Resolved {
                author: Author {
                    id: String::new(),
                    slug: slug.clone(),
                    display_name: String::new(),
                },
                outcome: Err(SkipReason::UnknownSlug),
            },
            PickKind::Shared(first) => Resolved {
                author: first.author.clone(),
                outcome: Err(SkipReason::SharedSlug),
            },
        }
    }
}

/// One author a run draws (or reports as skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub author: Author,
    pub outcome: Result<MonthlyCounts, SkipReason>,
}

/// The data behind one chart; also published as `<slug>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthlyCounts {
    pub slug: String,
    pub display_name: String,
    pub time_zone: String,
    /// The export instant these numbers were counted at: the run that last
    /// drew this chart (every later run found them unchanged).
    pub as_of: DateTime<Utc>,
    pub total: u64,
    /// Every month from the first post to the `as_of` month, zeros included;
    /// empty for an author without a post.
    pub months: Vec<MonthCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthCount {
    /// Serialised as `YYYY-MM`.
    pub month: Month,
    pub posts: u32,
}

impl MonthlyCounts {
    pub(crate) fn first_month(&self) -> Option<Month> {
        self.months.first().map(|m| m.month)
    }
    /// Posts in the last `n` months of the series (the `as_of` month included).
    pub(crate) fn last_months_total(&self, n: usize) -> u64 {
        self.months
            .iter()
            .rev()
            .take(n)
            .map(|m| u64::from(m.posts))
            .sum()
    }
}

impl Tally {
    /// Builds the author directory, deciding every master problem up front.
    pub fn new(authors: Vec<Author>, zone: Tz, as_of: DateTime<Utc>) -> Self {
        let mut id_rows: HashMap<&str, usize> = HashMap::new();
        // Slugs are compared case-folded: `Foo` and `foo` are two keys in S3
        // but one file on a case-insensitive disk (and one URL to a person).
        let mut slug_rows: HashMap<String, usize> = HashMap::new();
        for a in &authors {
            *id_rows.entry(&a.id).or_default() += 1;
            *slug_rows.entry(case_fold(&a.slug)).or_default() += 1;
        }
        let problems: Vec<Option<SkipReason>> = authors
            .iter()
            .map(|a| {
                if id_rows[a.id.as_str()] > 1 {
                    Some(SkipReason::DuplicateId)
                } else if let Err(why) = check_slug(&a.slug) {
                    Some(SkipReason::UnsafeSlug(why))
                } else if slug_rows[&case_fold(&a.slug)] > 1 {
                    Some(SkipReason::SharedSlug)
                } else {
                    None
                }
            })
            .collect();
        let mut entries = Vec::with_capacity(authors.len());
        let mut by_id = HashMap::with_capacity(authors.len());
        let mut folded = Vec::new();
        for (author, problem) in authors.into_iter().zip(problems) {
            // Rows sharing an id collapse into the first: their posts are counted
            // (so activity is known) but the entry is never drawn.
            if by_id.contains_key(&author.id) {
                folded.push(MasterProblem {
                    id: author.id,
                    slug: author.slug,
                    reason: SkipReason::DuplicateId,
                });
                continue;
            }
            by_id.insert(author.id.clone(), entries.len());
            entries.push(Entry {
                author,
                problem,
                months: BTreeMap::new(),
                last_post: None,
            });
        }
        Tally {
            zone,
            as_of,
            entries,
            by_id,
            folded,
            unreadable_rows: BTreeSet::new(),
            posts: PostCounts::default(),
        }
    }

    /// Records the slugs of master rows that could not be read as authors.
    pub(crate) fn with_unreadable_rows(mut self, slugs: BTreeSet<String>) -> Self {
        self.unreadable_rows = slugs;
        self
    }

    /// Every slug some row of the master carries, drawable or not (a
    /// duplicate, a shared or unsafe slug, a row that is not a valid author):
    /// a chart whose slug is not among them belongs to no one in the master.
    pub(crate) fn master_slugs(&self) -> BTreeSet<&str> {
        self.entries
            .iter()
            .map(|e| e.author.slug.as_str())
            .chain(self.folded.iter().map(|f| f.slug.as_str()))
            .chain(self.unreadable_rows.iter().map(String::as_str))
            .collect()
    }

    /// Every master problem, active or not, sorted by slug then id.
    pub(crate) fn master_problems(&self) -> Vec<MasterProblem> {
        let mut out: Vec<MasterProblem> = self
            .entries
            .iter()
            .filter_map(|e| {
                e.problem.clone().map(|reason| MasterProblem {
                    id: e.author.id.clone(),
                    slug: e.author.slug.clone(),
                    reason,
                })
            })
            .chain(self.folded.iter().cloned())
            .collect();
        out.sort_by(|a, b| (&a.slug, &a.id).cmp(&(&b.slug, &b.id)));
        out
    }

    /// Adds the counts of `other`, a tally of another part of the same export
    /// built from the same author master (`Tally::new` with the same rows), so
    /// parts read apart make one tally.
    pub(crate) fn merge(&mut self, other: Tally) {
        debug_assert_eq!(self.entries.len(), other.entries.len());
        for (mine, theirs) in self.entries.iter_mut().zip(other.entries) {
            for (month, n) in theirs.months {
                *mine.months.entry(month).or_default() += n;
            }
            mine.last_post = mine.last_post.max(theirs.last_post);
        }
        let (p, o) = (&mut self.posts, other.posts);
        p.orphans.merge(o.orphans);
        p.unpublished += o.unpublished;
        p.future += o.future;
        p.counted += o.counted;
    }

    /// Folds one post into its author's month.
    pub fn add(&mut self, line: u64, post: &Post<'_>) {
        let Some(&index) = self.by_id.get(post.author_id.as_str()) else {
            self.posts.orphans.record(line);
            return;
        };
        let Some(at) = post.published_at else {
            self.posts.unpublished += 1;
            return;
        };
        if at > self.as_of {
            self.posts.future += 1;
            return;
        }
        self.posts.counted += 1;
        let entry = &mut self.entries[index];
        *entry.months.entry(Month::of(at, self.zone)).or_default() += 1;
        if entry.last_post.is_none_or(|last| at > last) {
            entry.last_post = Some(at);
        }
    }

    /// The authors to draw with their chart data, all at once (the tests' view
    /// of [`Tally::picks`]).
    #[cfg(test)]
    pub(crate) fn resolve_all(
        &self,
        window_start: DateTime<Utc>,
        requested: Option<&BTreeSet<String>>,
    ) -> Vec<Resolved> {
        let picks = self.picks(window_start, requested);
        picks.iter().map(Pick::resolve).collect()
    }

    /// The authors a request wants drawn: those with a post in
    /// `(window_start, as_of]`, or, when `requested` is given, exactly those
    /// slugs; sorted by slug, before their chart data is made, so a caller
    /// that takes them one at a time holds one series at a time.
    #[cfg(test)]
    pub(crate) fn picks(
        &self,
        window_start: DateTime<Utc>,
        requested: Option<&BTreeSet<String>>,
    ) -> Vec<Pick<'_>> {
        let mut out: Vec<Pick<'_>> = self
            .candidates(window_start, requested)
            .into_iter()
            .filter(|p| p.wanted != Wanted::Check)
            .collect();
        out.shrink_to_fit();
        out
    }

    /// Every author a run looks at, sorted by slug: the ones the request wants
    /// (marked [`Wanted::Window`] or [`Wanted::Named`]) and every other
    /// drawable author of the master ([`Wanted::Check`]), whose published
    /// chart is drawn again only when it no longer equals what the run would
    /// draw. An author with a master problem is looked at only when wanted
    /// (and then reported as skipped), as before.
    pub(crate) fn candidates(
        &self,
        window_start: DateTime<Utc>,
        requested: Option<&BTreeSet<String>>,
    ) -> Vec<Pick<'_>> {
        let pick = |kind, wanted| Pick {
            tally: self,
            kind,
            wanted,
        };
        let checked = |e: &&Entry| e.problem.is_none();
        let mut out: Vec<Pick<'_>> = match requested {
            None => self
                .entries
                .iter()
                .filter_map(|e| {
                    if e.last_post.is_some_and(|t| t > window_start) {
                        Some(pick(PickKind::Entry(e), Wanted::Window))
                    } else {
                        checked(&e).then(|| pick(PickKind::Entry(e), Wanted::Check))
                    }
                })
                .collect(),
            Some(slugs) => {
                let named = slugs.iter().map(|slug| {
                    let mut matches = self.entries.iter().filter(|e| &e.author.slug == slug);
                    let kind = match (matches.next(), matches.next()) {
                        (None, _) => PickKind::Unknown(slug.clone()),
                        (Some(one), None) => PickKind::Entry(one),
                        (Some(first), Some(_)) => PickKind::Shared(first),
                    };
                    pick(kind, Wanted::Named)
                });
                let others = self
                    .entries
                    .iter()
                    .filter(checked)
                    .filter(|e| !slugs.contains(&e.author.slug))
                    .map(|e| pick(PickKind::Entry(e), Wanted::Check));
                named.chain(others).collect()
            }
        };
        out.sort_by(|a, b| (a.slug(), a.id()).cmp(&(b.slug(), b.id())));
        out
    }

    fn resolve_entry(&self, e: &Entry) -> Resolved {
        let outcome = match &e.problem {
            Some(reason) => Err(reason.clone()),
            None => Ok(self.series(e)),
        };
        Resolved {
            author: e.author.clone(),
            outcome,
        }
    }

    /// The author's chart data: every month from the first post to the
    /// `as_of` month, or no months at all for an author without a post (the
    /// chart then says so).
    fn series(&self, e: &Entry) -> MonthlyCounts {
        let months = match e.months.keys().next() {
            Some(first) => {
                let last = Month::of(self.as_of, self.zone);
                (first.0..=last.0)
                    .map(|m| MonthCount {
                        month: Month(m),
                        posts: e.months.get(&Month(m)).copied().unwrap_or(0),
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        MonthlyCounts {
            slug: e.author.slug.clone(),
            display_name: e.author.display_name.clone(),
            time_zone: self.zone.name().to_string(),
            as_of: self.as_of,
            total: e.months.values().map(|&n| u64::from(n)).sum(),
            months,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::parse_post;

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn author(id: &str, slug: &str) -> Author {
        Author {
            id: id.into(),
            slug: slug.into(),
            display_name: format!("名前 {id}"),
        }
    }

    fn feed(t: &mut Tally, posts: &[(&str, Option<&str>)]) {
        for (i, (id, at)) in posts.iter().enumerate() {
            let line = match at {
                Some(at) => format!(r#"{{"author_id":"{id}","first_published_at":"{at}"}}"#),
                None => format!(r#"{{"author_id":"{id}","first_published_at":null}}"#),
            };
            t.add(i as u64 + 1, &parse_post(line.as_bytes()).unwrap());
        }
    }

    // REQ-AG-001: calendar months in the site's zone.
    #[test]
    fn month_boundaries_follow_the_zone() {
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let cases: &[(&str, &str, Tz, &str)] = &[
            ("tokyo next month", "2025-10-31T15:30:00Z", tokyo, "2025-11"),
            (
                "tokyo just before",
                "2025-10-31T14:59:59Z",
                tokyo,
                "2025-10",
            ),
            ("tokyo midnight", "2025-10-31T15:00:00Z", tokyo, "2025-11"),
            (
                "utc same instant",
                "2025-10-31T15:30:00Z",
                chrono_tz::UTC,
                "2025-10",
            ),
            ("tokyo new year", "2024-12-31T15:00:00Z", tokyo, "2025-01"),
            (
                "new york dst",
                "2025-11-01T03:59:00Z",
                chrono_tz::America::New_York,
                "2025-10",
            ),
            ("year 1999", "1999-12-31T23:00:00Z", tokyo, "2000-01"),
            ("year 2150", "2150-06-01T00:00:00Z", tokyo, "2150-06"),
        ];
        for (name, at, zone, want) in cases {
            assert_eq!(Month::of(ts(at), *zone).label(), *want, "case {name}");
        }
    }

    // REQ-MA-002, REQ-RL-011: slug safety.
    #[test]
    fn slug_safety() {
        let long = "a".repeat(201);
        let cases: &[(&str, &str, bool)] = &[
            ("plain", "sato-taro", true),
            ("unicode", "さとう", true),
            ("percent", "a%2Fb", false),
            ("query", "a?b", false),
            ("fragment", "a#b", false),
            ("exactly 200", &"b".repeat(200), true),
            ("empty", "", false),
            ("dot", ".", false),
            ("dotdot", "..", false),
            ("slash", "a/b", false),
            ("traversal", "../etc", false),
            ("backslash", "a\\b", false),
            ("space", "a b", false),
            ("tab", "a\tb", false),
            ("newline", "a\n", false),
            ("nul", "a\0", false),
            ("ideographic space", "a\u{3000}b", false),
            ("too long", &long, false),
            ("zero-width space", "sato\u{200B}taro", false),
            ("right-to-left override", "sato\u{202E}orat", false),
            ("first strong isolate", "a\u{2068}b\u{2069}", false),
            ("soft hyphen", "sa\u{00AD}to", false),
            ("byte order mark", "\u{FEFF}sato", false),
            ("precomposed é (NFC)", "caf\u{00E9}", true),
            ("decomposed é (not NFC)", "cafe\u{0301}", false),
            ("half-width katakana (NFC)", "ｻﾄｳ", true),
        ];
        for (name, slug, ok) in cases {
            assert_eq!(check_slug(slug).is_ok(), *ok, "case {name}");
        }
    }

    // REQ-MA-001: duplicate ids and shared slugs are never drawn.
    #[test]
    fn master_problems_are_decided_once() {
        let t = Tally::new(
            vec![
                author("1", "one"),
                author("2", "shared"),
                author("3", "shared"),
                author("4", "dup-a"),
                author("4", "dup-b"),
                author("5", "../x"),
            ],
            chrono_tz::UTC,
            ts("2025-01-01T00:00:00Z"),
        );
        let problems: Vec<(String, String)> = t
            .master_problems()
            .into_iter()
            .map(|p| (p.slug, p.reason.key().to_string()))
            .collect();
        assert_eq!(
            problems,
            vec![
                ("../x".to_string(), "unsafe_slug".to_string()),
                ("dup-a".to_string(), "duplicate_id".to_string()),
                ("dup-b".to_string(), "duplicate_id".to_string()),
                ("shared".to_string(), "shared_slug".to_string()),
                ("shared".to_string(), "shared_slug".to_string()),
            ]
        );
    }

    // REQ-AG-002, REQ-AG-003, REQ-AG-004
    #[test]
    fn window_edges_orphans_drafts_and_future() {
        let as_of = ts("2025-11-25T17:45:00Z");
        let mut t = Tally::new(
            vec![
                author("a", "edge-in"),
                author("b", "edge-out"),
                author("c", "old"),
                author("d", "future-only"),
            ],
            chrono_tz::UTC,
            as_of,
        );
        feed(
            &mut t,
            &[
                ("a", Some("2025-11-25T17:45:00Z")), // exactly as_of: inside
                ("b", Some("2025-11-18T17:45:00Z")), // exactly window start: outside
                ("c", Some("2020-01-01T00:00:00Z")),
                ("d", Some("2025-11-25T17:45:01Z")), // after as_of: not counted
                ("zz", Some("2025-11-20T00:00:00Z")), // orphan
                ("a", None),                         // draft
            ],
        );
        let picked: Vec<String> = t
            .resolve_all(as_of - chrono::Duration::days(7), None)
            .into_iter()
            .map(|s| s.author.slug)
            .collect();
        assert_eq!(picked, vec!["edge-in"]);
        assert_eq!(t.posts.orphans.count, 1);
        assert_eq!(t.posts.orphans.sample_lines, vec![5]);
        assert_eq!(t.posts.unpublished, 1);
        assert_eq!(t.posts.future, 1);
        assert_eq!(t.posts.counted, 3);
        let all: Vec<String> = t
            .resolve_all(as_of - chrono::Duration::days(5475), None)
            .into_iter()
            .map(|s| s.author.slug)
            .collect();
        assert_eq!(all, vec!["edge-in", "edge-out", "old"]);
    }

    // REQ-AG-005: zero-filled series from the first month to the as_of month.
    #[test]
    fn series_is_zero_filled_to_the_as_of_month() {
        let as_of = ts("2025-03-10T00:00:00Z");
        let mut t = Tally::new(vec![author("a", "a")], "Asia/Tokyo".parse().unwrap(), as_of);
        feed(
            &mut t,
            &[
                ("a", Some("2024-10-31T15:30:00Z")), // Tokyo: November
                ("a", Some("2024-11-02T00:00:00Z")),
                ("a", Some("2025-01-15T00:00:00Z")),
            ],
        );
        let sel = t.resolve_all(as_of - chrono::Duration::days(365), None);
        let counts = sel[0].outcome.clone().unwrap();
        let series: Vec<(String, u32)> = counts
            .months
            .iter()
            .map(|m| (m.month.label(), m.posts))
            .collect();
        let series: Vec<(&str, u32)> = series.iter().map(|(m, n)| (m.as_str(), *n)).collect();
        assert_eq!(
            series,
            vec![
                ("2024-11", 2),
                ("2024-12", 0),
                ("2025-01", 1),
                ("2025-02", 0),
                ("2025-03", 0)
            ]
        );
        assert_eq!(counts.total, 3);
        assert_eq!(counts.first_month(), Some(Month::new(2024, 11)));
        assert_eq!(
            serde_json::to_value(&counts.months[0]).unwrap(),
            serde_json::json!({"month": "2024-11", "posts": 2})
        );
        assert_eq!(counts.last_months_total(3), 1);
        assert_eq!(counts.time_zone, "Asia/Tokyo");
    }

    // REQ-EV-003: named authors are drawn whatever their activity.
    #[test]
    fn requested_authors_ignore_activity() {
        let as_of = ts("2025-11-25T00:00:00Z");
        let mut t = Tally::new(
            vec![
                author("a", "old"),
                author("b", "never"),
                author("c", "shared"),
                author("d", "shared"),
            ],
            chrono_tz::UTC,
            as_of,
        );
        feed(&mut t, &[("a", Some("2012-05-01T00:00:00Z"))]);
        let requested: BTreeSet<String> = ["old", "never", "ghost", "shared"]
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        let got: Vec<(String, Result<u64, SkipReason>)> = t
            .resolve_all(as_of, Some(&requested))
            .into_iter()
            .map(|s| (s.author.slug, s.outcome.map(|c| c.total)))
            .collect();
        assert_eq!(
            got,
            vec![
                ("ghost".to_string(), Err(SkipReason::UnknownSlug)),
                ("never".to_string(), Ok(0)),
                ("old".to_string(), Ok(1)),
                ("shared".to_string(), Err(SkipReason::SharedSlug)),
            ]
        );
    }

    // REQ-MA-001: slugs that differ only in case are one file on a
    // case-insensitive disk: both are shared, neither drawn.
    #[test]
    fn slugs_differing_in_case_are_shared() {
        let t = Tally::new(
            vec![
                author("a", "Sato"),
                author("b", "sato"),
                author("c", "suzuki"),
                author("d", "xΣ"),
                author("e", "xσ"),
            ],
            chrono_tz::UTC,
            ts("2025-11-25T00:00:00Z"),
        );
        let problems = t.master_problems();
        let shared: Vec<&str> = problems
            .iter()
            .filter(|p| p.reason == SkipReason::SharedSlug)
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(shared, ["a", "b", "d", "e"]);
    }

    // REQ-MA-001: a master where 10,000 authors share one slug.
    #[test]
    fn ten_thousand_authors_sharing_a_slug_are_all_skipped() {
        let authors: Vec<Author> = (0..10_000)
            .map(|i| author(&format!("id{i}"), "same"))
            .collect();
        let as_of = ts("2025-11-25T00:00:00Z");
        let mut t = Tally::new(authors, chrono_tz::UTC, as_of);
        feed(&mut t, &[("id42", Some("2025-11-24T00:00:00Z"))]);
        assert_eq!(t.master_problems().len(), 10_000);
        assert!(
            t.master_problems()
                .iter()
                .all(|p| p.reason == SkipReason::SharedSlug)
        );
        let sel = t.resolve_all(as_of - chrono::Duration::days(7), None);
        assert_eq!(sel.len(), 1);
        assert_eq!(sel[0].outcome, Err(SkipReason::SharedSlug));
    }

    #[test]
    fn posts_of_a_duplicate_id_make_it_active_but_skipped() {
        let as_of = ts("2025-11-25T00:00:00Z");
        let mut t = Tally::new(
            vec![author("x", "first"), author("x", "second")],
            chrono_tz::UTC,
            as_of,
        );
        feed(&mut t, &[("x", Some("2025-11-24T00:00:00Z"))]);
        let sel = t.resolve_all(as_of - chrono::Duration::days(7), None);
        assert_eq!(sel.len(), 1);
        assert_eq!(sel[0].outcome, Err(SkipReason::DuplicateId));
        assert_eq!(t.posts.orphans.count, 0);
    }
}
