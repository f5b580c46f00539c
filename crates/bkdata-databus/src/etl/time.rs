//! Event time as BKData's `TimeTransformer` reads it: epoch numbers of 8/10/13/16 digits, or a
//! Java `SimpleDateFormat` pattern read in UTC and shifted by the config's `timezone` (hours
//! east of UTC, fractions allowed); then rounded down to `time_round` milliseconds. Also the
//! formatted `dtEventTime` / `localTime` strings a clean stores.
//!
//! Where BKData's Java gives a wrong instant this does not copy it (docs/CONFORMANCE.md): a
//! pattern with a zone (`Z`, `X`, `z`) takes the zone from the text and is not shifted a second
//! time; `S` runs longer than three letters read a fraction of a second (Java reads
//! `SSSSSS` as a count of milliseconds); a month, day, hour, minute or second out of range is
//! an error rather than rolled over into the next unit.
use super::jv::J;
use super::types::{java_trim, ErrorKind, EtlError};
use chrono::{Datelike, FixedOffset, NaiveDate};

#[derive(Debug, Clone)]
pub enum TimeSpec {
    /// Epoch number of this many digits: 10 s, 13 ms, 16 µs, 8 min (others as BKData scales
    /// them).
    Epoch { len: i64, format: Option<String> },
    /// A `SimpleDateFormat` pattern; `Err` holds why the pattern is invalid (every record then
    /// fails its time, as in BKData, where the pattern is only compiled when a record comes).
    Format {
        java: String,
        pattern: Result<Vec<Tok>, String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Lit(String),
    Field(char, usize),
}

/// What a record's time became, and whether BKData would have read it differently.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub ms: i64,
    /// Set when BKData's Java would have given another instant (and why).
    pub bkdata_differs: Option<String>,
}

impl TimeSpec {
    /// From a config's `timestamp_len` and `time_format`.
    pub fn new(timestamp_len: i64, time_format: Option<&str>) -> Result<Self, String> {
        if timestamp_len > 0 {
            if timestamp_len >= 10 && !matches!(timestamp_len, 10 | 13 | 16) {
                return Err(format!(
                    "timestamp_len {timestamp_len} is not supported: use 0 (formatted), 10 (s), 13 (ms), 16 (µs) or 8 (min)"
                ));
            }
            return Ok(TimeSpec::Epoch {
                len: timestamp_len,
                format: time_format.map(str::to_string),
            });
        }
        match time_format {
            None => Err("time_format is required when timestamp_len is 0".into()),
            Some("") => Err(
                "At least we need one of time_format and timestamp_len, please check configuration"
                    .into(),
            ),
            Some(f) => Ok(TimeSpec::Format {
                java: f.to_string(),
                pattern: compile(f),
            }),
        }
    }

    /// The format as BKData's error message names it.
    pub fn format(&self) -> String {
        match self {
            TimeSpec::Epoch { format, .. } => format.clone().unwrap_or_else(|| "null".into()),
            TimeSpec::Format { java, .. } => java.clone(),
        }
    }

    /// Epoch milliseconds of a field value.
    pub fn transform(&self, v: &J, tz_hours: f64, round: i64) -> Result<Parsed, EtlError> {
        let bad = |why: String| EtlError::new(ErrorKind::TimeFormat, why);
        if v.is_null() {
            return Err(bad("the time field is null".into()));
        }
        let round = round.max(1);
        if let TimeSpec::Format { java, .. } = self {
            // The pattern nearly every clean uses, without the general reader.
            if let (J::Str(s), "yyyy-MM-dd HH:mm:ss") = (v, java.as_str()) {
                if let Some(utc) = ymd_hms(s) {
                    let ms = ((utc as f64 - tz_hours * 3_600_000.0) / round as f64) as i64 * round;
                    return Ok(Parsed {
                        ms,
                        bkdata_differs: None,
                    });
                }
            }
        }
        // The text of a non-string value is built only where it is read.
        let text = || match v {
            J::Str(s) => std::borrow::Cow::Borrowed(s.as_str()),
            other => std::borrow::Cow::Owned(other.java_string()),
        };
        match self {
            TimeSpec::Epoch { len, .. } => {
                let n: i64 = match v {
                    J::Int(n) => i64::from(*n),
                    J::Long(n) => *n,
                    _ => {
                        let text = text();
                        let t = java_trim(&text);
                        let digits = t.strip_prefix('+').unwrap_or(t);
                        digits
                            .parse()
                            .map_err(|_| bad(format!("For input string: \"{t}\"")))?
                    }
                };
                let ms = match len {
                    13 => n,
                    10 => n.saturating_mul(1000),
                    8 => n.saturating_mul(60_000),
                    16 => n / 1000,
                    l => n / (10 * (10 - l)) * 1000,
                };
                Ok(Parsed {
                    ms: ms / round * round,
                    bkdata_differs: None,
                })
            }
            TimeSpec::Format { java, pattern } => {
                let toks = pattern.as_ref().map_err(|e| bad(e.clone()))?;
                let text = text();
                let f = parse_fields(toks, &text).map_err(|e| {
                    bad(format!("Unparseable date: \"{text}\" ({e}; format {java})"))
                })?;
                let shifted = match f.zone_ms {
                    Some(z) => (f.utc_ms - z) as f64,
                    None => f.utc_ms as f64 - tz_hours * 3_600_000.0,
                };
                let ms = (shifted / round as f64) as i64 * round;
                let bkdata_differs = match (f.zone_ms, f.long_fraction) {
                    (Some(_), _) if tz_hours != 0.0 => Some(format!(
                        "BKData subtracts timezone {tz_hours} from a time that carries its own zone"
                    )),
                    (_, Some(raw)) => Some(format!(
                        "BKData reads the fraction {raw} as {raw} milliseconds"
                    )),
                    _ => None,
                };
                Ok(Parsed { ms, bkdata_differs })
            }
        }
    }
}

/// `yyyy-MM-dd HH:mm:ss` exactly, as epoch ms of those fields in UTC; anything else (or an
/// invalid date) goes the general way, which reads it or says why not.
fn ymd_hms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |a, &c| {
            c.is_ascii_digit().then(|| a * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(n(0..4)? as i32, n(5..7)?, n(8..10)?)?;
    let (h, m, sec) = (n(11..13)?, n(14..16)?, n(17..19)?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let days = date
        .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1)?)
        .num_days();
    Some(days * 86_400_000 + i64::from((h * 60 + m) * 60 + sec) * 1000)
}

/// A `SimpleDateFormat` pattern as tokens; `'` quotes literals, `''` is a quote.
pub fn compile(java: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = java.chars().collect();
    let mut toks: Vec<Tok> = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                lit.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("Unterminated quote in pattern {java:?}")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        lit.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        lit.push(ch);
                        i += 1;
                    }
                }
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            lit.push(c);
            i += 1;
            continue;
        }
        if !"GyYMLwWDdFEuaHkKhmsSzZX".contains(c) {
            return Err(format!("Illegal pattern character '{c}'"));
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        if !lit.is_empty() {
            toks.push(Tok::Lit(std::mem::take(&mut lit)));
        }
        toks.push(Tok::Field(c, n));
        i += n;
    }
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
    Ok(toks)
}

fn numeric(c: char, n: usize) -> bool {
    match c {
        'M' | 'L' => n <= 2,
        'y' | 'Y' | 'u' | 'd' | 'H' | 'k' | 'K' | 'h' | 'm' | 's' | 'S' | 'D' | 'F' | 'w' | 'W' => {
            true
        }
        _ => false,
    }
}

#[derive(Default)]
struct Fields {
    utc_ms: i64,
    zone_ms: Option<i64>,
    long_fraction: Option<String>,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Match one of `names` (full or three-letter, case-insensitive, longest first) at `s`.
fn name_at(s: &str, names: &[&str]) -> Option<(usize, usize)> {
    let lower = s.to_ascii_lowercase();
    let mut best: Option<(usize, usize)> = None;
    for (i, n) in names.iter().enumerate() {
        for cand in [n.to_string(), n[..3].to_string()] {
            if lower.starts_with(&cand.to_ascii_lowercase())
                && best.is_none_or(|(_, l)| cand.len() > l)
            {
                best = Some((i, cand.len()));
            }
        }
    }
    best
}

/// Read the text against the pattern from its start (what follows is ignored, as
/// `SimpleDateFormat.parse` does).
fn parse_fields(toks: &[Tok], text: &str) -> Result<Fields, String> {
    let mut pos = 0usize;
    let (mut year, mut month, mut day) = (1970i64, 1i64, 1i64);
    let (mut hour, mut minute, mut second, mut milli) = (0i64, 0i64, 0i64, 0i64);
    let mut day_of_year: Option<i64> = None;
    let (mut pm, mut hour12): (Option<bool>, Option<i64>) = (None, None);
    let mut out = Fields::default();
    for (ti, tok) in toks.iter().enumerate() {
        let rest = &text[pos..];
        match tok {
            Tok::Lit(l) => {
                if !rest.starts_with(l.as_str()) {
                    return Err(format!("expected {l:?} at {pos}"));
                }
                pos += l.len();
            }
            &Tok::Field(c, n) => {
                // Each field skips the spaces before it.
                let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
                pos += skipped;
                let rest = &text[pos..];
                if numeric(c, n) {
                    let abutting =
                        matches!(toks.get(ti + 1), Some(&Tok::Field(c2, n2)) if numeric(c2, n2));
                    let digits: &str = if abutting {
                        let end = rest
                            .char_indices()
                            .take(n)
                            .take_while(|(_, ch)| ch.is_ascii_digit())
                            .count();
                        if end < n {
                            return Err(format!("expected {n} digits at {pos}"));
                        }
                        &rest[..n]
                    } else {
                        let end = rest.bytes().take_while(u8::is_ascii_digit).count();
                        if end == 0 {
                            return Err(format!("expected a number at {pos}"));
                        }
                        &rest[..end]
                    };
                    pos += digits.len();
                    let v: i64 = digits
                        .parse()
                        .map_err(|_| format!("number too long at {pos}"))?;
                    match c {
                        'y' | 'Y' | 'u' if n <= 2 && digits.len() == 2 => {
                            // Two-digit years land within 80 years before and 20 after now.
                            let now = chrono::Utc::now().year() as i64;
                            let start = now - 80;
                            let mut y = start / 100 * 100 + v;
                            if y < start {
                                y += 100;
                            }
                            year = y;
                        }
                        'y' | 'Y' | 'u' => year = v,
                        'M' | 'L' => month = v,
                        'd' => day = v,
                        'D' => day_of_year = Some(v),
                        'H' => hour = v,
                        'k' => hour = if v == 24 { 0 } else { v },
                        'K' => hour12 = Some(v),
                        'h' => hour12 = Some(if v == 12 { 0 } else { v }),
                        'm' => minute = v,
                        's' => second = v,
                        'S' if n > 3 => {
                            // A fraction of a second, to milliseconds (truncated).
                            let frac = format!("{digits:0<3}");
                            milli = frac[..3].parse().unwrap_or(0);
                            if digits.len() > 3 {
                                out.long_fraction = Some(digits.to_string());
                            }
                        }
                        'S' => milli = v,
                        _ => {} // week fields: read, not used
                    }
                } else {
                    match c {
                        'M' | 'L' => {
                            let (i, len) = name_at(rest, &MONTHS)
                                .ok_or_else(|| format!("expected a month name at {pos}"))?;
                            month = i as i64 + 1;
                            pos += len;
                        }
                        'E' => {
                            let (_, len) = name_at(rest, &DAYS)
                                .ok_or_else(|| format!("expected a day name at {pos}"))?;
                            pos += len;
                        }
                        'a' => {
                            let up = rest.to_ascii_uppercase();
                            if up.starts_with("AM") {
                                pm = Some(false);
                            } else if up.starts_with("PM") {
                                pm = Some(true);
                            } else {
                                return Err(format!("expected AM or PM at {pos}"));
                            }
                            pos += 2;
                        }
                        'G' => {
                            let up = rest.to_ascii_uppercase();
                            if !(up.starts_with("AD") || up.starts_with("BC")) {
                                return Err(format!("expected an era at {pos}"));
                            }
                            pos += 2;
                        }
                        'z' | 'Z' | 'X' => {
                            let (off, len) = zone_at(rest, c)
                                .ok_or_else(|| format!("expected a time zone at {pos}"))?;
                            out.zone_ms = Some(off);
                            pos += len;
                        }
                        _ => return Err(format!("pattern letter {c} is not supported")),
                    }
                }
            }
        }
    }
    if let Some(h) = hour12 {
        if h > 11 {
            return Err(format!("hour {h} out of range"));
        }
        hour = h + if pm == Some(true) { 12 } else { 0 };
    }
    let date = match day_of_year {
        Some(d) => NaiveDate::from_yo_opt(year as i32, d as u32),
        None => NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32),
    }
    .filter(|_| (1..=12).contains(&month))
    .ok_or_else(|| format!("no such date: year {year} month {month} day {day}"))?;
    if hour > 23 || minute > 59 || second > 59 || milli > 999 {
        return Err(format!(
            "time {hour}:{minute}:{second}.{milli} out of range"
        ));
    }
    let days = date.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default());
    out.utc_ms = days.num_days() * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000 + milli;
    Ok(out)
}

/// A zone at the start of `s`: `Z` (for `X`), `+08`, `+0800`, `+08:00`, `GMT`/`UTC` with an
/// optional offset. Answers (offset in ms, bytes read).
fn zone_at(s: &str, letter: char) -> Option<(i64, usize)> {
    if letter == 'X' && s.starts_with('Z') {
        return Some((0, 1));
    }
    let mut used = 0;
    let mut t = s;
    for name in ["GMT", "UTC"] {
        if t.starts_with(name) {
            used = 3;
            t = &t[3..];
            if !t.starts_with(['+', '-']) {
                return Some((0, 3));
            }
            break;
        }
    }
    let sign = match t.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let b = t.as_bytes();
    let d = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| i64::from(c - b'0'))
    };
    let h = d(1)? * 10 + d(2)?;
    let (m, len) = if b.get(3) == Some(&b':') {
        (d(4)? * 10 + d(5)?, 6)
    } else if let (Some(a), Some(c)) = (d(3), d(4)) {
        (a * 10 + c, 5)
    } else {
        (0, 3)
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some((sign * (h * 60 + m) * 60_000, used + len))
}

/// Hours east of UTC as a fixed offset (for the stored `dtEventTime` and `localTime`).
pub fn offset_hours(h: f64) -> Result<FixedOffset, String> {
    FixedOffset::east_opt((h * 3600.0).round() as i32)
        .ok_or_else(|| format!("timezone {h} is out of range"))
}

/// `yyyy-MM-dd HH:mm:ss` in `tz`, as `dtEventTime` and `localTime` are written.
pub fn format_ms(ms: i64, tz: FixedOffset) -> String {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<TimeCache> = RefCell::new(TimeCache::default());
    }
    let mut out = String::new();
    CACHE.with(|c| c.borrow_mut().write(&mut out, ms, tz));
    out
}

/// The last few seconds formatted (two per row are written, mostly of the same second), so
/// a row's time columns cost a copy, not a calendar computation.
#[derive(Debug, Default)]
pub struct TimeCache([(i64, String); 4]);

impl TimeCache {
    /// Append `ms` as `format_ms` writes it to `out`.
    pub fn write(&mut self, out: &mut String, ms: i64, tz: FixedOffset) {
        let local = ms.div_euclid(1000) + tz.local_minus_utc() as i64;
        let slot = &mut self.0[local.rem_euclid(4) as usize];
        if slot.0 != local || slot.1.is_empty() {
            *slot = (local, civil(local));
        }
        out.push_str(&slot.1);
    }
}

/// Seconds since the epoch (already shifted to local time) as `yyyy-MM-dd HH:mm:ss`
/// (days-to-civil after Howard Hinnant's algorithm).
fn civil(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The formats `cleans/time_formats/` offers, with an example and their `timestamp_len`.
pub fn time_formats() -> Vec<(&'static str, &'static str, &'static str, i64)> {
    vec![
        (
            "yyyy-MM-dd HH:mm:ss",
            "yyyy-MM-dd HH:mm:ss",
            "2026-11-22 14:30:52",
            0,
        ),
        (
            "yyyy-MM-dd HH:mm:ss.SSS",
            "yyyy-MM-dd HH:mm:ss.SSS",
            "2026-11-22 14:30:52.123",
            0,
        ),
        (
            "yyyy-MM-dd'T'HH:mm:ssXXX",
            "ISO 8601 with offset",
            "2026-11-22T14:30:52+08:00",
            0,
        ),
        (
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
            "ISO 8601 with ms and offset",
            "2026-11-22T14:30:52.123+08:00",
            0,
        ),
        (
            "yyyy/MM/dd HH:mm:ss",
            "yyyy/MM/dd HH:mm:ss",
            "2026/11/22 14:30:52",
            0,
        ),
        (
            "dd/MMM/yyyy:HH:mm:ss Z",
            "nginx / apache access log",
            "22/Nov/2026:14:30:52 +0800",
            0,
        ),
        ("yyyyMMddHHmmss", "yyyyMMddHHmmss", "20261122143052", 0),
        ("yyyy-MM-dd", "yyyy-MM-dd", "2026-11-22", 0),
        (
            "Unix Time Stamp(seconds)",
            "epoch seconds",
            "1795329052",
            10,
        ),
        (
            "Unix Time Stamp(milliseconds)",
            "epoch milliseconds",
            "1795329052123",
            13,
        ),
        (
            "Unix Time Stamp(mircoseconds)",
            "epoch microseconds",
            "1795329052123456",
            16,
        ),
    ]
}

#[cfg(test)]
mod tests;
