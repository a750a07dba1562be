//! The author-line parser and the master checks: never panic; an accepted slug
//! is one safe key segment.
#![no_main]

use author_stats_batch::records::parse_author;
use author_stats_batch::tally::check_slug;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(author) = parse_author(data) {
        if check_slug(&author.slug).is_ok() {
            assert!(!author.slug.contains('/') && !author.slug.contains('\\'));
            assert!(author.slug != "." && author.slug != "..");
            assert!(!author.slug.is_empty() && author.slug.len() <= 200);
        }
        let _ = author_stats_batch::chart::drawable_text(&author.display_name);
    }
});
