//! Character classes of XML 1.0 (fifth edition): names, whitespace, and the byte tables the
//! tokenizer's hot loops use. Shared by the `xml` source's parser and the `toxml` filter.

/// Byte classes for ASCII name scanning.
const START: u8 = 1;
const NAME: u8 = 2;

static ASCII_NAME: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut c = b'a';
    while c <= b'z' {
        t[c as usize] = START | NAME;
        t[(c - 32) as usize] = START | NAME;
        c += 1;
    }
    let mut d = b'0';
    while d <= b'9' {
        t[d as usize] = NAME;
        d += 1;
    }
    t[b':' as usize] = START | NAME;
    t[b'_' as usize] = START | NAME;
    t[b'-' as usize] = NAME;
    t[b'.' as usize] = NAME;
    t
};

/// XML's `S`: space, tab, CR, LF.
#[inline]
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `NameStartChar` for a non-ASCII character.
pub fn is_name_start_char(c: char) -> bool {
    let c = c as u32;
    if c < 0x80 {
        return ASCII_NAME[c as usize] & START != 0;
    }
    matches!(c,
        0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x2FF | 0x370..=0x37D | 0x37F..=0x1FFF
        | 0x200C..=0x200D | 0x2070..=0x218F | 0x2C00..=0x2FEF | 0x3001..=0xD7FF
        | 0xF900..=0xFDCF | 0xFDF0..=0xFFFD | 0x10000..=0xEFFFF)
}

/// `NameChar`.
pub fn is_name_char(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return ASCII_NAME[u as usize] & NAME != 0;
    }
    is_name_start_char(c) || u == 0xB7 || matches!(u, 0x300..=0x36F | 0x203F..=0x2040)
}

/// XML's `Char`, for character references.
pub fn is_xml_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// How a name ends when it is scanned from `b[i]` on.
pub enum NameEnd {
    /// The name ends before `b[end]` (which exists).
    At(usize),
    /// The data ends before the name is known to end.
    Open,
    /// The first character is not a name start character.
    BadStart,
    /// A character that cannot be in a name, and is not a delimiter either.
    BadChar(usize, char),
}

/// Bytes that may follow a name in markup (its delimiters).
#[inline]
fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\r'
            | b'\n'
            | b'>'
            | b'/'
            | b'='
            | b'?'
            | b';'
            | b'['
            | b'<'
            | b'"'
            | b'\''
            | b'%'
            | b'|'
            | b')'
            | b','
            | b'('
            | b'*'
            | b'+'
    )
}

/// Scan a `Name` starting at `b[i]` (`b` is valid UTF-8 and `i` a character boundary).
/// With `strict` every character is checked against the Name production; otherwise a name
/// is whatever runs up to a delimiter.
#[inline]
pub fn scan_name(b: &[u8], i: usize, strict: bool) -> NameEnd {
    scan(b, i, i, strict)
}

/// [`scan_name`] of the name starting at `b[i]`, resumed at `b[from]`: `b[i..from]` is
/// already known to be the start of a name (an earlier scan returned [`NameEnd::Open`] on
/// data ending at `from`), so the scan goes on from there instead of from the start (a long
/// name arriving in many reads is scanned once). `from` is `i` or a character boundary
/// after it.
#[inline]
pub fn scan_name_from(b: &[u8], i: usize, from: usize, strict: bool) -> NameEnd {
    scan(b, i, from, strict)
}

/// The end of the run of ASCII name characters (`[A-Za-z0-9:_.-]`) from `b[j]` on.
#[inline(always)]
fn ascii_name_run(b: &[u8], mut j: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // Sixteen bytes at a time (SSE2 is part of x86-64), while sixteen are left: letters
        // (either case: the byte with bit 5 set is in a..z), `-` `.` digits `:` (0x2D..0x3A
        // but `/`), and `_`. Bytes from 0x80 on are negative in these signed compares, so
        // they end the run, as in the byte loop below.
        while j + 16 <= b.len() {
            // SAFETY: SSE2 is always available on x86-64; the load reads b[j..j + 16],
            // which is in bounds.
            let m = unsafe {
                let v = _mm_loadu_si128(b.as_ptr().add(j).cast());
                let f = _mm_or_si128(v, _mm_set1_epi8(0x20));
                let alpha = _mm_and_si128(
                    _mm_cmpgt_epi8(f, _mm_set1_epi8(0x60)),
                    _mm_cmplt_epi8(f, _mm_set1_epi8(0x7B)),
                );
                let punct = _mm_andnot_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'/' as i8)),
                    _mm_and_si128(
                        _mm_cmpgt_epi8(v, _mm_set1_epi8(0x2C)),
                        _mm_cmplt_epi8(v, _mm_set1_epi8(0x3B)),
                    ),
                );
                let under = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'_' as i8));
                _mm_movemask_epi8(_mm_or_si128(alpha, _mm_or_si128(punct, under))) as u32
            };
            if m != 0xFFFF {
                return j + (!m).trailing_zeros() as usize;
            }
            j += 16;
        }
    }
    while j < b.len() && b[j] < 0x80 && ASCII_NAME[b[j] as usize] & NAME != 0 {
        j += 1;
    }
    j
}

/// The body of [`scan_name`] and [`scan_name_from`], inlined in each so that `scan_name`
/// (the hot path: `from == i`) has no test of `from`.
#[inline(always)]
fn scan(b: &[u8], i: usize, from: usize, strict: bool) -> NameEnd {
    let Some(&c0) = b.get(i) else {
        return NameEnd::Open;
    };
    if c0 < 0x80 && ASCII_NAME[c0 as usize] & START == 0 && (strict || is_delimiter(c0)) {
        return NameEnd::BadStart;
    }
    // ASCII fast path: a tight loop over name characters.
    let mut j = if from > i {
        from
    } else if c0 < 0x80 {
        i + 1
    } else {
        i
    };
    loop {
        j = ascii_name_run(b, j);
        let Some(&c) = b.get(j) else {
            return NameEnd::Open;
        };
        if c >= 0x80 {
            break;
        }
        if is_delimiter(c) {
            return NameEnd::At(j);
        }
        if strict {
            return NameEnd::BadChar(j, c as char);
        }
        j += 1;
    }
    // Non-ASCII: decode character by character.
    let s = match std::str::from_utf8(&b[j..]) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&b[j..j + e.valid_up_to()]).expect("valid prefix"),
    };
    for (k, c) in s.char_indices() {
        let at = j + k;
        if c.is_ascii() {
            let class = ASCII_NAME[c as usize];
            if at == i && class & START == 0 {
                if is_delimiter(c as u8) || strict {
                    return NameEnd::BadStart;
                }
            } else if class & NAME == 0 {
                if is_delimiter(c as u8) {
                    return NameEnd::At(at);
                }
                if strict {
                    return NameEnd::BadChar(at, c);
                }
            }
        } else if strict {
            let ok = if at == i {
                is_name_start_char(c)
            } else {
                is_name_char(c)
            };
            if !ok {
                return if at == i {
                    NameEnd::BadStart
                } else {
                    NameEnd::BadChar(at, c)
                };
            }
        }
    }
    NameEnd::Open
}

/// Whether a whole string is a `Name`.
pub fn is_name(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(is_name_start_char) && cs.all(is_name_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_name("bus"));
        assert!(is_name("ns:tag"));
        assert!(is_name("_a-b.c9"));
        assert!(is_name("été"));
        assert!(is_name("名前"));
        assert!(!is_name("9a"));
        assert!(!is_name("-a"));
        assert!(!is_name(""));
        assert!(!is_name("a b"));
        assert!(!is_name("a\u{2000}"));
    }

    #[test]
    fn scanning() {
        assert!(matches!(scan_name(b"bus>", 0, true), NameEnd::At(3)));
        assert!(matches!(scan_name(b"bus", 0, true), NameEnd::Open));
        assert!(matches!(scan_name(b"1bus>", 0, true), NameEnd::BadStart));
        assert!(matches!(
            scan_name(b"b@s>", 0, true),
            NameEnd::BadChar(1, '@')
        ));
        assert!(matches!(scan_name(b"b@s>", 0, false), NameEnd::At(3)));
        assert!(matches!(
            scan_name("été/>".as_bytes(), 0, true),
            NameEnd::At(5)
        ));
        assert!(matches!(
            scan_name("a\u{d7}b>".as_bytes(), 0, true),
            NameEnd::BadChar(1, '\u{d7}')
        ));
    }

    /// The sixteen-byte scan of ASCII name characters stops exactly where the byte table
    /// says, for every byte value at every place of a block (and past one block).
    #[test]
    fn name_runs_in_blocks_end_at_the_first_byte_that_is_no_name_character() {
        for len in [16, 20, 35] {
            for at in 0..len {
                for c in 0..=255u8 {
                    let mut b = vec![b'a'; len];
                    for (k, x) in b.iter_mut().enumerate() {
                        *x = b"aZ09:_.-zA"[k % 10];
                    }
                    b[at] = c;
                    let name = c < 0x80 && ASCII_NAME[c as usize] & NAME != 0;
                    let want = if name { len } else { at };
                    assert_eq!(ascii_name_run(&b, 0), want, "byte {c:#x} at {at} of {len}");
                }
            }
        }
    }

    #[test]
    fn xml_chars() {
        assert!(is_xml_char('\t'));
        assert!(!is_xml_char('\0'));
        assert!(!is_xml_char('\u{FFFE}'));
        assert!(is_xml_char('\u{10FFFF}'));
    }
}
