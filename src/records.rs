//! One line of an export file becomes a [`Post`] or an [`Author`], or a counted
//! [`BadReason`].
//!
//! Only the fields the batch uses are looked at: everything else in a record (a
//! Markdown body of several KB, nested metadata) is skipped by the JSON scanner
//! without being built into values. Lines are read with a bounded buffer, so a
//! pathological single line cannot take the memory with it.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// Lines longer than this are skipped as `line_too_long` (the rest of the line is
/// consumed and dropped, never buffered).
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// How many line numbers each bad-record reason keeps as samples.
pub const SAMPLE_LINES: usize = 5;

/// A published or draft post: the three fields the batch reads.
#[derive(Debug, Clone)]
pub struct Post<'a> {
    pub author_id: String,
    /// `None` when the export says `null`: the post was never published.
    pub published_at: Option<DateTime<Utc>>,
    title: Option<&'a RawValue>,
}

impl Post<'_> {
    /// The title for log lines; not validated, since nothing else depends on it.
    pub fn title(&self) -> Option<String> {
        self.title
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
    }
}

/// One row of the author master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Author {
    pub id: String,
    pub slug: String,
    pub display_name: String,
}

/// Why a line was skipped. Each reason is counted in the run report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BadReason {
    InvalidJson,
    NotAnObject,
    DuplicateField,
    MissingField(&'static str),
    WrongType(&'static str),
    BadTimestamp,
    LineTooLong,
}

impl fmt::Display for BadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadReason::InvalidJson => f.write_str("invalid_json"),
            BadReason::NotAnObject => f.write_str("not_an_object"),
            BadReason::DuplicateField => f.write_str("duplicate_field"),
            BadReason::MissingField(name) => write!(f, "missing_field:{name}"),
            BadReason::WrongType(name) => write!(f, "wrong_type:{name}"),
            BadReason::BadTimestamp => f.write_str("bad_timestamp"),
            BadReason::LineTooLong => f.write_str("line_too_long"),
        }
    }
}

impl Serialize for BadReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How often one reason occurred, with the first few line numbers (1-based).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    pub count: u64,
    pub sample_lines: Vec<u64>,
}

impl ReasonCount {
    pub fn record(&mut self, line: u64) {
        self.count += 1;
        if self.sample_lines.len() < SAMPLE_LINES {
            self.sample_lines.push(line);
        }
    }
}

/// Counts of what was read from one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LineStats {
    /// Non-blank lines seen.
    pub lines: u64,
    /// Lines that became a record.
    pub records: u64,
    /// Bytes of (decompressed) input consumed.
    pub bytes: u64,
    /// Skipped lines by reason.
    pub bad: BTreeMap<String, ReasonCount>,
}

impl LineStats {
    pub fn bad_total(&self) -> u64 {
        self.bad.values().map(|r| r.count).sum()
    }

    fn record_bad(&mut self, reason: BadReason, line: u64) {
        self.bad.entry(reason.to_string()).or_default().record(line);
    }
}

/// A field that may be absent, `null`, or any JSON value, kept as borrowed raw text.
#[derive(Default)]
enum Raw<'a> {
    #[default]
    Missing,
    Present(&'a RawValue),
}

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(Raw::Present)
    }
}

impl<'a> Raw<'a> {
    /// A required string field.
    fn string(&self, name: &'static str) -> Result<String, BadReason> {
        match self {
            Raw::Missing => Err(BadReason::MissingField(name)),
            Raw::Present(raw) if raw.get().starts_with('"') => {
                serde_json::from_str(raw.get()).map_err(|_| BadReason::WrongType(name))
            }
            Raw::Present(_) => Err(BadReason::WrongType(name)),
        }
    }
}

#[derive(Deserialize)]
struct PostFields<'a> {
    #[serde(borrow, default)]
    author_id: Raw<'a>,
    #[serde(borrow, default)]
    first_published_at: Raw<'a>,
    #[serde(borrow, default)]
    title: Raw<'a>,
}

#[derive(Deserialize)]
struct AuthorFields<'a> {
    #[serde(borrow, default)]
    id: Raw<'a>,
    #[serde(borrow, default)]
    slug: Raw<'a>,
    #[serde(borrow, default)]
    display_name: Raw<'a>,
}

fn classify(err: &serde_json::Error) -> BadReason {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => {
            let msg = err.to_string();
            if msg.starts_with("duplicate field") {
                BadReason::DuplicateField
            } else if msg.starts_with("invalid type") {
                // Every field is captured raw, so a type error can only be the
                // line itself (an array, a string, a number) not being an object.
                BadReason::NotAnObject
            } else {
                BadReason::InvalidJson
            }
        }
        Category::Syntax | Category::Eof | Category::Io => BadReason::InvalidJson,
    }
}

/// Serde accepts a JSON array for a struct (fields by position); a record must
/// be an object, so anything else is rejected first.
fn require_object(line: &[u8]) -> Result<(), BadReason> {
    match line.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok() => {
            Err(BadReason::NotAnObject)
        }
        _ => Err(BadReason::InvalidJson),
    }
}

/// Parses a timestamp as RFC 3339 (`Z` or an offset, optional fraction).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses one post line (already stripped of its line end).
pub fn parse_post(line: &[u8]) -> Result<Post<'_>, BadReason> {
    require_object(line)?;
    let fields: PostFields<'_> = serde_json::from_slice(line).map_err(|e| classify(&e))?;
    let author_id = fields.author_id.string("author_id")?;
    let published_at = match fields.first_published_at {
        Raw::Missing => return Err(BadReason::MissingField("first_published_at")),
        Raw::Present(raw) if raw.get() == "null" => None,
        Raw::Present(raw) if raw.get().starts_with('"') => {
            let text: std::borrow::Cow<'_, str> = serde_json::from_str(raw.get())
                .map_err(|_| BadReason::WrongType("first_published_at"))?;
            Some(parse_timestamp(&text).ok_or(BadReason::BadTimestamp)?)
        }
        Raw::Present(_) => return Err(BadReason::WrongType("first_published_at")),
    };
    let title = match fields.title {
        Raw::Present(raw) => Some(raw),
        Raw::Missing => None,
    };
    Ok(Post {
        author_id,
        published_at,
        title,
    })
}

/// Parses one author-master line (already stripped of its line end).
pub fn parse_author(line: &[u8]) -> Result<Author, BadReason> {
    require_object(line)?;
    let fields: AuthorFields<'_> = serde_json::from_slice(line).map_err(|e| classify(&e))?;
    Ok(Author {
        id: fields.id.string("id")?,
        slug: fields.slug.string("slug")?,
        display_name: fields.display_name.string("display_name")?,
    })
}

/// Reads every line of `reader` and hands it, with its 1-based line number, to
/// `on_line`, which parses (and uses) it or says why it is bad. Blank lines are
/// ignored; a UTF-8 BOM at the start and `\r\n` line ends are accepted. An I/O
/// error (including a decompression error surfaced by the reader) ends the read
/// with that error.
pub fn read_lines<R, F>(mut reader: R, mut on_line: F) -> io::Result<LineStats>
where
    R: BufRead,
    F: FnMut(u64, &[u8]) -> Result<(), BadReason>,
{
    let mut stats = LineStats::default();
    let mut line = Vec::with_capacity(64 * 1024);
    let mut line_no: u64 = 0;
    loop {
        line.clear();
        let (read, too_long) = read_bounded_line(&mut reader, &mut line)?;
        if read == 0 {
            break;
        }
        line_no += 1;
        stats.bytes += read as u64;
        let mut text: &[u8] = &line;
        if line_no == 1 {
            text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        }
        if !too_long && text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        stats.lines += 1;
        if too_long {
            stats.record_bad(BadReason::LineTooLong, line_no);
            continue;
        }
        match on_line(line_no, text) {
            Ok(()) => stats.records += 1,
            Err(reason) => stats.record_bad(reason, line_no),
        }
    }
    Ok(stats)
}

/// Reads up to and including the next `\n` into `buf` (without the line end),
/// keeping at most [`MAX_LINE_BYTES`]. Returns the bytes consumed and whether
/// the line was cut.
fn read_bounded_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut too_long = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        let (chunk, done) = match memchr(available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        if !too_long {
            if buf.len() + chunk.len() > MAX_LINE_BYTES + 2 {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let n = chunk.len();
        reader.consume(n);
        consumed += n;
        if done {
            break;
        }
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    Ok((consumed, too_long))
}

fn memchr(haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // the tables of cases read best inline
mod tests {
    use super::*;

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    // REQ-IN-002: timestamp forms.
    #[test]
    fn timestamp_forms() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("zulu", "2025-11-25T17:45:00Z", Some("2025-11-25T17:45:00Z")),
            (
                "fraction",
                "2025-11-25T17:45:00.123Z",
                Some("2025-11-25T17:45:00.123Z"),
            ),
            (
                "offset",
                "2025-11-26T02:45:00+09:00",
                Some("2025-11-25T17:45:00Z"),
            ),
            (
                "nepal offset",
                "2025-11-25T23:30:00+05:45",
                Some("2025-11-25T17:45:00Z"),
            ),
            (
                "negative zero offset",
                "2025-11-25T17:45:00-00:00",
                Some("2025-11-25T17:45:00Z"),
            ),
            (
                "lowercase t and z",
                "2025-11-25t17:45:00z",
                Some("2025-11-25T17:45:00Z"),
            ),
            ("date only", "2025-11-25", None),
            ("no zone", "2025-11-25T17:45:00", None),
            ("garbage", "yesterday", None),
            ("month 13", "2025-13-01T00:00:00Z", None),
        ];
        for (name, input, want) in cases {
            assert_eq!(parse_timestamp(input), want.map(ts), "case {name}");
        }
    }

    #[test]
    fn leap_second_is_accepted() {
        let t = parse_timestamp("2016-12-31T23:59:60Z").expect("leap second parses");
        assert_eq!(t.timestamp(), ts("2016-12-31T23:59:59Z").timestamp());
    }

    // REQ-IN-003: every bad-record reason.
    #[test]
    fn post_line_outcomes() {
        let cases: &[(&str, &str, Result<(&str, Option<&str>), BadReason>)] = &[
            (
                "ok",
                r#"{"author_id":"a1","first_published_at":"2025-01-02T03:04:05Z","title":"t","body":"long"}"#,
                Ok(("a1", Some("2025-01-02T03:04:05Z"))),
            ),
            (
                "draft",
                r#"{"author_id":"a1","first_published_at":null}"#,
                Ok(("a1", None)),
            ),
            (
                "escaped id",
                r#"{"author_id":"a\u0031","first_published_at":null}"#,
                Ok(("a1", None)),
            ),
            (
                "nested ignored field",
                r#"{"meta":{"a":[1,{"b":[[[]]]}]},"author_id":"a1","first_published_at":null}"#,
                Ok(("a1", None)),
            ),
            (
                "invalid json",
                r#"{"author_id":"a1","#,
                Err(BadReason::InvalidJson),
            ),
            (
                "trailing garbage",
                r#"{"author_id":"a1","first_published_at":null} x"#,
                Err(BadReason::InvalidJson),
            ),
            ("array", r#"["a1"]"#, Err(BadReason::NotAnObject)),
            ("string", r#""a1""#, Err(BadReason::NotAnObject)),
            ("null line", "null", Err(BadReason::NotAnObject)),
            (
                "missing author",
                r#"{"first_published_at":null}"#,
                Err(BadReason::MissingField("author_id")),
            ),
            (
                "missing date",
                r#"{"author_id":"a1"}"#,
                Err(BadReason::MissingField("first_published_at")),
            ),
            (
                "number author",
                r#"{"author_id":17,"first_published_at":null}"#,
                Err(BadReason::WrongType("author_id")),
            ),
            (
                "null author",
                r#"{"author_id":null,"first_published_at":null}"#,
                Err(BadReason::WrongType("author_id")),
            ),
            (
                "number date",
                r#"{"author_id":"a1","first_published_at":1700000000}"#,
                Err(BadReason::WrongType("first_published_at")),
            ),
            (
                "bad date",
                r#"{"author_id":"a1","first_published_at":"2025-02-30T00:00:00Z"}"#,
                Err(BadReason::BadTimestamp),
            ),
            (
                "duplicate key",
                r#"{"author_id":"a1","author_id":"a2","first_published_at":null}"#,
                Err(BadReason::DuplicateField),
            ),
            (
                "replacement char",
                "{\"author_id\":\"a\u{FFFD}\",\"first_published_at\":null}",
                Ok(("a\u{FFFD}", None)),
            ),
        ];
        for (name, line, want) in cases {
            let got = parse_post(line.as_bytes()).map(|p| (p.author_id.clone(), p.published_at));
            let want = (*want).map(|(id, t)| (id.to_string(), t.map(ts)));
            assert_eq!(got, want, "case {name}");
        }
        let raw_invalid_utf8 = b"{\"author_id\":\"a\xff\",\"first_published_at\":null}";
        assert_eq!(
            parse_post(raw_invalid_utf8).err(),
            Some(BadReason::InvalidJson)
        );
    }

    #[test]
    fn author_line_outcomes() {
        let ok = parse_author(
            r#"{"id":"x","slug":"sato-taro","display_name":"佐藤 太郎","bio":"..."}"#.as_bytes(),
        );
        assert_eq!(
            ok,
            Ok(Author {
                id: "x".into(),
                slug: "sato-taro".into(),
                display_name: "佐藤 太郎".into()
            })
        );
        let cases: &[(&str, &str, BadReason)] = &[
            (
                "missing slug",
                r#"{"id":"x","display_name":"n"}"#,
                BadReason::MissingField("slug"),
            ),
            (
                "number id",
                r#"{"id":1,"slug":"s","display_name":"n"}"#,
                BadReason::WrongType("id"),
            ),
            (
                "null name",
                r#"{"id":"x","slug":"s","display_name":null}"#,
                BadReason::WrongType("display_name"),
            ),
            ("not object", "[]", BadReason::NotAnObject),
        ];
        for (name, line, want) in cases {
            assert_eq!(
                parse_author(line.as_bytes()).err(),
                Some(*want),
                "case {name}"
            );
        }
    }

    #[test]
    fn title_is_decoded_lazily() {
        let p = parse_post(
            r#"{"author_id":"a","first_published_at":null,"title":"こんにちは\n"}"#.as_bytes(),
        )
        .unwrap();
        assert_eq!(p.title().as_deref(), Some("こんにちは\n"));
        let p = parse_post(r#"{"author_id":"a","first_published_at":null,"title":5}"#.as_bytes())
            .unwrap();
        assert_eq!(p.title(), None);
    }

    #[test]
    fn read_lines_counts_blank_bom_crlf_and_reasons() {
        let input = "\u{FEFF}{\"author_id\":\"a\",\"first_published_at\":null}\r\n\
                     \n   \n\
                     nope\n\
                     {\"author_id\":\"b\",\"first_published_at\":null}\n\
                     []\n\
                     nope again";
        let mut seen = Vec::new();
        let stats = read_lines(input.as_bytes(), |line, text| {
            seen.push((line, parse_post(text)?.author_id));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![(1, "a".to_string()), (5, "b".to_string())]);
        assert_eq!(stats.lines, 5);
        assert_eq!(stats.records, 2);
        assert_eq!(stats.bytes, input.len() as u64);
        assert_eq!(
            stats.bad["invalid_json"],
            ReasonCount {
                count: 2,
                sample_lines: vec![4, 7]
            }
        );
        assert_eq!(
            stats.bad["not_an_object"],
            ReasonCount {
                count: 1,
                sample_lines: vec![6]
            }
        );
        assert_eq!(stats.bad_total(), 3);
    }

    #[test]
    fn samples_keep_only_the_first_lines() {
        let input = "x\n".repeat(20);
        let stats = read_lines(input.as_bytes(), |_, text| parse_post(text).map(drop)).unwrap();
        assert_eq!(stats.bad["invalid_json"].count, 20);
        assert_eq!(stats.bad["invalid_json"].sample_lines, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn an_overlong_line_is_skipped_without_buffering_it() {
        // A 50 MB line: counted as too long, the next line still read.
        let long = format!(
            "{{\"author_id\":\"a\",\"body\":\"{}\"}}\n",
            "x".repeat(50 * 1024 * 1024)
        );
        let input = format!("{long}{{\"author_id\":\"b\",\"first_published_at\":null}}\n");
        let mut ids = Vec::new();
        let reader = io::BufReader::with_capacity(4096, input.as_bytes());
        let stats = read_lines(reader, |_, text| {
            ids.push(parse_post(text)?.author_id);
            Ok(())
        })
        .unwrap();
        assert_eq!(ids, vec!["b".to_string()]);
        assert_eq!(stats.bad["line_too_long"].sample_lines, vec![1]);
    }
}
