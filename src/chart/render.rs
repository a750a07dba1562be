//! The drawing itself: header (title, subtitle, legend), the bar plot with a
//! light grid and whole-number y axis, year ticks under the x axis, and a footer
//! that says when and in which time zone the months were counted.

use plotters::coord::Shift;
use plotters::coord::types::{RangedCoordf64, RangedCoordu32};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::encode::with_palette;
use super::palette::{Palette, PaletteBackend, Rect, Watch};
use super::theme::{Language, Rgb, Theme};
use super::{ChartError, FONT_FAMILY, drawable_text, encode_indexed, font};
use crate::tally::{Month, MonthlyCounts};

type Area<'a> = DrawingArea<PaletteBackend<'a>, Shift>;
type DrawResult<T> = Result<T, String>;

/// Draws `data` with `theme` and returns the PNG bytes.
pub fn render_chart(data: &MonthlyCounts, theme: &Theme) -> Result<Vec<u8>, ChartError> {
    draw_encoded(data, theme, &Palette::of(theme))
}

/// Draws `data` in the light and the dark theme: once, when the two themes
/// differ only in colours that share the same palette roles (the dark chart
/// is then the light one's PNG with the dark `PLTE`, the same pixels in the
/// dark colours), else twice.
pub fn render_light_and_dark(
    data: &MonthlyCounts,
    light: &Theme,
    dark: &Theme,
) -> Result<(Vec<u8>, Vec<u8>), ChartError> {
    let (lp, dp) = (Palette::of(light), Palette::of(dark));
    let light_png = draw_encoded(data, light, &lp)?;
    let same_drawing = Theme {
        background: light.background,
        bar: light.bar,
        current_bar: light.current_bar,
        title: light.title,
        text: light.text,
        grid: light.grid,
        axis: light.axis,
        ..dark.clone()
    } == *light;
    if same_drawing
        && lp.same_roles(&dp)
        && let Some(dark_png) = with_palette(&light_png, &dp.plte())
    {
        return Ok((light_png, dark_png));
    }
    Ok((light_png, draw_encoded(data, dark, &dp)?))
}

/// Draws `data` with `theme` as indices into `palette` and encodes them.
fn draw_encoded(
    data: &MonthlyCounts,
    theme: &Theme,
    palette: &Palette,
) -> Result<Vec<u8>, ChartError> {
    let (width, height) = theme.pixels();
    with_canvas(width as usize * height as usize, |pixels| {
        draw_into(pixels, data, theme, palette)?;
        Ok(encode_indexed(pixels, width, height, palette.plte())?)
    })
}

thread_local! {
    /// The canvases of this drawing thread, reused from chart to chart: a
    /// fresh buffer had to be zeroed (and was then covered by the background
    /// at once) for every chart.
    static CANVASES: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Canvases kept per thread: the two sizes an author's images come in (full
/// and compact; light and dark share each).
const KEPT_CANVASES: usize = 2;

/// The largest canvas kept between charts (8 MB; the default full and compact
/// charts take 0.7 and 0.35 MB). A larger one, from a theme of huge or many-times-scaled
/// images, is allocated per chart as before, so a thread never holds more
/// than `KEPT_CANVASES` of these beside the chart it draws.
const MAX_KEPT_CANVAS: usize = 8 << 20;

/// Runs `draw` on a canvas of `len` pixels, this thread's own of that size
/// when it has one (its values are whatever the last chart of that size
/// left: every drawing starts with the background over all of them).
fn with_canvas<T>(len: usize, draw: impl FnOnce(&mut [u8]) -> T) -> T {
    let kept = CANVASES.with(|c| {
        let mut canvases = c.borrow_mut();
        let at = canvases.iter().position(|c| c.len() == len)?;
        Some(canvases.swap_remove(at))
    });
    let mut canvas = kept.unwrap_or_else(|| vec![0u8; len]);
    let out = draw(&mut canvas);
    if len <= MAX_KEPT_CANVAS {
        CANVASES.with(|c| {
            let mut canvases = c.borrow_mut();
            if canvases.len() >= KEPT_CANVASES {
                canvases.remove(0);
            }
            canvases.push(canvas);
        });
    }
    out
}

/// Draws `data` with `theme` as indices into `palette`, over all of `pixels`.
fn draw_into(
    pixels: &mut [u8],
    data: &MonthlyCounts,
    theme: &Theme,
    palette: &Palette,
) -> Result<(), ChartError> {
    font()?;
    let title = match drawable_text(&data.display_name)? {
        t if t.is_empty() => data.slug.clone(),
        t => t,
    };
    if !data.months.is_empty()
        && !drawn_whole_always(theme)
        && draw_on_template(pixels, data, &title, theme, palette)?
    {
        return Ok(());
    }
    draw_whole(pixels, data, &title, theme, palette)
}

/// Draws every part of the chart, in order, over all of `pixels`.
fn draw_whole(
    pixels: &mut [u8],
    data: &MonthlyCounts,
    title: &str,
    theme: &Theme,
    palette: &Palette,
) -> Result<(), ChartError> {
    let root = PaletteBackend::new(pixels, theme.pixels(), palette).into_drawing_area();
    draw(&root, data, title, theme).map_err(ChartError::Draw)?;
    root.present().map_err(|e| ChartError::Draw(e.to_string()))
}

/// The parts of a chart that every author drawn with one theme, y axis and
/// footer shares: the background, the grid with its y axis (labels, title,
/// axis lines) and the footer, drawn once per drawing thread and painted
/// under each later chart instead of drawn again (a third of a chart's
/// drawing time). Kept as its spans of pixels that are not background: a
/// grid line is one span of one colour, text a few spans of its pixels;
/// about 10 KB, not the canvas.
struct Template {
    theme: Theme,
    axis: (u32, u32),
    footer: String,
    spans: Vec<Span>,
    /// The pixels of the spans that are not of one colour.
    bytes: Vec<u8>,
    /// The box around the grid's pixels, and around the footer's.
    grid_box: Option<Rect>,
    footer_box: Option<Rect>,
}

impl Template {
    fn is_for(&self, theme: &Theme, axis: (u32, u32), footer: &str) -> bool {
        self.axis == axis && self.footer == footer && self.theme == *theme
    }

    /// `pixels` as the template drew them.
    fn paint(&self, pixels: &mut [u8], background: u8) {
        pixels.fill(background);
        for span in &self.spans {
            let (at, len) = (span.at as usize, span.len as usize);
            match span.pixels {
                Pixels::All(index) => pixels[at..at + len].fill(index),
                Pixels::From(from) => {
                    let from = from as usize;
                    pixels[at..at + len].copy_from_slice(&self.bytes[from..from + len]);
                }
            }
        }
    }

    fn weight(&self) -> usize {
        self.bytes.len() + self.spans.len() * std::mem::size_of::<Span>()
    }

    /// A span of `row`'s pixels `part` as they are (the row starting at
    /// `row_at` in the canvas).
    fn keep_pixels(
        spans: &mut Vec<Span>,
        bytes: &mut Vec<u8>,
        row: &[u8],
        row_at: usize,
        part: std::ops::Range<usize>,
    ) {
        spans.push(Span {
            at: (row_at + part.start) as u32,
            len: part.len() as u32,
            pixels: Pixels::From(bytes.len() as u32),
        });
        bytes.extend_from_slice(&row[part]);
    }

    /// The spans of `pixels` (rows `width` long) that are not `background`;
    /// a gap of background shorter than [`SPAN_GAP`] does not end a span.
    fn spans_of(pixels: &[u8], width: usize, background: u8) -> (Vec<Span>, Vec<u8>) {
        let (mut spans, mut bytes) = (Vec::new(), Vec::new());
        for (y, row) in pixels.chunks_exact(width).enumerate() {
            let mut x = 0;
            while let Some(first) = row[x..].iter().position(|&p| p != background) {
                let start = x + first;
                let mut end = start + 1;
                // Extended while drawn pixels come within SPAN_GAP.
                while let Some(next) = row[end..]
                    .iter()
                    .take(SPAN_GAP)
                    .position(|&p| p != background)
                {
                    end += next + 1;
                }
                // Within it, a run of one index as long as a gap is a span
                // of its own (a grid line beside its label); the shorter
                // runs between such spans are kept as their pixels.
                let row_at = y * width;
                let mut literal = None;
                let mut at = start;
                while at < end {
                    let run = row[at..end].iter().take_while(|&&p| p == row[at]).count();
                    if run >= SPAN_GAP {
                        if let Some(from) = literal.take() {
                            Template::keep_pixels(&mut spans, &mut bytes, row, row_at, from..at);
                        }
                        spans.push(Span {
                            at: (row_at + at) as u32,
                            len: run as u32,
                            pixels: Pixels::All(row[at]),
                        });
                    } else {
                        literal.get_or_insert(at);
                    }
                    at += run;
                }
                if let Some(from) = literal {
                    Template::keep_pixels(&mut spans, &mut bytes, row, row_at, from..end);
                }
                x = end;
            }
        }
        (spans, bytes)
    }
}

/// Pixels of a template in one row: where they start in the canvas, how
/// many, and what they are. A canvas has fewer than 2^32 pixels (the
/// theme's bounds: 16,000 x 12,000 at most).
#[derive(Debug, Clone, Copy)]
struct Span {
    at: u32,
    len: u32,
    pixels: Pixels,
}

#[derive(Debug, Clone, Copy)]
enum Pixels {
    /// All of one index (a grid or axis line).
    All(u8),
    /// As many as the span from this offset in [`Template::bytes`].
    From(u32),
}

/// Background pixels that end a template's span: fewer are kept inside it
/// (a span costs as much as this many pixels).
const SPAN_GAP: usize = 12;

thread_local! {
    /// This drawing thread's templates, newest last.
    static TEMPLATES: std::cell::RefCell<Vec<std::rc::Rc<Template>>> =
        const { std::cell::RefCell::new(Vec::new()) };
    /// The themes this thread draws whole: one whose parts met over a
    /// template (they would meet again, and each chart be drawn twice), or
    /// whose template is too heavy to keep (each chart would make it anew).
    static WHOLE: std::cell::RefCell<Vec<Theme>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The most themes [`WHOLE`] remembers (the oldest forgotten).
const MAX_WHOLE_THEMES: usize = 8;

/// Whether this thread draws charts of `theme` whole.
fn drawn_whole_always(theme: &Theme) -> bool {
    WHOLE.with(|w| w.borrow().contains(theme))
}

/// From now on this thread draws charts of `theme` whole.
fn draw_whole_from_now(theme: &Theme) {
    WHOLE.with(|w| {
        let mut whole = w.borrow_mut();
        if !whole.contains(theme) {
            if whole.len() >= MAX_WHOLE_THEMES {
                whole.remove(0);
            }
            whole.push(theme.clone());
        }
    });
}

/// The template bytes a drawing thread keeps (the oldest go first): dozens
/// of y axes of the default charts.
const MAX_TEMPLATE_BYTES: usize = 512 << 10;

/// Draws `data` over the template for its theme, y axis and footer (made,
/// and kept for the next chart, when there is none yet). The template's
/// parts are drawn before the title and subtitle and the footer before the
/// bars and the x axis, where the whole drawing has them after: so every
/// shape drawn over the template is watched, and `false` (the canvas to be
/// drawn whole) when one came into the box of a part it would have been
/// drawn under or over in the other order. Apart, no pixel of one part is
/// a pixel of the other, and the order changes nothing.
fn draw_on_template(
    pixels: &mut [u8],
    data: &MonthlyCounts,
    title: &str,
    theme: &Theme,
    palette: &Palette,
) -> Result<bool, ChartError> {
    let axis = y_axis(tallest(data));
    let footer_line = footer(data, theme.language);
    let kept = TEMPLATES.with(|t| {
        t.borrow()
            .iter()
            .find(|t| t.is_for(theme, axis, &footer_line))
            .cloned()
    });
    let template = if let Some(template) = kept {
        template.paint(pixels, palette.background());
        template
    } else {
        let made = make_template(pixels, data, theme, palette, axis, footer_line)?;
        let template = std::rc::Rc::new(made);
        if template.weight() > MAX_TEMPLATE_BYTES / 4 {
            // Kept, it would push out most others; used once, it costs more
            // than it saves.
            draw_whole_from_now(theme);
            return Ok(false);
        }
        TEMPLATES.with(|t| {
            let mut kept = t.borrow_mut();
            kept.push(template.clone());
            while kept.iter().map(|t| t.weight()).sum::<usize>() > MAX_TEMPLATE_BYTES {
                kept.remove(0);
            }
        });
        template
    };
    let watch = Watch::default();
    let root = PaletteBackend::new(pixels, theme.pixels(), palette)
        .watched(&watch)
        .into_drawing_area();
    let canvas = Canvas::new(&root, data, theme);
    watch.keep_off([template.grid_box, template.footer_box]);
    canvas.header(title).map_err(ChartError::Draw)?;
    if watch.hit() {
        draw_whole_from_now(theme);
        return Ok(false);
    }
    watch.keep_off([template.footer_box, None]);
    let plot = canvas.plot();
    let chart = canvas.coords(&plot).map_err(ChartError::Draw)?;
    canvas.bars(&chart).map_err(ChartError::Draw)?;
    canvas.x_axis(&chart).map_err(ChartError::Draw)?;
    root.present()
        .map_err(|e| ChartError::Draw(e.to_string()))?;
    if watch.hit() {
        draw_whole_from_now(theme);
    }
    Ok(!watch.hit())
}

/// Draws the template's parts (background, grid, footer) over all of
/// `pixels`, and keeps them.
fn make_template(
    pixels: &mut [u8],
    data: &MonthlyCounts,
    theme: &Theme,
    palette: &Palette,
    axis: (u32, u32),
    footer: String,
) -> Result<Template, ChartError> {
    let watch = Watch::default();
    let (grid_box, footer_box) = {
        let root = PaletteBackend::new(pixels, theme.pixels(), palette)
            .watched(&watch)
            .into_drawing_area();
        root.fill(&colour(theme.background))
            .map_err(|e| ChartError::Draw(e.to_string()))?;
        let canvas = Canvas::new(&root, data, theme);
        watch.record();
        let plot = canvas.plot();
        let mut chart = canvas.coords(&plot).map_err(ChartError::Draw)?;
        canvas.mesh(&mut chart).map_err(ChartError::Draw)?;
        let grid_box = watch.recorded();
        watch.record();
        canvas.footer().map_err(ChartError::Draw)?;
        let footer_box = watch.recorded();
        root.present()
            .map_err(|e| ChartError::Draw(e.to_string()))?;
        (grid_box, footer_box)
    };
    let (spans, bytes) =
        Template::spans_of(pixels, theme.pixels().0 as usize, palette.background());
    Ok(Template {
        theme: theme.clone(),
        axis,
        footer,
        spans,
        bytes,
        grid_box,
        footer_box,
    })
}

/// The most posts in one month.
fn tallest(data: &MonthlyCounts) -> u32 {
    data.months.iter().map(|m| m.posts).max().unwrap_or(0)
}

/// Draws `data` with `theme` as indices into `palette` (the tests' view of
/// the pixels before encoding).
#[cfg(test)]
fn draw_indices(
    data: &MonthlyCounts,
    theme: &Theme,
    palette: &Palette,
) -> Result<Vec<u8>, ChartError> {
    let (width, height) = theme.pixels();
    let mut pixels = vec![0u8; width as usize * height as usize];
    draw_into(&mut pixels, data, theme, palette)?;
    Ok(pixels)
}

fn colour(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

fn text_style(theme: &Theme, size: u32, c: Rgb) -> TextStyle<'static> {
    TextStyle {
        font: (FONT_FAMILY, f64::from(theme.px(size))).into_font(),
        color: colour(c).to_backend_color(),
        pos: Pos::new(HPos::Left, VPos::Top),
    }
}

/// Words of the chart in the theme's language.
struct Labels {
    posts_axis: &'static str,
    current_month: &'static str,
}

fn labels(language: Language) -> Labels {
    match language {
        Language::Ja => Labels {
            posts_axis: "投稿数",
            current_month: "今月 (集計中)",
        },
        Language::En => Labels {
            posts_axis: "Posts",
            current_month: "This month (in progress)",
        },
    }
}

fn month_name(m: Month, language: Language) -> String {
    let (year, month) = (m.year(), m.month());
    match language {
        Language::Ja => format!("{year}年{month}月"),
        Language::En => {
            const NAMES: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let name = NAMES.get(month.wrapping_sub(1) as usize).unwrap_or(&"?");
            format!("{name} {year}")
        }
    }
}

fn subtitle(data: &MonthlyCounts, language: Language) -> String {
    let first = data
        .first_month()
        .map(|m| month_name(m, language))
        .unwrap_or_default();
    let recent = data.last_months_total(12);
    match language {
        Language::Ja => format!(
            "合計 {} 本 · 初投稿 {first} · 直近12か月 {recent} 本",
            data.total
        ),
        Language::En => {
            let s = if data.total == 1 { "" } else { "s" };
            format!(
                "{} post{s} · first post {first} · {recent} in the last 12 months",
                data.total
            )
        }
    }
}

/// The compact chart's subtitle: the total and the last twelve months.
fn short_subtitle(data: &MonthlyCounts, language: Language) -> String {
    let recent = data.last_months_total(12);
    match language {
        Language::Ja => format!("合計 {} 本 · 直近12か月 {recent} 本", data.total),
        Language::En => {
            let s = if data.total == 1 { "" } else { "s" };
            format!("{} post{s} · {recent} in 12 months", data.total)
        }
    }
}

/// The months the chart covers and the zone they were counted in. It names
/// the last month counted, not the day of the run that drew it: a chart is
/// drawn again only when what it shows changes (a new month among them), so a
/// day would read as stale on a chart that every later run confirmed.
fn footer(data: &MonthlyCounts, language: Language) -> String {
    let zone = &data.time_zone;
    let through = data.months.last().map(|m| month_name(m.month, language));
    match (language, through) {
        (Language::Ja, Some(last)) => format!("{last}まで · 月は {zone} で集計"),
        (Language::Ja, None) => format!("月は {zone} で集計"),
        (Language::En, Some(last)) => format!("Through {last}, months in {zone}"),
        (Language::En, None) => format!("Months in {zone}"),
    }
}

/// The line under an empty chart's title.
fn no_posts(language: Language) -> &'static str {
    match language {
        Language::Ja => "まだ投稿はありません",
        Language::En => "No posts yet",
    }
}

/// Shortens `text` with an ellipsis to the longest prefix that fits `max_width`
/// pixels. The prefix is found by galloping then bisecting over its length, so a
/// hostile 100,000-character name costs one measurement of the whole and a few
/// dozen of short prefixes, not one of the whole per dropped character.
fn fit(root: &Area<'_>, text: &str, style: &TextStyle<'_>, max_width: u32) -> DrawResult<String> {
    let width = |t: &str| {
        root.estimate_text_size(t, style)
            .map(|(w, _)| w)
            .map_err(|e| e.to_string())
    };
    if width(text)? <= max_width {
        return Ok(text.to_string());
    }
    let chars: Vec<char> = text.chars().collect();
    let candidate = |k: usize| format!("{}…", chars[..k].iter().collect::<String>().trim_end());
    let fits = |k: usize| width(&candidate(k)).map(|w| w <= max_width);
    // Widths grow with the prefix. `lo` fits; `hi` does not, or is the whole
    // text (which was measured above and does not fit).
    let n = chars.len();
    let (mut lo, mut hi) = (0, n);
    let mut step = 1;
    while lo + step < n {
        if fits(lo + step)? {
            lo += step;
            step *= 2;
        } else {
            hi = lo + step;
            break;
        }
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(candidate(lo))
}

/// A y-axis top and step in whole posts: 1, 2 or 5 times a power of ten, about
/// five steps, strictly above the tallest bar's grid line when it sits on one.
pub(crate) fn y_axis(max: u32) -> (u32, u32) {
    if max <= 5 {
        return (max + 1, 1);
    }
    let rough = f64::from(max) / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude) as u32;
    let top = max.div_ceil(step) * step;
    (if top == max { top + step } else { top }, step)
}

/// Every how many years a year is labelled: 1 while each year's label fits
/// its own months (`year_px` wide), else the smallest of 2, 5, 10, 20, 50
/// years whose span fits a label `label_px` wide.
pub(crate) fn year_stride(year_px: f64, label_px: f64) -> i32 {
    if year_px >= label_px {
        return 1;
    }
    [2, 5, 10, 20, 50]
        .into_iter()
        .find(|&k| f64::from(k) * year_px >= label_px)
        .unwrap_or(100)
}

/// Where the parts of a chart go, in pixels, decided once from the theme.
struct Layout {
    width: i32,
    height: i32,
    margin: i32,
    /// Top of the subtitle line (and of the legend).
    subtitle_y: i32,
    /// Top of the plot area.
    plot_top: i32,
    /// Height kept under the plot for the footer.
    footer_h: i32,
}

impl Layout {
    fn of(theme: &Theme) -> Self {
        let (width, height) = theme.pixels();
        let margin = theme.px(theme.margin) as i32;
        let subtitle_y = margin + theme.px(theme.title_size + theme.title_size / 2) as i32;
        Layout {
            width: width as i32,
            height: height as i32,
            margin,
            subtitle_y,
            plot_top: subtitle_y + theme.px(theme.subtitle_size * 2) as i32,
            footer_h: theme.px(theme.label_size * 2) as i32,
        }
    }
}

type Chart<'a, 'b> =
    ChartContext<'a, PaletteBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordu32>>;

fn area_error<E: std::error::Error + Send + Sync>(err: DrawingAreaErrorKind<E>) -> String {
    err.to_string()
}

/// One chart being drawn: what every part needs (the area, the data, the
/// theme and the layout), with one drawer per part.
struct Canvas<'r, 'b> {
    root: &'r Area<'b>,
    data: &'r MonthlyCounts,
    theme: &'r Theme,
    layout: Layout,
}

impl<'r, 'b> Canvas<'r, 'b> {
    fn new(root: &'r Area<'b>, data: &'r MonthlyCounts, theme: &'r Theme) -> Self {
        Canvas {
            root,
            data,
            theme,
            layout: Layout::of(theme),
        }
    }
}

/// Draws the whole chart: header, plot with bars, x axis, footer.
fn draw(root: &Area<'_>, data: &MonthlyCounts, title: &str, theme: &Theme) -> DrawResult<()> {
    let canvas = Canvas::new(root, data, theme);
    root.fill(&colour(theme.background)).map_err(area_error)?;
    if data.months.is_empty() {
        // An author without a post: the name, what there is to say, the zone.
        canvas.title(title)?;
        let style = text_style(theme, theme.subtitle_size, theme.text);
        root.draw_text(
            no_posts(theme.language),
            &style.pos(Pos::new(HPos::Center, VPos::Center)),
            (canvas.layout.width / 2, canvas.layout.height / 2),
        )
        .map_err(area_error)?;
        return canvas.footer();
    }
    canvas.header(title)?;
    let plot = canvas.plot();
    let mut chart = canvas.coords(&plot)?;
    canvas.mesh(&mut chart)?;
    canvas.bars(&chart)?;
    canvas.x_axis(&chart)?;
    canvas.footer()
}

impl<'p> Canvas<'_, 'p> {
    /// The title (fitted to the width), the subtitle, and the legend for the
    /// partial month right-aligned on the subtitle's line.
    fn header(&self, title: &str) -> DrawResult<()> {
        let (root, theme, layout) = (self.root, self.theme, &self.layout);
        let e = area_error;
        let margin = layout.margin;
        self.title(title)?;
        let sub_style = text_style(theme, theme.subtitle_size, theme.text);
        let line = if theme.compact {
            // A phone's column has room for the totals, not the first month
            // or the legend; the alt text and the JSON say the rest.
            let line = short_subtitle(self.data, theme.language);
            fit(root, &line, &sub_style, (layout.width - 2 * margin) as u32)?
        } else {
            subtitle(self.data, theme.language)
        };
        root.draw_text(
            &line,
            &sub_style.pos(Pos::new(HPos::Left, VPos::Top)),
            (margin, layout.subtitle_y),
        )
        .map_err(e)?;
        if theme.compact {
            return Ok(());
        }

        let current_month = labels(theme.language).current_month;
        let label_style = text_style(theme, theme.label_size, theme.text);
        let legend_w = root
            .estimate_text_size(current_month, &label_style)
            .map_err(e)?
            .0 as i32;
        let swatch = theme.px(theme.label_size) as i32 * 3 / 4;
        let legend_x = layout.width - margin - legend_w;
        let legend_y = layout.subtitle_y + theme.px(theme.subtitle_size) as i32 / 2;
        root.draw(&Rectangle::new(
            [
                (legend_x - swatch - swatch / 2, legend_y - swatch / 2),
                (legend_x - swatch / 2, legend_y + swatch / 2),
            ],
            colour(theme.current_bar).filled(),
        ))
        .map_err(e)?;
        root.draw_text(
            current_month,
            &label_style.pos(Pos::new(HPos::Left, VPos::Center)),
            (legend_x, legend_y),
        )
        .map_err(e)
    }

    /// The title, fitted to the width, top left.
    fn title(&self, title: &str) -> DrawResult<()> {
        let (root, theme, layout) = (self.root, self.theme, &self.layout);
        let margin = layout.margin;
        let title_style = text_style(theme, theme.title_size, theme.title);
        let title = fit(
            root,
            title,
            &title_style,
            (layout.width - 2 * margin) as u32,
        )?;
        root.draw_text(
            &title,
            &title_style.pos(Pos::new(HPos::Left, VPos::Top)),
            (margin, margin),
        )
        .map_err(area_error)
    }

    /// The area under the header and above the footer: the plot with its
    /// axes' labels.
    fn plot(&self) -> Area<'p> {
        let layout = &self.layout;
        self.root.margin(
            layout.plot_top as u32,
            (layout.footer_h + layout.margin / 2) as u32,
            layout.margin as u32,
            layout.margin as u32,
        )
    }

    /// The coordinate system: the months across, whole posts up. Draws
    /// nothing.
    fn coords<'a, 'b>(&self, plot: &'a Area<'b>) -> DrawResult<Chart<'a, 'b>> {
        let (data, theme) = (self.data, self.theme);
        let n = data.months.len();
        // Short histories keep a sensible bar width by centring in twelve slots.
        let pad = if n < 12 { (12 - n) as f64 / 2.0 } else { 0.0 };
        let (top, _) = y_axis(tallest(data));
        // The compact chart has no axis title: its subtitle says "posts".
        let y_area = if theme.compact { 3 } else { 4 };
        ChartBuilder::on(plot)
            .x_label_area_size(theme.px(theme.label_size * 3))
            .y_label_area_size(theme.px(theme.label_size * y_area))
            .build_cartesian_2d(-pad..n as f64 + pad, 0u32..top)
            .map_err(area_error)
    }

    /// The y axis in whole posts, its light grid and the axis lines: the
    /// same for every history with the same y axis (the months are neither
    /// labelled nor gridded by it).
    fn mesh(&self, chart: &mut Chart<'_, '_>) -> DrawResult<()> {
        let theme = self.theme;
        let e = area_error;
        let (top, step) = y_axis(tallest(self.data));
        let axis_font = text_style(theme, theme.label_size, theme.text);
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh()
            .x_labels(0)
            .y_labels((top / step + 1) as usize)
            .y_label_formatter(&|v| v.to_string());
        if !theme.compact {
            mesh.y_desc(labels(theme.language).posts_axis);
        }
        mesh.axis_desc_style(axis_font.clone())
            .label_style(axis_font)
            .bold_line_style(colour(theme.grid).stroke_width(theme.scale))
            .light_line_style(colour(theme.background))
            .axis_style(colour(theme.axis).stroke_width(theme.scale))
            .draw()
            .map_err(e)
    }

    /// The bars, drawn in pixels so a month with one post stays visible beside a
    /// month with hundreds: every non-empty bar is at least two (scaled) pixels.
    fn bars(&self, chart: &Chart<'_, '_>) -> DrawResult<()> {
        let Canvas {
            root, data, theme, ..
        } = *self;
        let n = data.months.len();
        let gap = if n > 60 { 0.1 } else { 0.15 };
        let min_height = 2 * theme.scale as i32;
        for (i, m) in data.months.iter().enumerate().filter(|(_, m)| m.posts > 0) {
            let fill = if i + 1 == n {
                theme.current_bar
            } else {
                theme.bar
            };
            let (x0, base) = chart.backend_coord(&(i as f64 + gap, 0));
            let (x1, top) = chart.backend_coord(&(i as f64 + 1.0 - gap, m.posts));
            let top = top.min(base - min_height);
            root.draw(&Rectangle::new(
                [(x0, top), (x1.max(x0 + 1), base)],
                colour(fill).filled(),
            ))
            .map_err(area_error)?;
        }
        Ok(())
    }

    /// The x axis: a tick at each year's start, the year centred on its months;
    /// month numbers too when there is room for them.
    fn x_axis(&self, chart: &Chart<'_, '_>) -> DrawResult<()> {
        let Canvas {
            root, data, theme, ..
        } = *self;
        let e = area_error;
        let n = data.months.len();
        let layout_w = self.layout.width;
        let label_style = text_style(theme, theme.label_size, theme.text);
        let x = |i: usize| chart.backend_coord(&(i as f64, 0)).0;
        let px_per_month = (x(1) - x(0)).max(1);
        let axis_y = chart.backend_coord(&(0.0, 0)).1;
        let tick = theme.px(5) as i32;
        let label_h = theme.px(theme.label_size) as i32;
        let show_months = px_per_month >= label_h * 2;
        let year_y = axis_y
            + tick
            + if show_months {
                label_h * 3 / 2
            } else {
                label_h / 2
            };
        let centre = Pos::new(HPos::Center, VPos::Top);
        let year_w = root.estimate_text_size("0000", &label_style).map_err(e)?.0 as i32;
        let stride = year_stride(
            f64::from(x(n) - x(0)) * 12.0 / n as f64,
            f64::from(year_w + tick * 2),
        );
        let mut i = 0;
        while i < n {
            let year = data.months[i].month.year();
            let end = data.months[i..]
                .iter()
                .position(|m| m.month.year() != year)
                .map_or(n, |p| i + p);
            let labelled = year.rem_euclid(stride) == 0;
            let year = format!("{year:04}");
            let (x0, x1) = (x(i), x(end));
            root.draw(&PathElement::new(
                vec![(x0, axis_y), (x0, axis_y + tick * 2)],
                colour(theme.axis).stroke_width(theme.scale),
            ))
            .map_err(e)?;
            let label_w = root.estimate_text_size(&year, &label_style).map_err(e)?.0 as i32;
            if stride == 1 && x1 - x0 >= label_w + tick * 2 {
                root.draw_text(
                    &year,
                    &label_style.pos(centre),
                    (i32::midpoint(x0, x1), year_y),
                )
                .map_err(e)?;
            } else if stride > 1
                && labelled
                && x0 - label_w / 2 >= 0
                && x0 + label_w / 2 <= layout_w
            {
                // Too many years for a label each: every `stride`-th year is
                // labelled at its tick.
                root.draw_text(&year, &label_style.pos(centre), (x0, year_y))
                    .map_err(e)?;
            }
            i = end;
        }
        if show_months {
            for (i, m) in data.months.iter().enumerate() {
                let month = m.month.month().to_string();
                root.draw_text(
                    &month,
                    &label_style.pos(centre),
                    (i32::midpoint(x(i), x(i + 1)), axis_y + tick),
                )
                .map_err(e)?;
            }
        }
        Ok(())
    }

    /// When and in which time zone the months were counted, bottom right.
    fn footer(&self) -> DrawResult<()> {
        let (theme, layout) = (self.theme, &self.layout);
        let label_style = text_style(theme, theme.label_size, theme.text);
        let mut line = footer(self.data, theme.language);
        if theme.compact {
            let room = (layout.width - 2 * layout.margin) as u32;
            line = fit(self.root, &line, &label_style, room)?;
        }
        self.root
            .draw_text(
                &line,
                &label_style.pos(Pos::new(HPos::Right, VPos::Bottom)),
                (
                    layout.width - layout.margin,
                    layout.height - layout.margin / 2,
                ),
            )
            .map_err(area_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::MonthCount;

    /// Fifteen years of uneven months (0-10 posts) by 山田 花子.
    fn fifteen_years() -> MonthlyCounts {
        counts(
            "山田 花子",
            &(0..180).map(|i| (i * 7 % 11) as u32).collect::<Vec<_>>(),
        )
    }

    fn counts(name: &str, months: &[u32]) -> MonthlyCounts {
        let start = crate::tally::Month::new(2011, 1).0;
        MonthlyCounts {
            slug: "some-slug".into(),
            display_name: name.into(),
            time_zone: "Asia/Tokyo".into(),
            as_of: chrono::DateTime::parse_from_rfc3339("2025-11-25T17:45:00Z")
                .unwrap()
                .to_utc(),
            total: months.iter().map(|&n| u64::from(n)).sum(),
            months: months
                .iter()
                .enumerate()
                .map(|(i, &posts)| MonthCount {
                    month: crate::tally::Month(start + i as i32),
                    posts,
                })
                .collect(),
        }
    }

    /// The pixels of `data` drawn whole, every part in order, on a fresh
    /// canvas.
    fn drawn_whole(data: &MonthlyCounts, theme: &Theme) -> Vec<u8> {
        let (width, height) = theme.pixels();
        let mut pixels = vec![0u8; width as usize * height as usize];
        let title = drawable_text(&data.display_name).unwrap();
        draw_whole(&mut pixels, data, &title, theme, &Palette::of(theme)).unwrap();
        pixels
    }

    /// The pixels of `data` drawn over its template, and whether the
    /// template served (`false`: the parts came too near each other).
    fn drawn_on_template(data: &MonthlyCounts, theme: &Theme) -> (Vec<u8>, bool) {
        let (width, height) = theme.pixels();
        let mut pixels = vec![7u8; width as usize * height as usize];
        let title = drawable_text(&data.display_name).unwrap();
        let served =
            draw_on_template(&mut pixels, data, &title, theme, &Palette::of(theme)).unwrap();
        (pixels, served)
    }

    // REQ-CH-002: a chart drawn over the template of its theme, y axis and
    // footer (the first time, as the template is made, and again from the
    // kept template) has the pixels the whole drawing gives it, for
    // histories of every length and height in every image's theme.
    #[test]
    fn the_template_draws_what_the_whole_drawing_does() {
        let themes = crate::chart::Themes::default();
        let mut noise = crate::chart::tests::xorshift(0x9e37_79b9);
        let mut next = |below: u32| noise() % below;
        let mut cases = vec![
            fifteen_years(),
            counts("佐藤 太郎", &[1]),
            counts("", &[0, 0, 4]),
        ];
        for _ in 0..12 {
            let n = 1 + next(200) as usize;
            let high = [3, 12, 60, 400][next(4) as usize];
            let months: Vec<u32> = (0..n).map(|_| next(high)).collect();
            cases.push(counts("Mixed 名前 mix", &months));
        }
        for image in crate::chart::Image::ALL {
            let theme = themes.of(image);
            for data in &cases {
                let whole = drawn_whole(data, &theme);
                for pass in ["made", "kept"] {
                    let (over, served) = drawn_on_template(data, &theme);
                    assert!(served, "{image:?} {pass}: the template did not serve");
                    assert!(
                        over == whole,
                        "{image:?} {pass}: {} months",
                        data.months.len()
                    );
                }
            }
        }
    }

    // REQ-CH-002: one template serves histories of every length that end in
    // the same month with the same y axis (the mesh does not depend on the
    // months: 1, under and over the twelve slots, fifteen years), each drawn
    // as the whole drawing draws it.
    #[test]
    fn one_template_serves_histories_of_every_length() {
        let themes = crate::chart::Themes::default();
        for image in crate::chart::Image::ALL {
            let theme = themes.of(image);
            for len in [1usize, 5, 11, 12, 13, 60, 180, 400] {
                let mut data = counts("佐藤 太郎", &vec![3; len]);
                // Every history ends in the same month: one footer.
                let last = crate::tally::Month::new(2026, 11).0;
                for (i, m) in data.months.iter_mut().enumerate() {
                    m.month = crate::tally::Month(last - (len - 1 - i) as i32);
                }
                data.months[0].posts = 7;
                let whole = drawn_whole(&data, &theme);
                let (over, served) = drawn_on_template(&data, &theme);
                assert!(served, "{image:?}, {len} months");
                assert!(over == whole, "{image:?}, {len} months");
            }
            let kept = TEMPLATES.with(|t| {
                t.borrow()
                    .iter()
                    .filter(|t| t.theme == theme && t.axis == y_axis(7))
                    .count()
            });
            assert_eq!(kept, 1, "{image:?}: one template for every length");
        }
    }

    // REQ-CH-002: where a theme brings a part drawn over the template into
    // the box of one of the template's parts (the subtitle into the top y
    // label, under a label size far larger than the subtitle's), the
    // template does not serve and the chart is drawn whole, as it always was.
    #[test]
    fn parts_too_near_the_template_draw_the_chart_whole() {
        let mut refused = 0;
        for (label_size, subtitle_size) in [(14, 17), (40, 6), (60, 6), (60, 20)] {
            let theme = Theme {
                label_size,
                subtitle_size,
                height: 1200,
                ..Theme::default()
            };
            theme.validate().unwrap();
            for data in [counts("Ann", &[1, 2, 3]), fifteen_years()] {
                let (over, served) = drawn_on_template(&data, &theme);
                if served {
                    assert!(
                        over == drawn_whole(&data, &theme),
                        "label size {label_size}"
                    );
                } else {
                    refused += 1;
                }
                let mut pixels = vec![0u8; over.len()];
                draw_into(&mut pixels, &data, &theme, &Palette::of(&theme)).unwrap();
                assert!(
                    pixels == drawn_whole(&data, &theme),
                    "label size {label_size}"
                );
            }
        }
        assert!(refused > 0, "no theme brought the parts together");
    }

    // REQ-CH-001, REQ-CH-002: the charts themselves (long, short and empty,
    // in every image's theme) carry the filtered rows `png` wrote for them
    // before the encoder was ours, decode to the pixels drawn, and are no
    // larger.
    #[test]
    fn charts_encode_to_the_png_crates_rows() {
        use super::super::encode::{png_crates, tests::indices_of, tests::inflated};
        let themes = crate::chart::Themes::default();
        for data in [
            fifteen_years(),
            counts("Ann", &[0, 3, 1]),
            counts("Empty", &[]),
        ] {
            for image in crate::chart::Image::ALL {
                let theme = themes.of(image);
                let palette = Palette::of(&theme);
                let pixels = draw_indices(&data, &theme, &palette).unwrap();
                let (w, h) = theme.pixels();
                let ours = encode_indexed(&pixels, w, h, palette.plte()).unwrap();
                let theirs = png_crates(&pixels, w, h, palette.plte());
                let name = &data.display_name;
                assert!(inflated(&ours) == inflated(&theirs), "{name} {image:?}");
                assert!(indices_of(&ours) == pixels, "{name} {image:?}");
                assert!(
                    ours.len() <= theirs.len(),
                    "{name} {image:?}: {} > {}",
                    ours.len(),
                    theirs.len()
                );
            }
        }
    }

    // REQ-CH-002: a canvas reused from an earlier chart of the same size
    // draws the same bytes as a fresh one on a new thread.
    #[test]
    fn a_reused_canvas_draws_what_a_fresh_one_does() {
        let theme = Theme::default();
        let (busy, quiet) = (fifteen_years(), counts("Ann", &[0, 3, 1]));
        render_chart(&busy, &theme).unwrap();
        let reused = render_chart(&quiet, &theme).unwrap();
        let fresh = std::thread::spawn(move || render_chart(&quiet, &Theme::default()).unwrap())
            .join()
            .unwrap();
        assert!(reused == fresh);
    }

    // REQ-CH-003, REQ-RL-012: the fitted title is the longest prefix that fits,
    // the one dropping a character at a time finds, also for a hostile length.
    #[test]
    fn titles_are_fitted_to_the_longest_prefix() {
        font().unwrap();
        let theme = Theme::default();
        let palette = Palette::of(&theme);
        let mut pixels = vec![0u8; 1200 * 600];
        let root = PaletteBackend::new(&mut pixels, (1200, 600), &palette).into_drawing_area();
        let style = text_style(&theme, theme.title_size, theme.title);
        let width = |t: &str| root.estimate_text_size(t, &style).unwrap().0;
        let one_at_a_time = |text: &str, max: u32| {
            if width(text) <= max {
                return text.to_string();
            }
            let mut chars: Vec<char> = text.chars().collect();
            while !chars.is_empty() {
                chars.pop();
                let c = format!("{}…", chars.iter().collect::<String>().trim_end());
                if width(&c) <= max {
                    return c;
                }
            }
            "…".to_string()
        };
        let names = [
            "佐藤 太郎".to_string(),
            "長い名前の著者".repeat(40),
            "ab cd ".repeat(120),
            "W".repeat(300),
        ];
        for name in &names {
            for max in [1, 20, 300, 1144] {
                assert_eq!(
                    fit(&root, name, &style, max).unwrap(),
                    one_at_a_time(name, max),
                    "{} chars into {max} px",
                    name.chars().count()
                );
            }
        }
        let hostile = "名".repeat(100_000);
        let fitted = fit(&root, &hostile, &style, 1144).unwrap();
        assert!(width(&fitted) <= 1144 && fitted.ends_with('…'));
        assert!(hostile.starts_with(fitted.trim_end_matches('…')));
    }

    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        let (info, pixels) = super::super::decode_png(png).expect("a PNG");
        (info.width, info.height, pixels)
    }

    // REQ-CH-001, REQ-CH-002, REQ-CH-003: edge shapes decode at the promised
    // size, deterministically, whatever the title.
    #[test]
    fn edge_shapes_render_at_size_and_deterministically() {
        let long_name = "長い名前".repeat(125);
        let mut spike = vec![1u32; 40];
        spike[20] = 300;
        let cases: Vec<(&str, MonthlyCounts)> = vec![
            ("one post", counts("佐藤 太郎", &[1])),
            ("one month", counts("Jane Doe", &[4])),
            ("fifteen years", fifteen_years()),
            ("spike", counts("Mixed 名前 mix", &spike)),
            ("500-char name", counts(&long_name, &[1, 0, 2])),
            ("only emoji", counts("🍣🍣🍣", &[1, 2])),
            ("empty name", counts("", &[3])),
            ("markup", counts("<script>alert(1)</script>", &[1])),
            ("no posts yet", counts("佐藤 太郎", &[])),
        ];
        let theme = Theme::default();
        for (name, data) in &cases {
            let png = render_chart(data, &theme).unwrap_or_else(|e| panic!("case {name}: {e}"));
            let (w, h, _) = decode(&png);
            assert_eq!((w, h), (1200, 600), "case {name}");
            assert!(png.len() < 60_000, "case {name}: {} bytes", png.len());
            assert_eq!(
                render_chart(data, &theme).unwrap(),
                png,
                "case {name}: not deterministic"
            );
        }
    }

    // REQ-CH-001: the 2x chart is drawn at twice the pixels, not scaled up.
    #[test]
    fn scale_two_doubles_the_pixels() {
        let theme = Theme {
            scale: 2,
            ..Theme::default()
        };
        let png = render_chart(&counts("佐藤 太郎", &[1, 2, 3]), &theme).unwrap();
        let (w, h, _) = decode(&png);
        assert_eq!((w, h), (2400, 1200));
    }

    #[test]
    fn labels_in_both_languages() {
        let data = counts("x", &[1, 0, 2]);
        assert_eq!(
            subtitle(&data, Language::Ja),
            "合計 3 本 · 初投稿 2011年1月 · 直近12か月 3 本"
        );
        assert_eq!(
            subtitle(&data, Language::En),
            "3 posts · first post Jan 2011 · 3 in the last 12 months"
        );
        assert_eq!(
            footer(&data, Language::En),
            "Through Mar 2011, months in Asia/Tokyo"
        );
        assert_eq!(
            footer(&data, Language::Ja),
            "2011年3月まで · 月は Asia/Tokyo で集計"
        );
    }

    // REQ-CH-008: too many years for a label each get a label every few
    // years, never none.
    #[test]
    fn years_are_labelled_at_a_stride_that_fits() {
        assert_eq!(year_stride(72.0, 46.0), 1);
        assert_eq!(year_stride(40.0, 46.0), 2);
        assert_eq!(year_stride(19.0, 72.0), 5);
        assert_eq!(year_stride(5.0, 72.0), 20);
        assert_eq!(year_stride(0.5, 72.0), 100);
    }

    // REQ-CH-008: every image of a fifteen-year history and of an author
    // without posts draws at its declared size, and the dark ones on a dark
    // background.
    #[test]
    fn every_image_draws_at_its_size_dark_ones_on_dark() {
        let themes = crate::chart::Themes::default();
        for data in [fifteen_years(), counts("佐藤 太郎", &[])] {
            for image in crate::chart::Image::ALL {
                let theme = themes.of(image);
                let (width, height, pixels) = decode(&render_chart(&data, &theme).unwrap());
                assert_eq!((width, height), theme.pixels(), "{image:?}");
                // The most common colour is the background.
                let mut seen = std::collections::HashMap::<&[u8], usize>::new();
                for p in pixels.chunks(3) {
                    *seen.entry(p).or_default() += 1;
                }
                let most = seen
                    .into_iter()
                    .max_by_key(|(c, n)| (*n, c.to_vec()))
                    .unwrap()
                    .0;
                let luminance = 0.2126 * f64::from(most[0])
                    + 0.7152 * f64::from(most[1])
                    + 0.0722 * f64::from(most[2]);
                assert_eq!(
                    luminance < 60.0,
                    image.is_dark(),
                    "{image:?}: background {most:?}"
                );
            }
        }
    }

    // REQ-CH-008: the dark chart drawn once as the light one, recoloured,
    // shows what the dark theme drawn on its own shows, pixel for pixel but
    // for the few blends over something other than the background; a dark
    // theme that shares its colours otherwise is drawn on its own.
    #[test]
    fn the_dark_chart_is_the_light_drawing_in_dark_colours() {
        let themes = crate::chart::Themes::default();
        let data = fifteen_years();
        for (light, dark) in [
            (themes.light.clone(), themes.dark.clone()),
            (themes.light.compact(), themes.dark.compact()),
        ] {
            let (light_png, recoloured) = render_light_and_dark(&data, &light, &dark).unwrap();
            let swapped = with_palette(&light_png, &Palette::of(&dark).plte());
            assert_eq!(swapped.as_ref(), Some(&recoloured), "drawn once");
            let direct = render_chart(&data, &dark).unwrap();
            let (w, h, a) = decode(&recoloured);
            let (_, _, b) = decode(&direct);
            assert_eq!((w, h), dark.pixels());
            let differ = a.chunks(3).zip(b.chunks(3)).filter(|(x, y)| x != y).count();
            assert!(
                differ * 1000 < (w * h) as usize,
                "{differ} of {} pixels differ",
                w * h
            );
        }
        let shared =
            crate::chart::Themes::from_json(None, Some(r##"{"grid":"#111827"}"##)).unwrap();
        let (_, dark) = render_light_and_dark(&data, &shared.light, &shared.dark).unwrap();
        assert_eq!(dark, render_chart(&data, &shared.dark).unwrap());
    }

    #[test]
    fn y_axis_is_whole_and_roomy() {
        let cases: &[(u32, (u32, u32))] = &[
            (0, (1, 1)),
            (1, (2, 1)),
            (3, (4, 1)),
            (4, (5, 1)),
            (5, (6, 1)),
            (6, (8, 2)),
            (10, (12, 2)),
            (23, (25, 5)),
            (300, (400, 100)),
        ];
        for (max, want) in cases {
            let got = y_axis(*max);
            assert!(
                got.0 >= *max && got.0.is_multiple_of(got.1),
                "max {max}: {got:?}"
            );
            assert_eq!(got, *want, "max {max}");
        }
    }
}
