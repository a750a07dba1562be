//! A realistic synthetic export, for the demo, the tests and the benchmark:
//! Japanese and Latin display names, a heavy-tailed number of posts per author
//! over fifteen years, the extra fields and a multi-KB Markdown body per post,
//! a few dozen authors active in the last week, and the imperfections a real
//! export has (drafts, orphans, a shared slug, an unsafe slug, a broken line).
//! The same spec and seed always give the same bytes.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::config::{DEFAULT_AUTHORS_KEY, DEFAULT_POSTS_KEY};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleSpec {
    pub posts: usize,
    pub authors: usize,
    pub seed: u64,
    /// The export's "now"; recent authors post in the week before it.
    pub end: DateTime<Utc>,
}

impl Default for SampleSpec {
    fn default() -> Self {
        SampleSpec {
            posts: 60_000,
            authors: 1_100,
            seed: 20_251_125,
            end: DateTime::parse_from_rfc3339("2025-11-25T17:45:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
        }
    }
}

/// Lines per gzip member: the posts file is written as several members, as
/// concatenated exports are.
const LINES_PER_MEMBER: usize = 10_000;
const YEARS: i64 = 15;

const FAMILY: &[(&str, &str)] = &[
    ("佐藤", "sato"),
    ("鈴木", "suzuki"),
    ("高橋", "takahashi"),
    ("田中", "tanaka"),
    ("伊藤", "ito"),
    ("渡辺", "watanabe"),
    ("山本", "yamamoto"),
    ("中村", "nakamura"),
    ("小林", "kobayashi"),
    ("加藤", "kato"),
    ("吉田", "yoshida"),
    ("山田", "yamada"),
    ("佐々木", "sasaki"),
    ("山口", "yamaguchi"),
    ("松本", "matsumoto"),
    ("井上", "inoue"),
    ("木村", "kimura"),
    ("林", "hayashi"),
    ("斎藤", "saito"),
    ("清水", "shimizu"),
    ("山崎", "yamazaki"),
    ("森", "mori"),
    ("池田", "ikeda"),
    ("橋本", "hashimoto"),
    ("阿部", "abe"),
    ("石川", "ishikawa"),
    ("前田", "maeda"),
    ("藤田", "fujita"),
    ("小川", "ogawa"),
    ("岡田", "okada"),
];
const GIVEN: &[(&str, &str)] = &[
    ("太郎", "taro"),
    ("花子", "hanako"),
    ("翔", "sho"),
    ("陽菜", "hina"),
    ("大輔", "daisuke"),
    ("美咲", "misaki"),
    ("健太", "kenta"),
    ("さくら", "sakura"),
    ("亮", "ryo"),
    ("結衣", "yui"),
    ("拓也", "takuya"),
    ("愛", "ai"),
    ("誠", "makoto"),
    ("由美", "yumi"),
    ("直樹", "naoki"),
    ("彩", "aya"),
    ("達也", "tatsuya"),
    ("真由", "mayu"),
    ("悠斗", "yuto"),
    ("恵", "megumi"),
    ("隆", "takashi"),
    ("千尋", "chihiro"),
    ("剛", "tsuyoshi"),
    ("舞", "mai"),
    ("孝之", "takayuki"),
];
const LATIN: &[&str] = &[
    "Alex Morgan",
    "Jamie Chen",
    "Priya Raman",
    "Lukas Becker",
    "Sofia Rossi",
    "Noah Williams",
    "Emma Dubois",
    "Mateo García",
    "Olivia Brown",
    "Kim Minjun",
];
const WORDS: &[&str] = &[
    "AWS",
    "Lambda",
    "S3",
    "CloudFront",
    "Rust",
    "の",
    "を",
    "検証",
    "してみた",
    "構築",
    "設定",
    "手順",
    "です",
    "ます",
    "について",
    "まとめ",
    "サーバーレス",
    "データ",
    "分析",
    "パイプライン",
    "コンテナ",
    "イメージ",
    "ビルド",
    "デプロイ",
    "監視",
    "アラーム",
    "ログ",
    "権限",
    "ポリシー",
    "テンプレート",
    "CloudFormation",
    "EventBridge",
    "スケジュール",
    "performance",
    "latency",
    "throughput",
    "streaming",
    "gzip",
    "JSON",
    "chart",
    "report",
    "cost",
    "memory",
];

#[derive(Serialize)]
struct AuthorRow<'a> {
    id: &'a str,
    slug: &'a str,
    display_name: &'a str,
    bio: String,
    avatar_url: String,
    twitter: Option<String>,
    updated_at: String,
}

#[derive(Serialize)]
struct PostRow<'a> {
    sys_id: String,
    author_id: &'a str,
    title: String,
    slug: String,
    first_published_at: Option<String>,
    updated_at: String,
    locale: &'static str,
    tags: Vec<&'static str>,
    excerpt: String,
    body: String,
    meta: serde_json::Value,
}

struct GenAuthor {
    id: String,
    slug: String,
    display_name: String,
    posts: usize,
    start: DateTime<Utc>,
    stop: DateTime<Utc>,
    recent: bool,
}

fn contentful_id(rng: &mut SmallRng) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..22)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn sentence(rng: &mut SmallRng, words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 && rng.gen_bool(0.3) {
            s.push(' ');
        }
        s.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
    }
    s
}

fn body(rng: &mut SmallRng) -> String {
    let target = rng.gen_range(2_000..8_000);
    let mut s = String::with_capacity(target + 200);
    let mut section = 1;
    while s.len() < target {
        let heading = format!("## {section}. {}\n\n", sentence(rng, 4));
        s.push_str(&heading);
        for _ in 0..rng.gen_range(2..5) {
            let words = rng.gen_range(12..40);
            s.push_str(&sentence(rng, words));
            s.push_str("。\n\n");
        }
        if rng.gen_bool(0.4) {
            s.push_str("```bash\naws s3 cp s3://example-bucket/data.jsonl.gz .\n```\n\n");
        }
        section += 1;
    }
    s
}

/// Formats a timestamp as exports do: mostly Tokyo offsets, some UTC with millis.
fn stamp(rng: &mut SmallRng, t: DateTime<Utc>) -> String {
    if rng.gen_bool(0.7) {
        let tokyo = FixedOffset::east_opt(9 * 3600)
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
        t.with_timezone(&tokyo)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    } else {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

fn make_authors(spec: &SampleSpec, rng: &mut SmallRng) -> Vec<GenAuthor> {
    let span = Duration::days(365 * YEARS);
    let first = spec.end - span;
    let mut slugs: std::collections::HashSet<String> = ["sato-taro", "jane-doe"]
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    let mut authors = Vec::with_capacity(spec.authors);
    // Heavy-tailed activity: a few prolific writers, many occasional ones, and
    // some who never published.
    let weights: Vec<f64> = (0..spec.authors)
        .map(|_| {
            if rng.gen_bool(0.04) {
                0.0
            } else {
                1.0 / rng.gen_range(0.02f64..1.0).powf(1.3)
            }
        })
        .collect();
    let weight_sum: f64 = weights.iter().sum::<f64>().max(1e-9);
    let recent_share = (60.0 / 1100.0f64).min(1.0);
    for (i, w) in weights.iter().enumerate() {
        let (display_name, base_slug) = if rng.gen_bool(0.1) {
            let name = LATIN[rng.gen_range(0..LATIN.len())];
            (
                name.to_string(),
                name.to_lowercase().replace(' ', "-").replace('í', "i"),
            )
        } else {
            let (fk, fr) = FAMILY[rng.gen_range(0..FAMILY.len())];
            let (gk, gr) = GIVEN[rng.gen_range(0..GIVEN.len())];
            (format!("{fk} {gk}"), format!("{fr}-{gr}"))
        };
        let mut slug = base_slug.clone();
        let mut n = 2;
        while !slugs.insert(slug.clone()) {
            slug = format!("{base_slug}-{n}");
            n += 1;
        }
        let start = first + Duration::seconds(rng.gen_range(0..span.num_seconds() * 9 / 10));
        let recent = *w > 0.0 && rng.gen_bool(recent_share);
        let stop = if recent || rng.gen_bool(0.5) {
            spec.end - Duration::days(7)
        } else {
            start
                + Duration::seconds(
                    rng.gen_range(1..(spec.end - Duration::days(8) - start).num_seconds().max(2)),
                )
        };
        let posts = ((spec.posts as f64) * w / weight_sum).round() as usize;
        authors.push(GenAuthor {
            id: contentful_id(rng),
            slug,
            display_name: if i % 97 == 5 {
                format!("{display_name} 🍣")
            } else {
                display_name
            },
            posts,
            start,
            stop,
            recent,
        });
    }
    // Two well-known authors, so `events/manual-test.json` names real slugs.
    for (i, (name, slug)) in [("佐藤 太郎", "sato-taro"), ("Jane Doe", "jane-doe")]
        .iter()
        .enumerate()
    {
        if let Some(a) = authors.get_mut(i) {
            a.display_name = name.to_string();
            a.slug = slug.to_string();
        }
    }
    // The imperfections of a real master, at fixed places so they are easy to find.
    if authors.len() > 10 {
        let shared = authors[4].slug.clone();
        authors[3].slug = shared; // a slug shared by two authors
        authors[7].slug = "bad slug/with space".into(); // unsafe as a key segment
    }
    authors
}

/// Writes `DIR/contentful/all-blog-posts.jsonl.gz` and
/// `DIR/contentful/authorProfile.jsonl.gz`; returns a summary line.
pub fn write_sample(dir: &Path, spec: &SampleSpec) -> io::Result<String> {
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let authors = make_authors(spec, &mut rng);
    let posts_path = dir.join(DEFAULT_POSTS_KEY);
    if let Some(parent) = posts_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_authors(&dir.join(DEFAULT_AUTHORS_KEY), &authors, spec, &mut rng)?;
    let plan = post_times(&authors, spec, &mut rng);
    let (lines, unpacked) = write_posts(&posts_path, &authors, &plan, &mut rng)?;
    let gz = std::fs::metadata(&posts_path)?.len();
    Ok(format!(
        "wrote {lines} post lines ({:.0} MB unpacked, {:.0} MB gzip) and {} authors to {}",
        unpacked as f64 / 1e6,
        gz as f64 / 1e6,
        authors.len(),
        dir.join("contentful").display()
    ))
}

/// The author master, one gzip member, with the fields a real one carries.
fn write_authors(
    path: &Path,
    authors: &[GenAuthor],
    spec: &SampleSpec,
    rng: &mut SmallRng,
) -> io::Result<()> {
    let mut out = GzEncoder::new(BufWriter::new(File::create(path)?), Compression::default());
    for a in authors {
        let row = AuthorRow {
            id: &a.id,
            slug: &a.slug,
            display_name: &a.display_name,
            bio: sentence(rng, 20),
            avatar_url: format!("https://images.example.com/{}.png", a.id),
            twitter: rng
                .gen_bool(0.5)
                .then(|| format!("@{}", a.slug.replace('-', "_"))),
            updated_at: {
                let days = rng.gen_range(1..3000);
                stamp(rng, spec.end - Duration::days(days))
            },
        };
        serde_json::to_writer(&mut out, &row)?;
        out.write_all(b"\n")?;
    }
    out.finish()?.flush()
}

/// Every post's time, author and whether it is a draft, in time order.
fn post_times(
    authors: &[GenAuthor],
    spec: &SampleSpec,
    rng: &mut SmallRng,
) -> Vec<(DateTime<Utc>, usize, bool)> {
    let mut plan: Vec<(DateTime<Utc>, usize, bool)> = Vec::with_capacity(spec.posts + 100);
    for (i, a) in authors.iter().enumerate() {
        let secs = (a.stop - a.start).num_seconds().max(1);
        for _ in 0..a.posts {
            plan.push((
                a.start + Duration::seconds(rng.gen_range(0..secs)),
                i,
                rng.gen_bool(0.002),
            ));
        }
        if a.recent {
            plan.push((
                spec.end - Duration::seconds(rng.gen_range(60..7 * 86_400)),
                i,
                false,
            ));
        }
    }
    plan.sort_by_key(|p| (p.0, p.1));
    plan
}

/// The posts in `plan`'s order, in gzip members of `LINES_PER_MEMBER` lines,
/// with an orphan every 4,001 posts and a line cut short every 20,011.
/// Returns the lines and unpacked bytes written.
fn write_posts(
    path: &Path,
    authors: &[GenAuthor],
    plan: &[(DateTime<Utc>, usize, bool)],
    rng: &mut SmallRng,
) -> io::Result<(usize, u64)> {
    let orphan_ids: Vec<String> = (0..5).map(|_| contentful_id(rng)).collect();
    let mut raw = File::create(path).map(BufWriter::new)?;
    let mut member = GzEncoder::new(Vec::new(), Compression::default());
    let mut unpacked: u64 = 0;
    let mut lines = 0usize;
    let mut emit = |member: &mut GzEncoder<Vec<u8>>,
                    raw: &mut BufWriter<File>,
                    line: &[u8]|
     -> io::Result<()> {
        member.write_all(line)?;
        member.write_all(b"\n")?;
        unpacked += line.len() as u64 + 1;
        lines += 1;
        if lines.is_multiple_of(LINES_PER_MEMBER) {
            let done =
                std::mem::replace(member, GzEncoder::new(Vec::new(), Compression::default()));
            raw.write_all(&done.finish()?)?;
        }
        Ok(())
    };
    let tags = [
        "AWS",
        "Rust",
        "Lambda",
        "S3",
        "データ分析",
        "セキュリティ",
        "個人開発",
    ];
    for (n, (at, author, draft)) in plan.iter().enumerate() {
        // An orphan now and then: a post whose author left the master.
        let author_id = if n % 4001 == 1000 {
            &orphan_ids[n % orphan_ids.len()]
        } else {
            &authors[*author].id
        };
        let row = PostRow {
            sys_id: contentful_id(rng),
            author_id,
            title: format!("{}してみた", sentence(rng, 5)),
            slug: format!("post-{n}"),
            first_published_at: (!draft).then(|| stamp(rng, *at)),
            updated_at: {
                let days = rng.gen_range(0..30);
                stamp(rng, *at + Duration::days(days))
            },
            locale: if rng.gen_bool(0.9) { "ja" } else { "en" },
            tags: tags.choose_multiple(rng, 3).copied().collect(),
            excerpt: sentence(rng, 20),
            body: body(rng),
            meta: serde_json::json!({"reading_minutes": rng.gen_range(1..30), "series": null,
                                     "images": [{"w": 1200, "h": 630}], "flags": {"featured": rng.gen_bool(0.05)}}),
        };
        let line = serde_json::to_vec(&row)?;
        emit(&mut member, &mut raw, &line)?;
        if n % 20_011 == 17 {
            // A line cut short by the exporting system.
            emit(&mut member, &mut raw, &line[..line.len() / 3])?;
        }
    }
    raw.write_all(&member.finish()?)?;
    raw.flush()?;
    Ok((lines, unpacked))
}

/// The prefix the parts of a sample export in parts go under.
pub(crate) const PARTS_PREFIX: &str = "contentful/all-blog-posts/";

/// Splits the sample's posts file into `parts` gzip files of consecutive lines
/// under [`PARTS_PREFIX`] (`part-00000.jsonl.gz`, ...), beside the single file:
/// the same export, in parts, as a platform too large for one stream writes it.
pub(crate) fn split_into_parts(dir: &Path, parts: usize) -> io::Result<String> {
    use std::io::BufRead;
    let parts = parts.max(1);
    let posts_path = dir.join(DEFAULT_POSTS_KEY);
    let open = || -> io::Result<_> {
        Ok(io::BufReader::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::new(File::open(&posts_path)?),
        )))
    };
    let total = open()?.split(b'\n').count();
    let per_part = total.div_ceil(parts).max(1);
    let part_dir = dir.join(PARTS_PREFIX);
    if part_dir.exists() {
        std::fs::remove_dir_all(&part_dir)?;
    }
    std::fs::create_dir_all(&part_dir)?;
    let mut lines = open()?.split(b'\n');
    for part in 0..parts {
        let path = part_dir.join(format!("part-{part:05}.jsonl.gz"));
        let mut out = GzEncoder::new(BufWriter::new(File::create(path)?), Compression::default());
        for line in lines.by_ref().take(per_part) {
            out.write_all(&line?)?;
            out.write_all(b"\n")?;
        }
        out.finish()?.flush()?;
    }
    Ok(format!(
        "split {total} post lines into {parts} parts under {}",
        part_dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sample_is_deterministic_and_readable() {
        let spec = SampleSpec {
            posts: 300,
            authors: 40,
            ..SampleSpec::default()
        };
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_sample(a.path(), &spec).unwrap();
        write_sample(b.path(), &spec).unwrap();
        for key in [DEFAULT_POSTS_KEY, DEFAULT_AUTHORS_KEY] {
            let x = std::fs::read(a.path().join(key)).unwrap();
            let y = std::fs::read(b.path().join(key)).unwrap();
            assert!(x == y, "{key} differs between two runs with the same seed");
        }
    }
}
