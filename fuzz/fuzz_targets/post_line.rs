//! The post-line parser and the line reader: never panic, and a parsed post's
//! timestamp always has a month in the site's zone.
#![no_main]

use author_stats_batch::records::{parse_post, parse_post_line, read_lines};
use author_stats_batch::tally::Month;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(post) = parse_post(data) {
        if let Some(at) = post.published_at {
            let _ = Month::of(at, chrono_tz::Asia::Tokyo).label();
        }
        let _ = post.title();
    }
    let mut records = 0u64;
    let stats = read_lines(data, |_, line| parse_post_line(line).map(|_| records += 1)).expect("reading a slice never fails");
    assert_eq!(stats.records, records);
    assert_eq!(stats.records + stats.bad_total(), stats.lines);
});
