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
use crate::store::changed::{self, Written, put_all_if_changed};
use crate::store::{ObjectHeaders, Ready};
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
    let (themes, key_prefix) = (drawing.themes.clone(), drawing.key_prefix.clone());
    let drawn = drawing
        .pool
        .run(move || {
            let t = Instant::now();
            let drawn = draw_author(&counts, &themes, &key_prefix);
            drop(permit);
            (counts.slug, drawn, t.elapsed())
        })
        .await;
    let (slug, drawn, cpu) = match drawn {
        Ok(parts) => parts,
        Err(e) => {
            return (
                ChartOutcome::Failed(format!("drawing: {e}")),
                Duration::ZERO,
            );
        }
    };
    let (pngs, json) = match drawn {
        Ok(drawn) => drawn,
        Err(e) => return (ChartOutcome::Failed(e), cpu),
    };
    let png_bytes = pngs.first().map_or(0, |p| p.len() as u64);
    if spec.dry_run {
        return (ChartOutcome::NotPublished { png_bytes }, cpu);
    }
    // Nothing is written once the lease is lost: a newer run may be
    // publishing these very charts.
    if let Some(Err(e)) = lease.map(Kept::check) {
        return (ChartOutcome::Failed(format!("not written: {e}")), cpu);
    }
    let config = &pipeline.config;
    let headers = |content_type| ObjectHeaders {
        content_type,
        cache_control: Some(config.cache_control.clone()),
        sha256_hex: None,
    };
    let store = pipeline.dest.as_ref();
    let (png_headers, json_headers) = (headers(changed::PNG), headers(changed::JSON));
    let exists = |key: &str| existing.is_none_or(|keys| keys.contains(key));
    // Asked again right before each put: a run paused after the check above
    // (past its lease's expiry) writes nothing when it resumes.
    let check = lease.map(Kept::checker);
    let ready: Ready = Arc::new(move || match check.as_ref().map(LeaseCheck::check) {
        Some(Err(e)) => Err(format!("not written: {e}")),
        _ => Ok(()),
    });
    let object = |object: Object, body: Vec<u8>| {
        let key = object.key(&config.charts_prefix, &slug);
        changed::Object {
            exists: exists(&key),
            key,
            body,
            headers: match object {
                Object::Data => &json_headers,
                Object::Image(_) => &png_headers,
            },
        }
    };
    // The images first, together; the data, which names them, once they are
    // all in place: a page reading a new author's JSON finds its images.
    let images = Image::ALL
        .into_iter()
        .zip(pngs)
        .map(|(image, png)| object(Object::Image(image), png))
        .collect();
    let data = vec![object(Object::Data, json)];
    let mut written = Vec::new();
    for batch in [images, data] {
        for landed in put_all_if_changed(store, batch, ready.clone()).await {
            match landed {
                Ok(Written::Put(n)) => written.push(n),
                Ok(Written::Unchanged) => {}
                Err(e) => return (ChartOutcome::Failed(e.to_string()), cpu),
            }
        }
    }
    let outcome = if written.is_empty() {
        ChartOutcome::Unchanged { png_bytes }
    } else {
        ChartOutcome::Published {
            bytes: written.iter().sum(),
            objects: written.len(),
            png_bytes,
        }
    };
    (outcome, cpu)
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
