//! REQ-CH-005: golden images of the edge shapes. Each chart is decoded and
//! compared pixel by pixel with a committed reference (tests/data/golden/), with
//! a tolerance for anti-aliasing differences; `UPDATE_GOLDEN=1` rewrites the
//! references after a deliberate change (look at them before committing).

use author_stats_batch::chart::render_chart;
use author_stats_batch::chart::shapes::edge_shapes;

use crate::common::{decode_png as rgb, repo};

/// Share of pixels where a channel differs by more than `level`.
fn differing(a: &[u8], b: &[u8], level: u8) -> f64 {
    let bad = a
        .chunks_exact(3)
        .zip(b.chunks_exact(3))
        .filter(|(p, q)| p.iter().zip(q.iter()).any(|(x, y)| x.abs_diff(*y) > level))
        .count();
    bad as f64 / (a.len() / 3) as f64
}

#[test]
fn edge_shapes_match_their_golden_images() {
    let dir = repo().join("tests/data/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, data, theme) in edge_shapes() {
        // The 2x chart is covered by its size test; the references stay small.
        if theme.scale != 1 {
            continue;
        }
        let png = render_chart(&data, &theme).unwrap();
        let path = dir.join(format!("{name}.png"));
        if update {
            std::fs::write(&path, &png).unwrap();
            continue;
        }
        let golden = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        let (w, h, got) = rgb(&png);
        let (gw, gh, want) = rgb(&golden);
        assert_eq!((w, h), (gw, gh), "{name}: size");
        let share = differing(&got, &want, 24);
        assert!(
            share <= 0.002,
            "{name}: {:.3}% of pixels differ from {}",
            share * 100.0,
            path.display()
        );
    }
}

#[test]
fn the_comparison_notices_a_changed_chart() {
    let (_, data, theme) = edge_shapes()
        .into_iter()
        .find(|(n, _, _)| *n == "spike")
        .unwrap();
    let mut changed = data.clone();
    changed.months[3].posts = 200;
    let (_, _, a) = rgb(&render_chart(&data, &theme).unwrap());
    let (_, _, b) = rgb(&render_chart(&changed, &theme).unwrap());
    assert!(
        differing(&a, &b, 24) > 0.002,
        "a new 200-post bar must fail the golden check"
    );
}
