//! REQ-GA-001, REQ-GA-002: the review page of a run, opened in headless Chromium
//! (Debian's `chromium`, installed by scripts/test.sh): every image on the page
//! loads, and a screenshot is kept in target/gallery.png for a person to look at.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;

fn chromium() -> PathBuf {
    tool(
        "headless Chromium",
        "CHROMIUM",
        PathBuf::from("/usr/bin/chromium"),
    )
}

async fn chromium_run(browser: &Path, page: &Path, extra: &[String]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--virtual-time-budget=10000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .kill_on_drop(true);
    tokio::time::timeout(Duration::from_mins(2), cmd.output())
        .await
        .expect("chromium finished")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs headless Chromium; ./scripts/test.sh installs it"]
async fn gallery_loads_every_chart_in_chromium() {
    let browser = chromium();
    let src = tempfile::tempdir().unwrap();
    local_fixtures(src.path());
    let dest = tempfile::tempdir().unwrap();
    let out = run_local(src.path(), dest.path(), BACKFILL).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = dest.path().join("author-monthly-stats/index.html");
    let html = std::fs::read_to_string(&page).expect("index.html beside the charts");
    assert_eq!(html.matches("<figure>").count(), 3);
    assert!(
        html.contains("shared_slug") && html.contains("unsafe_slug"),
        "skipped authors are listed"
    );

    let dom = chromium_run(&browser, &page, &["--dump-dom".to_string()]).await;
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("data-images-loaded=\"3/3\""),
        "every image loads: {}",
        &dom[..dom.len().min(400)]
    );

    let shot = repo().join("target/gallery.png");
    let _ = std::fs::remove_file(&shot);
    chromium_run(
        &browser,
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,1100".to_string(),
        ],
    )
    .await;
    let png = std::fs::read(&shot).expect("a screenshot");
    assert_eq!(png_size(&png), (1400, 1100));
}
