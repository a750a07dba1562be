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
    /// Drawn with the compact layout ([`Theme::compact`]): never read from
    /// JSON, set only by the variants this job derives.
    #[serde(skip)]
    pub compact: bool,
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
            compact: false,
        }
    }
}

/// The compact layout, in CSS pixels at density [`COMPACT_DENSITY`]: made for
/// a profile column on a phone (about 360 CSS px wide), where its smallest
/// text, [`COMPACT_LABEL_SIZE`], is 11 CSS px.
pub const COMPACT_WIDTH: u32 = 360;
pub const COMPACT_HEIGHT: u32 = 240;
pub const COMPACT_DENSITY: u32 = 2;
pub const COMPACT_LABEL_SIZE: u32 = 11;

/// The colours of the default dark theme: light text and brighter bars on a
/// near-black background; the partial month dimmer than the others, as the
/// light theme's is paler.
const DARK: [(&str, Rgb); 7] = [
    ("background", Rgb(0x11, 0x18, 0x27)),
    ("bar", Rgb(0x60, 0xa5, 0xfa)),
    ("current_bar", Rgb(0x2f, 0x5b, 0x8f)),
    ("title", Rgb(0xf1, 0xf5, 0xf9)),
    ("text", Rgb(0xcb, 0xd5, 0xe1)),
    ("grid", Rgb(0x27, 0x32, 0x44)),
    ("axis", Rgb(0x64, 0x74, 0x8b)),
];

/// The two themes every chart is drawn in: the light one (`CHART_THEME`,
/// whose chart is the contract `<slug>.png`) and the dark one
/// (`CHART_THEME_DARK`). Each is also drawn compact ([`Theme::compact`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Themes {
    pub light: Theme,
    pub dark: Theme,
}

impl Default for Themes {
    fn default() -> Self {
        Themes::from_json(None, None).unwrap_or_else(|_| Themes {
            light: Theme::default(),
            dark: Theme::default(),
        })
    }
}

impl Themes {
    /// The light theme from `light` (absent fields keep the defaults), and
    /// the dark one from `dark` over the light theme with the default dark
    /// colours: a dark theme that names no size draws at the light one's.
    pub fn from_json(light: Option<&str>, dark: Option<&str>) -> Result<Self, ThemeError> {
        let light = match light {
            None => Theme::default(),
            Some(text) => Theme::from_json(text).map_err(ThemeError::Light)?,
        };
        let mut base = serde_json::to_value(&light).map_err(|e| ThemeError::Dark(e.to_string()))?;
        if let Some(fields) = base.as_object_mut() {
            for (name, colour) in DARK {
                fields.insert(
                    name.into(),
                    serde_json::to_value(colour).unwrap_or_default(),
                );
            }
        }
        let given: serde_json::Value = match dark {
            None => serde_json::Value::Object(serde_json::Map::new()),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| ThemeError::Dark(format!("chart theme: {e}")))?,
        };
        let Some(given) = given.as_object() else {
            return Err(ThemeError::Dark(
                "chart theme: expected a JSON object".into(),
            ));
        };
        if let Some(fields) = base.as_object_mut() {
            for (name, value) in given {
                fields.insert(name.clone(), value.clone());
            }
        }
        let dark: Theme = serde_json::from_value(base)
            .map_err(|e| ThemeError::Dark(format!("chart theme: {e}")))?;
        dark.validate().map_err(ThemeError::Dark)?;
        // One language per author: the alt text, the review page and both
        // schemes' images say the same words.
        if dark.language != light.language {
            return Err(ThemeError::Dark(
                "chart theme: language must be the light theme's (set it there, in CHART_THEME)"
                    .into(),
            ));
        }
        Ok(Themes { light, dark })
    }

    /// The theme `image` is drawn with.
    pub fn of(&self, image: Image) -> Theme {
        let theme = if image.is_dark() {
            &self.dark
        } else {
            &self.light
        };
        if image.is_compact() {
            theme.compact()
        } else {
            theme.clone()
        }
    }
}

/// Which of the two themes is invalid, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThemeError {
    #[error("{0}")]
    Light(String),
    #[error("{0}")]
    Dark(String),
}

/// The four images of every author. `Light` is the contract chart
/// (`<slug>.png`); the page picks among them by colour scheme and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Image {
    Light,
    Dark,
    CompactLight,
    CompactDark,
}

impl Image {
    pub const ALL: [Image; 4] = [
        Image::Light,
        Image::Dark,
        Image::CompactLight,
        Image::CompactDark,
    ];

    /// Its entry in `<slug>.json`'s `images`.
    pub fn name(self) -> &'static str {
        match self {
            Image::Light => "light",
            Image::Dark => "dark",
            Image::CompactLight => "compact_light",
            Image::CompactDark => "compact_dark",
        }
    }

    pub fn is_dark(self) -> bool {
        matches!(self, Image::Dark | Image::CompactDark)
    }

    pub fn is_compact(self) -> bool {
        matches!(self, Image::CompactLight | Image::CompactDark)
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

    /// This theme's colours and language in the compact layout: a fixed
    /// size made for a phone's column, drawn at [`COMPACT_DENSITY`], with
    /// text no smaller than [`COMPACT_LABEL_SIZE`] CSS px.
    #[must_use]
    pub fn compact(&self) -> Theme {
        Theme {
            width: COMPACT_WIDTH,
            height: COMPACT_HEIGHT,
            scale: COMPACT_DENSITY,
            margin: 12,
            title_size: 18,
            subtitle_size: 12,
            label_size: COMPACT_LABEL_SIZE,
            compact: true,
            ..self.clone()
        }
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

    // REQ-CH-008: the dark theme is the light one's sizes in dark colours,
    // overridable field by field; either theme's error names its setting.
    #[test]
    fn the_dark_theme_lies_over_the_light_one() {
        let themes = Themes::from_json(
            Some(r#"{"language":"en","width":1000}"#),
            Some(r##"{"bar":"#ff8800"}"##),
        )
        .unwrap();
        assert_eq!(themes.dark.width, 1000, "the light theme's size");
        assert_eq!(themes.dark.language, Language::En);
        assert_eq!(themes.dark.bar, Rgb(0xff, 0x88, 0x00));
        assert_eq!(themes.dark.background, DARK[0].1);
        let luminance =
            |c: Rgb| 0.2126 * f64::from(c.0) + 0.7152 * f64::from(c.1) + 0.0722 * f64::from(c.2);
        let d = Themes::default().dark;
        assert!(luminance(d.background) < 40.0 && luminance(d.title) > 200.0);
        for (light, dark, want) in [
            (Some(r#"{"bar":"red"}"#), None, "Light"),
            (None, Some(r#"{"bar":"red"}"#), "Dark"),
            (None, Some(r#"{"colour":"x"}"#), "Dark"),
            (None, Some("[1]"), "Dark"),
            (None, Some(r#"{"height":200,"title_size":100}"#), "Dark"),
            (None, Some(r#"{"language":"en"}"#), "Dark"),
        ] {
            let got = Themes::from_json(light, dark).unwrap_err();
            assert!(
                format!("{got:?}").starts_with(want),
                "{light:?} {dark:?}: {got:?}"
            );
        }
    }

    // REQ-CH-008: the compact images are readable in a 360 CSS px column: no
    // text under 11 CSS px, drawn at twice the pixels, in each theme's
    // colours and language, and a valid theme.
    #[test]
    fn the_compact_layout_keeps_text_readable_on_a_phone() {
        let themes = Themes::from_json(Some(r#"{"title_size":60,"label_size":8}"#), None).unwrap();
        for image in Image::ALL.into_iter().filter(|i| i.is_compact()) {
            let t = themes.of(image);
            t.validate().unwrap();
            assert!(t.compact);
            let (w, _) = t.pixels();
            let css_px = |size: u32| f64::from(t.px(size)) * 360.0 / f64::from(w);
            for size in [t.label_size, t.subtitle_size, t.title_size] {
                assert!(
                    css_px(size) >= 11.0,
                    "{image:?}: {size} is {} CSS px",
                    css_px(size)
                );
            }
            assert_eq!(t.scale, 2);
            assert_eq!(
                t.background,
                if image.is_dark() {
                    themes.dark.background
                } else {
                    themes.light.background
                }
            );
        }
        assert!(!themes.of(Image::Light).compact && !themes.of(Image::Dark).compact);
    }
}
