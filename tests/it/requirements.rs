//! Every requirement in docs/requirements.md is cited by at least one test, and
//! every ID a test cites exists.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::repo;

/// IDs of the form `REQ-XX-000` in `text`.
fn ids(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("REQ-") {
        let start = i + pos;
        let rest = &bytes[start + 4..];
        let letters = rest.iter().take_while(|b| b.is_ascii_uppercase()).count();
        let digits = rest
            .get(letters + 1..)
            .map_or(0, |r| r.iter().take_while(|b| b.is_ascii_digit()).count());
        if letters >= 2 && rest.get(letters) == Some(&b'-') && digits == 3 {
            out.insert(text[start..start + 4 + letters + 1 + digits].to_string());
        }
        i = start + 4;
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_requirement_has_a_test_and_every_cited_id_exists() {
    let doc = std::fs::read_to_string(repo().join("docs/requirements.md")).unwrap();
    let defined: BTreeSet<String> = doc
        .lines()
        .filter(|l| l.trim_start().starts_with("| REQ-") || l.trim_start().starts_with("- **REQ-"))
        .flat_map(ids)
        .collect();
    assert!(
        defined.len() >= 20,
        "too few requirements found: {defined:?}"
    );

    let mut files = Vec::new();
    rust_files(&repo().join("src"), &mut files);
    rust_files(&repo().join("tests"), &mut files);
    let mut cited = BTreeSet::new();
    for f in files.iter().filter(|f| !f.ends_with("requirements.rs")) {
        let text = std::fs::read_to_string(f).unwrap();
        // Only code with tests counts: unit-test modules and the integration crate.
        let test_part = match text.find("#[cfg(test)]") {
            Some(i) => &text[i..],
            None if f.starts_with(repo().join("tests")) => &text[..],
            None => "",
        };
        cited.extend(ids(test_part));
    }
    // The emulated-AWS stage is Python, run by scripts/test.sh: all of it is test.
    for entry in std::fs::read_dir(repo().join("test-support/aws-emulator")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "py") {
            cited.extend(ids(&std::fs::read_to_string(path).unwrap()));
        }
    }
    let untested: Vec<&String> = defined.difference(&cited).collect();
    let unknown: Vec<&String> = cited.difference(&defined).collect();
    assert!(
        untested.is_empty(),
        "requirements without a test: {untested:?}"
    );
    assert!(
        unknown.is_empty(),
        "tests cite unknown requirement IDs: {unknown:?}"
    );
}

#[test]
fn id_scanner_finds_only_well_formed_ids() {
    let found = ids("REQ-IN-001, REQ-X-001, REQ-AB-12, (REQ-CH-002) REQ-ab-003");
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        vec!["REQ-CH-002", "REQ-IN-001"]
    );
}
