//! Draws the chart edge shapes (`chart::shapes`) into target/edge-charts/ for a
//! person to look at.
//!
//! `cargo run --release --example edge_charts`

use author_stats_batch::chart::render_chart;
use author_stats_batch::chart::shapes::edge_shapes;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/edge-charts");
    std::fs::create_dir_all(&out)?;
    for (name, data, theme) in edge_shapes() {
        let png = render_chart(&data, &theme)?;
        std::fs::write(out.join(format!("{name}.png")), &png)?;
        println!("{name}: {} bytes", png.len());
    }
    Ok(())
}
