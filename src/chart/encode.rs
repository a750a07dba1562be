//! Palette indices -> PNG bytes, and a PNG back to RGB for the tests. The
//! charts are drawn as indices ([`super::palette`]), so encoding is the PNG
//! filter and deflate only, chosen by measurement on the charts themselves.

use super::deflate::RowDeflate;

/// Encodes palette indices (one byte per pixel) with the palette `plte` (RGB
/// triples): every row Paeth-filtered, the rows then deflated by
/// [`RowDeflate`] with codes made for this image. The filtered rows are the
/// ones `png` writes with `FilterType::Paeth`, so the pixels are its pixels
/// (`tests::the_rows_are_the_png_crates`); the deflate differs.
///
/// Written here rather than through `png` for what a chart is: most of its
/// rows equal the row above (the plot between grid lines and bar tops), and
/// Paeth of such a row is all zeros, so those rows cost a comparison, no
/// filter and a fixed run of codes; the other rows are filtered in a form
/// the compiler vectorises ([`paeth`]), and only from the first pixel that
/// differs from the row above to the one after the last ([`changed`]): the
/// rest of such a row filters to zeros. `png`'s per-byte filter and its
/// buffering had been about a fifth of the backfill's CPU, and `fdeflate`'s
/// pass over every zero row (with its Adler-32) a fifth of drawing
/// (docs/performance.md).
pub(crate) fn encode_indexed(
    indices: &[u8],
    width: u32,
    height: u32,
    plte: Vec<u8>,
) -> Result<Vec<u8>, EncodeError> {
    let row_len = width as usize;
    if row_len == 0 || height == 0 || indices.len() != row_len * height as usize {
        return Err(EncodeError::Size {
            width,
            height,
            len: indices.len(),
        });
    }
    if plte.is_empty() || !plte.len().is_multiple_of(3) || plte.len() > 3 * 256 {
        return Err(EncodeError::Palette(plte.len()));
    }
    let mut deflate = RowDeflate::new(height as usize * 16);
    let mut filtered = vec![0u8; row_len];
    let zeros = vec![0u8; row_len];
    let mut prev: &[u8] = &zeros;
    for row in indices.chunks_exact(row_len) {
        if row == prev {
            deflate.zero_row(PAETH, row_len);
        } else {
            let changed = changed(row, prev);
            paeth(row, prev, changed.clone(), &mut filtered);
            deflate.row_between(
                PAETH,
                changed.start,
                &filtered[changed.clone()],
                row_len - changed.end,
            );
        }
        prev = row;
    }
    let mut idat = deflate.finish();
    let raw = (row_len + 1) * height as usize;
    if idat.len() > stored_size(raw) {
        // As `png` does when deflate would grow the data: stored blocks of
        // unfiltered rows.
        idat.clear();
        let mut stored = fdeflate::StoredOnlyCompressor::new(std::io::Cursor::new(&mut idat))?;
        for row in indices.chunks_exact(row_len) {
            stored.write_data(&[0])?;
            stored.write_data(row)?;
        }
        stored.finish()?;
    }

    let mut out = Vec::with_capacity(idat.len() + plte.len() + 64);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut ihdr = [0u8; 13];
    ihdr[..4].copy_from_slice(&width.to_be_bytes());
    ihdr[4..8].copy_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 3 (indexed); deflate, adaptive filters, no interlace.
    ihdr[8..].copy_from_slice(&[8, 3, 0, 0, 0]);
    chunk(&mut out, *b"IHDR", &ihdr);
    chunk(&mut out, *b"PLTE", &plte);
    for part in idat.chunks(MAX_CHUNK) {
        chunk(&mut out, *b"IDAT", part);
    }
    chunk(&mut out, *b"IEND", &[]);
    Ok(out)
}

/// The zlib stream of `raw` bytes in stored blocks, as `fdeflate` writes
/// it: header, a 5-byte block header for each 65,535 bytes (at least one),
/// the bytes, Adler-32. (`fdeflate`'s own estimate is 65,535 bytes short when the
/// bytes fill their blocks exactly.)
fn stored_size(raw: usize) -> usize {
    2 + 5 * raw.div_ceil(65_535).max(1) + raw + 4
}

/// The PNG filter type byte for Paeth.
const PAETH: u8 = 4;

/// The longest chunk data PNG allows (2^31 - 1 bytes).
const MAX_CHUNK: usize = (u32::MAX >> 1) as usize;

/// An image the encoder cannot write.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{len} palette indices for a {width}x{height} image")]
    Size { width: u32, height: u32, len: usize },
    #[error("a palette of {0} bytes (1 to 256 RGB triples)")]
    Palette(usize),
    #[error("deflate: {0}")]
    Deflate(#[from] std::io::Error),
}

/// Appends one chunk: length, type, data, CRC of type and data.
fn chunk(out: &mut Vec<u8>, kind: [u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(&kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(&kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// The pixels of `row` whose Paeth residual under `prev` can be other than
/// zero: from the first pixel that differs from the one above to the one
/// after the last (none, for equal rows). Where a pixel and its left neighbour equal the pixels
/// above them, the predictor picks the pixel above (or the left one, the
/// same value) and the residual is zero; so a row that differs from the row
/// above only under a label is filtered and summed only there.
fn changed(row: &[u8], prev: &[u8]) -> std::ops::Range<usize> {
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    // Eight pixels at a time (which of a word's bytes differ, as set bits),
    // then the few left over at the end one by one.
    let words = || {
        row.chunks_exact(8)
            .zip(prev.chunks_exact(8))
            .map(|(a, b)| word(a) ^ word(b))
            .enumerate()
    };
    let tail = row.len() / 8 * 8;
    let in_tail = || row[tail..].iter().zip(&prev[tail..]).map(|(a, b)| a != b);
    let first = words()
        .find(|&(_, d)| d != 0)
        .map(|(i, d)| i * 8 + (d.trailing_zeros() / 8) as usize)
        .or_else(|| in_tail().position(|d| d).map(|i| tail + i));
    let last = in_tail().rposition(|d| d).map(|i| tail + i).or_else(|| {
        words()
            .rfind(|&(_, d)| d != 0)
            .map(|(i, d)| i * 8 + 7 - (d.leading_zeros() / 8) as usize)
    });
    match (first, last) {
        (Some(first), Some(last)) => first..(last + 2).min(row.len()),
        _ => 0..0,
    }
}

/// Paeth residuals of the pixels `range` of `row` (one byte per pixel) under
/// `prev`, into the same places of `out`. The predictor is FPNGE's form of it
/// (Luca Versari), all in unsigned bytes and without branches, so the loop
/// is vectorised; it picks what the specification's predictor picks
/// (`tests::paeth_is_the_specifications`).
fn paeth(row: &[u8], prev: &[u8], range: std::ops::Range<usize>, out: &mut [u8]) {
    let mut start = range.start;
    if start >= range.end {
        return;
    }
    if start == 0 {
        // The first pixel has no left neighbour: a = c = 0, and the
        // predictor picks the byte above.
        out[0] = row[0].wrapping_sub(prev[0]);
        start = 1;
    }
    let end = range.end;
    let pixels = row[start..end]
        .iter()
        .zip(&row[start - 1..end - 1])
        .zip(prev[start..end].iter().zip(&prev[start - 1..end - 1]));
    for (o, ((&x, &a), (&b, &c))) in out[start..end].iter_mut().zip(pixels) {
        *o = x.wrapping_sub(predict(a, b, c));
    }
}

#[inline]
fn predict(a: u8, b: u8, c: u8) -> u8 {
    let pa = b.max(c) - b.min(c);
    let pb = a.max(c) - a.min(c);
    // pc = |a + b - 2c|: when c lies between a and b it is |pa - pb|; else it
    // exceeds both pa and pb and never decides.
    let pc = if (a < c) == (c < b) {
        pa.max(pb) - pa.min(pb)
    } else {
        255
    };
    let ab = if pb <= pc { b } else { c };
    if pa <= pb && pa <= pc { a } else { ab }
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
            let mut out = Vec::with_capacity(png.len());
            out.extend_from_slice(&png[..at]);
            chunk(&mut out, *b"PLTE", plte);
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

/// What `png` writes for the same image: the encoder this one replaced.
#[cfg(test)]
pub(crate) fn png_crates(indices: &[u8], width: u32, height: u32, plte: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(plte);
    enc.set_compression(png::Compression::Fast);
    enc.set_filter(png::FilterType::Paeth);
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(indices).unwrap();
    writer.finish().unwrap();
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn spec_paeth(a: u8, b: u8, c: u8) -> u8 {
        let p = i16::from(a) + i16::from(b) - i16::from(c);
        let (pa, pb, pc) = (
            (p - i16::from(a)).abs(),
            (p - i16::from(b)).abs(),
            (p - i16::from(c)).abs(),
        );
        if pa <= pb && pa <= pc {
            a
        } else if pb <= pc {
            b
        } else {
            c
        }
    }

    #[test]
    fn paeth_is_the_specifications() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for c in (0..=255u8).step_by(3) {
                    assert_eq!(predict(a, b, c), spec_paeth(a, b, c), "{a} {b} {c}");
                }
            }
        }
    }

    // A row that differs from the one above only in a window is filtered
    // only there, and every residual outside it is zero: windows at each
    // edge, in the middle, across word boundaries, and of one pixel.
    #[test]
    fn residuals_outside_the_changed_pixels_are_zero() {
        let mut next = crate::chart::tests::xorshift(29);
        for width in (1..=40).chain([63, 64, 65, 1200]) {
            for _ in 0..60 {
                let prev: Vec<u8> = (0..width).map(|_| (next() % 3) as u8).collect();
                let mut row = prev.clone();
                let from = next() as usize % width;
                let to = from + 1 + next() as usize % (width - from);
                for p in &mut row[from..to] {
                    *p = (next() % 4) as u8;
                }
                let whole: Vec<u8> = (0..width)
                    .map(|x| {
                        let (a, c) = if x == 0 {
                            (0, 0)
                        } else {
                            (row[x - 1], prev[x - 1])
                        };
                        row[x].wrapping_sub(spec_paeth(a, prev[x], c))
                    })
                    .collect();
                if row == prev {
                    assert!(whole.iter().all(|&r| r == 0));
                    continue;
                }
                let range = changed(&row, &prev);
                let mut out = vec![0; width];
                paeth(&row, &prev, range.clone(), &mut out);
                assert_eq!(out, whole, "width {width}, changed {from}..{to}, {range:?}");
                assert!(row[range.start] != prev[range.start], "{range:?}");
                assert!(range.end <= width && range.start < range.end);
            }
        }
    }

    /// The image data of a PNG: its IDAT chunks joined and inflated (by
    /// zlib-rs through `flate2`, another inflater than `png`'s).
    pub(crate) fn inflated(png: &[u8]) -> Vec<u8> {
        let mut at = 8;
        let mut idat = Vec::new();
        while at + 12 <= png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            if &png[at + 4..at + 8] == b"IDAT" {
                idat.extend_from_slice(&png[at + 8..at + 8 + len]);
            }
            at += 12 + len;
        }
        super::super::deflate::tests::inflate(&idat)
    }

    /// The indices of an indexed PNG, as `png` decodes them.
    pub(crate) fn indices_of(png: &[u8]) -> Vec<u8> {
        let mut reader = png::Decoder::new(png).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        buf
    }

    fn test_images() -> Vec<(u32, u32, Vec<u8>)> {
        let mut noise = crate::chart::tests::xorshift(0x9e37_79b9);
        let mut images: Vec<(u32, u32, Vec<u8>)> = Vec::new();
        let (w, h) = (301, 97);
        let chartish: Vec<u8> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                if y % 20 == 0 || (x / 30 % 2 == 1 && y > 40) {
                    (1 + x / 30 % 5) as u8
                } else if y < 12 && x % 7 < 3 {
                    (5 + x % 16) as u8
                } else {
                    0
                }
            })
            .collect();
        images.push((w, h, chartish));
        images.push((w, h, (0..w * h).map(|_| (noise() % 37) as u8).collect()));
        images.push((w, h, (0..w * h).map(|_| (noise() % 256) as u8).collect()));
        // Mostly zeros with rare bytes of skewed counts: codes that would
        // be longer than 15 bits before the limit.
        images.push((
            w,
            h,
            (0..w * h)
                .map(|_| {
                    let r = noise();
                    if r.is_multiple_of(3) {
                        (r >> 8).trailing_zeros() as u8 * 9
                    } else {
                        0
                    }
                })
                .collect(),
        ));
        // Zero runs of every length from 1 to 600 (copies split at 258).
        let runs: Vec<u8> = (1..=600usize)
            .flat_map(|n| std::iter::repeat_n(0u8, n).chain([7]))
            .collect();
        images.push((runs.len() as u32, 1, runs));
        images.push((1, 9, (0..9).map(|i| i as u8).collect()));
        images.push((17, 1, vec![3; 17]));
        images.push((1, 1, vec![0]));
        images.push((5, 40, vec![0; 200]));
        images.push((1200, 50, vec![2; 60_000]));
        images
    }

    fn palette_for(indices: &[u8]) -> Vec<u8> {
        let top = indices.iter().copied().max().unwrap_or(0);
        (0..=u32::from(top) * 3 + 2)
            .map(|i| (i * 7 % 256) as u8)
            .collect()
    }

    // REQ-CH-001: rows equal to the one above, rows that differ, noise,
    // skewed counts, runs of every length, one-pixel images and data that
    // deflate would grow (stored blocks): the filtered rows inflated from
    // ours are `png`'s, byte for byte, and the pixels decode back.
    #[test]
    fn the_rows_are_the_png_crates() {
        let mut stored = 0;
        for (w, h, indices) in test_images() {
            let plte = palette_for(&indices);
            let ours = encode_indexed(&indices, w, h, plte.clone()).unwrap();
            let theirs = png_crates(&indices, w, h, plte);
            let (rows, their_rows) = (inflated(&ours), inflated(&theirs));
            let unfiltered: Vec<u8> = indices
                .chunks_exact(w as usize)
                .flat_map(|row| std::iter::once(0).chain(row.iter().copied()))
                .collect();
            if rows != their_rows && their_rows == unfiltered {
                // `png` stored these rows unfiltered, its deflate growing
                // them; ours deflated the Paeth rows smaller than that.
                assert!(ours.len() < theirs.len(), "{w}x{h}");
            } else {
                assert_eq!(rows, their_rows, "{w}x{h}");
            }
            assert_eq!(indices_of(&ours), indices, "{w}x{h}");
            if inflated(&ours) == unfiltered {
                stored += 1;
            }
        }
        assert!(stored > 0, "no image took the stored fallback");
    }

    // The stored fallback's size is what `fdeflate` writes, also where the
    // rows fill its blocks exactly.
    #[test]
    fn stored_size_is_what_is_stored() {
        for raw in [0, 1, 65_534, 65_535, 65_536, 131_070, 200_000] {
            let mut out = Vec::new();
            let mut stored =
                fdeflate::StoredOnlyCompressor::new(std::io::Cursor::new(&mut out)).unwrap();
            stored.write_data(&vec![7; raw]).unwrap();
            stored.finish().unwrap();
            assert_eq!(out.len(), stored_size(raw), "{raw}");
        }
    }

    // Our codes made for the image are smaller than `fdeflate`'s fixed ones
    // on what a chart is like.
    #[test]
    fn chart_like_images_are_no_larger_than_the_png_crates() {
        let (w, h, indices) = test_images().swap_remove(0);
        let plte = palette_for(&indices);
        let ours = encode_indexed(&indices, w, h, plte.clone()).unwrap();
        let theirs = png_crates(&indices, w, h, plte);
        assert!(
            ours.len() <= theirs.len(),
            "{} > {}",
            ours.len(),
            theirs.len()
        );
    }

    #[test]
    fn a_wrong_size_or_palette_is_an_error() {
        assert!(matches!(
            encode_indexed(&[0; 10], 4, 3, vec![0; 3]),
            Err(EncodeError::Size { len: 10, .. })
        ));
        assert!(matches!(
            encode_indexed(&[0; 12], 4, 3, vec![]),
            Err(EncodeError::Palette(0))
        ));
        assert!(matches!(
            encode_indexed(&[0; 12], 4, 3, vec![0; 4]),
            Err(EncodeError::Palette(4))
        ));
    }

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
