//! Java's text functions as BKData's engine calls them: `String.split` (regex and plain),
//! commons-lang `StringUtils.split`, URL decoding, CSV lines, and Java regex syntax on
//! Rust's regex engine. Pure functions; the nodes that use them are in `exec`.
use regex::Regex;

/// BKData's split: at most `limit` parts (the last holds the rest), a trailing separator
/// gives a trailing empty part.
pub fn split(s: &str, delim: char, limit: usize) -> Vec<String> {
    split_slices(s, delim, limit)
        .into_iter()
        .map(str::to_string)
        .collect()
}

pub fn split_slices(s: &str, delim: char, limit: usize) -> Vec<&str> {
    let mut out = Vec::with_capacity(16);
    let mut start = 0;
    let mut count = 1;
    while let Some(off) = s[start..].find(delim) {
        if count >= limit {
            break;
        }
        count += 1;
        let i = start + off;
        out.push(&s[start..i]);
        start = i + delim.len_utf8();
    }
    out.push(&s[start..]);
    out
}

/// commons-lang `StringUtils.split(s, chars, max)`: split on any of `seps`, runs of
/// separators count as one, no empty parts; with `max` > 0 the last part holds the rest.
pub fn commons_split<'a>(s: &'a str, seps: &[char], max: usize) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_token = false;
    let mut parts = 1;
    let is_sep = |c: char| seps.contains(&c);
    for (i, c) in s.char_indices() {
        if is_sep(c) {
            if in_token {
                if max > 0 && parts == max {
                    out.push(&s[start..]);
                    return out;
                }
                parts += 1;
                out.push(&s[start..i]);
                in_token = false;
            }
            start = i + c.len_utf8();
            continue;
        }
        in_token = true;
    }
    if in_token {
        out.push(&s[start..]);
    }
    out
}

/// Java's `String.split(c)`: trailing empty parts dropped ("" gives [""]).
pub fn java_split(s: &str, c: char) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(c).collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.len() == 1 || parts.iter().any(|p| !p.is_empty()) {
        parts
    } else {
        Vec::new()
    }
}

/// `URLDecoder.decode`: `+` is a space, `%xy` a byte; a bad escape is an error.
pub fn url_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        format!("URLDecoder: Illegal hex characters in escape (%) pattern at {i}")
                    })?;
                out.push(hex);
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// One CSV record as commons-csv's RFC 4180 format reads the first line: commas, `"`
/// quotes with `""` escapes; text between a closing quote and the next comma is an error,
/// as is an unterminated quote. An empty line is no fields.
pub fn csv_line(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    if s.is_empty() {
        return Ok(out);
    }
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut at_start = true;
    loop {
        if at_start && chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err("EOF reached before encapsulated token finished".to_string())
                    }
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        cur.push('"');
                    }
                    Some('"') => break,
                    Some(c) => cur.push(c),
                }
            }
            match chars.peek() {
                None | Some(',') | Some('\r') | Some('\n') => {}
                Some(_) => {
                    return Err("invalid char between encapsulated token and delimiter".into())
                }
            }
        }
        at_start = false;
        match chars.next() {
            None => {
                out.push(std::mem::take(&mut cur));
                return Ok(out);
            }
            Some(',') => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
            }
            Some('\n') => {
                out.push(std::mem::take(&mut cur));
                return Ok(out);
            }
            Some('\r') if matches!(chars.peek(), None | Some('\n')) => {
                out.push(std::mem::take(&mut cur));
                return Ok(out);
            }
            Some(c) => cur.push(c),
        }
    }
}

/// Java's `String.split` on one char: trailing empty parts dropped.
pub fn java_split_plain(s: &str, c: char) -> Vec<String> {
    let mut parts: Vec<String> = s.split(c).map(str::to_string).collect();
    while parts.len() > 1 && parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    if parts.len() == 1 && parts[0].is_empty() && !s.is_empty() {
        parts.clear();
    }
    parts
}

/// A Java regular expression as Rust's regex crate reads it. Java's `\d`, `\w` and `\s` are
/// ASCII classes (Rust's are Unicode) and `\Q…\E` quotes a literal; both are translated.
/// Python's `(?P<name>` is a syntax error in Java (BKData refuses it); look-around and
/// back-references, which Java has and this engine does not, are refused with a clear message.
pub fn java_regex(pattern: &str) -> Result<Regex, String> {
    if let Some(i) = pattern.find("(?P<") {
        return Err(format!(
            "PatternSyntaxException: Unknown inline modifier near index {} (Java writes named groups as (?<name>…))",
            i + 2
        ));
    }
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str("[0-9]"),
            Some('D') => out.push_str("[^0-9]"),
            Some('w') => out.push_str("[a-zA-Z0-9_]"),
            Some('W') => out.push_str("[^a-zA-Z0-9_]"),
            Some('s') => out.push_str("[ \\t\\n\\x0B\\f\\r]"),
            Some('S') => out.push_str("[^ \\t\\n\\x0B\\f\\r]"),
            Some('Q') => {
                let mut lit = String::new();
                while let Some(q) = chars.next() {
                    if q == '\\' && chars.peek() == Some(&'E') {
                        chars.next();
                        break;
                    }
                    lit.push(q);
                }
                out.push_str(&regex::escape(&lit));
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Regex::new(&out).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("look-around") || msg.contains("backreferences") {
            format!("invalid regexp: look-around and back-references are not supported: {msg}")
        } else {
            format!("invalid regexp: {msg}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_follow_bkdata() {
        assert_eq!(split("a|b|", '|', 1001), ["a", "b", ""]);
        assert_eq!(split("", '|', 1001), [""]);
        assert_eq!(split("a|b|c", '|', 2), ["a", "b|c"]);
        assert_eq!(commons_split("a=1&&b=2&", &['&'], 0), ["a=1", "b=2"]);
        assert_eq!(commons_split("k:v:w", &[':'], 2), ["k", "v:w"]);
        assert_eq!(commons_split("k::v", &[':'], 2), ["k", "v"]);
        assert_eq!(commons_split(":v", &[':'], 2), ["v"]);
        assert_eq!(java_split("a=", '='), ["a"]);
        assert_eq!(java_split("=b", '='), ["", "b"]);
        assert_eq!(java_split("", '&'), [""]);
    }

    #[test]
    fn csv_lines() {
        assert_eq!(csv_line("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(
            csv_line("\"x,y\",\"he said \"\"hi\"\"\",z").unwrap(),
            ["x,y", "he said \"hi\"", "z"]
        );
        assert!(csv_line("\"open,b").is_err());
        assert!(csv_line("\"a\"b,c").is_err());
        assert_eq!(csv_line("a,b\nc,d").unwrap(), ["a", "b"]);
        assert!(csv_line("").unwrap().is_empty());
    }

    #[test]
    fn java_regex_classes_are_ascii() {
        let re = java_regex(r"^(?<n>\d+)\s(?<w>\w+)$").unwrap();
        assert!(re.is_match("12 ab_c"));
        assert!(!re.is_match("١٢ ab"), "Arabic digits are not \\d in Java");
        let re = java_regex(r"[\d.]+\Q(x)\E").unwrap();
        assert!(re.is_match("1.5(x)"));
        assert!(java_regex(r"(?<a>x)\k<a>").is_err());
        assert!(java_regex(r"(?P<a>x)")
            .unwrap_err()
            .contains("PatternSyntaxException"));
    }
}
