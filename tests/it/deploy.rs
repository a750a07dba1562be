//! REQ-OP-005: `scripts/deploy.sh` run against stand-ins of the AWS CLI and
//! Docker (which record their calls): twice on the same commit it builds and
//! pushes once (the repository's tags are immutable) and deploys the image by
//! digest both times; a dirty tree is refused, or tagged apart with
//! `--allow-dirty`; REQ-IA-005: the tag names the architecture.

use std::path::Path;
use std::process::Command;

use crate::common::repo;

/// The AWS CLI stand-in: an image "exists" once docker pushed a file for it.
const AWS: &str = r#"#!/bin/sh
echo "aws $*" >> "$STUB/calls"
case "$1 $2" in
  "sts get-caller-identity") echo 123456789012 ;;
  "configure get") echo us-east-1 ;;
  "ecr describe-repositories") exit 0 ;;
  "ecr get-login-password") echo password ;;
  "ecr describe-images")
    tag=$(echo "$*" | sed -n 's/.*imageTag=\([^ ]*\).*/\1/p')
    [ -f "$STUB/pushed-$tag" ] || exit 254
    echo "sha256:$(echo "$tag" | cksum | cut -d' ' -f1)" ;;
  "cloudformation deploy") exit 0 ;;
  "cloudformation describe-stacks") echo "outputs" ;;
  *) echo "unexpected aws call: $*" >&2; exit 1 ;;
esac
"#;

/// The Docker stand-in: a push leaves a file named after the tag.
const DOCKER: &str = r#"#!/bin/sh
echo "docker $*" >> "$STUB/calls"
case "$1" in
  login) cat > /dev/null ;;
  buildx)
    if [ "$2" = build ]; then
      image=$(echo "$*" | sed -n 's/.* -t \([^ ]*\).*/\1/p')
      touch "$STUB/pushed-${image##*:}"
    fi ;;
esac
exit 0
"#;

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let status = Command::new("chmod").arg("+x").arg(path).status().unwrap();
    assert!(status.success());
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn deploy(checkout: &Path, stub: &Path, extra: &[&str]) -> (bool, String, String) {
    let _ = std::fs::remove_file(stub.join("calls"));
    let path = format!(
        "{}:{}",
        stub.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let out = Command::new("bash")
        .arg(checkout.join("scripts/deploy.sh"))
        .args([
            "--stack",
            "s",
            "--source-bucket",
            "src-bucket",
            "--region",
            "us-east-1",
        ])
        .args(extra)
        .env("PATH", path)
        .env("STUB", stub)
        .env_remove("AWS_REGION")
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(stub.join("calls")).unwrap_or_default();
    (
        out.status.success(),
        calls,
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn deploy_twice_pushes_once_and_deploys_by_digest() {
    let stub = tempfile::tempdir().unwrap();
    std::fs::create_dir(stub.path().join("bin")).unwrap();
    write_exec(&stub.path().join("bin/aws"), AWS);
    write_exec(&stub.path().join("bin/docker"), DOCKER);
    // A checkout of its own, committed, so the tree is clean whatever this one is.
    let checkout = tempfile::tempdir().unwrap();
    let c = checkout.path();
    std::fs::create_dir_all(c.join("scripts")).unwrap();
    std::fs::create_dir_all(c.join("cloudformation")).unwrap();
    std::fs::copy(
        repo().join("scripts/deploy.sh"),
        c.join("scripts/deploy.sh"),
    )
    .unwrap();
    std::fs::copy(
        repo().join("cloudformation/author-stats-batch.yaml"),
        c.join("cloudformation/author-stats-batch.yaml"),
    )
    .unwrap();
    git(c, &["init", "-q"]);
    git(c, &["add", "."]);
    git(c, &["commit", "-q", "-m", "x"]);

    let (ok, first, log) = deploy(c, stub.path(), &[]);
    assert!(ok, "{log}");
    assert_eq!(first.matches("docker buildx build").count(), 1, "{first}");
    let deployed = |calls: &str| {
        calls
            .lines()
            .find(|l| l.starts_with("aws cloudformation deploy"))
            .unwrap_or_else(|| panic!("no deploy in {calls}"))
            .to_string()
    };
    assert!(
        deployed(&first).contains(
            "ImageUri=123456789012.dkr.ecr.us-east-1.amazonaws.com/author-stats-batch@sha256:"
        ),
        "{first}"
    );
    assert!(
        !first.contains("AlarmEmail="),
        "no subscription without an address"
    );

    let (ok, second, log) = deploy(c, stub.path(), &["--alarm-email", "ops@example.com"]);
    assert!(ok, "{log}");
    assert!(
        !second.contains("docker"),
        "the tag exists: no build, no push: {second}"
    );
    assert!(log.contains("already in ECR"), "{log}");
    assert!(deployed(&second).contains("AlarmEmail=ops@example.com"));
    let image = |calls: &str| {
        deployed(calls)
            .split_whitespace()
            .find(|w| w.starts_with("ImageUri="))
            .unwrap()
            .to_string()
    };
    assert_eq!(image(&first), image(&second), "the same digest both times");

    std::fs::write(c.join("scripts/local-change.txt"), "x").unwrap();
    let (ok, _, log) = deploy(c, stub.path(), &[]);
    assert!(!ok && log.contains("uncommitted changes"), "{log}");
    let (ok, dirty, log) = deploy(c, stub.path(), &["--allow-dirty"]);
    assert!(ok, "{log}");
    assert!(dirty.contains("-dirty-"), "{dirty}");
    assert_ne!(image(&dirty), image(&first));
    std::fs::remove_file(c.join("scripts/local-change.txt")).unwrap();

    // The same commit for the other architecture is another image: built and
    // pushed under a tag naming it, never the arm64 one reused.
    let (ok, x86, log) = deploy(c, stub.path(), &["--arch", "x86_64"]);
    assert!(ok, "{log}");
    assert_eq!(x86.matches("docker buildx build").count(), 1, "{x86}");
    assert!(x86.contains("-x86_64"), "{x86}");
    assert!(first.contains("-arm64"), "{first}");
    assert_ne!(image(&x86), image(&first));
}
