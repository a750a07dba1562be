//! The edge shapes every chart change is checked against, by eye
//! (`cargo run --example edge_charts`) and by the golden tests
//! (`tests/it/golden.rs`): one post, one month of history, fifteen years, a
//! 300-post spike beside months of one, a 500-character name, an emoji-only name,
//! and the English theme at 2x.

use chrono::DateTime;

use super::theme::{Language, Theme};
use crate::tally::{Month, MonthCount, MonthlyCounts};

/// One series: `posts[i]` in the `i`-th month from `first`.
pub(crate) fn counts(name: &str, first: Month, posts: &[u32]) -> MonthlyCounts {
    MonthlyCounts {
        slug: "edge".into(),
        display_name: name.into(),
        time_zone: "Asia/Tokyo".into(),
        as_of: DateTime::from_timestamp(1_764_092_700, 0).unwrap_or_default(), // 2025-11-25T17:45:00Z
        total: posts.iter().map(|&n| u64::from(n)).sum(),
        months: posts
            .iter()
            .enumerate()
            .map(|(i, &n)| MonthCount {
                month: Month(first.0 + i as i32),
                posts: n,
            })
            .collect(),
    }
}

/// `(name, data, theme)` for each edge shape.
pub fn edge_shapes() -> Vec<(&'static str, MonthlyCounts, Theme)> {
    let nov = Month::new(2025, 11);
    let fifteen: Vec<u32> = (0..179).map(|i| ((i * 37 + 11) % 13) as u32 % 7).collect();
    let mut spike = vec![1u32; 36];
    spike[30] = 300;
    let english = Theme {
        language: Language::En,
        scale: 2,
        ..Theme::default()
    };
    vec![
        ("one-post", counts("佐藤 太郎", nov, &[1]), Theme::default()),
        ("one-month", counts("Jane Doe", nov, &[4]), Theme::default()),
        (
            "fifteen-years",
            counts("山田 花子", Month(nov.0 - 178), &fifteen),
            Theme::default(),
        ),
        (
            "spike",
            counts("Mixed 名前 Name", Month(nov.0 - 35), &spike),
            Theme::default(),
        ),
        (
            "long-name",
            counts(
                &"とても長い名前の著者".repeat(50),
                Month(nov.0 - 5),
                &[1, 0, 2, 3, 0, 1],
            ),
            Theme::default(),
        ),
        (
            "emoji-name",
            counts("🍣🍣🍣", Month(nov.0 - 2), &[2, 0, 1]),
            Theme::default(),
        ),
        ("no-posts", counts("加藤 大輔", nov, &[]), Theme::default()),
        (
            "english-2x",
            counts("Jane Doe", Month(nov.0 - 40), &fifteen[..41]),
            english,
        ),
    ]
}
