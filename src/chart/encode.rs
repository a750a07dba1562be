//! RGB pixels -> PNG bytes. Charts are flat colours plus anti-aliased text, so
//! they usually fit a 256-colour palette, which makes a far smaller file than
//! truecolour; when they do not, truecolour is written.

use std::collections::HashMap;

/// Encodes an RGB buffer of `width` x `height`. Deterministic: the palette is
/// ordered by first appearance.
pub fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::with_capacity(64 * 1024);
    match palette_of(rgb) {
        Some((palette, indices)) => {
            let mut enc = png::Encoder::new(&mut out, width, height);
            enc.set_color(png::ColorType::Indexed);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_palette(palette);
            enc.set_compression(png::Compression::Default);
            enc.set_filter(png::FilterType::NoFilter);
            let mut writer = enc.write_header()?;
            writer.write_image_data(&indices)?;
            writer.finish()?;
        }
        None => {
            let mut enc = png::Encoder::new(&mut out, width, height);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(png::Compression::Default);
            enc.set_filter(png::FilterType::Sub);
            let mut writer = enc.write_header()?;
            writer.write_image_data(rgb)?;
            writer.finish()?;
        }
    }
    Ok(out)
}

/// The palette and index image, or `None` past 256 colours.
fn palette_of(rgb: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut index: HashMap<[u8; 3], u8> = HashMap::with_capacity(256);
    let mut palette = Vec::with_capacity(768);
    let mut indices = Vec::with_capacity(rgb.len() / 3);
    let mut last: Option<([u8; 3], u8)> = None;
    for px in rgb.chunks_exact(3) {
        let key = [px[0], px[1], px[2]];
        let i = match last {
            Some((k, i)) if k == key => i,
            _ => {
                let i = match index.get(&key) {
                    Some(&i) => i,
                    None => {
                        let next = u8::try_from(index.len()).ok()?;
                        index.insert(key, next);
                        palette.extend_from_slice(&key);
                        next
                    }
                };
                last = Some((key, i));
                i
            }
        };
        indices.push(i);
    }
    Some((palette, indices))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let mut decoder = png::Decoder::new(bytes);
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    #[test]
    fn few_colours_round_trip_through_a_palette() {
        let rgb: Vec<u8> = (0..40 * 10).flat_map(|i| [(i % 7) as u8, 0, 255]).collect();
        let png = encode_png(&rgb, 40, 10).unwrap();
        let (info, pixels) = decode(&png);
        assert_eq!(
            (info.width, info.height, info.color_type),
            (40, 10, png::ColorType::Rgb)
        );
        assert_eq!(pixels, rgb);
    }

    #[test]
    fn many_colours_fall_back_to_truecolour() {
        let rgb: Vec<u8> = (0..64 * 64)
            .flat_map(|i| [(i % 256) as u8, (i / 256) as u8, 7])
            .collect();
        let png = encode_png(&rgb, 64, 64).unwrap();
        let (_, pixels) = decode(&png);
        assert_eq!(pixels, rgb);
    }
}
