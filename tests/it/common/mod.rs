//! Shared helpers, by concern: [`faults`] is the fault-injecting layer in front
//! of the S3 test server, [`s3_server`] the server itself (s3s-fs on 127.0.0.1),
//! [`fixtures`] the committed inputs and what they should come to, [`runs`] the
//! `author-stats` runs and the checks on their reports, [`target`] a run's
//! source and destination (local or S3) and the guard checks, [`rie`] the
//! Lambda runtime emulator. Tests `use crate::common::*` and nothing of each
//! other.

pub(crate) mod faults;
mod fixtures;
mod rie;
mod runs;
mod s3_server;
mod target;

use std::path::PathBuf;

pub(crate) use fixtures::*;
pub(crate) use rie::*;
pub(crate) use runs::*;
pub(crate) use s3_server::*;
pub(crate) use target::*;

pub(crate) const SOURCE_BUCKET: &str = "source-bucket";
pub(crate) const CHARTS_BUCKET: &str = "charts-bucket";

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn data(name: &str) -> PathBuf {
    repo().join("tests/data").join(name)
}

/// An external tool a test needs (the Lambda runtime emulator, Chromium):
/// `override_var` names it, else `default`. The tests that need one are
/// `#[ignore = "needs …"]`, so a plain `cargo test` reports them as ignored
/// rather than passed; `./scripts/test.sh` installs the tools and runs them
/// with `--include-ignored`, where a missing tool fails the test.
pub(crate) fn tool(what: &str, override_var: &str, default: PathBuf) -> PathBuf {
    assert!(
        std::env::var_os(override_var).is_some() || default.exists(),
        "{what} is not at {}: run ./scripts/test.sh (it installs it) or set {override_var}",
        default.display()
    );
    std::env::var_os(override_var).map_or(default, PathBuf::from)
}
