//! One validating pass over a record line that finds the raw text of the
//! members the batch reads, at several GB/s.
//!
//! A post line is about 6 KB, nearly all of it strings the batch never looks
//! at (a Markdown body, nested metadata). [`members`] walks the line once as
//! a JSON grammar, skipping the runs of plain string bytes with `memchr`'s
//! vector search, and hands back the raw text of the named top-level
//! members, exactly the text `serde_json`'s `RawValue` would borrow.
//!
//! It answers only when the answer is certain: a line it returns `Some` for
//! is one valid JSON object (RFC 8259, as `serde_json` reads it) in which no
//! named member occurs twice. Anything else (a syntax error, a member name
//! with an escape, a duplicate named member, nesting deeper than
//! [`MAX_DEPTH`], a control character anywhere, even a tab between tokens)
//! is `None`, and the caller takes the `serde_json` path, which says why the
//! line is bad or reads it all the same. So the rules for
//! what a bad line is live in one place, and this pass can only be faster,
//! never different (`records::tests::the_scan_agrees_with_serde_json`).
//!
//! UTF-8 and `\u` surrogate pairs are not checked here: the caller checks
//! the whole line for both first (`records::check_text`).

/// Containers nested deeper than this inside a member's value (the line's
/// own object not counted) end the scan (`None`): the `serde_json` path
/// reads such a line, skipping nested values without a depth limit. Real
/// exports nest a few levels.
pub(crate) const MAX_DEPTH: u32 = 64;

/// The raw JSON text of each of `names` at the top level of the object
/// `line`, or `None` where the member is absent; `None` overall when the line
/// is not certainly one valid object with each named member at most once
/// (see the module doc).
pub(crate) fn members<'a, const N: usize>(
    line: &'a str,
    names: &[&str; N],
) -> Option<[Option<&'a str>; N]> {
    let mut scan = Scanner {
        bytes: line.as_bytes(),
        at: 0,
    };
    if has_control(scan.bytes) {
        return None;
    }
    let mut found = [None; N];
    scan.whitespace();
    scan.eat(b'{')?;
    scan.whitespace();
    if !scan.eat_if(b'}') {
        loop {
            let name = scan.name_colon()?;
            let start = scan.at;
            scan.value()?;
            if let Some(slot) = names.iter().position(|n| n.as_bytes() == name)
                && found[slot].replace(&line[start..scan.at]).is_some()
            {
                return None;
            }
            scan.whitespace();
            match scan.next()? {
                b',' => scan.whitespace(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    scan.whitespace();
    (scan.at == scan.bytes.len()).then_some(found)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// Whether `line` holds a control character (below U+0020). JSON allows
/// four of them between tokens and none raw in a string; such a line is
/// rare, and [`members`] leaves it to `serde_json` rather than tell the two
/// places apart. A minimum over the line: a reduction the compiler
/// vectorises wherever it is inlined, with no early exit to stop it.
fn has_control(line: &[u8]) -> bool {
    line.iter().fold(u8::MAX, |low, &b| low.min(b)) < 0x20
}

impl<'a> Scanner<'a> {
    #[inline]
    fn next(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    #[inline]
    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    #[inline]
    fn eat_if(&mut self, want: u8) -> bool {
        let hit = self.bytes.get(self.at) == Some(&want);
        self.at += usize::from(hit);
        hit
    }

    /// JSON's whitespace: space, tab, line feed, carriage return (not the
    /// form feed `u8::is_ascii_whitespace` also takes). After
    /// [`has_control`] only the space reaches here; the rest are kept so the
    /// grammar stays JSON's without that check.
    #[inline]
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// A member name (the opening quote next) and its colon, leaving the scan
    /// at the value. A name with an escape is `None`: it is compared decoded,
    /// which the `serde_json` path does.
    fn name_colon(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.at;
        self.at = self.plain_run(self.at);
        let bytes = self.bytes;
        let name = &bytes[start..self.at];
        self.eat(b'"')?;
        self.whitespace();
        self.eat(b':')?;
        self.whitespace();
        Some(name)
    }

    /// Where the run of plain string bytes starting at `at` ends: the next
    /// quote or backslash, or the end of the line (a line with a control
    /// character never gets here). The bulk of a post line is such runs;
    /// `memchr` finds their ends with the vector instructions the machine
    /// has (AVX2 or SSE2 on x86-64, NEON on arm64), chosen at run time.
    #[inline]
    fn plain_run(&self, at: usize) -> usize {
        let rest = self.bytes.get(at..).unwrap_or_default();
        memchr::memchr2(b'"', b'\\', rest).map_or(self.bytes.len(), |i| at + i)
    }

    /// The rest of a string whose opening quote was read.
    fn string(&mut self) -> Option<()> {
        loop {
            self.at = self.plain_run(self.at);
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        let hex = self.bytes.get(self.at..self.at + 4)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        self.at += 4;
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
    }

    /// One or more digits.
    fn digits(&mut self) -> Option<()> {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.bytes.get(self.at) {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    /// A number whose first byte (`-` or a digit) was read.
    fn number(&mut self, first: u8) -> Option<()> {
        let lead = if first == b'-' { self.next()? } else { first };
        match lead {
            b'0' => {}
            b'1'..=b'9' => {
                while let Some(b'0'..=b'9') = self.bytes.get(self.at) {
                    self.at += 1;
                }
            }
            _ => return None,
        }
        if self.eat_if(b'.') {
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            self.digits()?;
        }
        Some(())
    }

    fn literal(&mut self, rest: &[u8]) -> Option<()> {
        let end = self.at + rest.len();
        (self.bytes.get(self.at..end)? == rest).then(|| self.at = end)
    }

    /// One value, starting at its first byte, with whatever it contains;
    /// nesting is kept as a bit per level (set for an object).
    fn value(&mut self) -> Option<()> {
        let mut objects: u64 = 0;
        let mut depth: u32 = 0;
        loop {
            // A value starts here.
            match self.next()? {
                b'"' => self.string()?,
                open @ (b'{' | b'[') => {
                    self.whitespace();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if !self.eat_if(close) {
                        if depth == MAX_DEPTH {
                            return None;
                        }
                        objects = (objects << 1) | u64::from(open == b'{');
                        depth += 1;
                        if open == b'{' {
                            self.skip_name_colon()?;
                        }
                        continue;
                    }
                }
                b't' => self.literal(b"rue")?,
                b'f' => self.literal(b"alse")?,
                b'n' => self.literal(b"ull")?,
                first @ (b'-' | b'0'..=b'9') => self.number(first)?,
                _ => return None,
            }
            // A value ended: close what it ends, or go on to the next one.
            loop {
                if depth == 0 {
                    return Some(());
                }
                self.whitespace();
                let in_object = objects & 1 == 1;
                match (self.next()?, in_object) {
                    (b',', _) => {
                        self.whitespace();
                        if in_object {
                            self.skip_name_colon()?;
                        }
                        break;
                    }
                    (b'}', true) | (b']', false) => {
                        objects >>= 1;
                        depth -= 1;
                    }
                    _ => return None,
                }
            }
        }
    }

    /// A nested member's name (any escapes allowed) and its colon.
    fn skip_name_colon(&mut self) -> Option<()> {
        self.eat(b'"')?;
        self.string()?;
        self.whitespace();
        self.eat(b':')?;
        self.whitespace();
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 2] = ["a", "b"];

    #[test]
    fn named_members_are_their_raw_text() {
        let line = r#" { "b" : [1, {"a": 2}] , "c":"x\"y", "a":"t\u00e9" } "#;
        assert_eq!(
            members(line, &NAMES),
            Some([Some(r#""t\u00e9""#), Some(r#"[1, {"a": 2}]"#)])
        );
        assert_eq!(members("{}", &NAMES), Some([None, None]));
        assert_eq!(
            members(r#"{"a":-0.5e+7,"b":null}"#, &NAMES),
            Some([Some("-0.5e+7"), Some("null")])
        );
    }

    #[test]
    fn anything_uncertain_is_left_to_serde_json() {
        let deep = |n: usize| format!(r#"{{"x":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
        assert!(members(&deep(MAX_DEPTH as usize), &NAMES).is_some());
        for line in [
            deep(MAX_DEPTH as usize + 1).as_str(),
            r#"{"a":1,"a":2}"#,
            r#"{"\u0061":1}"#,
            "[1]",
            "\u{c}{}",
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":-}"#,
            r#"{"a":1e}"#,
            r#"{"a":+1}"#,
            r#"{"a":tru}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12g4"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":[1,]}"#,
            r#"{"a":{"b"}}"#,
            r#"{"a":[}"#,
            r#"{"a":{]}"#,
            r#"{"a":1} x"#,
            r#"{"a":1"#,
            r#"{"a":"open"#,
            "",
        ] {
            assert_eq!(members(line, &NAMES), None, "{line:?}");
        }
    }

    #[test]
    fn long_runs_stop_at_every_special_byte() {
        // A special byte at each offset of a vector search's block, and past it.
        for at in 0..70 {
            for special in ["\\n", "\\\"", "\u{1f}"] {
                let body = format!("{}{special}{}", "あ".repeat(at), "x".repeat(40));
                let line = format!(r#"{{"a":"{body}"}}"#);
                let want = (special != "\u{1f}").then_some([Some(&line[5..line.len() - 1]), None]);
                assert_eq!(members(&line, &NAMES), want, "{at} {special:?}");
            }
        }
    }
}
