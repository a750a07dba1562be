//! The zlib stream of a chart's filtered rows: one dynamic-Huffman deflate
//! block made for the image (RFC 1950, RFC 1951).
//!
//! A chart's filtered rows are mostly zeros: a row equal to the one above
//! filters to nothing but its filter byte, and the others are zeros but for
//! the edges of text and bars. So the only strings matched are runs of zeros
//! (a zero, then copies at distance one), as in `fdeflate`, whose fixed
//! table this replaces with codes counted on the image itself. A row of
//! zeros is written without being looked at: [`RowDeflate::zero_row`] costs
//! the same for any width, its Adler-32 included.

/// One more than the longest literal/length symbol used (285).
const LITERALS: usize = 286;
/// The distance code's lengths: distance one is code 0, a single zero bit;
/// code 1 is never used but makes the code complete, as two codes of one bit.
const DISTANCE_LENS: [u8; 2] = [1, 1];
/// End of block.
const END: usize = 256;
/// The longest copy deflate has.
const MAX_MATCH: usize = 258;
/// Adler-32's modulus.
const ADLER: u64 = 65_521;
/// Tokens: a literal byte is itself, a copy of zeros at distance one
/// `COPY + length`, and [`ZERO_ROW`] a whole row of zeros after its filter
/// byte.
const COPY: u16 = 256;
const TOKENS: usize = COPY as usize + MAX_MATCH + 1;
const ZERO_ROW: u16 = u16::MAX;
/// The order in which code-length code lengths are sent (RFC 1951 3.2.7).
const CLEN_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// For each copy length (3 to 258): its symbol, extra bit count and extra
/// bits value (RFC 1951 3.2.5).
const LENGTH_CODES: [(u16, u8, u16); MAX_MATCH + 1] = length_codes();

const fn length_codes() -> [(u16, u8, u16); MAX_MATCH + 1] {
    const BASE: [u16; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const EXTRA: [u8; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    let mut table = [(0u16, 0u8, 0u16); MAX_MATCH + 1];
    let mut code = 0;
    while code < BASE.len() {
        let last = if code + 1 < BASE.len() {
            BASE[code + 1] - 1
        } else {
            BASE[code]
        };
        let mut len = BASE[code];
        while len <= last {
            table[len as usize] = (257 + code as u16, EXTRA[code], len - BASE[code]);
            len += 1;
        }
        code += 1;
    }
    table
}

/// A zlib stream written row by row, then coded at [`RowDeflate::finish`].
pub(crate) struct RowDeflate {
    tokens: Vec<u16>,
    /// The Adler-32 of what was written so far, its two halves.
    a: u64,
    b: u64,
    /// The filter byte and length of the zero rows (one kind a stream).
    zero_row: Option<(u8, usize)>,
}

impl RowDeflate {
    pub(crate) fn new(tokens_hint: usize) -> Self {
        RowDeflate {
            tokens: Vec::with_capacity(tokens_hint),
            a: 1,
            b: 0,
            zero_row: None,
        }
    }

    /// Adds a filtered row (its filter byte first).
    pub(crate) fn row(&mut self, data: &[u8]) {
        if let Some((&filter, rest)) = data.split_first() {
            self.row_between(filter, 0, rest, 0);
        }
    }

    /// Adds a filtered row of `filter`, `lead` zeros, `middle` and `trail`
    /// zeros: the zeros at either end are neither read nor summed one by one.
    pub(crate) fn row_between(&mut self, filter: u8, lead: usize, middle: &[u8], trail: usize) {
        // A zero adds nothing to Adler-32's first half and the first half
        // to its second.
        self.a = (self.a + u64::from(filter)) % ADLER;
        self.b = (self.b + self.a + (lead as u64 % ADLER) * self.a) % ADLER;
        if !middle.is_empty() {
            let mut hasher = simd_adler32::Adler32::from_checksum(self.adler());
            hasher.write(middle);
            let sum = hasher.finish();
            (self.a, self.b) = (u64::from(sum & 0xffff), u64::from(sum >> 16));
        }
        self.b = (self.b + (trail as u64 % ADLER) * self.a) % ADLER;
        self.tokens.reserve(middle.len() + 1);
        let mut run = lead;
        if filter == 0 {
            run += 1;
        } else {
            self.tokens.push(u16::from(filter));
        }
        // Eight bytes at a time: zeros at either end of eight join a run,
        // the bytes between (zeros among them) are literals, without a
        // branch for each byte.
        let mut chunks = middle.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            if word == 0 {
                run += 8;
                continue;
            }
            let first = (word.trailing_zeros() / 8) as usize;
            let last = 8 - (word.leading_zeros() / 8) as usize;
            self.zeros(run + first);
            self.tokens
                .extend(chunk[first..last].iter().map(|&b| u16::from(b)));
            run = 8 - last;
        }
        for &byte in chunks.remainder() {
            if byte == 0 {
                run += 1;
            } else {
                self.zeros(run);
                run = 0;
                self.tokens.push(u16::from(byte));
            }
        }
        self.zeros(run + trail);
    }

    /// Adds a row of `filter` followed by `len` zeros without reading one.
    /// The zero rows of an image are all of one kind (its filter byte and
    /// width); one of another kind than the first is written as a row.
    pub(crate) fn zero_row(&mut self, filter: u8, len: usize) {
        if self.zero_row.is_some_and(|kind| kind != (filter, len)) {
            let mut row = vec![0; len + 1];
            row[0] = filter;
            self.row(&row);
            return;
        }
        self.zero_row = Some((filter, len));
        self.tokens.push(ZERO_ROW);
        self.a = (self.a + u64::from(filter)) % ADLER;
        self.b = (self.b + self.a + (len as u64 % ADLER) * self.a) % ADLER;
    }

    fn adler(&self) -> u32 {
        ((self.b as u32) << 16) | self.a as u32
    }

    /// A run of zeros: short ones as literals, longer ones as a zero and
    /// copies of it.
    fn zeros(&mut self, run: usize) {
        if run == 0 {
            return;
        }
        if run < 4 {
            for _ in 0..run {
                self.tokens.push(0);
            }
            return;
        }
        self.tokens.push(0);
        let left = copies(run - 1, |len| self.tokens.push(COPY + len as u16));
        for _ in 0..left {
            self.tokens.push(0);
        }
    }

    /// The tokens a zero row stands for.
    fn zero_row_tokens(filter: u8, len: usize) -> Vec<u16> {
        let mut row = RowDeflate::new(8);
        row.tokens.push(u16::from(filter));
        row.zeros(len);
        row.tokens
    }

    /// The zlib stream: header, one dynamic block, Adler-32.
    pub(crate) fn finish(self) -> Vec<u8> {
        let zero_row = self
            .zero_row
            .map(|(filter, len)| Self::zero_row_tokens(filter, len))
            .unwrap_or_default();
        let counts = count(&self.tokens);
        let mut literals = [0u32; LITERALS];
        for (token, &n) in counts[..TOKENS].iter().enumerate() {
            literals[symbol(token)] += n;
        }
        for &token in &zero_row {
            literals[symbol(usize::from(token))] += counts[TOKENS];
        }
        literals[END] += 1;
        let lit_lens = code_lengths(&literals, 15);
        let lit_codes = canonical(&lit_lens);
        // Each token's bits, whole: a copy is its length code, the length's
        // extra bits and distance code 0 (one zero bit), at most 21 bits.
        let bits: Vec<(u64, u32)> = (0..TOKENS)
            .map(|token| {
                let s = symbol(token);
                let (code, n) = (u64::from(lit_codes[s]), u32::from(lit_lens[s]));
                if token < usize::from(COPY) {
                    (code, n)
                } else {
                    let (_, extra_bits, extra) = LENGTH_CODES[token - usize::from(COPY)];
                    (
                        code | (u64::from(extra) << n),
                        n + u32::from(extra_bits) + 1,
                    )
                }
            })
            .collect();

        let mut out = Bits::new(self.tokens.len() / 2 + 128);
        out.bytes.extend_from_slice(&[0x78, 0x01]);
        // The last block, dynamic codes.
        out.put(1, 1);
        out.put(2, 2);
        header(&mut out, &lit_lens, &DISTANCE_LENS);
        // A zero row's codes joined into as few writes of up to 32 bits.
        let mut zero_row_bits: Vec<(u64, u32)> = Vec::new();
        for &t in &zero_row {
            let (code, n) = bits[usize::from(t)];
            match zero_row_bits.last_mut() {
                Some((joined, len)) if *len + n <= 32 => {
                    *joined |= code << *len;
                    *len += n;
                }
                _ => zero_row_bits.push((code, n)),
            }
        }
        for &token in &self.tokens {
            if token == ZERO_ROW {
                for &(code, n) in &zero_row_bits {
                    out.put(code, n);
                }
            } else {
                let (code, n) = bits[usize::from(token)];
                out.put(code, n);
            }
        }
        out.put(u64::from(lit_codes[END]), u32::from(lit_lens[END]));
        let mut bytes = out.flush();
        bytes.extend_from_slice(&self.adler().to_be_bytes());
        bytes
    }
}

/// How often each token was written, zero rows counted last: four tallies
/// taken in turn, so that a run of one token does not wait on its own count.
fn count(tokens: &[u16]) -> Vec<u32> {
    let mut tallies = vec![[0u32; 4]; TOKENS + 1];
    let slot = |token: u16| usize::from(token).min(TOKENS);
    let mut quads = tokens.chunks_exact(4);
    for quad in &mut quads {
        for (lane, &token) in quad.iter().enumerate() {
            tallies[slot(token)][lane] += 1;
        }
    }
    for &token in quads.remainder() {
        tallies[slot(token)][0] += 1;
    }
    tallies.iter().map(|t| t.iter().sum()).collect()
}

/// The literal/length symbol of a token.
fn symbol(token: usize) -> usize {
    if token < usize::from(COPY) {
        token
    } else {
        usize::from(LENGTH_CODES[token - usize::from(COPY)].0)
    }
}

/// Splits `len` bytes of copies into lengths of 3 to 258, each given to
/// `copy`, and returns what is left (0 to 2 bytes, for literals).
fn copies(mut len: usize, mut copy: impl FnMut(usize)) -> usize {
    while len >= 3 {
        let mut take = len.min(MAX_MATCH);
        if (1..3).contains(&(len - take)) {
            take = len - 3;
        }
        copy(take);
        len -= take;
    }
    len
}

/// Bits written least significant first into bytes.
struct Bits {
    bytes: Vec<u8>,
    buf: u64,
    n: u32,
}

impl Bits {
    fn new(capacity: usize) -> Self {
        Bits {
            bytes: Vec::with_capacity(capacity),
            buf: 0,
            n: 0,
        }
    }

    /// Appends the low `n` bits of `bits` (`n` at most 32).
    #[inline]
    fn put(&mut self, bits: u64, n: u32) {
        self.buf |= bits << self.n;
        self.n += n;
        if self.n >= 32 {
            self.bytes
                .extend_from_slice(&(self.buf as u32).to_le_bytes());
            self.buf >>= 32;
            self.n -= 32;
        }
    }

    /// The bytes, the last one padded with zero bits.
    fn flush(mut self) -> Vec<u8> {
        let len = self.n.div_ceil(8) as usize;
        self.bytes.extend_from_slice(&self.buf.to_le_bytes()[..len]);
        self.bytes
    }
}

/// Writes the counts and the code lengths of both codes, themselves
/// run-length coded with the code-length code (RFC 1951 3.2.7).
fn header(out: &mut Bits, lit_lens: &[u8], dist_lens: &[u8]) {
    let hlit = 257.max(lit_lens.iter().rposition(|&l| l > 0).map_or(0, |i| i + 1));
    let hdist = 1.max(dist_lens.iter().rposition(|&l| l > 0).map_or(0, |i| i + 1));
    let all: Vec<u8> = lit_lens[..hlit]
        .iter()
        .chain(&dist_lens[..hdist])
        .copied()
        .collect();
    // (symbol, extra bits, extra bit count)
    let mut runs: Vec<(u8, u8, u8)> = Vec::new();
    let mut at = 0;
    while at < all.len() {
        let len = all[at];
        let run = all[at..].iter().take_while(|&&l| l == len).count();
        let mut left = run;
        if len == 0 {
            while left >= 11 {
                let take = left.min(138);
                runs.push((18, (take - 11) as u8, 7));
                left -= take;
            }
            if left >= 3 {
                runs.push((17, (left - 3) as u8, 3));
                left = 0;
            }
        } else {
            runs.push((len, 0, 0));
            left -= 1;
            while left >= 3 {
                let take = left.min(6);
                runs.push((16, (take - 3) as u8, 2));
                left -= take;
            }
        }
        runs.extend(std::iter::repeat_n((len, 0, 0), left));
        at += run;
    }
    let mut freq = [0u32; 19];
    for &(sym, _, _) in &runs {
        freq[usize::from(sym)] += 1;
    }
    let clen_lens = code_lengths(&freq, 7);
    let clen_codes = canonical(&clen_lens);
    let hclen = 4.max(
        CLEN_ORDER
            .iter()
            .rposition(|&s| clen_lens[s] > 0)
            .map_or(0, |i| i + 1),
    );
    out.put((hlit - 257) as u64, 5);
    out.put((hdist - 1) as u64, 5);
    out.put((hclen - 4) as u64, 4);
    for &s in &CLEN_ORDER[..hclen] {
        out.put(u64::from(clen_lens[s]), 3);
    }
    for (sym, extra, extra_bits) in runs {
        let s = usize::from(sym);
        out.put(u64::from(clen_codes[s]), u32::from(clen_lens[s]));
        out.put(u64::from(extra), u32::from(extra_bits));
    }
}

/// Huffman code lengths for `freq`, none longer than `limit`. Symbols with
/// no count get no code; at least two symbols get one (a code of one symbol
/// is incomplete, which some decoders refuse). Over the limit, the counts are
/// halved (none below one) and the code made again, which ends: equal counts
/// give a balanced code.
fn code_lengths(freq: &[u32], limit: u8) -> Vec<u8> {
    let mut freq = freq.to_vec();
    for s in 0..freq.len() {
        if freq.iter().filter(|&&f| f > 0).count() >= 2 {
            break;
        }
        if freq[s] == 0 {
            freq[s] = 1;
        }
    }
    loop {
        let lens = huffman(&freq);
        if lens.iter().all(|&l| l <= limit) {
            return lens;
        }
        for f in freq.iter_mut().filter(|f| **f > 0) {
            *f = (*f / 2).max(1);
        }
    }
}

/// Unlimited Huffman code lengths (each symbol's depth in the tree made by
/// joining the two lightest nodes, ties to the older node).
fn huffman(freq: &[u32]) -> Vec<u8> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut parent: Vec<usize> = Vec::with_capacity(2 * freq.len());
    let mut heap = BinaryHeap::new();
    for (s, &f) in freq.iter().enumerate() {
        parent.push(usize::MAX);
        if f > 0 {
            heap.push(Reverse((u64::from(f), s)));
        }
    }
    while heap.len() > 1 {
        let (Some(Reverse((fa, a))), Some(Reverse((fb, b)))) = (heap.pop(), heap.pop()) else {
            unreachable!("two nodes in the heap");
        };
        let node = parent.len();
        parent.push(usize::MAX);
        parent[a] = node;
        parent[b] = node;
        heap.push(Reverse((fa + fb, node)));
    }
    // A node is made after its children, so from the root down each node's
    // parent has its depth already. The root, and a symbol without a count
    // (never in the tree), have no parent and stay at depth 0.
    let mut depth = vec![0u8; parent.len()];
    for node in (0..parent.len()).rev() {
        if let Some(&up) = depth.get(parent[node]) {
            depth[node] = up.saturating_add(1);
        }
    }
    depth.truncate(freq.len());
    depth
}

/// The canonical codes of `lens` (RFC 1951 3.2.2), bit-reversed for writing
/// least significant bit first.
fn canonical(lens: &[u8]) -> Vec<u16> {
    let mut count = [0u16; 16];
    for &l in lens {
        count[usize::from(l)] += 1;
    }
    count[0] = 0;
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for bits in 1..16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    lens.iter()
        .map(|&l| {
            if l == 0 {
                return 0;
            }
            let c = next[usize::from(l)];
            next[usize::from(l)] += 1;
            c.reverse_bits() >> (16 - u16::from(l))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Read as _;

    /// `stream` inflated by zlib-rs through `flate2` (another inflater than
    /// `png`'s), its Adler-32 checked.
    pub(crate) fn inflate(stream: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(stream)
            .read_to_end(&mut out)
            .expect("a valid zlib stream with its Adler-32");
        out
    }

    // REQ-CH-001: rows and zero rows of every kind inflate to exactly what
    // was written, the Adler-32 of zero rows (never read) included.
    #[test]
    fn what_is_written_inflates_back() {
        let mut noise = crate::chart::tests::xorshift(0x2545_f491);
        for width in [
            1usize, 2, 3, 4, 5, 8, 9, 257, 258, 259, 260, 261, 1200, 70_000,
        ] {
            let mut deflate = RowDeflate::new(0);
            let mut want = Vec::new();
            for r in 0..12 {
                if r % 3 == 1 {
                    deflate.zero_row(4, width);
                    want.push(4);
                    want.extend(std::iter::repeat_n(0, width));
                } else {
                    let row: Vec<u8> = std::iter::once(4)
                        .chain((0..width).map(|_| {
                            let n = noise();
                            if n.is_multiple_of(4) { n as u8 } else { 0 }
                        }))
                        .collect();
                    deflate.row(&row);
                    want.extend(row);
                }
            }
            assert_eq!(inflate(&deflate.finish()), want, "width {width}");
        }
        // Only zero rows, zero rows of two kinds, and nothing at all.
        let mut deflate = RowDeflate::new(0);
        deflate.zero_row(0, 10);
        assert_eq!(inflate(&deflate.finish()), vec![0; 11]);
        let mut deflate = RowDeflate::new(0);
        deflate.zero_row(4, 10);
        deflate.zero_row(2, 5);
        deflate.zero_row(4, 10);
        let want: Vec<u8> = [&[4u8][..], &[0; 10], &[2], &[0; 5], &[4], &[0; 10]].concat();
        assert_eq!(inflate(&deflate.finish()), want);
        assert_eq!(inflate(&RowDeflate::new(0).finish()), Vec::<u8>::new());
    }

    // A run of zeros splits into copies deflate has (3 to 258) and at most
    // two bytes left for literals, nothing lost.
    #[test]
    fn runs_split_into_copies_deflate_has() {
        for len in 0..2_000 {
            let mut lens = Vec::new();
            let left = copies(len, |l| lens.push(l));
            assert!(lens.iter().all(|l| (3..=MAX_MATCH).contains(l)), "{len}");
            assert!(left < 3, "{len}");
            assert_eq!(lens.iter().sum::<usize>() + left, len);
        }
        assert_eq!(LENGTH_CODES[3], (257, 0, 0));
        assert_eq!(LENGTH_CODES[257], (284, 5, 30));
        assert_eq!(LENGTH_CODES[258], (285, 0, 0));
    }

    // Counts that would make codes over the limit (Fibonacci ones) get a
    // complete code within it; one or no symbol still gets two codes.
    #[test]
    fn codes_are_complete_and_within_the_limit() {
        let mut fib = vec![1u32, 1];
        while fib.len() < 40 {
            fib.push(fib[fib.len() - 1] + fib[fib.len() - 2]);
        }
        for (freq, limit) in [
            (fib.clone(), 15),
            (fib[..19].to_vec(), 7),
            (vec![0; 30], 15),
            (vec![0, 5, 0], 15),
        ] {
            let lens = code_lengths(&freq, limit);
            assert!(lens.iter().all(|&l| l <= limit), "{lens:?}");
            let kraft: f64 = lens
                .iter()
                .filter(|&&l| l > 0)
                .map(|&l| 0.5f64.powi(i32::from(l)))
                .sum();
            assert!((kraft - 1.0).abs() < 1e-12, "{lens:?}");
            assert!(freq.iter().zip(&lens).all(|(&f, &l)| f == 0 || l > 0));
        }
    }
}
