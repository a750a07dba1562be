//! Shared helpers, by concern: [`faults`] is the fault-injecting layer in front
//! of the S3 test server, [`s3_server`] the server itself (s3s-fs on 127.0.0.1),
//! [`fixtures`] the committed inputs and what they should come to, [`runs`] the
//! `author-stats` runs and the checks on their reports. Tests `use
//! crate::common::*`.

#![allow(dead_code)]

mod faults;
mod fixtures;
mod runs;
mod s3_server;

use std::path::PathBuf;

pub use fixtures::*;
pub use runs::*;
pub use s3_server::*;

pub const SOURCE_BUCKET: &str = "source-bucket";
pub const CHARTS_BUCKET: &str = "charts-bucket";

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn data(name: &str) -> PathBuf {
    repo().join("tests/data").join(name)
}

/// An external tool a test needs (the Lambda runtime emulator, Chromium):
/// `override_var` names it, else `default`. When it is missing, a plain
/// `cargo test` skips the test and says what is missing and how to get it; under
/// `./scripts/test.sh` (which sets `AUTHOR_STATS_REQUIRE_TOOLS`, as CI does) a
/// missing tool fails the test.
pub fn tool(what: &str, override_var: &str, default: PathBuf) -> Option<PathBuf> {
    let path = std::env::var_os(override_var)
        .map(PathBuf::from)
        .unwrap_or(default);
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "{what} is not at {}: run ./scripts/test.sh (it installs it) or set {override_var}",
        path.display()
    );
    if std::env::var_os("AUTHOR_STATS_REQUIRE_TOOLS").is_some() {
        panic!("{message}");
    }
    eprintln!("skipped: {message}");
    None
}
