//! Measures PNG filter and deflate settings on charts already drawn (the
//! encoder's choice in `src/chart/encode.rs` comes from this):
//!
//! ```sh
//! cargo run --release --example png_settings -- OUT/author-monthly-stats
//! ```
//!
//! Each chart is decoded to its palette indices and encoded again with each
//! setting; the mean size and the time per chart are printed.

use std::time::Instant;

fn indices(path: &std::path::Path) -> Option<(u32, u32, Vec<u8>)> {
    let file = std::io::BufReader::new(std::fs::File::open(path).ok()?);
    let mut reader = png::Decoder::new(file).read_info().ok()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).ok()?;
    (info.color_type == png::ColorType::Indexed).then_some((info.width, info.height, buf))
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: png_settings DIR (a directory of drawn charts)");
        std::process::exit(2);
    };
    let mut charts = Vec::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "png") {
            charts.extend(indices(&path));
        }
    }
    if charts.is_empty() {
        eprintln!("no palette PNG under {dir}");
        std::process::exit(1);
    }
    let filters = [
        ("none", png::FilterType::NoFilter),
        ("sub", png::FilterType::Sub),
        ("up", png::FilterType::Up),
        ("paeth", png::FilterType::Paeth),
    ];
    let levels = [
        ("fast (fdeflate)", png::Compression::Fast),
        ("default", png::Compression::Default),
        ("best", png::Compression::Best),
    ];
    println!("{} charts", charts.len());
    for (filter_name, filter) in filters {
        for (level_name, level) in levels {
            let started = Instant::now();
            let mut bytes = 0usize;
            for (w, h, px) in &charts {
                let mut out = Vec::new();
                let mut enc = png::Encoder::new(&mut out, *w, *h);
                enc.set_color(png::ColorType::Indexed);
                enc.set_palette(vec![0u8; 3 * 256]);
                enc.set_compression(level);
                enc.set_filter(filter);
                let Ok(mut writer) = enc.write_header() else {
                    continue;
                };
                if writer.write_image_data(px).is_err() || writer.finish().is_err() {
                    continue;
                }
                bytes += out.len();
            }
            let per = started.elapsed().as_secs_f64() * 1e3 / charts.len() as f64;
            println!(
                "{filter_name:>5} {level_name:<16} mean {:>6} B  {per:.3} ms a chart",
                bytes / charts.len()
            );
        }
    }
}
