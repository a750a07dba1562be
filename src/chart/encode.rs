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
