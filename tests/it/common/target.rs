//! One place a run reads from and writes to (two local directories, or the
//! buckets of an S3 test server), the fixtures' keys and the checks the guard,
//! trust and freshness tests share.

use std::process::Output;

use super::*;

pub(crate) const POSTS: &str = "contentful/all-blog-posts.jsonl.gz";
pub(crate) const AUTHORS: &str = "contentful/authorProfile.jsonl.gz";
pub(crate) const AS_OF: &str = "2025-11-25T17:45:00Z";

/// One place a run reads from and writes to: two local directories, or the
/// buckets of an S3 test server. Both start with the committed fixtures.
pub(crate) enum Target {
    Local {
        src: tempfile::TempDir,
        dest: tempfile::TempDir,
    },
    S3(S3Server),
}

impl Target {
    pub(crate) async fn both() -> Vec<Target> {
        let src = tempfile::tempdir().unwrap();
        local_fixtures(src.path());
        let server = S3Server::with_fixtures().await;
        vec![
            Target::Local {
                src,
                dest: tempfile::tempdir().unwrap(),
            },
            Target::S3(server),
        ]
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Target::Local { .. } => "local",
            Target::S3(_) => "s3",
        }
    }

    /// Replaces a source object (plain JSONL is read as well as gzip).
    pub(crate) async fn put_source(&self, key: &str, bytes: Vec<u8>) {
        match self {
            Target::Local { src, .. } => write_under(src.path(), key, &bytes),
            Target::S3(server) => server.put(SOURCE_BUCKET, key, bytes).await,
        }
    }

    pub(crate) async fn run(&self, extra: &[&str]) -> Output {
        match self {
            Target::Local { src, dest } => run_local(src.path(), dest.path(), extra).await,
            Target::S3(server) => run_s3(server, extra).await,
        }
    }

    /// Every key in the destination, sorted.
    pub(crate) async fn keys(&self) -> Vec<String> {
        match self {
            Target::Local { dest, .. } => files_under(dest.path()),
            Target::S3(server) => server.keys(CHARTS_BUCKET).await,
        }
    }

    /// Sets a source object's last-modified time (a file's mtime; the S3 test
    /// server reports its file's mtime as `LastModified`).
    pub(crate) fn set_source_mtime(&self, key: &str, at: &str) {
        let path = match self {
            Target::Local { src, .. } => src.path().join(key),
            Target::S3(server) => server.root().join(SOURCE_BUCKET).join(key),
        };
        let at: std::time::SystemTime = chrono::DateTime::parse_from_rfc3339(at).unwrap().into();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(at).unwrap();
    }

    /// Writes an object into the destination (to corrupt or replay one).
    pub(crate) async fn put_dest(&self, key: &str, bytes: Vec<u8>) {
        match self {
            Target::Local { dest, .. } => write_under(dest.path(), key, &bytes),
            Target::S3(server) => server.put(CHARTS_BUCKET, key, bytes).await,
        }
    }

    pub(crate) async fn get(&self, key: &str) -> Vec<u8> {
        match self {
            Target::Local { dest, .. } => std::fs::read(dest.path().join(key)).unwrap(),
            Target::S3(server) => server.get(CHARTS_BUCKET, key).await,
        }
    }

    pub(crate) async fn json(&self, key: &str) -> serde_json::Value {
        serde_json::from_slice(&self.get(key).await).unwrap()
    }

    /// The report a failed run wrote beside the others: the newest `run-*.json`
    /// that carries an error.
    pub(crate) async fn failed_report(&self) -> serde_json::Value {
        let mut found = None;
        for key in self.keys().await {
            if key.starts_with("reports/run-") {
                let report = self.json(&key).await;
                if report.get("error").is_some() {
                    found = Some(report);
                }
            }
        }
        found.unwrap_or_else(|| panic!("{}: no report of a failed run", self.name()))
    }

    pub(crate) async fn charts(&self) -> Vec<String> {
        self.keys()
            .await
            .into_iter()
            .filter_map(|k| k.strip_prefix("author-monthly-stats/").map(str::to_string))
            .filter(|k| k.ends_with(".png") && !k.contains('/'))
            .collect()
    }
}

/// Writes `key` under a local root, its folders too (a parts prefix, reports/).
fn write_under(root: &std::path::Path, key: &str, bytes: &[u8]) {
    let path = root.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The fixture lines that `keep` accepts.
pub(crate) fn fixture_lines(name: &str, keep: impl Fn(&str) -> bool) -> Vec<u8> {
    let text = std::fs::read_to_string(data(name)).unwrap();
    let mut out = String::new();
    for line in text.lines().filter(|l| keep(l)) {
        out.push_str(line);
        out.push('\n');
    }
    out.into_bytes()
}

/// Asserts a run failed with `error_type`, naming each of `needles`.
pub(crate) fn assert_refused(target: &Target, out: &Output, error_type: &str, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}: {stderr}", target.name());
    assert!(
        stderr.contains(&format!("error [{error_type}]")),
        "{}: {stderr}",
        target.name()
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{}: {needle:?} not in {stderr}",
            target.name()
        );
    }
    let report = report_of(out);
    assert_eq!(
        report["error"]["error_type"],
        error_type,
        "{}",
        target.name()
    );
}

pub(crate) fn backfill_at(as_of: &str) -> Vec<&str> {
    vec!["--lookback-days", "5475", "--as-of", as_of]
}

/// The fixtures without old-timer (author a6) and its posts.
pub(crate) async fn remove_old_timer(target: &Target) {
    let authors = fixture_lines("authors.jsonl", |l| !l.contains("\"a6\""));
    target.put_source(AUTHORS, gzip_two_members(&authors)).await;
    let posts = fixture_lines("posts.jsonl", |l| !l.contains("\"a6\""));
    target.put_source(POSTS, posts).await;
}
