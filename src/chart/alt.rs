//! The chart's alternative text: one sentence in the theme's language made
//! from the same numbers the chart draws (the name, the total, the first
//! month, the busiest month and its count, the last twelve months), so every
//! page that shows the chart can give it the same `alt` without writing its
//! own. It is plain text: a page escapes it as it escapes any text.

use super::one_line;
use super::theme::Language;
use crate::tally::{Month, MonthlyCounts};

/// The sentence for `data` in `language`.
pub fn alt_text(data: &MonthlyCounts, language: Language) -> String {
    let name = plain(&data.display_name, &data.slug);
    let Some(first) = data.first_month() else {
        return match language {
            Language::Ja => format!("{name}さんの月別投稿数のグラフ。まだ投稿はありません。"),
            Language::En => format!("Monthly posts by {name}: no posts yet."),
        };
    };
    // The busiest month: the most posts, the earliest of equals.
    let busiest = data
        .months
        .iter()
        .fold(None::<(Month, u32)>, |best, m| match best {
            Some((_, n)) if n >= m.posts => best,
            _ => Some((m.month, m.posts)),
        })
        .unwrap_or((first, 0));
    let recent = data.last_months_total(12);
    match language {
        Language::Ja => format!(
            "{name}さんの月別投稿数のグラフ。{}年{}月から合計{}本、最も多いのは{}年{}月の{}本、直近12か月は{}本。",
            first.year(),
            first.month(),
            data.total,
            busiest.0.year(),
            busiest.0.month(),
            busiest.1,
            recent
        ),
        Language::En => {
            let posts = |n: u64| {
                if n == 1 {
                    "1 post".to_string()
                } else {
                    format!("{n} posts")
                }
            };
            format!(
                "Monthly posts by {name}: {} since {}, the most in {} ({}), {} in the last 12 months.",
                posts(data.total),
                month_en(first),
                month_en(busiest.0),
                busiest.1,
                recent
            )
        }
    }
}

fn month_en(m: Month) -> String {
    const NAMES: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let name = NAMES
        .get(m.month().wrapping_sub(1) as usize)
        .unwrap_or(&"?");
    format!("{name} {}", m.year())
}

/// The name as one line of text: control characters and runs of white space
/// folded to one space; the slug when nothing is left.
fn plain(name: &str, slug: &str) -> String {
    let folded = one_line(name);
    if folded.is_empty() {
        slug.to_string()
    } else {
        folded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The edge shapes' series, under the slug `sato`.
    fn counts(name: &str, first: Month, posts: &[u32]) -> MonthlyCounts {
        MonthlyCounts {
            slug: "sato".into(),
            ..crate::chart::shapes::counts(name, first, posts)
        }
    }

    // REQ-CH-006: the alt text says what the chart shows, in both languages.
    #[test]
    fn alt_text_says_what_the_chart_shows() {
        let first = Month::new(2024, 11);
        let data = counts(
            "佐藤 太郎",
            first,
            &[1, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        );
        let cases = [
            (
                "ja",
                alt_text(&data, Language::Ja),
                "佐藤 太郎さんの月別投稿数のグラフ。2024年11月から合計9本、最も多いのは2025年1月の3本、直近12か月は8本。",
            ),
            (
                "en",
                alt_text(&data, Language::En),
                "Monthly posts by 佐藤 太郎: 9 posts since November 2024, the most in January 2025 (3), 8 in the last 12 months.",
            ),
            (
                "none ja",
                alt_text(&counts("Jane", first, &[]), Language::Ja),
                "Janeさんの月別投稿数のグラフ。まだ投稿はありません。",
            ),
            (
                "none en",
                alt_text(&counts("Jane", first, &[]), Language::En),
                "Monthly posts by Jane: no posts yet.",
            ),
            (
                "hostile name",
                alt_text(
                    &counts("<img src=x>\u{1b}[31m\n", first, &[1]),
                    Language::En,
                ),
                "Monthly posts by <img src=x> [31m: 1 post since November 2024, the most in November 2024 (1), 1 in the last 12 months.",
            ),
            (
                "empty name",
                alt_text(&counts(" ", first, &[]), Language::En),
                "Monthly posts by sato: no posts yet.",
            ),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "case {name}");
        }
    }
}
