//! REQ-CH-006, REQ-CH-008, REQ-GA-003: the charts as the author's profile page
//! shows them. On a generated export with authors who never posted, every
//! author of the master has an image and data with `alt` and the four images
//! at their declared sizes (the dark ones on a dark background); and the
//! review page, which embeds each chart as `docs/embedding.md` does, shows
//! every image in headless Chromium at 360 and 1280 CSS px wide, in the light
//! and the dark scheme, with the variant the snippet intends and its alt
//! text. Screenshots are kept in target/profile-*.png for a person to look at.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;

const CHARTS: &str = "author-monthly-stats";

/// A generated export (with authors who never posted) drawn by a backfill
/// into a local destination.
/// Returns the export, the destination and the slugs of the master that a
/// chart is drawn for (every row but the master problems the report lists).
async fn backfilled() -> (tempfile::TempDir, tempfile::TempDir, BTreeSet<String>) {
    let src = tempfile::tempdir().unwrap();
    sample_data(src.path(), 2_000, 120, &[]).await;
    let dest = tempfile::tempdir().unwrap();
    let report = ok_report(&run_local(src.path(), dest.path(), BACKFILL).await);
    assert_eq!(report["authors"]["failed"], 0);
    let mut slugs = master_slugs(src.path());
    for skipped in report["skipped"].as_array().unwrap() {
        slugs.remove(skipped["slug"].as_str().unwrap());
    }
    (src, dest, slugs)
}

/// The slugs of the author master.
fn master_slugs(src: &Path) -> BTreeSet<String> {
    let gz = std::fs::read(src.join("contentful/authorProfile.jsonl.gz")).unwrap();
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|a| a["slug"].as_str().map(str::to_string))
        .collect()
}

/// Whether the background (the top left corner, inside the margin) is dark.
fn is_dark_background(png: &[u8]) -> bool {
    let (_, _, rgb) = decode_png(png);
    let corner = &rgb[..3];
    0.2126 * f64::from(corner[0]) + 0.7152 * f64::from(corner[1]) + 0.0722 * f64::from(corner[2])
        < 60.0
}

/// The data of every drawn author, by slug.
fn chart_data(dest: &Path, slugs: &BTreeSet<String>) -> BTreeMap<String, serde_json::Value> {
    slugs
        .iter()
        .map(|slug| {
            let path = dest.join(CHARTS).join(format!("{slug}.json"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{slug}: no data at {}: {e}", path.display()));
            (slug.clone(), serde_json::from_str(&text).unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_master_author_has_alt_text_and_four_images_at_their_sizes() {
    let (_src, dest, slugs) = backfilled().await;
    let data = chart_data(dest.path(), &slugs);
    let mut without_posts = 0;
    for (slug, json) in &data {
        let alt = json["alt"].as_str().unwrap_or_default();
        let name = json["display_name"].as_str().unwrap();
        assert!(alt.contains(name.trim()), "{slug}: {alt}");
        if json["total"] == 0 {
            without_posts += 1;
            assert!(alt.contains("まだ投稿はありません"), "{slug}: {alt}");
        }
        let images = json["images"].as_object().expect("images");
        let names: Vec<&str> = images.keys().map(String::as_str).collect();
        assert_eq!(names, ["compact_dark", "compact_light", "dark", "light"]);
        for (name, image) in images {
            let key = image["key"].as_str().unwrap();
            let png = std::fs::read(dest.path().join(key))
                .unwrap_or_else(|e| panic!("{slug} {name}: {key}: {e}"));
            let size = (
                u32::try_from(image["width"].as_u64().unwrap()).unwrap(),
                u32::try_from(image["height"].as_u64().unwrap()).unwrap(),
            );
            assert_eq!(png_size(&png), size, "{slug} {name}");
            let density = image["density"].as_u64().unwrap();
            let compact = name.starts_with("compact");
            assert_eq!(density, if compact { 2 } else { 1 }, "{slug} {name}");
            if compact {
                assert_eq!(size, (720, 480), "{slug} {name}: 360x240 CSS px at 2x");
            }
            assert_eq!(
                is_dark_background(&png),
                name.ends_with("dark"),
                "{slug} {name}"
            );
        }
        assert_eq!(images["light"]["key"], format!("{CHARTS}/{slug}.png"));
        assert_eq!(
            png_size(&std::fs::read(dest.path().join(CHARTS).join(format!("{slug}.png"))).unwrap()),
            (1200, 600)
        );
    }
    assert!(without_posts > 0, "the sample has authors who never posted");
}

#[derive(Debug, serde::Deserialize)]
struct Shown {
    width: u32,
    scheme: String,
    background: String,
    loaded: String,
    images: Vec<ShownImage>,
}

#[derive(Debug, serde::Deserialize)]
struct ShownImage {
    src: String,
    alt: String,
    loaded: bool,
    natural: [u32; 2],
    css: [u32; 2],
}

/// The slug and the folder of a chart URL the browser chose.
fn chosen(src: &str) -> (String, String) {
    let path = src.split_once(&format!("/{CHARTS}/")).unwrap().1;
    let (folder, file) = path.rsplit_once('/').unwrap_or(("", path));
    let slug = file.strip_suffix(".png").unwrap();
    let bytes: Vec<u8> = {
        let b = slug.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&slug[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    };
    (String::from_utf8(bytes).unwrap(), folder.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs headless Chromium and Playwright; ./scripts/test.sh installs them"]
async fn every_author_shows_in_chromium_at_both_widths_and_schemes() {
    let browser = tool(
        "headless Chromium",
        "CHROMIUM",
        PathBuf::from("/usr/bin/chromium"),
    );
    let playwright = tool(
        "playwright-core",
        "PLAYWRIGHT_CORE",
        repo().join(".tools/node/node_modules/playwright-core"),
    );
    let (_src, dest, slugs) = backfilled().await;
    let data = chart_data(dest.path(), &slugs);
    let page = dest.path().join(CHARTS).join("index.html");
    let shots = repo().join("target");
    std::fs::create_dir_all(&shots).unwrap();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(repo().join("tests/browser/profile.cjs"))
        .arg(&page)
        .arg(&shots)
        .env("PLAYWRIGHT_CORE", &playwright)
        .env("CHROMIUM", &browser)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_mins(4), cmd.output())
        .await
        .expect("the browser finished")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: Vec<Shown> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let what = format!("{} px, {}", case.width, case.scheme);
        assert_eq!(
            case.loaded,
            format!("{}/{}", slugs.len(), slugs.len()),
            "{what}: the page's own count"
        );
        let dark = case.scheme == "dark";
        assert_eq!(
            case.background == "rgb(11, 17, 32)",
            dark,
            "{what}: page {}",
            case.background
        );
        let want_folder = match (case.width <= 600, dark) {
            (true, true) => "compact-dark",
            (true, false) => "compact",
            (false, true) => "dark",
            (false, false) => "",
        };
        let shown: BTreeSet<String> = case.images.iter().map(|i| chosen(&i.src).0).collect();
        assert_eq!(shown, slugs, "{what}: every author of the master is shown");
        for image in &case.images {
            let (slug, folder) = chosen(&image.src);
            assert!(image.loaded, "{what}: {} did not load", image.src);
            assert_eq!(folder, want_folder, "{what}: {}", image.src);
            assert_eq!(
                image.alt,
                data[&slug]["alt"].as_str().unwrap(),
                "{what}: {slug}"
            );
            let entry = &data[&slug]["images"][match want_folder {
                "compact-dark" => "compact_dark",
                "compact" => "compact_light",
                "dark" => "dark",
                _ => "light",
            }];
            // The browser read the density: natural size in CSS px.
            let css = |k: &str| entry[k].as_u64().unwrap() / entry["density"].as_u64().unwrap();
            assert_eq!(
                [u64::from(image.natural[0]), u64::from(image.natural[1])],
                [css("width"), css("height")],
                "{what}: {slug}"
            );
            // On a phone the compact chart fills the 360 px column, so its
            // 11 px text stays 11 px; on a desktop no chart is wider than
            // the page.
            if case.width <= 600 {
                assert_eq!(image.css, [360, 240], "{what}: {slug}");
            } else {
                assert!(
                    image.css[0] > 0 && image.css[0] <= case.width,
                    "{what}: {slug} {:?}",
                    image.css
                );
            }
        }
        let shot = shots.join(format!("profile-{}-{}.png", case.width, case.scheme));
        assert_eq!(
            png_size(&std::fs::read(&shot).unwrap()),
            (case.width * 2, 1600)
        );
    }
}
