//! A static review page for one run: the run report's numbers, the skipped and
//! failed authors with their reasons, and a grid of every chart drawn, each
//! linked and embedded the way `docs/embedding.md` tells a blog to embed it
//! ([`picture`]: dark and compact variants picked by the browser, the alt
//! text from the chart's data). One self-contained HTML file: no build step,
//! no external assets.

use std::fmt::Write;

use crate::chart::{Image, Language, Themes, alt_text};
use crate::chart_keys::Object;
use crate::report::RunReport;
use crate::tally::{Month, MonthlyCounts};

/// The most charts one page shows: a scaled-out backfill draws a million, and
/// a page of them all would be hundreds of MB that no browser opens.
pub(crate) const MAX_CARDS: usize = 5_000;

/// What the page shows of one chart.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ChartCard {
    pub slug: String,
    pub display_name: String,
    pub total: u64,
    pub first_month: String,
    pub last_12_months: u64,
    /// The chart's alt text, as its data gives it.
    #[serde(default)]
    pub alt: String,
}

impl ChartCard {
    /// The card of `c`, its alt text in `language`.
    pub(crate) fn of(c: &MonthlyCounts, language: Language) -> Self {
        ChartCard {
            slug: c.slug.clone(),
            display_name: c.display_name.clone(),
            total: c.total,
            first_month: c.first_month().map(Month::label).unwrap_or_default(),
            last_12_months: c.last_months_total(12),
            alt: alt_text(c, language),
        }
    }
}

/// The widest viewport, in CSS px, that gets the compact images.
pub(crate) const COMPACT_MAX_VIEWPORT: u32 = 600;

/// One author's `<picture>`, as `docs/embedding.md` writes it: the compact
/// images on a narrow viewport, the dark ones in the dark scheme, the light
/// chart otherwise; sizes in CSS px against layout shift, loaded lazily, and
/// `alt` from the data. `href` is the path to the charts prefix.
pub(crate) fn picture(href: &str, slug: &str, alt: &str, themes: &Themes) -> String {
    let url = |image: Image| {
        let path = Object::Image(image).path(slug);
        let encoded: Vec<String> = path.split('/').map(url_segment).collect();
        format!("{href}{}", encoded.join("/"))
    };
    let size = |image: Image| {
        let theme = themes.of(image);
        (theme.width, theme.height, theme.scale)
    };
    let narrow = format!("(max-width: {COMPACT_MAX_VIEWPORT}px)");
    let dark = "(prefers-color-scheme: dark)";
    let mut html = String::from("<picture>");
    for (image, media) in [
        (Image::CompactDark, format!("{narrow} and {dark}")),
        (Image::CompactLight, narrow.clone()),
        (Image::Dark, dark.to_string()),
    ] {
        let (w, h, density) = size(image);
        let _ = write!(
            html,
            "<source media=\"{media}\" srcset=\"{} {density}x\" width=\"{w}\" height=\"{h}\">",
            url(image)
        );
    }
    let (w, h, density) = size(Image::Light);
    let _ = write!(
        html,
        "<img src=\"{src}\" srcset=\"{src} {density}x\" width=\"{w}\" height=\"{h}\" alt=\"{alt}\" loading=\"lazy\" decoding=\"async\"></picture>",
        src = url(Image::Light),
        alt = escape(alt),
    );
    html
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encodes a slug as one URL path segment.
fn url_segment(slug: &str) -> String {
    let mut out = String::new();
    for b in slug.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

const STYLE: &str = "
:root{color-scheme:light dark}
body{font-family:system-ui,'Noto Sans JP',sans-serif;margin:24px;color:#1a202c;background:#f7fafc}
h1{font-size:22px;margin:0 0 4px}
.meta{color:#4a5568;margin:0 0 16px}
.numbers{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 16px;padding:0;list-style:none}
.numbers li{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:8px 12px}
.numbers b{display:block;font-size:20px}
.bad b{color:#c53030}
table{border-collapse:collapse;background:#fff;margin:0 0 16px}
td,th{border:1px solid #e2e8f0;padding:4px 8px;text-align:left;font-size:14px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
figure{margin:0;background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:8px}
figure img{width:100%;height:auto;display:block}
figure.broken{border-color:#c53030;background:#fff5f5}
figcaption{font-size:13px;color:#4a5568;margin-top:4px}
figcaption a{color:#2b6cb0;font-weight:600;text-decoration:none}
@media (max-width: 600px){
body{margin:0;padding:12px 0}
h1,.meta,.numbers,table,figcaption{margin-left:12px;margin-right:12px}
figure{padding:0 0 8px;border-width:1px 0;border-radius:0}
}
@media (prefers-color-scheme: dark){
body{color:#e2e8f0;background:#0b1120}
.meta,figcaption{color:#cbd5e1}
.numbers li,table,figure{background:#111827;border-color:#273244}
td,th{border-color:#273244}
figure.broken{background:#3b0d0d}
figcaption a{color:#93c5fd}
}
";

/// Counts the images that loaded, and marks every one that failed, each time
/// one finishes (the charts load lazily, as the embed says, so many finish
/// after the page's `load`); the count is also on `<body>`, so a reviewer
/// (and the browser test) sees a broken chart at once.
const SCRIPT: &str = "
function judge(){
  var imgs=document.querySelectorAll('figure img'),ok=0,bad=0;
  imgs.forEach(function(i){
    if(i.complete&&i.naturalWidth>0){ok++}
    else if(i.complete){bad++;i.closest('figure').classList.add('broken')}
  });
  document.body.setAttribute('data-images-loaded',ok+'/'+imgs.length);
  document.getElementById('loaded').textContent=ok+' / '+imgs.length+(bad?' ('+bad+' broken)':'');
}
document.querySelectorAll('figure img').forEach(function(i){
  i.addEventListener('load',judge);i.addEventListener('error',judge);
});
window.addEventListener('load',judge);
";

/// The page for `report`, with `charts` (sorted by slug) linked through
/// `chart_href`, the path from the page to the charts prefix (ends with `/` or
/// is empty).
pub(crate) fn render_gallery(
    report: &RunReport,
    charts: &[ChartCard],
    chart_href: &str,
    themes: &Themes,
) -> String {
    let mut html = String::with_capacity(4096 + charts.len().min(MAX_CARDS) * 1200);
    write_numbers(&mut html, report);
    write_problems(&mut html, report);
    write_grid(&mut html, charts, chart_href, themes);
    let _ = write!(html, "<script>{SCRIPT}</script>\n</body></html>\n");
    html
}

/// The head of the page, the run's window and input counts, and the authors'
/// outcomes as numbers (the bad ones marked).
fn write_numbers(html: &mut String, report: &RunReport) {
    let a = &report.authors;
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>author-stats run {as_of}</title><style>{STYLE}</style></head><body>\n\
         <h1>Author charts: run as of {as_of}</h1>\n\
         <p class=\"meta\">Window ({start}, {as_of}], {days} days; months in {zone}; \
         {lines} post lines, {bad} bad, {orphans} orphans, {unpublished} unpublished, {future} future; {ms} ms. \
         Images loaded: <span id=\"loaded\">…</span></p>\n<ul class=\"numbers\">",
        as_of = report.as_of.format("%Y-%m-%d %H:%M UTC"),
        start = report.window_start.format("%Y-%m-%d %H:%M UTC"),
        days = report.lookback_days,
        zone = escape(&report.time_zone),
        lines = report.posts_file.lines.lines,
        bad = report.posts_file.lines.bad_total(),
        orphans = report.posts.orphans.count,
        unpublished = report.posts.unpublished,
        future = report.posts.future,
        ms = report.stages.total_ms,
    );
    let counts = [
        ("active", a.active, false),
        ("published", a.published, false),
        ("unchanged", a.unchanged, false),
        ("skipped", a.skipped, a.skipped > 0),
        ("failed", a.failed, a.failed > 0),
        ("undone", a.undone, a.undone > 0),
        ("deleted", a.deleted, false),
    ];
    for (label, n, bad) in counts {
        let class = if bad { " class=\"bad\"" } else { "" };
        let _ = write!(html, "<li{class}><b>{n}</b>{label}</li>");
    }
    html.push_str("</ul>\n");
}

/// Every skipped, failed, undone, deleted or withheld author with the reason,
/// when there is one.
fn write_problems(html: &mut String, report: &RunReport) {
    let none = report.skipped.is_empty()
        && report.failed.is_empty()
        && report.undone.is_empty()
        && report.deleted.is_empty()
        && report.prune_withheld.is_empty();
    if none {
        return;
    }
    html.push_str("<table><tr><th>author</th><th>outcome</th><th>reason</th></tr>\n");
    let skipped = report.skipped.iter().map(|s| {
        let detail = s.detail.as_deref().map(|d| format!(": {d}"));
        (
            &s.slug,
            "skipped",
            format!("{}{}", s.reason, detail.unwrap_or_default()),
        )
    });
    let failed = (report.failed.iter()).map(|f| (&f.slug, "failed", f.error.clone()));
    let undone = (report.undone.iter()).map(|u| (u, "undone", "deadline".to_string()));
    for (slug, outcome, reason) in skipped.chain(failed).chain(undone) {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{outcome}</td><td>{}</td></tr>",
            escape(slug),
            escape(&reason)
        );
    }
    let gone = if report.dry_run {
        "would be deleted (dry run)"
    } else {
        "deleted"
    };
    for d in &report.deleted {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{gone}</td><td>no longer a drawable author of the master</td></tr>",
            escape(d)
        );
    }
    for d in &report.prune_withheld {
        let _ = writeln!(
            html,
            "<tr class=\"bad\"><td>{}</td><td>kept</td><td>gone from the master, but more charts would go than MAX_PRUNE allows</td></tr>",
            escape(d)
        );
    }
    html.push_str("</table>\n");
}

/// The grid of charts (the first `MAX_CARDS`, with the count past them), each
/// linked.
fn write_grid(html: &mut String, charts: &[ChartCard], chart_href: &str, themes: &Themes) {
    if charts.len() > MAX_CARDS {
        let _ = writeln!(
            html,
            "<p class=\"meta\">The first {MAX_CARDS} of {} charts; the run report lists every author.</p>",
            charts.len()
        );
    }
    html.push_str("<div class=\"grid\">\n");
    for c in charts.iter().take(MAX_CARDS) {
        let href = format!("{chart_href}{}.png", url_segment(&c.slug));
        let name = if c.display_name.trim().is_empty() {
            &c.slug
        } else {
            &c.display_name
        };
        let alt = if c.alt.is_empty() {
            format!("Monthly posts of {name}")
        } else {
            c.alt.clone()
        };
        let _ = writeln!(
            html,
            "<figure><a href=\"{href}\">{picture}</a>\
             <figcaption><a href=\"{href}\">{name}</a> ({slug}): {total} posts since {first}, {recent} in the last 12 months</figcaption></figure>",
            picture = picture(chart_href, &c.slug, &alt, themes),
            name = escape(name),
            slug = escape(&c.slug),
            total = c.total,
            first = escape(&c.first_month),
            recent = c.last_12_months,
        );
    }
    html.push_str("</div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{FailedAuthor, SkippedAuthor};

    fn card(slug: &str, name: &str) -> ChartCard {
        ChartCard {
            slug: slug.into(),
            display_name: name.into(),
            total: 12,
            first_month: "2012-03".into(),
            last_12_months: 4,
            alt: format!("{name}さんの月別投稿数のグラフ。"),
        }
    }

    // REQ-GA-001: every chart, the numbers, and every skipped or failed author.
    #[test]
    fn gallery_lists_every_chart_and_every_problem() {
        let mut report = RunReport::default();
        report.authors.active = 4;
        report.authors.published = 2;
        report.authors.skipped = 1;
        report.authors.failed = 1;
        report.skipped.push(SkippedAuthor {
            slug: "shared".into(),
            id: "a3".into(),
            reason: "shared_slug".into(),
            detail: None,
        });
        report.failed.push(FailedAuthor {
            slug: "jane-doe".into(),
            error: "access <denied>".into(),
        });
        let html = render_gallery(
            &report,
            &[
                card("sato-taro", "佐藤 太郎"),
                card("x", "<script>alert(1)</script>"),
            ],
            "../author-monthly-stats/",
            &Themes::default(),
        );
        assert_eq!(html.matches("<figure>").count(), 2);
        assert!(html.contains("src=\"../author-monthly-stats/sato-taro.png\""));
        assert!(html.contains(
            "<source media=\"(max-width: 600px) and (prefers-color-scheme: dark)\" \
             srcset=\"../author-monthly-stats/compact-dark/sato-taro.png 2x\" width=\"360\" height=\"240\">"
        ));
        assert!(
            html.contains(
                "alt=\"&lt;script&gt;alert(1)&lt;/script&gt;さんの月別投稿数のグラフ。\""
            )
        );
        assert!(html.contains("佐藤 太郎"));
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "names are escaped"
        );
        assert!(!html.contains("<script>alert"), "no markup from the data");
        assert!(html.contains("<td>shared</td><td>skipped</td><td>shared_slug</td>"));
        assert!(html.contains("access &lt;denied&gt;"));
        assert!(html.contains("<li class=\"bad\"><b>1</b>failed</li>"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external assets"
        );
    }

    #[test]
    fn slugs_become_one_url_segment() {
        assert_eq!(url_segment("sato-taro"), "sato-taro");
        assert_eq!(url_segment("さとう"), "%E3%81%95%E3%81%A8%E3%81%86");
        assert_eq!(url_segment("a%2Fb"), "a%252Fb");
    }

    // REQ-GA-001: a page of a very large run shows the first MAX_CARDS charts
    // and says how many there are.
    #[test]
    fn a_large_run_shows_the_first_charts_and_the_count() {
        let cards: Vec<ChartCard> = (0..MAX_CARDS + 7)
            .map(|i| card(&format!("a{i:06}"), "名前"))
            .collect();
        let html = render_gallery(&RunReport::default(), &cards, "", &Themes::default());
        assert_eq!(html.matches("<figure>").count(), MAX_CARDS);
        assert!(html.contains(&format!(
            "The first {MAX_CARDS} of {} charts",
            MAX_CARDS + 7
        )));
        assert!(html.contains("a004999.png") && !html.contains("a005000.png"));
    }
}
