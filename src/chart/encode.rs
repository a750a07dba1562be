//! Palette indices -> PNG bytes, and a PNG back to RGB for the tests. The
//! charts are drawn as indices ([`super::palette`]), so encoding is the PNG
//! filter and deflate only, chosen by measurement on the charts themselves.

/// Encodes palette indices (one byte per pixel) with the palette `plte` (RGB
/// triples). Filter and deflate chosen by measurement on the charts
/// themselves (docs/performance.md).
pub(crate) fn encode_indexed(
    indices: &[u8],
    width: u32,
    height: u32,
    plte: Vec<u8>,
) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::with_capacity(16 * 1024);
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(plte);
    enc.set_compression(png::Compression::Fast);
    enc.set_filter(png::FilterType::Paeth);
    let mut writer = enc.write_header()?;
    writer.write_image_data(indices)?;
    writer.finish()?;
    Ok(out)
}

/// `png` (as [`encode_indexed`] writes it) with its palette replaced by
/// `plte` of the same length: the image data is the same deflate stream, so
/// the same drawing in other colours costs a copy. `None` if `png` has no
/// `PLTE` chunk of that length.
pub(crate) fn with_palette(png: &[u8], plte: &[u8]) -> Option<Vec<u8>> {
    let mut at = 8;
    while at + 12 <= png.len() {
        let len = u32::from_be_bytes(png.get(at..at + 4)?.try_into().ok()?) as usize;
        let kind = png.get(at + 4..at + 8)?;
        let end = at + 12 + len;
        if kind == b"PLTE" {
            if len != plte.len() || end > png.len() {
                return None;
            }
            let mut crc = flate2::Crc::new();
            crc.update(b"PLTE");
            crc.update(plte);
            let mut out = Vec::with_capacity(png.len());
            out.extend_from_slice(&png[..at + 8]);
            out.extend_from_slice(plte);
            out.extend_from_slice(&crc.sum().to_be_bytes());
            out.extend_from_slice(&png[end..]);
            return Some(out);
        }
        at = end;
    }
    None
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

    // A palette swapped in decodes to the same indices in the new colours.
    #[test]
    fn a_swapped_palette_recolours_the_same_pixels() {
        let indices: Vec<u8> = (0..40 * 10).map(|i| (i % 3) as u8).collect();
        let png =
            encode_indexed(&indices, 40, 10, vec![255, 255, 255, 10, 20, 30, 0, 0, 0]).unwrap();
        let dark = vec![0, 0, 0, 200, 100, 50, 255, 255, 255];
        let swapped = with_palette(&png, &dark).unwrap();
        let direct = encode_indexed(&indices, 40, 10, dark.clone()).unwrap();
        assert_eq!(swapped, direct, "as if encoded with the new palette");
        assert_eq!(with_palette(&png, &dark[..6]), None, "another length");
        assert_eq!(with_palette(b"\x89PNG\r\n\x1a\n", &dark), None);
    }

    #[test]
    fn indices_round_trip_through_the_palette() {
        let plte = vec![255, 255, 255, 10, 20, 30, 0, 0, 0];
        let indices: Vec<u8> = (0..40 * 10).map(|i| (i % 3) as u8).collect();
        let png = encode_indexed(&indices, 40, 10, plte.clone()).unwrap();
        let (info, rgb) = decode_png(&png).unwrap();
        assert_eq!(
            (info.width, info.height, info.color_type),
            (40, 10, png::ColorType::Rgb)
        );
        let want: Vec<u8> = indices
            .iter()
            .flat_map(|&i| plte[usize::from(i) * 3..usize::from(i) * 3 + 3].to_vec())
            .collect();
        assert_eq!(rgb, want);
    }
}
