//! The committed inputs under `tests/data/`, what they should come to, and the
//! checks on the PNGs a run writes.

use std::io::Write;
use std::path::Path;

use super::data;

/// gzip `bytes` as two members split mid-way, as a concatenated export would be.
pub(crate) fn gzip_two_members(bytes: &[u8]) -> Vec<u8> {
    let (a, b) = bytes.split_at(bytes.len() / 2);
    let mut out = Vec::new();
    for part in [a, b] {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(part).unwrap();
        out.extend(enc.finish().unwrap());
    }
    out
}

/// Copies the fixtures into `dir/contentful/` (posts plain, authors gzipped).
pub(crate) fn local_fixtures(dir: &Path) {
    let c = dir.join("contentful");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::copy(data("posts.jsonl"), c.join("all-blog-posts.jsonl.gz")).unwrap();
    let authors = std::fs::read(data("authors.jsonl")).unwrap();
    std::fs::write(c.join("authorProfile.jsonl.gz"), gzip_two_members(&authors)).unwrap();
}

/// Decodes a PNG (every pixel) into its size and RGB(A) bytes.
pub(crate) fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let (info, pixels) = author_stats_batch::chart::decode_png(bytes).expect("a PNG");
    (info.width, info.height, pixels)
}

/// Decodes a PNG, returning its size.
pub(crate) fn png_size(bytes: &[u8]) -> (u32, u32) {
    let (w, h, _) = decode_png(bytes);
    (w, h)
}

/// The expected series of the fixture authors, as `(month, posts)`.
pub(crate) fn sato_taro_series() -> Vec<(String, u64)> {
    [
        ("2025-08", 1),
        ("2025-09", 0),
        ("2025-10", 0),
        ("2025-11", 2),
    ]
    .iter()
    .map(|(m, n)| (m.to_string(), *n))
    .collect()
}

pub(crate) fn jane_doe_series() -> Vec<(String, u64)> {
    let mut v = vec![("2025-01".to_string(), 1)];
    for m in 2..=10 {
        v.push((format!("2025-{m:02}"), 0));
    }
    v.push(("2025-11".to_string(), 2));
    v
}

pub(crate) fn series_of(json: &serde_json::Value) -> Vec<(String, u64)> {
    json["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["month"].as_str().unwrap().to_string(),
                m["posts"].as_u64().unwrap(),
            )
        })
        .collect()
}
