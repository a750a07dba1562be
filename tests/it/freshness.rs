//! REQ-FR-001..REQ-FR-006: every published chart equals the export after
//! every run. A simulated month of nights (new posts every night, one
//! correction each, a calendar month crossed, one night with a new theme) on
//! a local directory and on the S3 test server; after each night every
//! published chart is compared with what a backfill of the same export as of
//! the same instant publishes into an empty directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::common::*;

/// A small deterministic generator (64-bit LCG): the export is the same on
/// every machine, without a dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[derive(Clone)]
struct Author {
    id: String,
    slug: String,
    name: String,
}

#[derive(Clone)]
struct Post {
    author: String,
    at: Option<chrono::DateTime<chrono::Utc>>,
    title: String,
}

/// The export as the exporter would write it on one night.
struct Export {
    authors: Vec<Author>,
    posts: Vec<Post>,
}

impl Export {
    fn new(rng: &mut Lcg, start: chrono::DateTime<chrono::Utc>) -> Self {
        let authors: Vec<Author> = (0..16)
            .map(|i| Author {
                id: format!("id-{i}"),
                slug: format!("writer-{i}"),
                name: format!("書き手 {i}"),
            })
            .collect();
        // Three years of history; writer-15 has never posted.
        let posts = (0..400)
            .map(|i| Post {
                author: format!("id-{}", rng.next(15)),
                at: Some(start - chrono::Duration::hours(1 + rng.next(3 * 365 * 24) as i64)),
                title: format!("post {i}"),
            })
            .collect();
        Export { authors, posts }
    }

    fn files(&self) -> (Vec<u8>, Vec<u8>) {
        let mut authors = String::new();
        for a in &self.authors {
            let line = serde_json::json!({"id": a.id, "slug": a.slug, "display_name": a.name});
            let _ = writeln!(authors, "{line}");
        }
        let mut posts = String::new();
        for p in &self.posts {
            let at = p.at.map(|t| t.to_rfc3339());
            let line = serde_json::json!({"author_id": p.author, "first_published_at": at,
                                          "title": p.title, "body": "本文"});
            let _ = writeln!(posts, "{line}");
        }
        (posts.into_bytes(), authors.into_bytes())
    }

    /// One editor's or operator's correction, by night: what it changed.
    fn correct(&mut self, night: usize, rng: &mut Lcg) -> &'static str {
        let pick = |rng: &mut Lcg, posts: &[Post]| {
            let published: Vec<usize> = (0..posts.len())
                .filter(|&i| posts[i].at.is_some())
                .collect();
            published[rng.next(published.len())]
        };
        match night % 9 {
            0 => {
                let i = pick(rng, &self.posts);
                self.posts.remove(i);
                "a post taken down"
            }
            1 => {
                let i = pick(rng, &self.posts);
                let other = format!("id-{}", rng.next(15));
                self.posts[i].author = if other == self.posts[i].author {
                    "id-0".into()
                } else {
                    other
                };
                "a post moved to a co-author"
            }
            2 => {
                let i = pick(rng, &self.posts);
                let at = self.posts[i].at.unwrap();
                self.posts[i].at = Some(at - chrono::Duration::days(40));
                "a post re-dated to another month"
            }
            3 => {
                let a = rng.next(15);
                self.authors[a].name = format!("改名 {a}");
                "an author renamed"
            }
            4 => {
                let a = rng.next(15);
                self.authors[a].slug = format!("{}-new", self.authors[a].slug);
                "a new slug for an author"
            }
            5 => {
                let i = pick(rng, &self.posts);
                self.posts[i].at = None;
                "a post unpublished"
            }
            6 => {
                // Every post of one author taken down: the chart says so.
                let a = format!("id-{}", 1 + rng.next(14));
                self.posts.retain(|p| p.author != a);
                "every post of an author taken down"
            }
            7 => {
                self.authors.push(Author {
                    id: format!("id-new-{night}"),
                    slug: format!("newcomer-{night}"),
                    name: "新人".into(),
                });
                "a new author without posts"
            }
            _ => "the theme changed",
        }
    }
}

/// The charts (`.png` and `.json`) under `author-monthly-stats/` of a local
/// destination, the JSON without its `as_of` (the run that drew it).
fn local_charts(dest: &Path) -> BTreeMap<String, Vec<u8>> {
    let dir = dest.join("author-monthly-stats");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".png") || name.ends_with(".json") {
            out.insert(
                name,
                comparable(&path.to_string_lossy(), std::fs::read(&path).unwrap()),
            );
        }
    }
    out
}

fn comparable(name: &str, bytes: Vec<u8>) -> Vec<u8> {
    if !name.ends_with(".json") {
        return bytes;
    }
    let mut data: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    data.as_object_mut().unwrap().remove("as_of");
    serde_json::to_vec(&data).unwrap()
}

async fn target_charts(target: &Target) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for key in target.keys().await {
        let Some(name) = key.strip_prefix("author-monthly-stats/") else {
            continue;
        };
        if name.ends_with(".png") || name.ends_with(".json") {
            out.insert(name.to_string(), comparable(name, target.get(&key).await));
        }
    }
    out
}

// REQ-FR-001, REQ-FR-002, REQ-FR-006, REQ-TR-007: a month of nights.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_published_chart_equals_a_backfill_after_every_night() {
    let blue = r##"{"bar": "#2b6cb0"}"##;
    let green = r##"{"bar": "#2f855a", "current_bar": "#9ae6b4"}"##;
    for target in Target::both().await {
        let mut rng = Lcg(0x005e_ed0f_ad0c);
        // The nights cross 2025-12-01 in Tokyo (2025-11-30T15:00Z).
        let first_night = chrono::DateTime::parse_from_rfc3339("2025-11-25T17:45:00Z")
            .unwrap()
            .to_utc();
        let mut export = Export::new(&mut rng, first_night - chrono::Duration::days(1));
        let themes = tempfile::tempdir().unwrap();
        let mut theme = themes.path().join("blue.json");
        std::fs::write(&theme, blue).unwrap();
        let mut wrong_nights = Vec::new();
        for night in 0..11 {
            let as_of = first_night + chrono::Duration::days(night as i64);
            // New posts published during the day, then one correction.
            for k in 0..3 {
                export.posts.push(Post {
                    author: format!("id-{}", rng.next(15)),
                    at: Some(as_of - chrono::Duration::hours(1 + rng.next(20) as i64)),
                    title: format!("night {night} post {k}"),
                });
            }
            let what = if night == 0 {
                "the first run"
            } else {
                export.correct(night, &mut rng)
            };
            if what == "the theme changed" {
                theme = themes.path().join("green.json");
                std::fs::write(&theme, green).unwrap();
            }
            let (posts, authors) = export.files();
            target.put_source(POSTS, posts.clone()).await;
            target.put_source(AUTHORS, authors.clone()).await;
            let as_of_text = as_of.to_rfc3339();
            let theme_path = theme.to_str().unwrap();
            let settings = ["--max-export-age-hours", "0", "--theme", theme_path];
            let nightly = [
                &["--lookback-days", "7", "--as-of", &as_of_text][..],
                &settings,
            ]
            .concat();
            let report = ok_report(&target.run(&nightly).await);

            // The backfill of the same export as of the same instant.
            let (src, fresh) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            for (key, bytes) in [(POSTS, &posts), (AUTHORS, &authors)] {
                let path = src.path().join(key);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
            let backfill = [
                &["--lookback-days", "5475", "--as-of", &as_of_text][..],
                &settings,
            ]
            .concat();
            ok_report(&run_local(src.path(), fresh.path(), &backfill).await);
            let want = local_charts(fresh.path());
            let got = target_charts(&target).await;
            let slugs: Vec<&str> = export.authors.iter().map(|a| a.slug.as_str()).collect();
            let mut wrong = Vec::new();
            for (name, bytes) in &want {
                if got.get(name) != Some(bytes) {
                    wrong.push(name.clone());
                }
            }
            // A chart the backfill does not have is an author's who left the
            // master, kept through the prune grace.
            for name in got.keys().filter(|n| !want.contains_key(*n)) {
                let slug = name.rsplit_once('.').unwrap().0;
                assert!(
                    !slugs.contains(&slug),
                    "{}: night {night} ({what}): {name} is published but not in a backfill",
                    target.name()
                );
            }
            if !wrong.is_empty() {
                wrong_nights.push(format!("night {night} ({what}): {wrong:?}"));
            }
            if what == "the theme changed" {
                let drawn: u64 = report["drawn_by_reason"]
                    .as_object()
                    .unwrap()
                    .values()
                    .map(|v| v.as_u64().unwrap())
                    .sum();
                assert_eq!(
                    drawn as usize,
                    want.len() / 2,
                    "{}: a theme change redraws every chart: {report}",
                    target.name()
                );
            }
        }
        assert!(
            wrong_nights.is_empty(),
            "{}: published charts differ from a backfill: {wrong_nights:#?}",
            target.name()
        );
    }
}

// REQ-FR-004, REQ-FR-005: a run that stopped while publishing (its state
// written ahead, some charts old) is repaired by the next run; an unreadable
// state fails closed and a deleted one draws every chart again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_is_repaired_and_an_unreadable_state_fails_closed() {
    for target in Target::both().await {
        let night = |as_of: &'static str| vec!["--lookback-days", "7", "--as-of", as_of];
        ok_report(&target.run(&backfill_at("2025-11-25T17:45:00Z")).await);
        let state: serde_json::Value = target.json("reports/chart-state.json").await;
        assert!(state["charts"]["old-timer"].is_string(), "{state}");
        // A run that wrote its state ahead and was killed before drawing
        // old-timer's chart: the state lacks it, the chart is old.
        let mut ahead = state.clone();
        ahead["charts"].as_object_mut().unwrap().remove("old-timer");
        target
            .put_dest(
                "reports/chart-state.json",
                serde_json::to_vec(&ahead).unwrap(),
            )
            .await;
        target
            .put_dest(
                "author-monthly-stats/old-timer.png",
                b"half a chart".to_vec(),
            )
            .await;
        let next = ok_report(&target.run(&night("2025-11-26T17:45:00Z")).await);
        assert_eq!(
            next["drawn_by_reason"]["new"],
            1,
            "{}: {next}",
            target.name()
        );
        assert_eq!(
            png_size(&target.get("author-monthly-stats/old-timer.png").await),
            (1200, 600),
            "{}",
            target.name()
        );
        // A chart deleted by hand is missing and drawn again.
        let keys = target.keys().await;
        assert!(keys.contains(&"author-monthly-stats/old-timer.json".to_string()));
        match &target {
            Target::Local { dest, .. } => {
                std::fs::remove_file(dest.path().join("author-monthly-stats/old-timer.json"))
                    .unwrap();
            }
            Target::S3(server) => {
                server
                    .delete(CHARTS_BUCKET, "author-monthly-stats/old-timer.json")
                    .await;
            }
        }
        let keys = target.keys().await;
        assert!(
            !keys.contains(&"author-monthly-stats/old-timer.json".to_string()),
            "{}: {keys:?}",
            target.name()
        );
        let again = ok_report(&target.run(&night("2025-11-26T17:45:00Z")).await);
        assert_eq!(
            again["drawn_by_reason"]["missing"],
            1,
            "{}: {again}",
            target.name()
        );
        assert_eq!(
            target.json("author-monthly-stats/old-timer.json").await["slug"],
            "old-timer"
        );

        // Unreadable: nothing published, the error names the object.
        target
            .put_dest("reports/chart-state.json", b"{ not json".to_vec())
            .await;
        let before = target_charts(&target).await;
        let out = target.run(&night("2025-11-27T17:45:00Z")).await;
        assert_refused(&target, &out, "ChartStateUnreadable", &["chart-state.json"]);
        assert_eq!(target_charts(&target).await, before, "{}", target.name());
    }
}

// REQ-FR-002, REQ-CH-008: a destination published before the dark and compact
// images (only `<slug>.png` and `<slug>.json`, a chart state of the older
// renderer) is made whole by the next run: every author is drawn again, and
// every object equals a fresh backfill's, the new folders included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_from_before_the_variants_is_made_whole() {
    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    let fresh = tempfile::tempdir().unwrap();
    ok_report(&run_local(src.path(), fresh.path(), BACKFILL).await);
    let old = tempfile::tempdir().unwrap();
    ok_report(&run_local(src.path(), old.path(), BACKFILL).await);
    let charts = old.path().join("author-monthly-stats");
    for folder in ["dark", "compact", "compact-dark"] {
        std::fs::remove_dir_all(charts.join(folder)).unwrap();
    }
    let state_path = old.path().join("reports/chart-state.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    state["look"]["renderer"] = 2.into();
    std::fs::write(&state_path, serde_json::to_vec(&state).unwrap()).unwrap();

    let again = ok_report(&run_local(src.path(), old.path(), BACKFILL).await);
    assert_eq!(
        again["authors"]["published"], 3,
        "{}",
        again["drawn_by_reason"]
    );
    assert_eq!(again["drawn_by_reason"], serde_json::json!({"window": 3}));
    let nightly = ok_report(&run_local(src.path(), old.path(), NIGHTLY).await);
    assert_eq!(nightly["objects_written"], 0, "nothing left to repair");
    assert_eq!(chart_files(old.path()), chart_files(fresh.path()));

    // The same without a window that covers everyone: a nightly finds the
    // missing images and the older renderer by itself.
    let old = tempfile::tempdir().unwrap();
    ok_report(&run_local(src.path(), old.path(), BACKFILL).await);
    let charts = old.path().join("author-monthly-stats");
    std::fs::remove_dir_all(charts.join("compact-dark")).unwrap();
    let nightly = ok_report(&run_local(src.path(), old.path(), NIGHTLY).await);
    let drawn = &nightly["drawn_by_reason"];
    let total: u64 = drawn
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(total, 3, "every author drawn: {drawn}");
    assert!(drawn["missing"].as_u64().unwrap() >= 1, "{drawn}");
    assert_eq!(chart_files(old.path()), chart_files(fresh.path()));
}
