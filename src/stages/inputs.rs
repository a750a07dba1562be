//! Stage 1, the inputs: the author master read whole, then the posts export
//! (one object or its parts) streamed through the tally on a blocking thread
//! fed by the async decoder, never held. The guards on what was read run as
//! soon as it is known (a stale export is refused before it is read).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tracing::{info, warn};

use crate::deadline::ms;
use crate::error::{Guard, RunError, Stop, source_error};
use crate::guards::{check_erase, check_export_age, check_posts, check_share};
use crate::input::{decode, pipelined_lines};
use crate::pipeline::Pipeline;
use crate::post_keys::PostKeys;
use crate::records::{
    Author, BadReason, Line, LineStats, parse_author, parse_post_line, read_lines,
    slug_of_bad_author_line,
};
use crate::report::{FileReport, RunReport};
use crate::request::RunSpec;
use crate::store::{Store, StoreError};
use crate::tally::Tally;

/// Reads the author master whole and streams the posts through the tally, then
/// judges both; the report gets the file statistics and stage times.
pub(crate) async fn read_inputs(
    pipeline: &Pipeline,
    spec: &RunSpec,
    report: &mut RunReport,
) -> Result<Tally, Stop> {
    let config = &pipeline.config;
    let source = pipeline.source.as_ref();

    // A stale export is refused before it is read.
    let (posts, ignored) = PostsExport::find(source, &config.posts_key).await?;
    report.ignored_objects = ignored;
    let exported_at = posts.oldest_part(source).await?;
    report.posts_exported_at = Some(exported_at);
    check_export_age(
        config,
        spec,
        &source.describe(&config.posts_key),
        exported_at,
    )?;

    let directory = read_authors(pipeline, spec, report).await?;
    check_erase(spec, &directory)?;
    let master_location = report.authors_file.location.clone();
    let tally = read_posts(pipeline, posts, directory, report).await?;
    check_share(&report.posts_file, config.max_bad_share)?;
    check_posts(
        config,
        spec,
        &report.posts_file,
        &tally,
        &master_location,
        report.previous.as_ref(),
    )?;
    Ok(tally)
}

/// The author master, whole (it is small), with its bad lines judged: too
/// many, or no author at all, stops the run.
async fn read_authors(
    pipeline: &Pipeline,
    spec: &RunSpec,
    report: &mut RunReport,
) -> Result<Tally, Stop> {
    let config = &pipeline.config;
    let t = Instant::now();
    // A row that is not a valid author still holds its slug in the master.
    let ((authors, unreadable), authors_file) = read_source(
        pipeline.source.as_ref(),
        &config.authors_key,
        (Vec::<Author>::new(), BTreeSet::<String>::new()),
        |(authors, unreadable), _line, text| {
            let text = text.whole()?;
            match parse_author(text) {
                Ok(author) => authors.push(author),
                Err(reason) => {
                    unreadable.extend(slug_of_bad_author_line(text));
                    return Err(reason);
                }
            }
            Ok(())
        },
    )
    .await?;
    report.stages.read_authors_ms = ms(t.elapsed());
    warn_bad_lines(&authors_file);
    // The report carries the file's statistics whether or not it is refused.
    report.authors_file = authors_file;
    let authors_file = &report.authors_file;
    check_share(authors_file, config.max_bad_share)?;
    if authors.is_empty() {
        return Err(Guard::NoAuthors {
            location: authors_file.location.clone(),
        }
        .into());
    }
    info!(
        authors = authors.len(),
        bad = authors_file.lines.bad_total(),
        ms = report.stages.read_authors_ms,
        "stage read_authors done"
    );
    let directory = Tally::new(authors, config.time_zone, spec.as_of);
    Ok(directory.with_unreadable_rows(unreadable))
}

/// The posts, streamed through the tally and never held; their counts and
/// problems go into the report.
async fn read_posts(
    pipeline: &Pipeline,
    posts: PostsExport,
    tally: Tally,
    report: &mut RunReport,
) -> Result<Tally, Stop> {
    let t = Instant::now();
    let (tally, posts_file) = posts.read(pipeline.source.as_ref(), tally).await?;
    report.stages.read_posts_ms = ms(t.elapsed());
    let mb = posts_file.lines.bytes as f64 / 1e6;
    info!(
        lines = posts_file.lines.lines,
        records = posts_file.lines.records,
        bad = posts_file.lines.bad_total(),
        orphans = tally.posts.orphans.count,
        unpublished = tally.posts.unpublished,
        future = tally.posts.future,
        mb = format!("{mb:.1}"),
        mb_per_s = format!("{:.0}", mb / t.elapsed().as_secs_f64().max(1e-6)),
        ms = report.stages.read_posts_ms,
        "stage read_posts done"
    );
    warn_bad_lines(&posts_file);
    if tally.posts.orphans.count > 0 {
        warn!(count = tally.posts.orphans.count, sample_lines = ?tally.posts.orphans.sample_lines,
              "posts whose author_id is not in the author master (orphans)");
    }
    report.posts = tally.posts.clone();
    report.master_problems = tally.master_problems();
    report.posts_file = posts_file;
    Ok(tally)
}

/// Whether an object's name under the parts prefix is a part:
/// `part-<digits>.jsonl` or `part-<digits>.jsonl.gz`, as exporters (and
/// `author-stats sample-data --parts`) name them.
pub(crate) fn is_part_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("part-") else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(&rest[digits..], ".jsonl" | ".jsonl.gz")
}

/// The posts export: one object, or every object under a prefix (a key ending
/// in `/`), each a part of the export.
enum PostsExport {
    One(String),
    Parts { prefix: String, keys: Vec<String> },
}

impl PostsExport {
    /// The export `key` names; for a prefix, its parts and the other objects
    /// under it, which are not read (a retried part left as
    /// `part-00002.jsonl.gz.retry-1` would count its posts twice).
    async fn find(source: &dyn Store, key: &str) -> Result<(Self, Vec<String>), RunError> {
        if !key.ends_with('/') {
            return Ok((PostsExport::One(key.to_string()), Vec::new()));
        }
        let (mut keys, mut ignored): (Vec<String>, Vec<String>) = source
            .list(key)
            .await
            .map_err(source_error)?
            .into_iter()
            .filter(|k| !k.ends_with('/'))
            .partition(|k| k.strip_prefix(key).is_some_and(is_part_name));
        ignored.sort();
        if !ignored.is_empty() {
            warn!(count = ignored.len(), objects = ?ignored, "objects under the parts prefix that are not parts are ignored");
        }
        if keys.is_empty() {
            return Err(RunError::SourceMissing(StoreError::NotFound {
                location: format!("{} (no part under this prefix)", source.describe(key)),
            }));
        }
        keys.sort();
        let parts = PostsExport::Parts {
            prefix: key.to_string(),
            keys,
        };
        Ok((parts, ignored))
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            PostsExport::One(key) => vec![key.as_str()],
            PostsExport::Parts { keys, .. } => keys.iter().map(String::as_str).collect(),
        }
    }

    /// When the export was written: its oldest part's time, so one part the
    /// exporter stopped refreshing makes the whole export stale.
    async fn oldest_part(&self, source: &dyn Store) -> Result<DateTime<Utc>, RunError> {
        let times: Vec<Result<DateTime<Utc>, StoreError>> = futures::stream::iter(self.keys())
            .map(|key| source.last_modified(key))
            .buffer_unordered(16)
            .collect()
            .await;
        let mut oldest: Option<DateTime<Utc>> = None;
        for time in times {
            let time = time.map_err(source_error)?;
            oldest = Some(oldest.map_or(time, |o| o.min(time)));
        }
        oldest.ok_or_else(|| RunError::Internal("an export without objects".into()))
    }

    /// Streams every part through a tally of its own, as many parts at a time
    /// as there are cores (each decodes on its own thread), and merges them.
    async fn read(
        &self,
        source: &dyn Store,
        tally: Tally,
    ) -> Result<(Tally, FileReport), RunError> {
        // One key set for every part: a post repeated across parts counts once.
        let keys = Arc::new(Mutex::new(PostKeys::default()));
        let fold = move |tally: &mut Tally, line: u64, text: Line<'_>| {
            let post = parse_post_line(text)?;
            let mut seen = keys
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Only published posts count, so only they are counted once: drafts
            // (no time) with the same title are not one post.
            if post.published_at.is_some() && !seen.first(post.key()) {
                return Err(BadReason::Duplicate);
            }
            tally.add(line, &post);
            Ok(())
        };
        let (prefix, keys) = match self {
            PostsExport::One(key) => return read_source(source, key, tally, fold).await,
            PostsExport::Parts { prefix, keys } => (prefix, keys),
        };
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let parts: Vec<Result<(Tally, FileReport), RunError>> = futures::stream::iter(keys)
            .map(|key| read_source(source, key, tally.clone(), fold.clone()))
            .buffer_unordered(cores)
            .collect()
            .await;
        let mut merged = tally;
        let mut lines = LineStats::default();
        for part in parts {
            let (part_tally, file) = part?;
            merged.merge(part_tally);
            lines.merge(file.lines);
        }
        info!(parts = keys.len(), prefix = %source.describe(prefix), "read the export in parts");
        Ok((
            merged,
            FileReport {
                location: format!("{} ({} parts)", source.describe(prefix), keys.len()),
                lines,
            },
        ))
    }
}

/// Streams one source object on a blocking thread, handing each line to `fold`,
/// which parses it into the accumulator `acc` (given back at the end).
async fn read_source<A, F>(
    store: &dyn Store,
    key: &str,
    mut acc: A,
    mut fold: F,
) -> Result<(A, FileReport), RunError>
where
    A: Send + 'static,
    F: FnMut(&mut A, u64, Line<'_>) -> Result<(), BadReason> + Send + 'static,
{
    let location = store.describe(key);
    let body = store.open(key).await.map_err(source_error)?;
    let io_error = |source: std::io::Error| {
        RunError::SourceUnreadable(StoreError::Io {
            location: location.clone(),
            source,
        })
    };
    let decoded = decode(body).await.map_err(io_error)?;
    let lines = pipelined_lines(decoded);
    let (acc, stats) = tokio::task::spawn_blocking(move || {
        let stats = read_lines(lines, |line, text| fold(&mut acc, line, text))?;
        Ok::<_, std::io::Error>((acc, stats))
    })
    .await
    .map_err(|e| RunError::Internal(format!("parser thread: {e}")))?
    .map_err(io_error)?;
    Ok((
        acc,
        FileReport {
            location,
            lines: stats,
        },
    ))
}

fn warn_bad_lines(file: &FileReport) {
    for (reason, count) in &file.lines.bad {
        warn!(location = %file.location, reason = %reason, count = count.count, sample_lines = ?count.sample_lines, "skipped bad lines");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // REQ-TR-009: only objects named as parts are read under a parts prefix.
    #[test]
    fn only_part_names_are_parts() {
        for ok in [
            "part-00000.jsonl.gz",
            "part-1.jsonl",
            "part-12345678.jsonl.gz",
        ] {
            assert!(is_part_name(ok), "{ok}");
        }
        for not in [
            "part-00002.jsonl.gz.retry-1",
            "part-.jsonl.gz",
            "part-0001.json.gz",
            "_SUCCESS",
            "manifest.json",
            "sub/part-00000.jsonl.gz",
            "copy of part-00000.jsonl.gz",
        ] {
            assert!(!is_part_name(not), "{not}");
        }
    }
}
