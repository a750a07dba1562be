//! Stage 3, draw and publish: each chart drawn on a pool of one thread per
//! core while uploads run concurrently (bounded by `upload_concurrency`), only
//! what changed put, and every outcome recorded in the report. Every author
//! gets four images and their data ([`crate::chart_keys`] names them).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::chart::{Image, Themes, alt_text, render_light_and_dark};
use crate::chart_keys::{Images, Object};
use crate::deadline::{ms, within};
use crate::draw_pool::DrawPool;
use crate::freshness::{Look, fingerprint};
use crate::gallery::ChartCard;
use crate::lease::{Kept, LeaseCheck};
use crate::pipeline::{Pipeline, RunContext};
use crate::report::{ChartOutcome, ChartResult, RunReport};
use crate::request::RunSpec;
use crate::store::changed::{self, Written, put_all_if_changed, put_all_if_changed_now};
use crate::store::{BlockingStore, ObjectHeaders, Ready, Store, StoreError, WaitedFor};
use crate::tally::MonthlyCounts;

/// Draws every chart on a bounded blocking pool and uploads as they come, with
/// a steady progress line. Results are sorted by slug. A chart still being
/// drawn or uploaded when the deadline comes is abandoned as undone; once
/// `lease` (when given) is lost, no chart is written.
pub(crate) async fn draw_and_publish(
    run: &RunContext<'_>,
    to_draw: Vec<MonthlyCounts>,
    existing: Option<&HashSet<String>>,
    lease: Option<&Kept>,
) -> Vec<ChartResult> {
    let RunContext {
        pipeline,
        spec,
        deadline,
        ..
    } = *run;
    let total = to_draw.len();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let drawing = match DrawPool::new(cores) {
        Ok(pool) => Drawing {
            pool,
            slots: Arc::new(Semaphore::new(cores)),
            themes: Arc::new(pipeline.config.theme.clone()),
            look: Look::of(&pipeline.config.theme),
            key_prefix: pipeline.config.charts_key_prefix(),
        },
        Err(e) => {
            let why = format!("starting the drawing threads: {e}");
            return to_draw
                .into_iter()
                .map(|c| ChartResult {
                    slug: c.slug,
                    fingerprint: String::new(),
                    outcome: ChartOutcome::Failed(why.clone()),
                    draw_cpu: Duration::ZERO,
                })
                .collect();
        }
    };
    let done = Arc::new(AtomicUsize::new(0));
    let progress = {
        let done = done.clone();
        tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            tick.tick().await;
            loop {
                tick.tick().await;
                info!(
                    done = done.load(Ordering::Relaxed),
                    total, "charts progress"
                );
            }
        }))
    };
    let existing = if spec.dry_run { None } else { existing };
    let in_flight = pipeline.config.upload_concurrency + cores;
    let mut results: Vec<ChartResult> = futures::stream::iter(to_draw)
        .map(|counts| {
            let done = done.clone();
            let drawing = &drawing;
            async move {
                let slug = counts.slug.clone();
                let fingerprint = fingerprint(&counts, &drawing.look);
                let work = chart_one(pipeline, spec, counts, drawing, existing, lease);
                let (outcome, draw_cpu) = within(deadline, work)
                    .await
                    .unwrap_or((ChartOutcome::Undone, Duration::ZERO));
                done.fetch_add(1, Ordering::Relaxed);
                ChartResult {
                    slug,
                    fingerprint,
                    outcome,
                    draw_cpu,
                }
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    drop(progress);
    results.sort_by(|a, b| a.slug.cmp(&b.slug));
    results
}

/// `<slug>.json`: the chart's data, its alternative text and its images.
#[derive(serde::Serialize)]
struct ChartData<'a> {
    #[serde(flatten)]
    counts: &'a MonthlyCounts,
    alt: String,
    images: Images,
}

/// The drawing threads, the slots that bound the charts waiting for them, and
/// the theme they draw with (and its look, for the charts' fingerprints).
struct Drawing {
    pool: DrawPool,
    slots: Arc<Semaphore>,
    themes: Arc<Themes>,
    look: Look,
    /// The charts prefix as the bucket (or the directory) names its keys:
    /// under the destination's own prefix, when `CHARTS_BUCKET` has one.
    key_prefix: String,
}

/// An author's four images (in the order of [`Image::ALL`]) and data, its
/// images' keys under `key_prefix`.
fn draw_author(
    counts: &MonthlyCounts,
    themes: &Themes,
    key_prefix: &str,
) -> Result<(Vec<Vec<u8>>, Vec<u8>), String> {
    let (light, dark) =
        render_light_and_dark(counts, &themes.light, &themes.dark).map_err(|e| e.to_string())?;
    let (compact_light, compact_dark) = render_light_and_dark(
        counts,
        &themes.of(Image::CompactLight),
        &themes.of(Image::CompactDark),
    )
    .map_err(|e| e.to_string())?;
    let json = serde_json::to_vec_pretty(&ChartData {
        alt: alt_text(counts, themes.light.language),
        images: Images::of(key_prefix, &counts.slug, themes),
        counts,
    })
    .map_err(|e| format!("chart data: {e}"))?;
    Ok((vec![light, dark, compact_light, compact_dark], json))
}

/// Where and how an author's objects are written, known before it is drawn:
/// their keys, whether the listing saw them, their headers, and the check
/// made right before each write.
struct Plan {
    dest: Arc<dyn Store>,
    /// Keys in the order of [`Image::ALL`], each with whether it exists.
    images: Vec<(String, bool)>,
    data: (String, bool),
    png_headers: ObjectHeaders,
    json_headers: ObjectHeaders,
    ready: Ready,
}

impl Plan {
    /// The images first, together; the data, which names them, once they are
    /// all in place: a page reading a new author's JSON finds its images.
    fn batches(&self, pngs: Vec<Vec<u8>>, json: Vec<u8>) -> [Vec<changed::Object<'_>>; 2] {
        let object = |(key, exists): &(String, bool), body, headers| changed::Object {
            key: key.clone(),
            body,
            headers,
            exists: *exists,
        };
        let images = self
            .images
            .iter()
            .zip(pngs)
            .map(|(key, png)| object(key, png, &self.png_headers))
            .collect();
        [images, vec![object(&self.data, json, &self.json_headers)]]
    }

    /// Writes what changed of a drawn author, here and now (`files`, the
    /// destination's file calls): the bytes of each object written.
    fn publish_now(
        &self,
        files: &dyn BlockingStore,
        pngs: Vec<Vec<u8>>,
        json: Vec<u8>,
    ) -> Result<Vec<u64>, String> {
        (self.ready)()?;
        let mut written = Vec::new();
        for batch in self.batches(pngs, json) {
            let answers = put_all_if_changed_now(&*self.dest, files, batch, &*self.ready);
            written.extend(landed(answers)?);
        }
        Ok(written)
    }

    /// [`Plan::publish_now`] for a store whose writes are requests.
    async fn publish(&self, pngs: Vec<Vec<u8>>, json: Vec<u8>) -> Result<Vec<u64>, String> {
        (self.ready)()?;
        let mut written = Vec::new();
        for batch in self.batches(pngs, json) {
            let answers = put_all_if_changed(&*self.dest, batch, self.ready.clone()).await;
            written.extend(landed(answers)?);
        }
        Ok(written)
    }
}

/// The sizes of the objects a batch put, or its first error.
fn landed(answers: Vec<Result<Written, StoreError>>) -> Result<Vec<u64>, String> {
    let mut written = Vec::new();
    for answer in answers {
        match answer {
            Ok(Written::Put(n)) => written.push(n),
            Ok(Written::Unchanged) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(written)
}

/// An author's chart as a drawing thread hands it back.
enum Drawn {
    /// Drawn, still to be written.
    Objects { pngs: Vec<Vec<u8>>, json: Vec<u8> },
    /// Drawn and written by the drawing thread itself.
    Done(ChartOutcome),
}

/// The size of an author's light image, the first of `pngs` (what the report
/// counts as the chart's size).
fn light_png_bytes(pngs: &[Vec<u8>]) -> u64 {
    pngs.first().map_or(0, |p| p.len() as u64)
}

/// The outcome of writing an author whose light image has `png_bytes`.
fn outcome(written: Result<Vec<u64>, String>, png_bytes: u64) -> ChartOutcome {
    match written {
        Err(e) => ChartOutcome::Failed(e),
        Ok(written) if written.is_empty() => ChartOutcome::Unchanged { png_bytes },
        Ok(written) => ChartOutcome::Published {
            bytes: written.iter().sum(),
            objects: written.len(),
            png_bytes,
        },
    }
}

/// Whether a chart may still be written, asked right before each write: not
/// once the run stopped waiting for it (`waited_for` dropped), nor once the
/// run's lease (`check`) is lost.
fn ready(waited_for: &WaitedFor, check: Option<LeaseCheck>) -> Ready {
    let still_waited_for = waited_for.watch();
    Arc::new(move || {
        still_waited_for()?;
        match check.as_ref().map(LeaseCheck::check) {
            Some(Err(e)) => Err(format!("not written: {e}")),
            _ => Ok(()),
        }
    })
}

async fn chart_one(
    pipeline: &Pipeline,
    spec: &RunSpec,
    counts: MonthlyCounts,
    drawing: &Drawing,
    existing: Option<&HashSet<String>>,
    lease: Option<&Kept>,
) -> (ChartOutcome, Duration) {
    let Ok(permit) = drawing.slots.clone().acquire_owned().await else {
        return (
            ChartOutcome::Failed("drawing pool closed".into()),
            Duration::ZERO,
        );
    };
    let config = &pipeline.config;
    let headers = |content_type| ObjectHeaders {
        content_type,
        cache_control: Some(config.cache_control.clone()),
        sha256_hex: None,
    };
    let look = |object: Object| {
        let key = object.key(&config.charts_prefix, &counts.slug);
        let exists = existing.is_none_or(|keys| keys.contains(&key));
        (key, exists)
    };
    // A run that stopped waiting for this chart (its deadline) writes
    // nothing more of it, nor does one that lost its lease: a newer run may
    // be publishing these very charts. Both are asked right before each
    // write, so a run paused past its lease's expiry writes nothing when it
    // resumes.
    let waited_for = WaitedFor::default();
    let plan = Plan {
        dest: pipeline.dest.clone(),
        images: Image::ALL.map(|i| look(Object::Image(i))).to_vec(),
        data: look(Object::Data),
        png_headers: headers(changed::PNG),
        json_headers: headers(changed::JSON),
        ready: ready(&waited_for, lease.map(Kept::checker)),
    };
    let (themes, key_prefix, dry_run) = (
        drawing.themes.clone(),
        drawing.key_prefix.clone(),
        spec.dry_run,
    );
    let (plan, drawn, cpu) = match drawing
        .pool
        .run(move || {
            let t = Instant::now();
            let drawn = draw_author(&counts, &themes, &key_prefix);
            let cpu = t.elapsed();
            // A destination of files is written by the thread that drew,
            // while the chart's bytes are in its caches.
            let drawn = drawn.map(|(pngs, json)| match plan.dest.blocking() {
                Some(files) if !dry_run => {
                    let png_bytes = light_png_bytes(&pngs);
                    Drawn::Done(outcome(plan.publish_now(files, pngs, json), png_bytes))
                }
                _ => Drawn::Objects { pngs, json },
            });
            drop(permit);
            (plan, drawn, cpu)
        })
        .await
    {
        Ok(parts) => parts,
        Err(e) => {
            return (
                ChartOutcome::Failed(format!("drawing: {e}")),
                Duration::ZERO,
            );
        }
    };
    let (pngs, json) = match drawn {
        Ok(Drawn::Done(outcome)) => return (outcome, cpu),
        Ok(Drawn::Objects { pngs, json }) => (pngs, json),
        Err(e) => return (ChartOutcome::Failed(e), cpu),
    };
    let png_bytes = light_png_bytes(&pngs);
    if dry_run {
        return (ChartOutcome::NotPublished { png_bytes }, cpu);
    }
    let published = plan.publish(pngs, json).await;
    drop(waited_for);
    (outcome(published, png_bytes), cpu)
}

/// Accounts for every drawn (or abandoned) chart in the report, and keeps the
/// review page's cards to the charts that are in the destination.
pub(crate) fn record_charts(
    report: &mut RunReport,
    charts: Vec<ChartResult>,
    cards: &mut Vec<ChartCard>,
    took: Duration,
) {
    let shown: HashSet<&str> = charts
        .iter()
        .filter(|c| {
            matches!(
                c.outcome,
                ChartOutcome::Published { .. } | ChartOutcome::Unchanged { .. }
            )
        })
        .map(|c| c.slug.as_str())
        .collect();
    cards.retain(|c| shown.contains(c.slug.as_str()));
    let (mut png_bytes, mut drawn, mut draw_cpu) = (0u64, 0u64, Duration::ZERO);
    for chart in charts {
        draw_cpu += chart.draw_cpu;
        if let ChartOutcome::Failed(error) = &chart.outcome {
            warn!(slug = ?chart.slug, error = ?error, "chart failed");
        }
        if let Some(png) = report.record(chart) {
            png_bytes += png;
            drawn += 1;
        }
    }
    report.mean_png_bytes = png_bytes.checked_div(drawn).unwrap_or(0);
    report.stages.draw_and_publish_ms = ms(took);
    report.stages.draw_cpu_ms = ms(draw_cpu);
    info!(
        published = report.authors.published,
        unchanged = report.authors.unchanged,
        failed = report.authors.failed,
        undone = report.authors.undone,
        ms = report.stages.draw_and_publish_ms,
        draw_cpu_ms = report.stages.draw_cpu_ms,
        mean_png_bytes = report.mean_png_bytes,
        "stage draw_and_publish done"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::LocalStore;
    use std::sync::atomic::AtomicUsize;

    fn plan(store: LocalStore, ready: Ready, exists: bool) -> Plan {
        let headers = |content_type| ObjectHeaders {
            content_type,
            cache_control: None,
            sha256_hex: None,
        };
        Plan {
            dest: Arc::new(store),
            images: Image::ALL
                .map(|i| (Object::Image(i).key("c/", "a"), exists))
                .to_vec(),
            data: (Object::Data.key("c/", "a"), exists),
            png_headers: headers(changed::PNG),
            json_headers: headers(changed::JSON),
            ready,
        }
    }

    fn drawn() -> (Vec<Vec<u8>>, Vec<u8>) {
        (
            (1..=4).map(|n| vec![n; n as usize]).collect(),
            b"{}".to_vec(),
        )
    }

    // REQ-FR-007: a drawing thread writes its author to a directory itself:
    // every object, the same bytes, and on a second pass nothing (unchanged),
    // as the requests to a bucket would.
    #[test]
    fn a_drawing_thread_writes_what_changed_to_a_directory() {
        let (dir, store) = LocalStore::temp();
        let always: Ready = Arc::new(|| Ok(()));
        let first = plan(store.clone(), always.clone(), false);
        let files = first
            .dest
            .blocking()
            .expect("a directory is written in place");
        let (pngs, json) = drawn();
        assert_eq!(
            first.publish_now(files, pngs.clone(), json.clone()),
            Ok(vec![1, 2, 3, 4, 2])
        );
        for (image, png) in Image::ALL.into_iter().zip(&pngs) {
            let path = dir.path().join(Object::Image(image).key("c/", "a"));
            assert_eq!(&std::fs::read(path).unwrap(), png);
        }
        assert_eq!(std::fs::read(dir.path().join("c/a.json")).unwrap(), json);
        let again = plan(store, always, true);
        let files = again.dest.blocking().unwrap();
        assert_eq!(again.publish_now(files, pngs, json), Ok(vec![]));
    }

    // REQ-FR-007, REQ-RL-010: a chart the run stopped waiting for (its
    // deadline dropped it while a drawing thread drew it) writes nothing:
    // the check before each write says so.
    #[test]
    fn a_chart_the_run_stopped_waiting_for_writes_nothing() {
        let (dir, store) = LocalStore::temp();
        let waited_for = WaitedFor::default();
        let plan = plan(store, ready(&waited_for, None), false);
        assert_eq!((plan.ready)(), Ok(()));
        drop(waited_for);
        let (pngs, json) = drawn();
        let files = plan.dest.blocking().unwrap();
        let refused = plan.publish_now(files, pngs, json).unwrap_err();
        assert!(refused.contains("stopped waiting"), "{refused}");
        assert!(!dir.path().join("c").exists(), "nothing written");
    }

    // REQ-FR-007, REQ-RL-010: the whole path through the drawing pool. With
    // no deadline the drawing thread writes the author's five objects; with
    // a deadline that has passed, the run stops waiting while the author is
    // being drawn, reports it undone, and the drawing thread, which draws it
    // regardless, writes none of it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_author_the_deadline_gave_up_on_is_not_written_by_its_drawing_thread() {
        use crate::tally::{Month, MonthCount};
        let as_of = chrono::DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .unwrap()
            .to_utc();
        let counts = |slug: &str| MonthlyCounts {
            slug: slug.into(),
            display_name: "A".into(),
            time_zone: "Asia/Tokyo".into(),
            as_of,
            total: 3,
            months: vec![MonthCount {
                month: Month::new(2026, 11),
                posts: 3,
            }],
        };
        let (source, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let pipeline = Pipeline::on_dirs(source.path(), dest.path()).await;
        let spec = RunSpec {
            lookback_days: 7,
            as_of,
            ..RunSpec::default()
        };
        let charts = dest.path().join(&pipeline.config.charts_prefix);
        let files = |slug: &str| {
            Object::ALL
                .iter()
                .filter(|o| charts.join(o.path(slug)).exists())
                .count()
        };

        let run = RunContext::start(&pipeline, &spec, None);
        let drawn = draw_and_publish(&run, vec![counts("in-time")], None, None).await;
        assert!(
            matches!(drawn[0].outcome, ChartOutcome::Published { objects: 5, .. }),
            "{:?}",
            drawn[0].outcome
        );
        assert_eq!(files("in-time"), 5);

        let run = RunContext::start(&pipeline, &spec, Some(std::time::Instant::now()));
        let late = draw_and_publish(&run, vec![counts("too-late")], None, None).await;
        assert!(
            matches!(late[0].outcome, ChartOutcome::Undone),
            "{:?}",
            late[0].outcome
        );
        // The drawing thread finishes the author (a few ms, more in a debug
        // build) and then finds the run no longer waiting.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(files("too-late"), 0, "nothing of it written");
    }

    // REQ-FR-007: a check that says no mid-author (the lease lost between
    // two writes) leaves the data unwritten, so no page names images that
    // are not all there.
    #[test]
    fn a_lease_lost_between_writes_stops_the_author_before_its_data() {
        let (dir, store) = LocalStore::temp();
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        // Ready for the first check and two writes, then lost.
        let ready: Ready = Arc::new(move || match counter.fetch_add(1, Ordering::SeqCst) {
            0..=2 => Ok(()),
            _ => Err("not written: the lease was lost".into()),
        });
        let plan = plan(store, ready, false);
        let (pngs, json) = drawn();
        let files = plan.dest.blocking().unwrap();
        let refused = plan.publish_now(files, pngs, json).unwrap_err();
        assert!(refused.contains("lease"), "{refused}");
        assert!(dir.path().join("c/a.png").exists());
        assert!(
            !dir.path().join("c/a.json").exists(),
            "the data is not written"
        );
    }
}
