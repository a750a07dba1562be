//! The drawing backend under `plotters`: palette indices straight into an
//! 8-bit buffer, the encoder's input as drawn.
//!
//! A chart's colours are known before it is drawn: the theme's seven, opaque,
//! and its two text colours anti-aliased over the background. So the palette
//! is fixed per theme ([`Palette::of`]): the opaque colours, then
//! [`SHADES`] - 1 steps of each text colour over the background. A text pixel
//! of coverage `a` takes the step nearest `a` (at most 1/32 of the way between
//! the two colours from the exact blend); a blend over anything else (text on
//! a grid line, which the layout avoids) takes the palette colour nearest the
//! exact blend. Fills are row `memset`s; nothing is blended per pixel where a
//! fill will do.
//!
//! Text is drawn with each glyph rasterised once per size and thread
//! ([`GlyphCache`]): the same digits, month numbers and labels recur on every
//! chart. Glyphs are placed exactly as `plotters`' own `ab_glyph` text is (a
//! glyph's coverage does not depend on where it is placed: positions are whole
//! pixels), so the cache changes no pixel.

use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::rc::Rc;

use ab_glyph::{Font, ScaleFont};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind, FontTransform,
};

use super::theme::{Rgb, Theme};

/// Levels of anti-aliasing per text colour, full coverage included.
pub(crate) const SHADES: usize = 16;

/// The palette of one theme, and how a drawn colour maps to an index.
#[derive(Debug, Clone)]
pub(crate) struct Palette {
    /// RGB of each index.
    pub(crate) colours: Vec<[u8; 3]>,
    background: u8,
    /// For each text colour: its index, then the index of each shade
    /// (coverage `k / SHADES`, k = 1..SHADES-1) over the background.
    ramps: Vec<([u8; 3], u8, [u8; SHADES - 1])>,
    /// The index of each colour role in the order the palette is built
    /// (background, bar, current bar, grid, axis, then each text colour and
    /// its shades): two palettes with the same roles give every drawn index
    /// the same meaning, so one drawing serves both ([`Palette::same_roles`]).
    roles: Vec<u8>,
}

impl Palette {
    pub(crate) fn of(theme: &Theme) -> Self {
        let rgb = |c: Rgb| [c.0, c.1, c.2];
        let mut colours: Vec<[u8; 3]> = Vec::new();
        let index_of = |c: [u8; 3], colours: &mut Vec<[u8; 3]>| -> u8 {
            if let Some(i) = colours.iter().position(|&k| k == c) {
                return i as u8;
            }
            colours.push(c);
            (colours.len() - 1) as u8
        };
        let background = index_of(rgb(theme.background), &mut colours);
        let mut roles = vec![background];
        for c in [theme.bar, theme.current_bar, theme.grid, theme.axis] {
            roles.push(index_of(rgb(c), &mut colours));
        }
        let bg = rgb(theme.background);
        let mut ramps = Vec::new();
        for text in [theme.title, theme.text] {
            let fg = rgb(text);
            let full = index_of(fg, &mut colours);
            roles.push(full);
            let mut steps = [0u8; SHADES - 1];
            for (k, step) in steps.iter_mut().enumerate() {
                let shade = blend(bg, fg, (k + 1) as f64 / SHADES as f64);
                *step = index_of(shade, &mut colours);
                roles.push(*step);
            }
            ramps.push((fg, full, steps));
        }
        Palette {
            colours,
            background,
            ramps,
            roles,
        }
    }

    /// Whether `other` gives every index the role it has here (the same
    /// colours shared the same way): then a chart drawn with this palette is
    /// the chart in `other`'s colours once its `PLTE` is `other`'s. A pixel
    /// blended over something other than the background (which the layout
    /// avoids) keeps the index nearest its blend in this palette.
    pub(crate) fn same_roles(&self, other: &Palette) -> bool {
        self.roles == other.roles && self.colours.len() == other.colours.len()
    }

    /// The background's index.
    pub(crate) fn background(&self) -> u8 {
        self.background
    }

    /// The palette's bytes for the PNG `PLTE` chunk.
    pub(crate) fn plte(&self) -> Vec<u8> {
        self.colours.iter().flatten().copied().collect()
    }

    fn nearest(&self, c: [u8; 3]) -> u8 {
        let dist = |p: &[u8; 3]| -> u32 {
            (0..3)
                .map(|k| (i32::from(p[k]) - i32::from(c[k])).pow(2) as u32)
                .sum()
        };
        self.colours
            .iter()
            .enumerate()
            .min_by_key(|(i, p)| (dist(p), *i))
            .map_or(0, |(i, _)| i as u8)
    }

    /// The index of `c` and of its shades over the background, when `c` is a
    /// text colour.
    fn ramp(&self, c: [u8; 3]) -> Option<(u8, &[u8; SHADES - 1])> {
        self.ramps
            .iter()
            .find(|(fg, _, _)| *fg == c)
            .map(|(_, full, steps)| (*full, steps))
    }

    /// The index for `colour` (opaque or with coverage) drawn over `under`.
    fn index(&self, colour: BackendColor, under: u8) -> Option<u8> {
        let c = [colour.rgb.0, colour.rgb.1, colour.rgb.2];
        let level = level(colour.alpha);
        if level == 0 {
            return None;
        }
        if level >= SHADES {
            return Some(match self.colours.iter().position(|&k| k == c) {
                Some(i) => i as u8,
                None => self.nearest(c),
            });
        }
        if under == self.background
            && let Some((_, _, steps)) = self.ramps.iter().find(|(fg, _, _)| *fg == c)
        {
            return Some(steps[level - 1]);
        }
        let below = self.colours[usize::from(under)];
        Some(self.nearest(blend(below, c, colour.alpha)))
    }
}

/// The pixels `plotters` covers for an opaque horizontal or vertical line
/// `stroke` (> 1) pixels wide, as inclusive column and row ranges.
///
/// `plotters` turns such a line into a rectangle polygon (its corners
/// `from`/`to` moved half the stroke across, truncated to whole pixels) and
/// fills that by sweeping along its longer side: every sweep position gets
/// the pixels between the two long edges, ends included, except the last
/// one, which it leaves out when the edges are more than a pixel apart. These
/// are the same pixels without the sweep, its sorting and its allocations
/// (`tests::thick_lines_cover_what_plotters_fills`). `None`, and the caller
/// lets `plotters` draw it, for a line of no length or a rectangle without
/// width.
fn thick_line_cover(
    from: BackendCoord,
    to: BackendCoord,
    stroke: u32,
) -> Option<((i32, i32), (i32, i32))> {
    // The corners as `plotters_backend::rasterizer::draw_line` computes them.
    let v = (i64::from(to.0 - from.0), i64::from(to.1 - from.1));
    let l = ((v.0 * v.0 + v.1 * v.1) as f64).sqrt();
    if l < 1e-5 {
        return None;
    }
    let v = (v.0 as f64 / l, v.1 as f64 / l);
    let r = f64::from(stroke) / 2.0;
    let across = [(v.1 * r, -v.0 * r), (-v.1 * r, v.0 * r)];
    let corners = [from, to].into_iter().flat_map(|p| {
        across.map(|t| ((f64::from(p.0) + t.0) as i32, (f64::from(p.1) + t.1) as i32))
    });
    let (mut xs, mut ys) = ((i32::MAX, i32::MIN), (i32::MAX, i32::MIN));
    for (x, y) in corners {
        xs = (xs.0.min(x), xs.1.max(x));
        ys = (ys.0.min(y), ys.1.max(y));
    }
    if xs.0 == xs.1 || ys.0 == ys.1 {
        return None;
    }
    if xs.1 - xs.0 > ys.1 - ys.0 {
        // Swept along x; the last column only when the edges are adjacent.
        if ys.1 - ys.0 > 1 {
            xs.1 -= 1;
        }
    } else if xs.1 - xs.0 > 1 {
        ys.1 -= 1;
    }
    Some((xs, ys))
}

/// The shade (0 = nothing, [`SHADES`] = the full colour) nearest a coverage
/// in [0, 1]: adding a half and truncating rounds it.
fn level(alpha: f64) -> usize {
    (alpha * SHADES as f64 + 0.5) as usize
}

/// `fg` over `bg` at coverage `a`, rounded as `plotters`' bitmap blends.
fn blend(bg: [u8; 3], fg: [u8; 3], a: f64) -> [u8; 3] {
    let mut out = [0u8; 3];
    for k in 0..3 {
        let v = f64::from(fg[k]) * a + f64::from(bg[k]) * (1.0 - a);
        out[k] = v.round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// One glyph at one size as `plotters` places it: its coverage pixels
/// relative to the caret, and the vertical shift `plotters` applies.
struct Glyph {
    /// The font's glyph for the character, for kerning.
    id: ab_glyph::GlyphId,
    /// How far the caret moves past it.
    advance: f32,
    y_shift: i32,
    pixels: Vec<GlyphPixel>,
    /// The pixels' bounding box (x0, y0, x1, y1, inclusive), relative as
    /// they are; `None` for a glyph without pixels (a space).
    bounds: Option<Rect>,
}

/// One pixel a glyph covers: where, how much (`a`), and the shade an opaque
/// colour takes there ([`level`] of `a`, with [`FULL`] set when `a` is 1),
/// worked out once per glyph instead of once per pixel drawn.
#[derive(Clone, Copy)]
struct GlyphPixel {
    x: i16,
    y: i16,
    a: f32,
    shade: u8,
}

/// In [`GlyphPixel::shade`]: the glyph covers the pixel whole.
const FULL: u8 = 0x80;

/// Glyphs rasterised so far on this thread, by character and size; emptied
/// when it holds [`MAX_CACHED_PIXELS`] (a master of many distinct characters,
/// or a theme of huge text, must not grow a warm function without bound).
#[derive(Default)]
struct GlyphCache {
    glyphs: HashMap<(char, u64), Rc<Glyph>>,
    pixels: usize,
}

/// About 24 MB of coverage (12 bytes a pixel) per drawing thread: thousands of
/// glyphs at the default sizes.
const MAX_CACHED_PIXELS: usize = 2_000_000;

thread_local! {
    static GLYPHS: RefCell<GlyphCache> = RefCell::new(GlyphCache::default());
}

fn glyph(c: char, size: f64) -> Option<Rc<Glyph>> {
    let font = super::font().ok()?.as_scaled(size as f32);
    GLYPHS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let key = (c, size.to_bits());
        if let Some(g) = cache.glyphs.get(&key) {
            return Some(Rc::clone(g));
        }
        let mut pixels = Vec::new();
        let mut y_shift = 0;
        if let Some(outlined) = font.outline_glyph(font.scaled_glyph(c)) {
            let rect = outlined.px_bounds();
            y_shift = ((size as f32) / 2.0 + rect.min.y) as i32;
            outlined.draw(|x, y, a| {
                // Glyph bitmaps are far smaller than 2^15 pixels: sizes are
                // bounded by the theme's validation.
                pixels.push(GlyphPixel {
                    x: x as i16,
                    y: y as i16,
                    a,
                    shade: level(f64::from(a)) as u8 | if a >= 1.0 { FULL } else { 0 },
                });
            });
        }
        if cache.pixels + pixels.len() > MAX_CACHED_PIXELS {
            cache.glyphs.clear();
            cache.pixels = 0;
        }
        cache.pixels += pixels.len();
        let id = font.glyph_id(c);
        let bounds = pixels.iter().fold(None, |b: Option<Rect>, p| {
            let (x, y) = (i32::from(p.x), i32::from(p.y));
            Some(b.map_or((x, y, x, y), |b| {
                (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y))
            }))
        });
        let g = Rc::new(Glyph {
            id,
            advance: font.h_advance(id),
            y_shift,
            pixels,
            bounds,
        });
        cache.glyphs.insert(key, Rc::clone(&g));
        Some(g)
    })
}

/// A rectangle of pixels: left, top, right, bottom, all inclusive.
pub(crate) type Rect = (i32, i32, i32, i32);

/// Where a drawing writes, watched rectangle by rectangle as each shape (a
/// fill, a line, a glyph, a pixel) is drawn: the box around everything
/// written while recording, and whether anything was written into a
/// rectangle kept off. The chart's template ([`super::render`]) draws its
/// parts out of order only where this shows the parts apart.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    recording: std::cell::Cell<bool>,
    drawn: std::cell::Cell<Option<Rect>>,
    keep_off: std::cell::Cell<[Option<Rect>; 2]>,
    hit: std::cell::Cell<bool>,
}

impl Watch {
    /// Starts recording a new box (and forgets the last one).
    pub(crate) fn record(&self) {
        self.recording.set(true);
        self.drawn.set(None);
    }

    /// Stops recording and returns the box around what was written since
    /// [`Watch::record`].
    pub(crate) fn recorded(&self) -> Option<Rect> {
        self.recording.set(false);
        self.drawn.take()
    }

    /// From now on, a write into any of `rects` is a hit.
    pub(crate) fn keep_off(&self, rects: [Option<Rect>; 2]) {
        self.keep_off.set(rects);
    }

    /// Whether anything was written into a rectangle kept off.
    pub(crate) fn hit(&self) -> bool {
        self.hit.get()
    }

    fn touch(&self, r: Rect) {
        if self.recording.get() {
            let d = self.drawn.get();
            self.drawn.set(Some(d.map_or(r, |d| {
                (d.0.min(r.0), d.1.min(r.1), d.2.max(r.2), d.3.max(r.3))
            })));
        }
        let overlaps = |k: &Rect| r.0 <= k.2 && k.0 <= r.2 && r.1 <= k.3 && k.1 <= r.3;
        if self.keep_off.get().iter().flatten().any(overlaps) {
            self.hit.set(true);
        }
    }
}

/// A chart's canvas: one palette index per pixel.
pub(crate) struct PaletteBackend<'a> {
    pixels: &'a mut [u8],
    width: u32,
    height: u32,
    palette: &'a Palette,
    watch: Option<&'a Watch>,
}

impl<'a> PaletteBackend<'a> {
    pub(crate) fn new(
        pixels: &'a mut [u8],
        (width, height): (u32, u32),
        palette: &'a Palette,
    ) -> Self {
        debug_assert_eq!(pixels.len(), width as usize * height as usize);
        PaletteBackend {
            pixels,
            width,
            height,
            palette,
            watch: None,
        }
    }

    /// The canvas with every write reported to `watch`.
    pub(crate) fn watched(mut self, watch: &'a Watch) -> Self {
        self.watch = Some(watch);
        self
    }

    /// Reports a write into `r` to the watch, if any.
    fn touch(&self, r: Rect) {
        if let Some(watch) = self.watch {
            watch.touch(r);
        }
    }

    /// One glyph of upright text in an opaque colour, its top left at
    /// `origin`, each shade's index over the background from `lut` (`None`:
    /// the shade draws nothing): what the general loop of
    /// [`DrawingBackend::draw_text`] does for such text, without its
    /// per-pixel transform and colour mix.
    fn upright_glyph(
        &mut self,
        g: &Glyph,
        (ox, oy): BackendCoord,
        lut: &[Option<u8>; SHADES + 1],
        colour: BackendColor,
    ) {
        if let Some(b) = g.bounds {
            self.touch((ox + b.0, oy + b.1, ox + b.2, oy + b.3));
        }
        let (w, h, stride) = (self.width as i32, self.height as i32, self.width as usize);
        let background = self.palette.background;
        // Most text lies whole on the canvas, and its pixels need no clipping.
        let clip = !g
            .bounds
            .is_some_and(|b| ox + b.0 >= 0 && oy + b.1 >= 0 && ox + b.2 < w && oy + b.3 < h);
        for pixel in &g.pixels {
            let (px, py) = (ox + i32::from(pixel.x), oy + i32::from(pixel.y));
            if clip && (px < 0 || py < 0 || px >= w || py >= h) {
                continue;
            }
            let at = py as usize * stride + px as usize;
            if pixel.shade & FULL != 0 || self.pixels[at] == background {
                if let Some(index) = lut[usize::from(pixel.shade & !FULL).min(SHADES)] {
                    self.pixels[at] = index;
                }
            } else {
                self.put((px, py), colour.mix(f64::from(pixel.a)));
            }
        }
    }

    /// Sets the pixels of columns `xs` and rows `ys` (inclusive, clipped to
    /// the image) to `index`.
    fn fill_span(&mut self, xs: (i32, i32), ys: (i32, i32), index: u8) {
        let x0 = xs.0.max(0);
        let x1 = xs.1.min(self.width as i32 - 1);
        let y0 = ys.0.max(0);
        let y1 = ys.1.min(self.height as i32 - 1);
        if x0 > x1 || y0 > y1 {
            return;
        }
        self.touch((x0, y0, x1, y1));
        let stride = self.width as usize;
        for y in y0 as usize..=y1 as usize {
            self.pixels[y * stride + x0 as usize..=y * stride + x1 as usize].fill(index);
        }
    }

    fn put(&mut self, (x, y): BackendCoord, colour: BackendColor) {
        if x < 0 || y < 0 || x as u32 >= self.width || y as u32 >= self.height {
            return;
        }
        let at = y as usize * self.width as usize + x as usize;
        if let Some(i) = self.palette.index(colour, self.pixels[at]) {
            self.touch((x, y, x, y));
            self.pixels[at] = i;
        }
    }
}

impl DrawingBackend for PaletteBackend<'_> {
    type ErrorType = Infallible;

    fn get_size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Infallible>> {
        Ok(())
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Infallible>> {
        Ok(())
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        colour: BackendColor,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        self.put(point, colour);
        Ok(())
    }

    /// An opaque one-pixel horizontal or vertical line (the grid, the axes,
    /// the ticks) is set directly, endpoints included as `plotters` draws it.
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let colour = style.color();
        let straight = from.0 == to.0 || from.1 == to.1;
        if colour.alpha < 1.0 || !straight || style.stroke_width() == 0 {
            return plotters_backend::rasterizer::draw_line(self, from, to, style);
        }
        let Some(index) = self.palette.index(colour, self.palette.background) else {
            return Ok(());
        };
        if style.stroke_width() != 1 {
            return match thick_line_cover(from, to, style.stroke_width()) {
                Some((xs, ys)) => {
                    self.fill_span(xs, ys, index);
                    Ok(())
                }
                None => plotters_backend::rasterizer::draw_line(self, from, to, style),
            };
        }
        let (w, h) = (self.width as i32, self.height as i32);
        let stride = self.width as usize;
        if from.1 == to.1 {
            let (x0, x1) = (from.0.min(to.0).max(0), from.0.max(to.0).min(w - 1));
            if (0..h).contains(&from.1) && x0 <= x1 {
                self.touch((x0, from.1, x1, from.1));
                let row = from.1 as usize * stride;
                self.pixels[row + x0 as usize..=row + x1 as usize].fill(index);
            }
        } else {
            let (y0, y1) = (from.1.min(to.1).max(0), from.1.max(to.1).min(h - 1));
            if (0..w).contains(&from.0) && y0 <= y1 {
                self.touch((from.0, y0, from.0, y1));
                for y in y0..=y1 {
                    self.pixels[y as usize * stride + from.0 as usize] = index;
                }
            }
        }
        Ok(())
    }

    /// A filled rectangle covers `[left, right) x [top, bottom)`, as
    /// `plotters`' bitmap fills it; an opaque one is a `memset` per row.
    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        if !fill {
            return plotters_backend::rasterizer::draw_rect(
                self,
                upper_left,
                bottom_right,
                style,
                fill,
            );
        }
        let colour = style.color();
        let (w, h) = (self.width as i32, self.height as i32);
        let x0 = upper_left.0.min(bottom_right.0).max(0);
        let y0 = upper_left.1.min(bottom_right.1).max(0);
        let x1 = upper_left.0.max(bottom_right.0).min(w);
        let y1 = upper_left.1.max(bottom_right.1).min(h);
        if x0 >= x1 || y0 >= y1 {
            return Ok(());
        }
        if colour.alpha < 1.0 {
            for y in y0..y1 {
                for x in x0..x1 {
                    self.put((x, y), colour);
                }
            }
            return Ok(());
        }
        let Some(index) = self.palette.index(colour, self.palette.background) else {
            return Ok(());
        };
        self.touch((x0, y0, x1 - 1, y1 - 1));
        let (x0, x1, stride) = (x0 as usize, x1 as usize, self.width as usize);
        for y in y0 as usize..y1 as usize {
            self.pixels[y * stride + x0..y * stride + x1].fill(index);
        }
        Ok(())
    }

    /// Text as `plotters` draws it (the same layout, anchor and transform),
    /// from the glyph cache.
    fn draw_text<T: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let colour = style.color();
        if colour.alpha == 0.0 {
            return Ok(());
        }
        let Ok(font) = super::font() else {
            return Ok(());
        };
        let Ok(((min_x, min_y), (max_x, max_y))) = style.layout_box(text) else {
            return Ok(());
        };
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let size = style.size();
        let rgb = [colour.rgb.0, colour.rgb.1, colour.rgb.2];
        let ramp = self.palette.ramp(rgb).map(|(full, steps)| (full, *steps));
        // An opaque text colour upright (every chart's text but the y axis
        // title): the index of each glyph shade over the background looked
        // up, not worked out per pixel. `None` where the shade draws nothing.
        let upright = match (ramp, colour.alpha >= 1.0, &transform) {
            #[cfg(test)]
            _ if tests::GENERAL_TEXT.get() => None,
            (Some((full, steps)), true, FontTransform::None) => {
                let mut lut = [None; SHADES + 1];
                lut[SHADES] = Some(full);
                for (level, step) in steps.iter().enumerate() {
                    lut[level + 1] = Some(*step);
                }
                Some(lut)
            }
            _ => None,
        };
        let background = self.palette.background;
        let (w, h, stride) = (self.width as i32, self.height as i32, self.width as usize);
        let scaled = font.as_scaled(size as f32);
        let mut caret = 0f32;
        let mut prev = None;
        for c in text.chars() {
            let Some(g) = glyph(c, size) else {
                // Without the font nothing is drawn (it was loaded before).
                continue;
            };
            if let Some(p) = prev {
                caret += scaled.kern(p, g.id);
            }
            prev = Some(g.id);
            let x_shift = caret as i32;
            if let Some(lut) = &upright {
                let origin = (pos.0 + x_shift + dx - min_x, pos.1 + g.y_shift + dy - min_y);
                self.upright_glyph(&g, origin, lut, colour);
                caret += g.advance;
                continue;
            }
            for pixel in &g.pixels {
                let (gx, gy) = (i32::from(pixel.x), i32::from(pixel.y));
                let (tx, ty) =
                    transform.transform(gx + x_shift + dx - min_x, gy + g.y_shift + dy - min_y);
                let (px, py) = (pos.0 + tx, pos.1 + ty);
                if px < 0 || py < 0 || px >= w || py >= h {
                    continue;
                }
                let at = py as usize * stride + px as usize;
                // The text colour's own shades over the background
                // without a search (an opaque colour's from the glyph
                // cache); anything else as `put` does it.
                let covered = colour.mix(f64::from(pixel.a));
                // A colour's alpha is at most 1: this is an opaque colour,
                // whose coverage is the glyph's own.
                let (level, full_cover) = if colour.alpha >= 1.0 {
                    (usize::from(pixel.shade & !FULL), pixel.shade & FULL != 0)
                } else {
                    (level(covered.alpha), covered.alpha >= 1.0)
                };
                match ramp {
                    Some((full, steps)) if full_cover || self.pixels[at] == background => {
                        if level >= SHADES {
                            self.touch((px, py, px, py));
                            self.pixels[at] = full;
                        } else if level > 0 {
                            self.touch((px, py, px, py));
                            self.pixels[at] = steps[level - 1];
                        }
                    }
                    _ => self.put((px, py), covered),
                }
            }
            caret += g.advance;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::theme::Language;
    use plotters::style::text_anchor::Pos;

    thread_local! {
        /// Set: text is drawn by the general loop only (what the upright
        /// loop is compared with).
        pub(super) static GENERAL_TEXT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    // REQ-CH-009: upright text in an opaque colour, drawn by the loop that
    // looks its shades up, sets the indices the general loop sets: over the
    // background, over a grid line and a bar it crosses, and clipped at the
    // canvas' edges.
    #[test]
    fn upright_text_draws_what_the_general_loop_draws() {
        super::super::font().unwrap();
        let theme = Theme::default();
        let palette = Palette::of(&theme);
        let (w, h) = (300u32, 90u32);
        let draw = |general: bool| {
            GENERAL_TEXT.set(general);
            let mut indices = vec![0u8; (w * h) as usize];
            {
                let root = PaletteBackend::new(&mut indices, (w, h), &palette).into_drawing_area();
                root.fill(&RGBColor(
                    theme.background.0,
                    theme.background.1,
                    theme.background.2,
                ))
                .unwrap();
                let grid = RGBColor(theme.grid.0, theme.grid.1, theme.grid.2);
                root.draw(&PathElement::new(vec![(0, 20), (299, 20)], grid))
                    .unwrap();
                let bar = RGBColor(theme.bar.0, theme.bar.1, theme.bar.2);
                root.draw(&Rectangle::new([(40, 50), (70, 89)], bar.filled()))
                    .unwrap();
                for (n, (text, size, c, at)) in [
                    ("佐藤 太郎 2025年", 30.0, theme.title, (4, 6)),
                    ("合計 12 本 · 直近12か月", 17.0, theme.text, (-9, 55)),
                    ("Through Nov 2026", 17.0, theme.text, (220, 80)),
                ]
                .into_iter()
                .enumerate()
                {
                    let style = TextStyle {
                        font: (super::super::FONT_FAMILY, size).into_font(),
                        color: RGBColor(c.0, c.1, c.2).to_backend_color(),
                        pos: Pos::new(HPos::Left, if n == 0 { VPos::Top } else { VPos::Center }),
                    };
                    root.draw_text(text, &style, at).unwrap();
                }
            }
            GENERAL_TEXT.set(false);
            indices
        };
        let (general, upright) = (draw(true), draw(false));
        assert!(general.iter().any(|&i| i != palette.background()));
        assert!(general == upright);
    }

    fn rgb_of(palette: &Palette, indices: &[u8]) -> Vec<u8> {
        indices
            .iter()
            .flat_map(|&i| palette.colours[usize::from(i)])
            .collect()
    }

    // REQ-CH-009: the palette is the theme's colours and their text shades,
    // the same for every chart of a theme, within PNG's 256 entries.
    // REQ-CH-002: wide grid lines (the compact charts' strokes are two
    // pixels) are filled directly with what `plotters`' polygon fill covers,
    // pixel for pixel: every direction, stroke and length, partly outside the
    // image. (Axes and ticks are paths, which `plotters` polygonises itself.)
    #[test]
    fn thick_lines_cover_what_plotters_fills() {
        let theme = Theme::default();
        let palette = Palette::of(&theme);
        let (w, h) = (40u32, 30u32);
        let grid = RGBColor(theme.grid.0, theme.grid.1, theme.grid.2);
        let mut cases = 0;
        for stroke in 2..=5u32 {
            let style = ShapeStyle::from(&grid).stroke_width(stroke);
            for (x, y) in [(0, 0), (5, 7), (-3, 12), (20, -2), (38, 29), (17, 15)] {
                for len in [1, 2, 3, 4, 7, 25, 60] {
                    for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                        let (from, to) = ((x, y), (x + dx * len, y + dy * len));
                        let mut ours = vec![0u8; (w * h) as usize];
                        let mut theirs = vec![0u8; (w * h) as usize];
                        PaletteBackend::new(&mut ours, (w, h), &palette)
                            .draw_line(from, to, &style)
                            .unwrap();
                        plotters_backend::rasterizer::draw_line(
                            &mut PaletteBackend::new(&mut theirs, (w, h), &palette),
                            from,
                            to,
                            &style,
                        )
                        .unwrap();
                        assert!(ours == theirs, "{from:?} -> {to:?} stroke {stroke}");
                        cases += 1;
                    }
                }
            }
        }
        assert_eq!(cases, 4 * 6 * 7 * 4);
    }

    #[test]
    fn a_theme_has_one_small_palette() {
        for theme in [
            Theme::default(),
            Theme {
                language: Language::En,
                scale: 2,
                ..Theme::default()
            },
        ] {
            let p = Palette::of(&theme);
            assert!(p.colours.len() <= 256);
            assert_eq!(p.colours.len(), 7 + 2 * (SHADES - 1));
            assert_eq!(p.colours, Palette::of(&theme).colours);
            assert_eq!(p.colours[usize::from(p.background())], [255, 255, 255]);
        }
    }

    // REQ-CH-009: text drawn from the glyph cache onto palette indices looks
    // as plotters' own bitmap draws it: no channel further than 8 from the
    // exact blend anywhere (16 shades: at most 1/32 of the way between text
    // and background).
    #[test]
    fn text_from_the_glyph_cache_matches_plotters_bitmap_text() {
        super::super::font().unwrap();
        let theme = Theme::default();
        let palette = Palette::of(&theme);
        let (w, h) = (400u32, 80u32);
        let style = |size: f64, c: Rgb| TextStyle {
            font: (super::super::FONT_FAMILY, size).into_font(),
            color: RGBColor(c.0, c.1, c.2).to_backend_color(),
            pos: Pos::new(HPos::Left, VPos::Top),
        };
        let texts = [
            ("佐藤 太郎 2025年", 30.0, theme.title),
            ("合計 12 本 · 直近12か月", 17.0, theme.text),
        ];
        let mut exact = vec![255u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut exact, (w, h)).into_drawing_area();
            for (n, (t, size, c)) in texts.iter().enumerate() {
                root.draw_text(t, &style(*size, *c), (4, 4 + 36 * n as i32))
                    .unwrap();
            }
        }
        let mut indices = vec![palette.background(); (w * h) as usize];
        {
            let root = PaletteBackend::new(&mut indices, (w, h), &palette).into_drawing_area();
            // Twice: the second time every glyph comes from the cache.
            for _ in 0..2 {
                root.fill(&WHITE).unwrap();
                for (n, (t, size, c)) in texts.iter().enumerate() {
                    root.draw_text(t, &style(*size, *c), (4, 4 + 36 * n as i32))
                        .unwrap();
                }
            }
        }
        let drawn = rgb_of(&palette, &indices);
        let worst = exact
            .iter()
            .zip(&drawn)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 8, "a channel differs by {worst}");
        let touched = |px: &[u8]| px.chunks_exact(3).filter(|p| *p != [255, 255, 255]).count();
        let (a, b) = (touched(&exact), touched(&drawn));
        // A coverage under 1/32 rounds to the background (within 8 of it).
        assert!(
            b * 100 >= a * 95 && b <= a,
            "{a} pixels drawn by plotters, {b} here"
        );
    }
}
