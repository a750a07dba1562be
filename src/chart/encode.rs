//! RGB pixels -> PNG bytes. Charts are flat colours plus anti-aliased text, so
//! a 256-colour palette holds them: every colour when there are at most 256, else
//! the 256 most used ones exactly, with each rarer (anti-aliasing) shade mapped to
//! its nearest palette colour. A palette image is a third the size of truecolour
//! and compresses fast (`fdeflate`).

use std::collections::HashMap;

/// Encodes an RGB buffer of `width` x `height` as an indexed PNG. Deterministic:
/// the palette is ordered by use, ties by colour value.
pub(crate) fn encode_png(
    rgb: &[u8],
    width: u32,
    height: u32,
) -> Result<Vec<u8>, png::EncodingError> {
    let (palette, indices) = quantize(rgb, width as usize);
    let mut out = Vec::with_capacity(48 * 1024);
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(palette);
    enc.set_compression(png::Compression::Fast);
    enc.set_filter(png::FilterType::Up);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&indices)?;
    writer.finish()?;
    Ok(out)
}

type Rgb = [u8; 3];

/// A multiplicative hash for packed colours: the default `SipHash` dominated the
/// encoder's profile, and colour keys need no protection from collisions.
#[derive(Default)]
struct ColourHasher(u64);

impl std::hash::Hasher for ColourHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn finish(&self) -> u64 {
        self.0 >> 32 ^ self.0
    }
}

type ColourMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<ColourHasher>>;

fn pack(px: &[u8]) -> u32 {
    u32::from(px[0]) << 16 | u32::from(px[1]) << 8 | u32::from(px[2])
}

fn unpack(c: u32) -> Rgb {
    [(c >> 16) as u8, (c >> 8) as u8, c as u8]
}

/// The palette (RGB triples) and one index per pixel. A bar chart is mostly
/// rows identical to the row above (bars are vertical), so a repeated row is
/// counted by multiplicity and its indices copied, not looked up again.
fn quantize(rgb: &[u8], width: usize) -> (Vec<u8>, Vec<u8>) {
    let stride = width * 3;
    let rows: Vec<&[u8]> = rgb.chunks_exact(stride.max(3)).collect();
    let mut counts: ColourMap<u32> = ColourMap::default();
    let mut y = 0;
    while y < rows.len() {
        let repeats = rows[y + 1..].iter().take_while(|r| **r == rows[y]).count() as u32 + 1;
        let mut pixels = rows[y].chunks_exact(3).map(pack).peekable();
        while let Some(c) = pixels.next() {
            let mut n = 1;
            while pixels.next_if_eq(&c).is_some() {
                n += 1;
            }
            *counts.entry(c).or_default() += n * repeats;
        }
        y += repeats as usize;
    }
    let mut by_use: Vec<(u32, u32)> = counts.into_iter().collect();
    by_use.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let kept: Vec<Rgb> = by_use.iter().take(256).map(|(c, _)| unpack(*c)).collect();
    let mut index: ColourMap<u8> = by_use
        .iter()
        .take(256)
        .enumerate()
        .map(|(i, (c, _))| (*c, i as u8))
        .collect();
    for (c, _) in by_use.iter().skip(256) {
        index.insert(*c, nearest(&kept, unpack(*c)));
    }
    let palette = kept.iter().flatten().copied().collect();
    let mut indices: Vec<u8> = Vec::with_capacity(rgb.len() / 3);
    let mut last = (u32::MAX, 0u8);
    for (y, row) in rows.iter().enumerate() {
        if y > 0 && *row == rows[y - 1] {
            let start = indices.len() - width;
            indices.extend_from_within(start..);
            continue;
        }
        for c in row.chunks_exact(3).map(pack) {
            if c != last.0 {
                last = (c, index[&c]);
            }
            indices.push(last.1);
        }
    }
    (palette, indices)
}

fn nearest(palette: &[Rgb], c: Rgb) -> u8 {
    let dist = |p: &Rgb| -> u32 {
        (0..3)
            .map(|k| (i32::from(p[k]) - i32::from(c[k])).pow(2) as u32)
            .sum()
    };
    palette
        .iter()
        .enumerate()
        .min_by_key(|(i, p)| (dist(p), *i))
        .map_or(0, |(i, _)| i as u8)
}

/// Decodes a PNG into its header and RGB(A) pixels, the palette expanded: how
/// the unit and integration tests read a chart back.
pub fn decode_png(bytes: &[u8]) -> Result<(png::OutputInfo, Vec<u8>), png::DecodingError> {
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    Ok((info, buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        decode_png(bytes).expect("a PNG")
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
    fn past_256_colours_rare_shades_map_to_the_nearest_kept_colour() {
        // 256 colours used twice each, then one rare shade close to (10, 0, 0).
        let mut rgb: Vec<u8> = (0..512).flat_map(|i| [(i % 256) as u8, 0, 0]).collect();
        rgb.extend_from_slice(&[10, 1, 0]);
        let png = encode_png(&rgb, 513, 1).unwrap();
        let (_, pixels) = decode(&png);
        assert_eq!(
            &pixels[..512 * 3],
            &rgb[..512 * 3],
            "kept colours are exact"
        );
        assert_eq!(&pixels[512 * 3..], &[10, 0, 0]);
    }

    #[test]
    fn repeated_rows_are_encoded_like_any_other() {
        let row: Vec<u8> = (0..50).flat_map(|i| [i as u8, 3, 200]).collect();
        let mut rgb = row.repeat(7);
        rgb.extend((0..50).flat_map(|i| [7, i as u8, 9]));
        let png = encode_png(&rgb, 50, 8).unwrap();
        assert_eq!(decode(&png).1, rgb);
    }
}
