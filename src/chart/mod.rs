//! Draw one author's chart: monthly post counts as bars, the display name as
//! title, a subtitle with totals, year ticks, encoded as a compact PNG.
//!
//! The font (Noto Sans JP, SIL OFL, `assets/fonts/`) is compiled into the binary,
//! so a Japanese title renders the same on a laptop and in a bare Lambda image.

mod alt;
mod deflate;
mod encode;
mod palette;
mod render;
pub mod shapes;
pub mod theme;

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef};

pub use alt::alt_text;
pub use encode::decode_png;
pub(crate) use encode::encode_indexed;
pub use render::{render_chart, render_light_and_dark};
pub use theme::{Image, Language, Theme, ThemeError, Themes};

/// The bundled font.
pub(crate) static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/NotoSansJP_500Medium.ttf");
/// The family name the font is registered under with `plotters`.
pub(crate) const FONT_FAMILY: &str = "author-stats-sans";

/// The version of the drawing: raised whenever a change to this module (or a
/// dependency it draws with) can change a chart's pixels for the same data and
/// theme, so every published chart is drawn again on the next run (it is part
/// of each chart's fingerprint, [`crate::freshness`]). 2: the footer names the
/// last month counted instead of the run's day; authors without posts get a
/// chart. 3: every chart is also drawn dark and compact.
pub const RENDERER_VERSION: u32 = 3;

/// A chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("the bundled font could not be loaded")]
    Font,
    #[error("drawing failed: {0}")]
    Draw(String),
    #[error("PNG encoding failed: {0}")]
    Encode(#[from] encode::EncodeError),
}

/// The parsed font, for glyph coverage checks; registers it with `plotters` once.
pub(crate) fn font() -> Result<&'static FontRef<'static>, ChartError> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| {
        let font = FontRef::try_from_slice(FONT_BYTES).ok()?;
        plotters::style::register_font(FONT_FAMILY, plotters::style::FontStyle::Normal, FONT_BYTES)
            .ok()?;
        Some(font)
    })
    .as_ref()
    .ok_or(ChartError::Font)
}

/// Keeps the characters the font can draw (emoji and other uncovered symbols are
/// dropped rather than drawn as empty boxes) and folds runs of white space.
pub fn drawable_text(text: &str) -> Result<String, ChartError> {
    let font = font()?;
    let kept: String = text
        .chars()
        .filter(|&c| c.is_whitespace() || c.is_control() || font.glyph_id(c).0 != 0)
        .collect();
    Ok(one_line(&kept))
}

/// `text` as one line: control characters and white space become spaces, and
/// runs of them one space, none at the ends.
pub(crate) fn one_line(text: &str) -> String {
    let spaced: String = text
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A xorshift generator: the same numbers from the same seed, for the
    /// chart tests' noise and random cases.
    pub(crate) fn xorshift(mut seed: u32) -> impl FnMut() -> u32 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        }
    }

    // REQ-CH-003
    #[test]
    fn drawable_text_drops_uncovered_glyphs() {
        let cases: &[(&str, &str, &str)] = &[
            ("japanese", "佐藤 太郎", "佐藤 太郎"),
            ("latin", "Jane Doe", "Jane Doe"),
            ("emoji", "たろう🍣🎉", "たろう"),
            ("control and tabs", "a\tb\n\u{7}c", "a b c"),
            ("only emoji", "🍣🍣", ""),
            ("markup kept as text", "<b>太郎</b>", "<b>太郎</b>"),
        ];
        for (name, input, want) in cases {
            assert_eq!(drawable_text(input).unwrap(), *want, "case {name}");
        }
    }
}
