//! JSON read as Jackson's default `ObjectMapper` reads it (the classes of `J`), whole, by the
//! keys a plan reads, or straight into a row's slots.
use super::{int_class, JMap, J};

/// A JSON syntax error, with the byte offset.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonError(pub String);

/// Nesting deeper than this is refused (a clear error instead of a stack overflow).
pub const MAX_DEPTH: usize = 512;

/// Parse JSON as Jackson's default `ObjectMapper` does: strict syntax, the first value only
/// (what follows it is not read), duplicate keys keep the last value. `root_hashed`: the
/// top-level object is a `HashMap` (Jackson's `readValue(json, HashMap.class)`).
pub fn parse(text: &str, root_hashed: bool) -> Result<J, JsonError> {
    let mut p = Parser::new(text, None);
    p.value(root_hashed)
}

/// Parse a JSON object keeping only `keys` (values of other keys are checked, not built).
/// For plans that read the object by key and nothing else.
pub fn parse_keys(text: &str, keys: &[String]) -> Result<J, JsonError> {
    let mut p = Parser::new(text, Some(keys));
    p.value(true)
}

/// Read a JSON object's values for `keys` into `out` (null where absent), as `parse` would
/// give them, without building the object: key `k` goes to `out[targets[k]]`, or `out[k]`.
/// Plain string values are written into strings taken from `spare` (emptied buffers of
/// earlier records) before any is allocated.
pub fn parse_slots(
    text: &str,
    keys: &[String],
    targets: Option<&[usize]>,
    out: &mut [J],
    spare: &mut Vec<String>,
) -> Result<(), JsonError> {
    let mut p = Parser::new(text, None);
    p.spare = std::mem::take(spare);
    let res = p.object_slots(keys, targets, out);
    *spare = std::mem::take(&mut p.spare);
    res
}

/// `s` as an owned string, in a buffer from `spare` when there is one.
#[inline(always)]
pub fn reuse(spare: &mut Vec<String>, s: &str) -> String {
    match spare.pop() {
        Some(mut t) => {
            t.clear();
            t.push_str(s);
            t
        }
        None => s.to_owned(),
    }
}

/// Bytes that end a plain run inside a JSON string: quote, backslash, control bytes.
const STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Where the plain run of a string starting at `start` ends: the first quote, backslash or
/// control byte, or the end of the text. Eight bytes at a time (one well-predicted branch per
/// word: most keys and values end in their first or second word), the last few byte by byte.
#[inline(always)]
fn plain_end(b: &[u8], start: usize) -> usize {
    let mut i = start;
    while let Some(word) = b.get(i..i + 8) {
        let m = stop_mask(u64::from_le_bytes(word.try_into().unwrap_or([0; 8])));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !STOP[b[i] as usize] {
        i += 1;
    }
    i
}

/// The high bit of each byte of `w` (little endian) that is a quote, a backslash or below
/// 0x20. A borrow can only mark bytes above a real hit, so the lowest mark is exact.
#[inline(always)]
fn stop_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let quote = zero(w ^ (ONES * b'"' as u64));
    let backslash = zero(w ^ (ONES * b'\\' as u64));
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    quote | backslash | control
}

/// Write a slot that is nearly always null: the old value is dropped only when it is not.
#[inline(always)]
fn put(out: &mut J, v: J) {
    let old = std::mem::replace(out, v);
    if old.is_null() {
        std::mem::forget(old);
    }
}

/// String equality for short keys, without a call to `memcmp`.
#[inline(always)]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

struct Parser<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
    depth: usize,
    /// At the top level only: the keys to build.
    want: Option<&'a [String]>,
    /// Buffers for plain string values (see `parse_slots`).
    spare: Vec<String>,
}

impl<'a> Parser<'a> {
    /// A parser at the first value of `text` (leading whitespace skipped).
    fn new(text: &'a str, want: Option<&'a [String]>) -> Self {
        let mut p = Parser {
            b: text.as_bytes(),
            s: text,
            i: 0,
            depth: 0,
            want,
            spare: Vec::new(),
        };
        p.ws();
        p
    }

    fn err<T>(&self, what: &str) -> Result<T, JsonError> {
        Err(JsonError(format!("{what} at offset {}", self.i)))
    }

    #[inline(always)]
    fn ws(&mut self) {
        while let Some(c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn value(&mut self, hashed: bool) -> Result<J, JsonError> {
        match self.b.get(self.i) {
            None => self.err("unexpected end of input"),
            Some(b'{') => self.object(hashed),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(J::Str(self.string()?)),
            Some(b't') => self.lit("true", J::Bool(true)),
            Some(b'f') => self.lit("false", J::Bool(false)),
            Some(b'n') => self.lit("null", J::Null),
            Some(c) if *c == b'-' || c.is_ascii_digit() => self.number(),
            Some(_) => self.err("unexpected character"),
        }
    }

    /// Skip one value (checked; strings are not copied).
    fn skip(&mut self) -> Result<(), JsonError> {
        if self.b.get(self.i) == Some(&b'"') {
            self.skip_string()
        } else {
            self.value(false).map(drop)
        }
    }

    fn lit(&mut self, word: &str, v: J) -> Result<J, JsonError> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            // Jackson refuses `truex` / `nullable`.
            if self
                .b
                .get(self.i)
                .is_some_and(|c| c.is_ascii_alphanumeric())
            {
                return self.err("unrecognized token");
            }
            Ok(v)
        } else {
            self.err("unrecognized token")
        }
    }

    fn enter(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(&format!("nesting deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn object(&mut self, hashed: bool) -> Result<J, JsonError> {
        let want = if self.depth == 0 { self.want } else { None };
        let mut m = JMap::new(hashed);
        self.members(|p, k| {
            match want {
                Some(keys) if !keys.iter().any(|w| *w == *k) => p.skip()?,
                _ => {
                    let v = p.value(false)?;
                    m.put(k.into_owned(), v);
                }
            }
            Ok(())
        })?;
        Ok(J::Map(Box::new(m)))
    }

    /// Walk an object (self.i on its `{`): `each` reads the value of every member.
    fn members(
        &mut self,
        mut each: impl FnMut(&mut Self, std::borrow::Cow<'a, str>) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.enter()?;
        self.i += 1;
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return self.err("expected a field name");
            }
            let k = self.key()?;
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return self.err("expected ':'");
            }
            self.i += 1;
            self.ws();
            each(self, k)?;
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    break;
                }
                _ => return self.err("expected ',' or '}'"),
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn array(&mut self) -> Result<J, JsonError> {
        self.enter()?;
        self.i += 1;
        let mut l = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(J::List(l));
        }
        loop {
            self.ws();
            l.push(self.value(false)?);
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    break;
                }
                _ => return self.err("expected ',' or ']'"),
            }
        }
        self.depth -= 1;
        Ok(J::List(l))
    }

    fn skip_string(&mut self) -> Result<(), JsonError> {
        self.i += 1;
        loop {
            match self.b.get(self.i) {
                None => return self.err("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => match self.b.get(self.i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 2,
                    Some(b'u') => {
                        self.i += 1;
                        self.hex4()?;
                        self.i += 1;
                    }
                    _ => return self.err("bad escape"),
                },
                Some(c) if *c < 0x20 => return self.err("control character in a string"),
                Some(_) => self.i = plain_end(self.b, self.i),
            }
        }
    }

    /// A string, borrowed from the text when it has no escapes (object keys).
    #[inline(always)]
    fn key(&mut self) -> Result<std::borrow::Cow<'a, str>, JsonError> {
        let start = self.i + 1;
        let end = plain_end(self.b, start);
        if self.b.get(end) == Some(&b'"') {
            self.i = end + 1;
            return Ok(std::borrow::Cow::Borrowed(&self.s[start..end]));
        }
        self.string_after(start, end).map(std::borrow::Cow::Owned)
    }

    /// A top-level object read into `out`, one slot per wanted key (the last occurrence of a
    /// key wins; others are checked and skipped). A text that is not an object is an error.
    fn object_slots(
        &mut self,
        keys: &[String],
        targets: Option<&[usize]>,
        out: &mut [J],
    ) -> Result<(), JsonError> {
        if self.b.get(self.i) != Some(&b'{') {
            return self.err("not a JSON object");
        }
        // Records of one source mostly list their keys in one order: try the key after the
        // last one found before searching.
        let mut next = 0;
        self.members(|p, k| {
            let found = match keys.get(next) {
                Some(w) if same(w, &k) => Some(next),
                _ => keys.iter().position(|w| same(w, &k)),
            };
            match found {
                Some(slot) => {
                    next = slot + 1;
                    p.value_into(&mut out[targets.map_or(slot, |t| t[slot])])
                }
                None => p.skip(),
            }
        })
    }

    /// `value` written in place: strings and numbers without moving a `J` through a return.
    #[inline(always)]
    fn value_into(&mut self, out: &mut J) -> Result<(), JsonError> {
        match self.b.get(self.i) {
            Some(b'"') => {
                // A plain string is copied straight into the slot.
                let start = self.i + 1;
                let end = plain_end(self.b, start);
                if self.b.get(end) == Some(&b'"') {
                    self.i = end + 1;
                    put(out, J::Str(reuse(&mut self.spare, &self.s[start..end])));
                    return Ok(());
                }
                let v = self.string_after(start, end)?;
                put(out, J::Str(v));
                Ok(())
            }
            Some(c) if c.is_ascii_digit() || *c == b'-' => self.number_into(out),
            _ => {
                *out = self.value(false)?;
                Ok(())
            }
        }
    }

    #[inline(always)]
    fn string(&mut self) -> Result<String, JsonError> {
        let start = self.i + 1;
        let end = plain_end(self.b, start);
        if self.b.get(end) == Some(&b'"') {
            self.i = end + 1;
            return Ok(self.s[start..end].to_string());
        }
        self.string_after(start, end)
    }

    /// The rest of a string whose plain run `start..end` did not end at its closing quote:
    /// escapes decoded, or the error that ended it.
    fn string_after(&mut self, start: usize, end: usize) -> Result<String, JsonError> {
        self.i = end;
        match self.b.get(end) {
            None => return self.err("unterminated string"),
            Some(c) if *c < 0x20 => return self.err("control character in a string"),
            Some(_) => {}
        }
        let mut out = self.s[start..self.i].to_string();
        loop {
            match self.b.get(self.i) {
                None => return self.err("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = match self.b.get(self.i) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi)
                                && self.b.get(self.i + 1) == Some(&b'\\')
                                && self.b.get(self.i + 2) == Some(&b'u')
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                    char::from_u32(cp).unwrap_or('\u{FFFD}')
                                } else {
                                    self.i = save;
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => return self.err("bad escape"),
                    };
                    out.push(c);
                    self.i += 1;
                }
                Some(c) if *c < 0x20 => return self.err("control character in a string"),
                Some(_) => {
                    let run = self.i;
                    self.i = plain_end(self.b, self.i);
                    out.push_str(&self.s[run..self.i]);
                }
            }
        }
    }

    /// Four hex digits after `\u` (self.i on the `u`); leaves self.i on the last digit.
    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self
            .b
            .get(self.i + 1..self.i + 5)
            .ok_or(JsonError("truncated \\u escape".into()))?;
        let s = std::str::from_utf8(h).map_err(|_| JsonError("bad \\u escape".into()))?;
        let n = u32::from_str_radix(s, 16).map_err(|_| JsonError("bad \\u escape".into()))?;
        self.i += 4;
        Ok(n)
    }

    fn number(&mut self) -> Result<J, JsonError> {
        let mut v = J::Null;
        self.number_into(&mut v)?;
        Ok(v)
    }

    /// A number as Jackson classes it: Integer, Long or BigInteger by size; Double when it
    /// has a fraction or an exponent.
    #[inline(always)]
    fn number_into(&mut self, out: &mut J) -> Result<(), JsonError> {
        let start = self.i;
        let neg = self.b[self.i] == b'-';
        if neg {
            self.i += 1;
        }
        let int_start = self.i;
        // Up to 18 digits cannot overflow an i64: accumulate while scanning.
        let mut acc: i64 = 0;
        while let Some(&c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            acc = acc.wrapping_mul(10).wrapping_add(i64::from(c - b'0'));
            self.i += 1;
        }
        let int_len = self.i - int_start;
        if int_len == 0 {
            return self.err("expected a digit");
        }
        if int_len > 1 && self.b[int_start] == b'0' {
            return self.err("leading zeros are not allowed");
        }
        let mut float = false;
        if self.b.get(self.i) == Some(&b'.') {
            float = true;
            self.i += 1;
            let f = self.i;
            while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
                self.i += 1;
            }
            if self.i == f {
                return self.err("expected a digit after the decimal point");
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            float = true;
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            let e = self.i;
            while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
                self.i += 1;
            }
            if self.i == e {
                return self.err("expected a digit in the exponent");
            }
        }
        let text = &self.s[start..self.i];
        let v = if float {
            match text.parse::<f64>() {
                Ok(d) => J::Double(d),
                Err(_) => return self.err("bad number"),
            }
        } else if int_len <= 18 {
            int_class(if neg { -acc } else { acc })
        } else {
            match text.parse::<i64>() {
                Ok(n) => int_class(n),
                Err(_) => J::BigInt(text.into()),
            }
        };
        put(out, v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_runs_end_at_the_first_stop_byte() {
        // Every stop byte at every offset of texts around the word size, against the
        // byte-by-byte definition (a borrow may not hide or invent the first stop).
        let by_byte = |b: &[u8], start: usize| {
            (start..b.len())
                .find(|&i| STOP[b[i] as usize])
                .unwrap_or(b.len())
        };
        let fillers = [b'a', b' ', 0x21, 0x1f + 2, 0x80, 0xff, b'"' + 1, b'\\' - 1];
        for len in 0..20 {
            for &fill in &fillers {
                let base = vec![fill; len];
                assert_eq!(plain_end(&base, 0), by_byte(&base, 0));
                for at in 0..len {
                    for stop in [b'"', b'\\', 0x00, 0x01, 0x1f, b'\n'] {
                        let mut t = base.clone();
                        t[at] = stop;
                        if at + 1 < len {
                            t[at + 1] = 0x20; // a byte a borrow could mark
                        }
                        for start in 0..=at {
                            assert_eq!(plain_end(&t, start), by_byte(&t, start), "{t:?} {start}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn jackson_number_classes() {
        let v = parse(
            r#"{"a": 1, "b": 3000000000, "c": 82324989420000000332, "d": 1.5, "e": 1e2}"#,
            true,
        )
        .unwrap();
        let J::Map(m) = v else { panic!() };
        assert_eq!(m.get("a"), Some(&J::Int(1)));
        assert_eq!(m.get("b"), Some(&J::Long(3_000_000_000)));
        assert_eq!(m.get("c"), Some(&J::BigInt("82324989420000000332".into())));
        assert_eq!(m.get("d"), Some(&J::Double(1.5)));
        assert_eq!(m.get("e"), Some(&J::Double(100.0)));
        assert!(parse("01", false).is_err());
        assert!(parse("{\"a\":\"x\ny\"}", false).is_err());
        assert!(parse("[1,]", false).is_err());
        // What follows the first value is not read.
        assert!(parse("{\"a\":1} trailing", true).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep, false).unwrap_err().0.contains("nesting"));
        let s = parse(r#""a\u00e9\ud83d\ude00\n""#, false).unwrap();
        assert_eq!(s, J::Str("aé😀\n".into()));
    }

    #[test]
    fn projected_parse_keeps_wanted_keys() {
        let keys = vec!["b".to_string()];
        let v = parse_keys(r#"{"a": {"x": "q\"z"}, "b": [1, 2], "c": "s\\\"t"}"#, &keys).unwrap();
        let J::Map(m) = v else { panic!() };
        assert_eq!(m.entries.len(), 1);
        assert_eq!(m.get("b"), Some(&J::List(vec![J::Int(1), J::Int(2)])));
        assert!(parse_keys(r#"{"a": "unterminated}"#, &keys).is_err());
        assert!(parse_keys(r#"{"a": "bad \q escape", "b": 1}"#, &keys).is_err());
    }

    #[test]
    fn control_bytes_are_found_anywhere() {
        let clean = "abcdefghijklmnopqrstuvwxyz é 漢字 0123456789";
        assert_eq!(plain_end(clean.as_bytes(), 0), clean.len());
        for at in 0..clean.len() {
            for c in [0u8, 0x09, 0x1f] {
                let mut b = clean.as_bytes().to_vec();
                b[at] = c;
                assert_eq!(plain_end(&b, 0), at, "{at} {c}");
            }
        }
        let high = [0x20, 0x7f, 0x80, 0xa0, 0xff, 0x20, 0x20, 0x21, 0x20];
        assert_eq!(plain_end(&high, 0), high.len());
    }
}
