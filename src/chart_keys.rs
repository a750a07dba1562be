//! The names of an author's published objects under the charts prefix: the
//! one place that spells them, for the stage that writes them, the freshness
//! check that looks for them, the prune that deletes them, the CDN
//! invalidation and the review page that links them.
//!
//! `<slug>.png` (the light chart, the contract) and `<slug>.json` sit at the
//! prefix; the other images each in a folder of their own (`dark/`,
//! `compact/`, `compact-dark/`). A slug never contains `/`
//! ([`crate::tally::check_slug`]), so no slug's objects can take another's
//! name: `<slug>.dark.png` would be the light chart of the slug `x.dark`.

use serde::{Deserialize, Serialize};

use crate::chart::{Image, Themes};

/// The folder of `image` under the charts prefix (empty, or ends with `/`).
fn folder(image: Image) -> &'static str {
    match image {
        Image::Light => "",
        Image::Dark => "dark/",
        Image::CompactLight => "compact/",
        Image::CompactDark => "compact-dark/",
    }
}

/// What one of an author's objects is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    /// `<slug>.json`: the numbers, the alt text and the images.
    Data,
    Image(Image),
}

impl Object {
    /// Every object of an author, the data first.
    pub const ALL: [Object; 5] = [
        Object::Data,
        Object::Image(Image::Light),
        Object::Image(Image::Dark),
        Object::Image(Image::CompactLight),
        Object::Image(Image::CompactDark),
    ];

    /// The object's path relative to the charts prefix (no percent-encoding).
    pub fn path(self, slug: &str) -> String {
        match self {
            Object::Data => format!("{slug}.json"),
            Object::Image(image) => format!("{}{slug}.png", folder(image)),
        }
    }

    /// The object's key.
    pub fn key(self, charts_prefix: &str, slug: &str) -> String {
        format!("{charts_prefix}{}", self.path(slug))
    }
}

/// Every key of `slug`'s objects, the data first.
pub fn keys_of(charts_prefix: &str, slug: &str) -> [String; 5] {
    Object::ALL.map(|o| o.key(charts_prefix, slug))
}

/// Whose object `key` is, and which: `None` for any other key under (or
/// outside) the prefix, such as the review page.
pub fn parse_key<'k>(charts_prefix: &str, key: &'k str) -> Option<(&'k str, Object)> {
    let name = key.strip_prefix(charts_prefix)?;
    let found = if let Some(slug) = name.strip_suffix(".json") {
        (slug, Object::Data)
    } else {
        let stem = name.strip_suffix(".png")?;
        Image::ALL.into_iter().rev().find_map(|image| {
            let slug = stem.strip_prefix(folder(image))?;
            Some((slug, Object::Image(image)))
        })?
    };
    (!found.0.is_empty() && !found.0.contains('/')).then_some(found)
}

/// One image as `<slug>.json` lists it: its key (in the bucket, under the
/// destination's prefix when `CHARTS_BUCKET` has one), its size in pixels, and
/// the pixels per CSS pixel it is drawn for (so a page shows it at
/// `width / density` by `height / density` CSS px).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEntry {
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub density: u32,
}

/// `<slug>.json`'s `images`: every image a page can pick from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Images {
    pub light: ImageEntry,
    pub dark: ImageEntry,
    pub compact_light: ImageEntry,
    pub compact_dark: ImageEntry,
}

impl Images {
    /// The images of `slug` drawn with `themes`.
    pub fn of(charts_prefix: &str, slug: &str, themes: &Themes) -> Self {
        let entry = |image: Image| {
            let theme = themes.of(image);
            let (width, height) = theme.pixels();
            ImageEntry {
                key: Object::Image(image).key(charts_prefix, slug),
                width,
                height,
                density: theme.scale,
            }
        };
        Images {
            light: entry(Image::Light),
            dark: entry(Image::Dark),
            compact_light: entry(Image::CompactLight),
            compact_dark: entry(Image::CompactDark),
        }
    }

    pub fn get(&self, image: Image) -> &ImageEntry {
        match image {
            Image::Light => &self.light,
            Image::Dark => &self.dark,
            Image::CompactLight => &self.compact_light,
            Image::CompactDark => &self.compact_dark,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // REQ-CH-007: each object has one key and each key one owner.
    #[test]
    fn every_key_parses_back_to_its_owner() {
        for slug in [
            "jane-doe",
            "x.dark",
            "dark",
            "compact-dark",
            "さとう",
            "a.png",
        ] {
            for object in Object::ALL {
                let key = object.key("c/", slug);
                assert_eq!(parse_key("c/", &key), Some((slug, object)), "{key}");
            }
        }
        assert_eq!(
            keys_of("c/", "x"),
            [
                "c/x.json",
                "c/x.png",
                "c/dark/x.png",
                "c/compact/x.png",
                "c/compact-dark/x.png"
            ]
        );
        for other in [
            "c/index.html",
            "c/.png",
            "c/dark/.png",
            "c/nested/x.png",
            "c/dark/a/b.png",
            "other/x.png",
            "c/x.txt",
        ] {
            assert_eq!(parse_key("c/", other), None, "{other}");
        }
    }
}
