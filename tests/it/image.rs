//! The container image, run with `buildah run` and the Lambda runtime interface
//! emulator as entry point, invoked over HTTP for every `events/` sample against
//! the S3-compatible test server. Needs an image built by scripts/image-test.sh,
//! which runs this test (it is ignored in the quick loop).

use crate::common::*;

// REQ-LA-001, REQ-LA-005
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the image from scripts/image-test.sh (buildah)"]
async fn image_answers_every_sample_event() {
    let image =
        std::env::var("AUTHOR_STATS_IMAGE").expect("AUTHOR_STATS_IMAGE names the image to run");
    let server = S3Server::with_fixtures().await;
    let env = function_env(&server, &[]);
    let container = buildah(&["from", &image]).await;
    let started = std::time::Instant::now();
    let emulator = Emulator::launch(&[], |port| {
        let mut cmd = tokio::process::Command::new("buildah");
        cmd.args(["--storage-driver", "vfs", "run", "--isolation", "chroot"]);
        cmd.arg("-v").arg(format!(
            "{}:/usr/local/bin/aws-lambda-rie:ro",
            rie_path().display()
        ));
        for (k, v) in &env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        cmd.args([
            container.as_str(),
            "--",
            "/usr/local/bin/aws-lambda-rie",
            "--runtime-interface-emulator-address",
        ]);
        cmd.arg(format!("127.0.0.1:{port}"))
            .arg("/var/runtime/bootstrap");
        cmd
    })
    .await;
    eprintln!(
        "image: emulator listening after {} ms",
        started.elapsed().as_millis()
    );

    let t = std::time::Instant::now();
    let nightly = emulator.invoke(&event("nightly.json")).await;
    eprintln!(
        "image: nightly invoke {} ms: {}",
        t.elapsed().as_millis(),
        nightly["authors"]
    );
    // The answer is the run's summary; its report is at report_location.
    assert_reconciles(&report_at(&server, &nightly).await);
    // The window's two and old-timer, whose chart is missing.
    assert_eq!(nightly["authors"]["published"], 3, "{nightly}");
    let manual = emulator.invoke(&event("manual-test.json")).await;
    assert_reconciles(&report_at(&server, &manual).await);
    // No as_of in these two: they run as of now and redraw.
    assert_eq!(manual["drawn_by_reason"]["named"], 2, "{manual}");
    let backfill = emulator.invoke(&event("backfill-15y.json")).await;
    assert_reconciles(&report_at(&server, &backfill).await);
    let a = &backfill["authors"];
    assert_eq!(
        a["published"].as_u64().unwrap() + a["unchanged"].as_u64().unwrap(),
        3,
        "{backfill}"
    );
    let bad = emulator.invoke(r#"{"lookback_days": -1}"#).await;
    assert_eq!(bad["errorType"], "EventInvalid", "{bad}");

    // The Japanese-titled chart drawn inside the image, with no system fonts there.
    let png = server
        .get(CHARTS_BUCKET, "author-monthly-stats/sato-taro.png")
        .await;
    assert_eq!(png_size(&png), (1200, 600));
    let out = repo().join("target/image-sato-taro.png");
    std::fs::write(&out, &png).unwrap();
    eprintln!("image: chart written to {}", out.display());
    emulator.stop().await;
    buildah(&["rm", &container]).await;
}

async fn buildah(args: &[&str]) -> String {
    let out = tokio::process::Command::new("buildah")
        .args(["--storage-driver", "vfs"])
        .args(args)
        .output()
        .await
        .expect("buildah runs");
    assert!(
        out.status.success(),
        "buildah {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
