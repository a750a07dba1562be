//! One line of an export file becomes a [`Post`] or an [`Author`], or a counted
//! [`BadReason`].
//!
//! Only the fields the batch uses are looked at: everything else in a record (a
//! Markdown body of several KB, nested metadata) is skipped without being built
//! into values. Lines are read into a buffer of at most [`MAX_LINE_BYTES`] (the
//! fast path: one validating pass, [`crate::scan`], finds the used members'
//! raw text, and any line it is not certain of is read by `serde_json`, whose
//! answer decides; both borrow from the line); a longer
//! line is handed on as a reader ([`Line::Streamed`]) and its three fields are
//! pulled out by a streaming scan (`struson`) that skips every other value
//! without buffering it, so a 200 MB post costs no more memory than a short one.
//! A used field longer than [`MAX_FIELD_BYTES`] is a bad record either way.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, Read};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use struson::reader::{JsonReader, JsonStreamReader, ReaderSettings, ValueType};

/// Lines up to this length are parsed whole from one buffer (the fast path);
/// longer post lines are scanned as a stream, longer author lines are skipped
/// as `line_too_long` (an author row is a few hundred bytes).
pub(crate) const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// A used field (`author_id`, `first_published_at`, `title`, `id`, `slug`,
/// `display_name`) longer than this, as JSON text, makes the record
/// `field_too_long`: no real value is near it, and the streamed path must not
/// buffer an unbounded string.
pub(crate) const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Posts dated before this are placeholders (`0001-01-01`), not history:
/// `implausible_date`, never a 24,000-month chart.
pub(crate) fn earliest_plausible_date() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1990, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.and_utc())
}

/// How many line numbers each bad-record reason keeps as samples.
pub(crate) const SAMPLE_LINES: usize = 5;

/// A published or draft post: the three fields the batch reads.
#[derive(Debug, Clone)]
pub struct Post<'a> {
    pub author_id: String,
    /// `None` when the export says `null`: the post was never published.
    pub published_at: Option<DateTime<Utc>>,
    title: Option<Title<'a>>,
}

/// The title as read: raw JSON on the fast path (decoded only when asked for),
/// already decoded on the streamed path.
#[derive(Debug, Clone)]
enum Title<'a> {
    Raw(&'a str),
    Decoded(String),
}

impl Post<'_> {
    /// The post's identity for counting it once: a 64-bit digest of its
    /// author, publication instant (so `Z` and `+09:00` spellings of one
    /// instant agree) and decoded title. Fields the job ignores (body, tags,
    /// `updated_at`, an exporter's own ids) do not take part, so a repeat
    /// whose other fields changed between two pages is still the same post.
    pub fn key(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same digest in every process and part.
        let mut h = std::hash::DefaultHasher::new();
        self.author_id.hash(&mut h);
        self.published_at
            .map(|t| (t.timestamp(), t.timestamp_subsec_nanos()))
            .hash(&mut h);
        // Hashes as `self.title()` would (a `str` hashes as its `String`),
        // without a copy of a title that has no escapes.
        self.title_text().hash(&mut h);
        h.finish()
    }

    /// The title for log lines; not validated, since nothing else depends on it.
    pub fn title(&self) -> Option<String> {
        self.title_text().map(std::borrow::Cow::into_owned)
    }

    fn title_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self.title.as_ref()? {
            Title::Raw(raw) => decode_string(raw),
            Title::Decoded(text) => Some(std::borrow::Cow::Borrowed(text)),
        }
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
    /// A date before 1990-01-01: a placeholder, not a publication.
    ImplausibleDate,
    /// A used field over [`MAX_FIELD_BYTES`].
    FieldTooLong,
    LineTooLong,
    /// The same post as an earlier record (same author, publication time and
    /// title): an exporter's page overlap or a doubled part. Counted once.
    Duplicate,
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
            BadReason::ImplausibleDate => f.write_str("implausible_date"),
            BadReason::FieldTooLong => f.write_str("field_too_long"),
            BadReason::LineTooLong => f.write_str("line_too_long"),
            BadReason::Duplicate => f.write_str("duplicate"),
        }
    }
}

impl Serialize for BadReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How often one reason occurred, with the first few line numbers (1-based).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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

    /// Adds the counts of another file (a part of the same export); the samples
    /// keep the first few of both, each a line number within its own part.
    pub(crate) fn merge(&mut self, other: ReasonCount) {
        self.count += other.count;
        for line in other.sample_lines {
            if self.sample_lines.len() < SAMPLE_LINES {
                self.sample_lines.push(line);
            }
        }
    }
}

/// Counts of what was read from one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Adds the statistics of another part of the same export.
    pub(crate) fn merge(&mut self, other: LineStats) {
        self.lines += other.lines;
        self.records += other.records;
        self.bytes += other.bytes;
        for (reason, count) in other.bad {
            self.bad.entry(reason).or_default().merge(count);
        }
    }

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
    Present(&'a str),
}

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(|raw| Raw::Present(raw.get()))
    }
}

impl<'a> From<Option<&'a str>> for Raw<'a> {
    fn from(raw: Option<&'a str>) -> Self {
        raw.map_or(Raw::Missing, Raw::Present)
    }
}

/// A JSON string's value: its text between the quotes when it has no escape
/// (most do), else decoded; `None` when `raw` is not a string.
fn decode_string(raw: &str) -> Option<std::borrow::Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(std::borrow::Cow::Borrowed(inner));
    }
    serde_json::from_str(raw).ok()
}

impl Raw<'_> {
    /// A required string field.
    fn string(&self, name: &'static str) -> Result<String, BadReason> {
        match self {
            Raw::Missing => Err(BadReason::MissingField(name)),
            Raw::Present(raw) if raw.len() > MAX_FIELD_BYTES => Err(BadReason::FieldTooLong),
            Raw::Present(raw) => decode_string(raw)
                .map(std::borrow::Cow::into_owned)
                .ok_or(BadReason::WrongType(name)),
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

/// The rules every record line meets before it is parsed, on either path:
/// valid UTF-8 throughout and no lone surrogate in a `\u` escape, in any
/// field (`serde_json` skips an ignored string without checking either, the
/// streamed path's reader checks both). A line that breaks one is
/// `invalid_json`.
fn check_text(line: &[u8]) -> Result<&str, BadReason> {
    let text = simdutf8::basic::from_utf8(line).map_err(|_| BadReason::InvalidJson)?;
    if has_lone_surrogate(line) {
        return Err(BadReason::InvalidJson);
    }
    Ok(text)
}

/// Whether a `\u` escape in `line` names half of a surrogate pair without
/// its other half. Only escapes (a `\` preceded by an even number of `\`)
/// are looked at; finding them is one SIMD scan, and most lines have none.
fn has_lone_surrogate(line: &[u8]) -> bool {
    let hex = |at: usize| -> Option<u16> {
        let digits = line.get(at..at + 4)?;
        u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let is_escape =
        |at: usize| line[..at].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0;
    // The end of the high half whose low half must come next.
    let mut want_low_at: Option<usize> = None;
    for at in memchr::memmem::find_iter(line, b"\\u") {
        if !is_escape(at) {
            continue;
        }
        let Some(unit) = hex(at + 2) else { continue };
        let low = (0xDC00..=0xDFFF).contains(&unit);
        match want_low_at.take() {
            Some(end) if end == at && low => continue,
            Some(_) => return true,
            None => {}
        }
        if low {
            return true;
        }
        if (0xD800..=0xDBFF).contains(&unit) {
            want_low_at = Some(at + 6);
        }
    }
    want_low_at.is_some()
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
pub(crate) fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Checks a publication time: dates before 1990 are placeholders.
fn plausible(at: DateTime<Utc>) -> Result<DateTime<Utc>, BadReason> {
    if at < earliest_plausible_date() {
        Err(BadReason::ImplausibleDate)
    } else {
        Ok(at)
    }
}

/// Parses the text of a `first_published_at` string.
fn published_at(text: &str) -> Result<DateTime<Utc>, BadReason> {
    plausible(parse_timestamp(text).ok_or(BadReason::BadTimestamp)?)
}

/// The members a post line is read for, in [`PostFields`]' order.
const POST_MEMBERS: [&str; 3] = ["author_id", "first_published_at", "title"];

/// The members an author line is read for, in [`AuthorFields`]' order.
const AUTHOR_MEMBERS: [&str; 3] = ["id", "slug", "display_name"];

/// The raw members of a checked line: from the one-pass scan when it is
/// certain ([`crate::scan::members`]), else from `serde_json`, whose error
/// says why the line is bad. Both give the same text for a line both read.
fn raw_members<'a, F>(
    text: &'a str,
    names: &[&str; 3],
    serde_path: F,
) -> Result<[Raw<'a>; 3], BadReason>
where
    F: FnOnce(&'a str) -> Result<[Raw<'a>; 3], serde_json::Error>,
{
    if let Some(found) = crate::scan::members(text, names) {
        return Ok(found.map(Raw::from));
    }
    require_object(text.as_bytes())?;
    serde_path(text).map_err(|e| classify(&e))
}

/// Parses one post line (already stripped of its line end).
pub fn parse_post(line: &[u8]) -> Result<Post<'_>, BadReason> {
    let text = check_text(line)?;
    let [author_id, first_published_at, title] = raw_members(text, &POST_MEMBERS, |text| {
        let f: PostFields<'_> = serde_json::from_str(text)?;
        Ok([f.author_id, f.first_published_at, f.title])
    })?;
    let author_id = author_id.string("author_id")?;
    let published_at = match first_published_at {
        Raw::Missing => return Err(BadReason::MissingField("first_published_at")),
        Raw::Present(raw) if raw.len() > MAX_FIELD_BYTES => {
            return Err(BadReason::FieldTooLong);
        }
        Raw::Present("null") => None,
        Raw::Present(raw) => {
            let text = decode_string(raw).ok_or(BadReason::WrongType("first_published_at"))?;
            Some(published_at(&text)?)
        }
    };
    let title = match title {
        Raw::Present(raw) if raw.len() > MAX_FIELD_BYTES => {
            return Err(BadReason::FieldTooLong);
        }
        Raw::Present(raw) => Some(Title::Raw(raw)),
        Raw::Missing => None,
    };
    Ok(Post {
        author_id,
        published_at,
        title,
    })
}

/// One used field as the streaming scan found it.
#[derive(Debug, Default)]
enum Scanned {
    #[default]
    Missing,
    Null,
    Text(String),
    /// Present, but neither a string nor `null`.
    Other,
    TooLong,
}

/// Parses a post line too long for the fast path from `reader` (the line's
/// bytes, ending at its line end), keeping at most [`MAX_FIELD_BYTES`] of any
/// value. An I/O error of the underlying reader shows here as `invalid_json`;
/// [`read_lines`] reports the I/O error itself.
pub(crate) fn parse_post_streamed(reader: &mut dyn Read) -> Result<Post<'static>, BadReason> {
    let settings = ReaderSettings {
        // Path tracking would keep every member name; numbers are any valid JSON
        // number, as serde_json's fast path accepts.
        track_path: false,
        restrict_number_values: false,
        // serde_json skips an ignored value at any depth; so does this path.
        max_nesting_depth: None,
        ..ReaderSettings::default()
    };
    let mut json = JsonStreamReader::new_custom(reader, settings);
    let invalid = |_| BadReason::InvalidJson;
    if json.peek().map_err(invalid)? != ValueType::Object {
        json.skip_value().map_err(invalid)?;
        json.consume_trailing_whitespace().map_err(invalid)?;
        return Err(BadReason::NotAnObject);
    }
    let mut fields: [Scanned; 3] = Default::default();
    let mut seen = [false; 3];
    let mut duplicate = false;
    json.begin_object().map_err(invalid)?;
    while json.has_next().map_err(invalid)? {
        let slot = match json.next_name().map_err(invalid)? {
            "author_id" => 0,
            "first_published_at" => 1,
            "title" => 2,
            _ => {
                json.skip_value().map_err(invalid)?;
                continue;
            }
        };
        duplicate |= std::mem::replace(&mut seen[slot], true);
        fields[slot] = match json.peek().map_err(invalid)? {
            ValueType::String => bounded_string(&mut json)?,
            ValueType::Null => {
                json.next_null().map_err(invalid)?;
                Scanned::Null
            }
            _ => {
                json.skip_value().map_err(invalid)?;
                Scanned::Other
            }
        };
    }
    json.end_object().map_err(invalid)?;
    json.consume_trailing_whitespace().map_err(invalid)?;
    if duplicate {
        return Err(BadReason::DuplicateField);
    }
    let [author_id, first_published_at, title] = fields;
    let author_id = match author_id {
        Scanned::Text(id) => id,
        Scanned::Missing => return Err(BadReason::MissingField("author_id")),
        Scanned::TooLong => return Err(BadReason::FieldTooLong),
        Scanned::Null | Scanned::Other => return Err(BadReason::WrongType("author_id")),
    };
    let published_at = match first_published_at {
        Scanned::Null => None,
        Scanned::Text(text) => Some(published_at(&text)?),
        Scanned::Missing => return Err(BadReason::MissingField("first_published_at")),
        Scanned::TooLong => return Err(BadReason::FieldTooLong),
        Scanned::Other => return Err(BadReason::WrongType("first_published_at")),
    };
    let title = match title {
        Scanned::Text(text) => Some(Title::Decoded(text)),
        Scanned::TooLong => return Err(BadReason::FieldTooLong),
        Scanned::Missing | Scanned::Null | Scanned::Other => None,
    };
    Ok(Post {
        author_id,
        published_at,
        title,
    })
}

/// Reads the next string value, keeping at most [`MAX_FIELD_BYTES`] of it; a
/// longer one is read to its end and dropped.
fn bounded_string<R: Read>(json: &mut JsonStreamReader<R>) -> Result<Scanned, BadReason> {
    let mut value = Vec::new();
    let mut chars = json
        .next_string_reader()
        .map_err(|_| BadReason::InvalidJson)?;
    let kept = (&mut chars)
        .take(MAX_FIELD_BYTES as u64 + 1)
        .read_to_end(&mut value)
        .map_err(|_| BadReason::InvalidJson)?;
    if kept > MAX_FIELD_BYTES {
        io::copy(&mut chars, &mut io::sink()).map_err(|_| BadReason::InvalidJson)?;
        return Ok(Scanned::TooLong);
    }
    drop(chars);
    // The string reader yields valid UTF-8 only.
    String::from_utf8(value)
        .map(Scanned::Text)
        .map_err(|_| BadReason::InvalidJson)
}

/// Parses one author-master line (already stripped of its line end).
pub fn parse_author(line: &[u8]) -> Result<Author, BadReason> {
    let text = check_text(line)?;
    let [id, slug, display_name] = raw_members(text, &AUTHOR_MEMBERS, |text| {
        let f: AuthorFields<'_> = serde_json::from_str(text)?;
        Ok([f.id, f.slug, f.display_name])
    })?;
    Ok(Author {
        id: id.string("id")?,
        slug: slug.string("slug")?,
        display_name: display_name.string("display_name")?,
    })
}

/// The slug of an author line that is not a valid author row (a missing or
/// null `display_name`, a broken escape elsewhere in the line): the row is
/// still in the master, so its author's chart must not be taken for gone.
/// `None` when no slug can be read from it.
pub fn slug_of_bad_author_line(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct SlugOnly {
        slug: String,
    }
    if let Ok(row) = serde_json::from_slice::<SlugOnly>(line) {
        return Some(row.slug);
    }
    // Not JSON as a whole: the slug's own string may still be intact.
    let at = memchr::memmem::find(line, b"\"slug\"")?;
    let rest = &line[at + 6..];
    let colon = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = rest[colon..].strip_prefix(b":")?;
    let open = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = rest[open..].strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    (rest.get(end) == Some(&b'"'))
        .then(|| std::str::from_utf8(&rest[..end]).ok().map(str::to_string))
        .flatten()
        .filter(|s| !s.is_empty())
}

/// One line as [`read_lines`] hands it on.
pub enum Line<'a> {
    /// The whole line (up to [`MAX_LINE_BYTES`]), without its line end.
    Whole(&'a [u8]),
    /// A longer line, as a reader of its bytes up to and including its line end.
    Streamed(&'a mut dyn Read),
}

impl<'a> Line<'a> {
    /// The whole line, or `line_too_long` for a parser that has no streamed path.
    pub fn whole(self) -> Result<&'a [u8], BadReason> {
        match self {
            Line::Whole(text) => Ok(text),
            Line::Streamed(_) => Err(BadReason::LineTooLong),
        }
    }
}

/// Parses a post line of any length: the fast path when it fits the buffer.
pub fn parse_post_line(line: Line<'_>) -> Result<Post<'_>, BadReason> {
    match line {
        Line::Whole(text) => parse_post(text),
        Line::Streamed(reader) => parse_post_streamed(reader),
    }
}

/// Reads every line of `reader` and hands it, with its 1-based line number, to
/// `on_line`, which parses (and uses) it or says why it is bad. Blank lines are
/// ignored; a UTF-8 BOM at the start and `\r\n` line ends are accepted. An I/O
/// error (including a decompression error surfaced by the reader) ends the read
/// with that error, also in the middle of a streamed line.
pub fn read_lines<R, F>(mut reader: R, mut on_line: F) -> io::Result<LineStats>
where
    R: BufRead,
    F: FnMut(u64, Line<'_>) -> Result<(), BadReason>,
{
    let mut stats = LineStats::default();
    let mut line = Vec::with_capacity(64 * 1024);
    let mut line_no: u64 = 0;
    loop {
        line.clear();
        let (read, too_long) = read_bounded_line(&mut reader, &mut line)?;
        if read == 0 && !too_long {
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
        let outcome = if too_long {
            let mut rest = LineRest {
                reader: &mut reader,
                done: false,
                read: 0,
                error: None,
            };
            let outcome = on_line(line_no, Line::Streamed(&mut text.chain(&mut rest)));
            rest.drain()?;
            stats.bytes += rest.read;
            outcome
        } else {
            on_line(line_no, Line::Whole(text))
        };
        match outcome {
            Ok(()) => stats.records += 1,
            Err(reason) => stats.record_bad(reason, line_no),
        }
    }
    Ok(stats)
}

/// The rest of an overlong line: reads from the file up to and including the
/// next `\n`, then ends. An I/O error is kept, so the caller can tell a broken
/// file from a bad record.
struct LineRest<'r, R> {
    reader: &'r mut R,
    done: bool,
    read: u64,
    error: Option<io::Error>,
}

impl<R: BufRead> Read for LineRest<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        let available = loop {
            match self.reader.fill_buf() {
                Ok(b) => break b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let copy = io::Error::new(e.kind(), e.to_string());
                    self.error = Some(e);
                    return Err(copy);
                }
            }
        };
        if available.is_empty() {
            self.done = true;
            return Ok(0);
        }
        // Only the bytes that fit are searched: the reader's buffer may hold far more.
        let window = &available[..available.len().min(out.len())];
        let (n, ends) = match memchr::memchr(b'\n', window) {
            Some(i) => (i + 1, true),
            None => (window.len(), false),
        };
        out[..n].copy_from_slice(&window[..n]);
        self.reader.consume(n);
        self.read += n as u64;
        self.done = ends;
        Ok(n)
    }
}

impl<R: BufRead> LineRest<'_, R> {
    /// Consumes what the parser left of the line; the first I/O error wins.
    fn drain(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut scratch = [0u8; 8192];
        while !self.done {
            if let Err(e) = self.read(&mut scratch) {
                return Err(self.error.take().unwrap_or(e));
            }
        }
        Ok(())
    }
}

/// Reads up to and including the next `\n` into `buf` (without the line end),
/// keeping at most [`MAX_LINE_BYTES`]. Returns the bytes consumed and whether
/// the line is longer: then the reader stands inside the line, at the first
/// byte not in `buf`.
fn read_bounded_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<(usize, bool)> {
    let mut consumed = 0;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        if buf.len() + chunk.len() > MAX_LINE_BYTES + 2 {
            return Ok((consumed, true));
        }
        buf.extend_from_slice(chunk);
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
    Ok((consumed, false))
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // the tables of cases read best inline
mod tests {
    use super::*;

    // REQ-TR-003: a master row that is not a valid author still names its slug.
    #[test]
    fn the_slug_of_a_bad_author_line_is_still_read() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "display_name missing",
                r#"{"id":"a1","slug":"sato"}"#,
                Some("sato"),
            ),
            (
                "display_name null",
                r#"{"id":"a1","slug":"sato","display_name":null}"#,
                Some("sato"),
            ),
            (
                "broken escape elsewhere",
                r#"{"id":"a1","slug":"sato","display_name":"\x"}"#,
                Some("sato"),
            ),
            (
                "cut short after the slug",
                r#"{"id":"a1", "slug" : "sato", "disp"#,
                Some("sato"),
            ),
            ("no slug", r#"{"id":"a1"}"#, None),
            ("slug not a string", r#"{"slug":7}"#, None),
            ("slug cut short", r#"{"slug":"sa"#, None),
            ("escape inside the slug", r#"{"slug":"sa\u0074o""#, None),
        ];
        for (name, line, want) in cases {
            let got = slug_of_bad_author_line(line.as_bytes());
            assert_eq!(got.as_deref(), *want, "case {name}");
        }
    }

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
    // REQ-TR-010: one post's records have one key, whichever path parsed
    // them and however its ignored fields or its time's offset are spelled.
    #[test]
    fn a_post_key_ignores_what_the_job_ignores() {
        let key = |line: &str| parse_post(line.as_bytes()).unwrap().key();
        let streamed = |line: &str| parse_post_streamed(&mut line.as_bytes()).unwrap().key();
        let base =
            r#"{"author_id":"a1","first_published_at":"2025-08-10T10:00:00+09:00","title":"八月"}"#;
        let same = [
            r#"{"title":"八月","first_published_at":"2025-08-10T01:00:00Z","author_id":"a1","body":"x"}"#,
            r#"{"author_id":"a1","first_published_at":"2025-08-10T01:00:00.000Z","title":"\u516b\u6708","sys_id":"2"}"#,
        ];
        for line in same {
            assert_eq!(key(line), key(base), "{line}");
            assert_eq!(streamed(line), key(base), "streamed: {line}");
        }
        let other = [
            r#"{"author_id":"a2","first_published_at":"2025-08-10T10:00:00+09:00","title":"八月"}"#,
            r#"{"author_id":"a1","first_published_at":"2025-08-10T10:00:01+09:00","title":"八月"}"#,
            r#"{"author_id":"a1","first_published_at":"2025-08-10T10:00:00+09:00","title":"八月 2"}"#,
            r#"{"author_id":"a1","first_published_at":null,"title":"八月"}"#,
            r#"{"author_id":"a1","first_published_at":"2025-08-10T10:00:00+09:00"}"#,
        ];
        for line in other {
            assert_ne!(key(line), key(base), "{line}");
        }
    }

    #[test]
    fn lone_surrogates_are_found_only_in_escapes() {
        for (line, lone) in [
            (r#""\ud83d\ude00""#, false),
            (r#""\ud83d""#, true),
            (r#""\ude00""#, true),
            (r#""\ud83dx\ude00""#, true),
            (r#""\ud83d\u0041""#, true),
            (r#""\\ud800""#, false),
            (r#""\\\ud800""#, true),
            (r#""\u00e9 \u3042""#, false),
            (r#""no escapes""#, false),
        ] {
            assert_eq!(has_lone_surrogate(line.as_bytes()), lone, "{line}");
        }
    }

    /// Lines whose outcome once depended on the path that parsed them.
    fn edge_lines() -> Vec<(&'static str, Vec<u8>)> {
        let ok = |rest: &str| {
            format!(r#"{{"author_id":"a1","first_published_at":"2025-01-02T03:04:05Z"{rest}}}"#)
                .into_bytes()
        };
        let deep = |n: usize| ok(&format!(r#","meta":{}1{}"#, "[".repeat(n), "]".repeat(n)));
        let mut bad_utf8_ignored = ok(r#","body":"xx""#);
        let at = bad_utf8_ignored.len() - 3;
        bad_utf8_ignored[at] = 0xff;
        let mut bad_utf8_used = ok("");
        bad_utf8_used[15] = 0xc3;
        let mut bad_utf8_name = ok(r#","bxdy":1"#);
        let at = bad_utf8_name.len() - 6;
        bad_utf8_name[at] = 0xe3;
        vec![
            ("nesting 128 in an ignored field", deep(127)),
            ("nesting 129 in an ignored field", deep(128)),
            ("nesting 1000 in an ignored field", deep(1000)),
            ("invalid UTF-8 in an ignored field", bad_utf8_ignored),
            ("invalid UTF-8 in a used field", bad_utf8_used),
            ("invalid UTF-8 in a member name", bad_utf8_name),
            ("lone surrogate in the title", ok(r#","title":"\ud800""#)),
            (
                "lone surrogate in an ignored field",
                ok(r#","body":"a\udc00b""#),
            ),
            (
                "surrogate pair in the title",
                ok(r#","title":"\ud83d\ude00""#),
            ),
            (
                "control character in an ignored field",
                ok(",\"body\":\"a\u{1}b\""),
            ),
            ("bad escape in an ignored field", ok(r#","body":"\q""#)),
            ("number title", ok(r#","title":12"#)),
            ("huge number", ok(r#","n":1e999999"#)),
            ("duplicate ignored field", ok(r#","x":1,"x":2"#)),
            ("trailing comma", ok(",")),
        ]
    }

    // REQ-IN-00x parity: a line over 8 MiB is judged by the same rules as a
    // short one: each edge line gives the same outcome (the same post, or
    // the same reason) through the fast path and the streamed path.
    #[test]
    fn both_paths_judge_a_line_alike() {
        let describe = |r: Result<Post<'_>, BadReason>| match r {
            Ok(p) => format!(
                "ok {} {:?} {:?} {:x}",
                p.author_id,
                p.published_at,
                p.title(),
                p.key()
            ),
            Err(reason) => format!("bad {reason}"),
        };
        let mut differ = Vec::new();
        for (name, line) in edge_lines() {
            let fast = describe(parse_post(&line));
            let streamed = describe(parse_post_streamed(&mut &line[..]));
            if fast != streamed {
                differ.push(format!("{name}: fast {fast}, streamed {streamed}"));
            }
        }
        assert!(differ.is_empty(), "{}", differ.join("\n"));
    }

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

    /// A random JSON value: strings with escapes, numbers, literals and
    /// containers, sometimes naming the members a post is read for.
    fn random_value(rng: &mut rand::rngs::SmallRng, depth: u32, out: &mut String) {
        use rand::Rng;
        const STRINGS: [&str; 8] = [
            r#""""#,
            r#""plain""#,
            r#""\n\"quoted\"\\ \/ \b\f\r\t""#,
            r#""\u00e9 \u3042 \ud83d\ude00""#,
            r#""日本語のタイトル""#,
            r#""2025-01-02T03:04:05Z""#,
            r#""2025-01-02T03:04:05+09:00""#,
            r#""a1""#,
        ];
        const SCALARS: [&str; 9] = [
            "0", "-0", "17", "-3.25e+7", "1E5", "0.5", "true", "false", "null",
        ];
        const NAMES: [&str; 7] = [
            r#""author_id""#,
            r#""first_published_at""#,
            r#""title""#,
            r#""body""#,
            r#""a\u0062""#,
            r#""""#,
            r#""tags""#,
        ];
        match rng.gen_range(0..10) {
            0..=3 => {
                out.push_str(STRINGS[rng.gen_range(0..STRINGS.len())]);
                if rng.gen_bool(0.3) {
                    // A long run, so the string scan's vector search crosses blocks.
                    out.pop();
                    out.push_str(&"abcdefgh".repeat(rng.gen_range(1..12)));
                    out.push('"');
                }
            }
            4..=6 => out.push_str(SCALARS[rng.gen_range(0..SCALARS.len())]),
            7 | 8 if depth < 4 => {
                out.push('{');
                for i in 0..rng.gen_range(0..4) {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(NAMES[rng.gen_range(0..NAMES.len())]);
                    out.push_str(if rng.gen_bool(0.5) { ":" } else { " : " });
                    random_value(rng, depth + 1, out);
                }
                out.push('}');
            }
            _ if depth < 4 => {
                out.push('[');
                for i in 0..rng.gen_range(0..4) {
                    if i > 0 {
                        out.push_str(if rng.gen_bool(0.5) { "," } else { " ,\t" });
                    }
                    random_value(rng, depth + 1, out);
                }
                out.push(']');
            }
            _ => out.push_str("null"),
        }
    }

    /// A random object line, then a few random edits: a byte of JSON's
    /// syntax (or of its near misses) inserted, replaced or removed.
    fn random_line(rng: &mut rand::rngs::SmallRng) -> Vec<u8> {
        use rand::Rng;
        const EDITS: &[u8] = b"{}[],:\"\\u0123456789-+.eEtrnulfasx \t\r\x0c\x01\x7f";
        let mut line = String::new();
        while !line.starts_with('{') {
            line.clear();
            random_value(rng, 0, &mut line);
        }
        let mut line = line.into_bytes();
        for _ in 0..rng.gen_range(0..3) {
            let at = rng.gen_range(0..=line.len());
            let byte = EDITS[rng.gen_range(0..EDITS.len())];
            match rng.gen_range(0..3) {
                0 => line.insert(at, byte),
                1 if at < line.len() => line[at] = byte,
                _ if at < line.len() => {
                    line.remove(at);
                }
                _ => line.push(byte),
            }
        }
        line
    }

    // REQ-IN-003: the one-pass scan reads a line only where serde_json reads
    // it the same: on every line it answers for, serde_json accepts the line
    // and borrows the same raw text for each member. (Where it does not
    // answer, parse_post takes the serde_json path itself.)
    #[test]
    fn the_scan_agrees_with_serde_json() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(29);
        let (mut answered, mut left) = (0, 0);
        let edge = edge_lines().into_iter().map(|(_, line)| line);
        let random = std::iter::repeat_with(|| random_line(&mut rng)).take(60_000);
        for line in edge.chain(random) {
            let Ok(text) = check_text(&line) else {
                continue;
            };
            let Some(found) = crate::scan::members(text, &POST_MEMBERS) else {
                left += 1;
                continue;
            };
            answered += 1;
            let serde: Result<PostFields<'_>, _> = serde_json::from_str(text);
            let raw = |r: &Raw<'_>| match r {
                Raw::Missing => None,
                Raw::Present(text) => Some(text.to_string()),
            };
            let serde =
                serde.map(|f| [raw(&f.author_id), raw(&f.first_published_at), raw(&f.title)]);
            let scanned = found.map(|f| f.map(str::to_string));
            assert_eq!(serde.ok(), Some(scanned), "{text:?}");
            assert_eq!(require_object(&line), Ok(()), "{text:?}");
        }
        // Both sides are exercised: the scan answers for most intact lines and
        // leaves the broken ones.
        assert!(
            answered > 20_000 && left > 10_000,
            "answered {answered}, left {left}"
        );
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
            seen.push((line, parse_post_line(text)?.author_id));
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
        let stats =
            read_lines(input.as_bytes(), |_, text| parse_post_line(text).map(drop)).unwrap();
        assert_eq!(stats.bad["invalid_json"].count, 20);
        assert_eq!(stats.bad["invalid_json"].sample_lines, vec![1, 2, 3, 4, 5]);
    }

    // REQ-IN-007: a post line of any length is counted; its unused fields are
    // skipped, never buffered.
    #[test]
    fn an_overlong_post_line_is_streamed_and_counted() {
        let body = "x".repeat(MAX_LINE_BYTES + 1024);
        let long = format!(
            "{{\"body\":\"{body}\",\"author_id\":\"a\",\"title\":\"長い\",\"first_published_at\":\"2025-01-02T03:04:05Z\",\"n\":[1,2.5e3,{{\"k\":null}}]}}\r\n"
        );
        let input = format!("{long}{{\"author_id\":\"b\",\"first_published_at\":null}}\n");
        let mut posts = Vec::new();
        let reader = io::BufReader::with_capacity(4096, input.as_bytes());
        let stats = read_lines(reader, |line, text| {
            let post = parse_post_line(text)?;
            posts.push((
                line,
                post.author_id.clone(),
                post.published_at,
                post.title(),
            ));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            posts,
            vec![
                (
                    1,
                    "a".to_string(),
                    Some(ts("2025-01-02T03:04:05Z")),
                    Some("長い".to_string())
                ),
                (2, "b".to_string(), None, None)
            ]
        );
        assert_eq!(stats.records, 2);
        assert_eq!(stats.bytes, input.len() as u64);
        assert!(stats.bad.is_empty(), "{:?}", stats.bad);
    }

    // REQ-IN-007: the streamed path judges a record as the fast path does.
    #[test]
    fn streamed_post_lines_give_the_fast_paths_reasons() {
        let pad = "y".repeat(MAX_LINE_BYTES);
        let huge_id = "i".repeat(MAX_FIELD_BYTES + 1);
        let cases: &[(&str, String, Result<&str, BadReason>)] = &[
            (
                "ok, padding last",
                format!(r#"{{"author_id":"a","first_published_at":null,"pad":"{pad}"}}"#),
                Ok("a"),
            ),
            (
                "escaped id",
                format!(r#"{{"pad":"{pad}","author_id":"a\u0031","first_published_at":null}}"#),
                Ok("a1"),
            ),
            (
                "array",
                format!(r#"["{pad}"]"#),
                Err(BadReason::NotAnObject),
            ),
            (
                "cut short",
                format!(r#"{{"author_id":"a","pad":"{pad}"#),
                Err(BadReason::InvalidJson),
            ),
            (
                "trailing garbage",
                format!(r#"{{"author_id":"a","first_published_at":null,"pad":"{pad}"}} x"#),
                Err(BadReason::InvalidJson),
            ),
            (
                "missing date",
                format!(r#"{{"author_id":"a","pad":"{pad}"}}"#),
                Err(BadReason::MissingField("first_published_at")),
            ),
            (
                "number id",
                format!(r#"{{"author_id":7,"first_published_at":null,"pad":"{pad}"}}"#),
                Err(BadReason::WrongType("author_id")),
            ),
            (
                "duplicate",
                format!(
                    r#"{{"author_id":"a","author_id":"b","first_published_at":null,"pad":"{pad}"}}"#
                ),
                Err(BadReason::DuplicateField),
            ),
            (
                "placeholder date",
                format!(
                    r#"{{"author_id":"a","first_published_at":"0001-01-01T00:00:00Z","pad":"{pad}"}}"#
                ),
                Err(BadReason::ImplausibleDate),
            ),
            (
                "absurd id",
                format!(r#"{{"author_id":"{huge_id}","first_published_at":null,"pad":"{pad}"}}"#),
                Err(BadReason::FieldTooLong),
            ),
        ];
        for (name, line, want) in cases {
            let input = format!("{line}\n");
            let mut got = None;
            let stats = read_lines(input.as_bytes(), |_, text| {
                got = Some(parse_post_line(text).map(|p| p.author_id));
                Ok(())
            })
            .unwrap();
            assert_eq!(stats.lines, 1, "case {name}");
            let want = (*want).map(str::to_string);
            assert_eq!(got, Some(want), "case {name}");
        }
    }

    // REQ-IN-003: a used field over 64 KiB and a placeholder date, on the fast path.
    #[test]
    fn absurd_fields_and_placeholder_dates_are_bad_records() {
        let huge = "t".repeat(MAX_FIELD_BYTES + 1);
        let cases: &[(&str, String, BadReason)] = &[
            (
                "huge title",
                format!(r#"{{"author_id":"a","first_published_at":null,"title":"{huge}"}}"#),
                BadReason::FieldTooLong,
            ),
            (
                "huge id",
                format!(r#"{{"author_id":"{huge}","first_published_at":null}}"#),
                BadReason::FieldTooLong,
            ),
            (
                "year one",
                r#"{"author_id":"a","first_published_at":"0001-01-01T00:00:00Z"}"#.to_string(),
                BadReason::ImplausibleDate,
            ),
            (
                "1989",
                r#"{"author_id":"a","first_published_at":"1989-12-31T23:59:59Z"}"#.to_string(),
                BadReason::ImplausibleDate,
            ),
        ];
        for (name, line, want) in cases {
            assert_eq!(
                parse_post(line.as_bytes()).err(),
                Some(*want),
                "case {name}"
            );
        }
        let ok = parse_post(br#"{"author_id":"a","first_published_at":"1990-01-01T00:00:00Z"}"#);
        assert!(ok.is_ok(), "1990-01-01 is plausible");
    }

    // REQ-IN-005: a read error in the middle of a streamed line is the file's
    // error, not a bad record.
    #[test]
    fn an_io_error_inside_a_streamed_line_fails_the_read() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt gzip"));
                }
                let n = out.len().min(self.0);
                out[..n].fill(b' ');
                out[0] = b'{';
                self.0 -= n;
                Ok(n)
            }
        }
        let reader = io::BufReader::with_capacity(4096, Broken(MAX_LINE_BYTES + 10_000));
        let err = read_lines(reader, |_, text| parse_post_line(text).map(drop)).unwrap_err();
        assert_eq!(err.to_string(), "corrupt gzip");
    }

    #[test]
    fn an_overlong_author_line_is_skipped() {
        let long = format!(
            "{{\"id\":\"a\",\"bio\":\"{}\"}}\n",
            "x".repeat(MAX_LINE_BYTES + 1)
        );
        let input = format!("{long}{{\"id\":\"b\",\"slug\":\"b\",\"display_name\":\"B\"}}\n");
        let mut ids = Vec::new();
        let stats = read_lines(input.as_bytes(), |_, text| {
            ids.push(parse_author(text.whole()?)?.id);
            Ok(())
        })
        .unwrap();
        assert_eq!(ids, vec!["b".to_string()]);
        assert_eq!(stats.bad["line_too_long"].sample_lines, vec![1]);
    }
}
