//! The look of a chart: colours, sizes, margins and label language, with
//! documented defaults, read from JSON and validated before any chart is drawn.

use serde::{Deserialize, Serialize};

/// An sRGB colour from `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub fn parse(text: &str) -> Result<Self, String> {
        let hex = text
            .strip_prefix('#')
            .filter(|h| h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| format!("{text:?} is not a colour of the form #rrggbb"))?;
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| e.to_string());
        Ok(Rgb(byte(0)?, byte(2)?, byte(4)?))
    }
}

impl Serialize for Rgb {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2))
    }
}

impl<'de> Deserialize<'de> for Rgb {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Rgb::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Label language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Ja,
    En,
}

/// Everything about a chart's look. Sizes are at scale 1; `scale` multiplies them
/// all, so a 2x chart is the same chart at twice the pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Theme {
    pub width: u32,
    pub height: u32,
    pub scale: u32,
    pub margin: u32,
    pub background: Rgb,
    pub bar: Rgb,
    /// The `as_of` month, still being counted.
    pub current_bar: Rgb,
    pub title: Rgb,
    pub text: Rgb,
    pub grid: Rgb,
    pub axis: Rgb,
    pub title_size: u32,
    pub subtitle_size: u32,
    pub label_size: u32,
    pub language: Language,
}

impl Default for Theme {
    fn default() -> Self {
        Theme {
            width: 1200,
            height: 600,
            scale: 1,
            margin: 28,
            background: Rgb(0xff, 0xff, 0xff),
            bar: Rgb(0x2b, 0x6c, 0xb0),
            current_bar: Rgb(0x9c, 0xc3, 0xe6),
            title: Rgb(0x1a, 0x20, 0x2c),
            text: Rgb(0x4a, 0x55, 0x68),
            grid: Rgb(0xe2, 0xe8, 0xf0),
            axis: Rgb(0xa0, 0xae, 0xc0),
            title_size: 30,
            subtitle_size: 17,
            label_size: 15,
            language: Language::Ja,
        }
    }
}

/// The smallest plot area a theme may leave, in pixels at scale 1.
const MIN_PLOT_WIDTH: i64 = 200;
const MIN_PLOT_HEIGHT: i64 = 100;

impl Theme {
    /// Parses a theme from JSON; absent fields keep their defaults.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let theme: Theme = serde_json::from_str(text).map_err(|e| format!("chart theme: {e}"))?;
        theme.validate()?;
        Ok(theme)
    }

    /// Rejects sizes that cannot make a readable chart.
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(&str, u32, u32, u32); 7] = [
            ("width", self.width, 300, 4000),
            ("height", self.height, 200, 3000),
            ("scale", self.scale, 1, 4),
            ("margin", self.margin, 0, 200),
            ("title_size", self.title_size, 8, 120),
            ("subtitle_size", self.subtitle_size, 6, 80),
            ("label_size", self.label_size, 6, 60),
        ];
        for (name, value, lo, hi) in checks {
            if !(lo..=hi).contains(&value) {
                return Err(format!(
                    "chart theme: {name} = {value} is out of range {lo}..={hi}"
                ));
            }
        }
        // Each field can be in range and the whole still leave no room for the
        // bars: the layout of `render::draw` must fit, at scale 1 (scale
        // multiplies every size alike).
        let plot_width = i64::from(self.width) - 2 * i64::from(self.margin);
        if plot_width < MIN_PLOT_WIDTH {
            return Err(format!(
                "chart theme: width {} leaves {plot_width} px for the bars between two margins of {}; \
                 at least {MIN_PLOT_WIDTH} are needed (width > 2 * margin + {MIN_PLOT_WIDTH})",
                self.width, self.margin
            ));
        }
        let header = i64::from(self.margin)
            + i64::from(self.title_size + self.title_size / 2)
            + i64::from(self.subtitle_size) * 2;
        let footer = i64::from(self.label_size) * 2 + i64::from(self.margin / 2);
        let plot_height = i64::from(self.height) - header - footer;
        if plot_height < MIN_PLOT_HEIGHT {
            return Err(format!(
                "chart theme: height {} leaves {plot_height} px for the bars under a {header} px header \
                 (margin, title_size, subtitle_size) and over a {footer} px footer (label_size); \
                 at least {MIN_PLOT_HEIGHT} are needed",
                self.height
            ));
        }
        Ok(())
    }

    /// Pixel size of the image.
    pub fn pixels(&self) -> (u32, u32) {
        (self.width * self.scale, self.height * self.scale)
    }

    pub fn px(&self, v: u32) -> u32 {
        v * self.scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // REQ-CH-004, REQ-RL-013
    #[test]
    fn theme_json_is_validated() {
        let cases: &[(&str, &str, Result<(), &str>)] = &[
            ("empty keeps defaults", "{}", Ok(())),
            ("colour", r##"{"bar":"#ff0000"}"##, Ok(())),
            ("english 2x", r#"{"language":"en","scale":2}"#, Ok(())),
            ("bad colour", r#"{"bar":"red"}"#, Err("#rrggbb")),
            ("short colour", r##"{"bar":"#fff"}"##, Err("#rrggbb")),
            ("bad scale", r#"{"scale":0}"#, Err("scale")),
            ("tiny width", r#"{"width":10}"#, Err("width")),
            (
                "margins eat the width",
                r#"{"width":400,"margin":150}"#,
                Err("width > 2 * margin"),
            ),
            (
                "header eats the height",
                r#"{"height":200,"title_size":100}"#,
                Err("header"),
            ),
            ("unknown", r##"{"colour":"#000000"}"##, Err("unknown field")),
            (
                "bad language",
                r#"{"language":"fr"}"#,
                Err("unknown variant"),
            ),
        ];
        for (name, json, want) in cases {
            match (Theme::from_json(json), want) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(needle)) => assert!(e.contains(needle), "case {name}: {e}"),
                (got, _) => panic!("case {name}: {got:?}"),
            }
        }
        assert_eq!(
            Theme::from_json(r##"{"bar":"#FF0080"}"##).unwrap().bar,
            Rgb(255, 0, 128)
        );
    }
}
