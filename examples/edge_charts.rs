//! Draws the edge shapes a designer should look at into target/edge-charts/:
//! one post, one month of history, 15 years, a 300-post spike beside months of
//! one, a 500-character name, an emoji-only name, and the English theme at 2x.
//!
//! `cargo run --release --example edge_charts`

use author_stats_batch::chart::theme::Language;
use author_stats_batch::chart::{Theme, render_chart};
use author_stats_batch::tally::{Month, MonthCount, MonthlyCounts};

fn counts(name: &str, first: Month, posts: &[u32]) -> MonthlyCounts {
    MonthlyCounts {
        slug: "edge".into(),
        display_name: name.into(),
        time_zone: "Asia/Tokyo".into(),
        as_of: chrono::DateTime::parse_from_rfc3339("2025-11-25T17:45:00Z")
            .expect("valid")
            .to_utc(),
        total: posts.iter().map(|&n| u64::from(n)).sum(),
        months: posts
            .iter()
            .enumerate()
            .map(|(i, &n)| MonthCount {
                month: Month(first.0 + i as i32).label(),
                posts: n,
            })
            .collect(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/edge-charts");
    std::fs::create_dir_all(&out)?;
    let nov = Month::new(2025, 11);
    let fifteen: Vec<u32> = (0..179).map(|i| ((i * 37 + 11) % 13) as u32 % 7).collect();
    let mut spike = vec![1u32; 36];
    spike[30] = 300;
    let english = Theme {
        language: Language::En,
        scale: 2,
        ..Theme::default()
    };
    let cases: Vec<(&str, MonthlyCounts, Theme)> = vec![
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
        (
            "english-2x",
            counts("Jane Doe", Month(nov.0 - 40), &fifteen[..41]),
            english,
        ),
    ];
    for (name, data, theme) in cases {
        let png = render_chart(&data, &theme)?;
        std::fs::write(out.join(format!("{name}.png")), &png)?;
        println!("{name}: {} bytes", png.len());
    }
    Ok(())
}
