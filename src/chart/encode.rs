//! Palette indices -> PNG bytes, and a PNG back to RGB for the tests. The
//! charts are drawn as indices ([`super::palette`]), so encoding is the PNG
//! filter and deflate only, chosen by measurement on the charts themselves.

use super::ChartError;

/// Encodes palette indices (one byte per pixel) with the palette `plte` (RGB
/// triples) as an 8-bit indexed PNG. Each row gets the filter measured best
/// for the charts (`examples/png_settings.rs`): Paeth, except a row equal to
/// the one above (most rows of a bar chart), which is Up and so all zeros
/// without computing anything; the rows are deflated with `fdeflate`.
pub(crate) fn encode_indexed(
    indices: &[u8],
    width: u32,
    height: u32,
    plte: Vec<u8>,
) -> Result<Vec<u8>, ChartError> {
    let w = width as usize;
    if w == 0 || height == 0 || indices.len() != w * height as usize || plte.len() > 3 * 256 {
        return Err(ChartError::Draw(format!(
            "{} indices for a {width}x{height} image with {} palette bytes",
            indices.len(),
            plte.len()
        )));
    }
    let mut raw = Vec::with_capacity(indices.len() + height as usize);
    let zero = vec![0u8; w];
    let mut above: &[u8] = &zero;
    for row in indices.chunks_exact(w) {
        if row == above {
            raw.push(2);
            raw.extend_from_slice(&zero);
        } else {
            raw.push(4);
            paeth_row(row, above, &mut raw);
        }
        above = row;
    }
    let idat = fdeflate::compress_to_vec(&raw);
    let mut out = Vec::with_capacity(idat.len() + plte.len() + 128);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // 8-bit depth, indexed colour, deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[8, 3, 0, 0, 0]);
    chunk(&mut out, *b"IHDR", &ihdr);
    chunk(&mut out, *b"PLTE", &plte);
    chunk(&mut out, *b"IDAT", &idat);
    chunk(&mut out, *b"IEND", &[]);
    Ok(out)
}

/// Appends one PNG chunk: length, type, data, CRC of type and data.
fn chunk(out: &mut Vec<u8>, kind: [u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(&kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// The Paeth filter of one row of one-byte pixels against the row above.
fn paeth_row(row: &[u8], above: &[u8], out: &mut Vec<u8>) {
    let (mut a, mut c) = (0u8, 0u8);
    for (&x, &b) in row.iter().zip(above) {
        let p = i16::from(a) + i16::from(b) - i16::from(c);
        let (pa, pb, pc) = (
            (p - i16::from(a)).abs(),
            (p - i16::from(b)).abs(),
            (p - i16::from(c)).abs(),
        );
        let predicted = if pa <= pb && pa <= pc {
            a
        } else if pb <= pc {
            b
        } else {
            c
        };
        out.push(x.wrapping_sub(predicted));
        a = x;
        c = b;
    }
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

    #[test]
    fn repeated_and_changing_rows_round_trip() {
        let plte: Vec<u8> = (0..=255u8).flat_map(|i| [i, 255 - i, i / 2]).collect();
        let (w, h) = (97usize, 31usize);
        let indices: Vec<u8> = (0..w * h)
            .map(|i| {
                if (i / w) % 3 == 0 {
                    (i * 7 % 251) as u8
                } else {
                    ((i % w) * 3) as u8
                }
            })
            .collect();
        let png = encode_indexed(&indices, w as u32, h as u32, plte.clone()).unwrap();
        let (_, rgb) = decode_png(&png).unwrap();
        let want: Vec<u8> = indices
            .iter()
            .flat_map(|&i| plte[usize::from(i) * 3..usize::from(i) * 3 + 3].to_vec())
            .collect();
        assert_eq!(rgb, want);
    }
}
