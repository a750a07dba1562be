//! Micro benchmarks of the hot stages: inflating the posts export, parsing a post
//! line with a large body, and drawing + PNG-encoding one chart of 12 and of 180
//! months.
//!
//! `cargo bench --bench stages`

use author_stats_batch::chart::{Image, Theme, Themes, render_chart, render_light_and_dark};
use author_stats_batch::records::parse_post;
use author_stats_batch::tally::{Month, MonthCount, MonthlyCounts};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

fn post_line(body_bytes: usize) -> String {
    let body: String = "AWS Lambda の検証をしてみた。 "
        .chars()
        .cycle()
        .take(body_bytes / 3)
        .collect();
    serde_json::json!({
        "sys_id": "3Xk9aBcDeFgHiJkLmNoPqR",
        "author_id": "5hGfEdCbA9876543210zYx",
        "title": "Rust で Lambda を書いてみた",
        "slug": "rust-lambda",
        "first_published_at": "2025-11-20T10:00:00+09:00",
        "updated_at": "2025-11-21T10:00:00+09:00",
        "tags": ["AWS", "Rust"],
        "body": body,
        "meta": {"images": [{"w": 1200, "h": 630}], "flags": {"featured": false}}
    })
    .to_string()
}

fn chart(months: usize) -> MonthlyCounts {
    let start = Month::new(2011, 1).0;
    MonthlyCounts {
        slug: "sato-taro".into(),
        display_name: "佐藤 太郎".into(),
        time_zone: "Asia/Tokyo".into(),
        as_of: chrono::DateTime::parse_from_rfc3339("2025-11-25T17:45:00Z")
            .unwrap()
            .to_utc(),
        total: 0,
        months: (0..months)
            .map(|i| MonthCount {
                month: Month(start + i as i32),
                posts: (i * 7 % 11) as u32,
            })
            .collect(),
    }
}

/// 2,000 posts of the sample export, gzipped as `sample-data` writes them.
fn sample_posts_gzip() -> (Vec<u8>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let spec = author_stats_batch::sample::SampleSpec {
        posts: 2_000,
        ..Default::default()
    };
    author_stats_batch::sample::write_sample(dir.path(), &spec).unwrap();
    let gz = std::fs::read(dir.path().join("contentful/all-blog-posts.jsonl.gz")).unwrap();
    let unpacked = inflate(&gz);
    (gz, unpacked)
}

/// Inflates every member with the decoder the product uses (flate2, zlib-rs)
/// and returns the unpacked size.
fn inflate(gz: &[u8]) -> u64 {
    let mut decoder = flate2::read::MultiGzDecoder::new(gz);
    std::io::copy(&mut decoder, &mut std::io::sink()).unwrap()
}

fn stages(c: &mut Criterion) {
    // The floor of a run that reads the whole posts file: inflating it, one
    // core, nothing else.
    let (gz, unpacked) = sample_posts_gzip();
    let mut group = c.benchmark_group("inflate");
    group.throughput(Throughput::Bytes(unpacked));
    group.bench_function("sample posts gzip, zlib-rs", |b| {
        b.iter(|| inflate(black_box(&gz)));
    });
    group.finish();

    let line = post_line(6_000);
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(line.len() as u64));
    group.bench_function("post line, 6 KB body", |b| {
        b.iter(|| parse_post(black_box(line.as_bytes())).unwrap());
    });
    group.finish();

    let theme = Theme::default();
    let mut group = c.benchmark_group("chart");
    for months in [12, 180] {
        let data = chart(months);
        group.bench_function(format!("draw + encode, {months} months"), |b| {
            b.iter(|| render_chart(black_box(&data), &theme).unwrap());
        });
    }
    // What a backfill draws per author: the full and the compact chart, each
    // light and dark (the dark one recoloured when the palettes allow).
    let themes = Themes::default();
    let data = chart(180);
    group.bench_function("an author's four images, 180 months", |b| {
        b.iter(|| {
            let full = render_light_and_dark(black_box(&data), &themes.light, &themes.dark);
            let compact = render_light_and_dark(
                black_box(&data),
                &themes.of(Image::CompactLight),
                &themes.of(Image::CompactDark),
            );
            (full.unwrap(), compact.unwrap())
        });
    });
    // A hostile display name: fitting the title must stay linear in its length.
    let mut data = chart(12);
    data.display_name = "名".repeat(100_000);
    group.bench_function("draw + encode, 12 months, 100,000-character name", |b| {
        b.iter(|| render_chart(black_box(&data), &theme).unwrap());
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = stages
}
criterion_main!(benches);
