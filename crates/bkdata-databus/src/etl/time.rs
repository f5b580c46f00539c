//! Event time: Java time patterns (as BKData and bklog send them) or epoch numbers, to epoch
//! milliseconds; and the formatted `dtEventTime` / `localTime` strings.
use super::types::{ErrorKind, EtlError};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use serde_json::Value;

#[derive(Debug, Clone)]
pub enum TimeSpec {
    /// Epoch number: divide by this many units per millisecond (or multiply when < 1).
    Epoch { len: i64 },
    /// A chrono pattern converted from Java; `zoned` when it carries an offset.
    Format {
        java: String,
        chrono: String,
        zoned: bool,
        has_time: bool,
    },
}

impl TimeSpec {
    pub fn new(timestamp_len: i64, time_format: Option<&str>) -> Result<Self, String> {
        match timestamp_len {
            0 => {
                let java = time_format
                    .filter(|f| !f.trim().is_empty())
                    .ok_or("time_format is required when timestamp_len is 0")?;
                let (chrono, zoned, has_time) = java_to_chrono(java)?;
                Ok(TimeSpec::Format {
                    java: java.to_string(),
                    chrono,
                    zoned,
                    has_time,
                })
            }
            8 | 10 | 13 | 16 => Ok(TimeSpec::Epoch { len: timestamp_len }),
            other => Err(format!(
                "timestamp_len {other} is not supported: use 0 (formatted), 10 (s), 13 (ms), 16 (µs) or 8 (min)"
            )),
        }
    }

    /// Epoch milliseconds of `v`.
    pub fn parse(&self, v: &Value, tz: FixedOffset) -> Result<i64, EtlError> {
        let bad = |why: &str| EtlError::new(ErrorKind::TimeFormat, format!("{why}: {v}"));
        match self {
            TimeSpec::Epoch { len } => {
                let n: f64 = match v {
                    Value::Number(n) => n.as_f64().ok_or_else(|| bad("not a number"))?,
                    Value::String(s) => s.trim().parse().map_err(|_| bad("not an epoch number"))?,
                    _ => return Err(bad("not an epoch number")),
                };
                Ok(match len {
                    8 => (n * 60_000.0) as i64,
                    10 => (n * 1000.0) as i64,
                    13 => n as i64,
                    _ => (n / 1000.0) as i64,
                })
            }
            TimeSpec::Format {
                java,
                chrono,
                zoned,
                has_time,
            } => {
                let s = match v {
                    Value::String(s) => s.trim(),
                    _ => return Err(bad(&format!("not a time string for {java}"))),
                };
                let mismatch = || bad(&format!("does not match {java}"));
                if *zoned {
                    return DateTime::parse_from_str(s, chrono)
                        .map(|d| d.timestamp_millis())
                        .map_err(|_| mismatch());
                }
                let fast = if chrono == "%Y-%m-%d %H:%M:%S" {
                    ymd_hms(s)
                } else {
                    None
                };
                let naive = if let Some(n) = fast {
                    n
                } else if *has_time {
                    NaiveDateTime::parse_from_str(s, chrono).map_err(|_| mismatch())?
                } else {
                    NaiveDate::parse_from_str(s, chrono)
                        .map_err(|_| mismatch())?
                        .and_hms_opt(0, 0, 0)
                        .ok_or_else(mismatch)?
                };
                tz.from_local_datetime(&naive)
                    .single()
                    .map(|d| d.timestamp_millis())
                    .ok_or_else(mismatch)
            }
        }
    }
}

/// `yyyy-MM-dd HH:mm:ss` exactly (bklog's `utctime`), without chrono's pattern interpreter;
/// anything else goes the general way (and fails or succeeds there).
fn ymd_hms(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    let shape = b.len() == 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':';
    if !shape {
        return None;
    }
    let n = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |a, &c| {
            c.is_ascii_digit().then(|| a * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(n(0..4)? as i32, n(5..7)?, n(8..10)?)?.and_hms_opt(
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    )
}

pub fn offset_hours(h: i64) -> Result<FixedOffset, String> {
    FixedOffset::east_opt((h * 3600) as i32).ok_or_else(|| format!("timezone {h} is out of range"))
}

/// `yyyy-MM-dd HH:mm:ss` in `tz`, as `dtEventTime` and `localTime` are written. Called twice
/// per row, so it uses plain calendar arithmetic and a small per-thread cache by second.
pub fn format_ms(ms: i64, tz: FixedOffset) -> String {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<[(i64, String); 4]> = RefCell::new(Default::default());
    }
    let local = ms.div_euclid(1000) + tz.local_minus_utc() as i64;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let slot = &mut c[local.rem_euclid(4) as usize];
        if slot.0 != local || slot.1.is_empty() {
            *slot = (local, civil(local));
        }
        slot.1.clone()
    })
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

/// Convert a Java `DateTimeFormatter`/`SimpleDateFormat` pattern to chrono's syntax.
/// Answers (pattern, has a zone, has a time of day).
pub fn java_to_chrono(java: &str) -> Result<(String, bool, bool), String> {
    let chars: Vec<char> = java.chars().collect();
    let mut out = String::new();
    let (mut zoned, mut has_time) = (false, false);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal; '' is a quote.
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                push_literal(&mut out, chars[i]);
                i += 1;
            }
            if i + 1 < chars.len() && chars[i + 1] == '\'' {
                out.push('\'');
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut out, c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let spec = match (c, n) {
            ('y', 2) => "%y",
            ('y' | 'u', _) => "%Y",
            ('M', 1 | 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', _) => "%d",
            ('H', _) => "%H",
            ('h', _) => "%I",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', 3) => "%3f",
            ('S', 6) => "%6f",
            ('S', 9) => "%9f",
            ('S', _) => "%f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('X' | 'x', 1) => "%#z",
            ('X' | 'x', 2) | ('Z', 1..=3) => "%z",
            ('X' | 'x' | 'Z' | 'z', _) => "%:z",
            _ => {
                return Err(format!(
                    "time_format {java:?}: pattern letter {c:?} x{n} is not supported"
                ))
            }
        };
        if matches!(c, 'X' | 'x' | 'Z' | 'z') {
            zoned = true;
        }
        if matches!(c, 'H' | 'h' | 'm' | 's' | 'S') {
            has_time = true;
        }
        out.push_str(spec);
        i += n;
    }
    Ok((out, zoned, has_time))
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
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
mod tests {
    use super::*;
    use serde_json::json;

    fn tz8() -> FixedOffset {
        offset_hours(8).unwrap()
    }

    #[test]
    fn java_patterns_parse() {
        let ms = |fmt: &str, v: &str| TimeSpec::new(0, Some(fmt)).unwrap().parse(&json!(v), tz8());
        // 2026-11-22 14:30:52 at +08:00 = 06:30:52 UTC
        let base = 1_795_329_052_000i64;
        assert_eq!(
            ms("yyyy-MM-dd HH:mm:ss", "2026-11-22 14:30:52").unwrap(),
            base
        );
        assert_eq!(
            ms("yyyy-MM-dd HH:mm:ss.SSS", "2026-11-22 14:30:52.123").unwrap(),
            base + 123
        );
        assert_eq!(
            ms("yyyy-MM-dd'T'HH:mm:ssXXX", "2026-11-22T06:30:52+00:00").unwrap(),
            base
        );
        assert_eq!(
            ms("dd/MMM/yyyy:HH:mm:ss Z", "22/Nov/2026:14:30:52 +0800").unwrap(),
            base
        );
        assert_eq!(ms("yyyyMMddHHmmss", "20261122143052").unwrap(), base);
        assert_eq!(
            ms("yyyy-MM-dd", "2026-11-22").unwrap(),
            base - (14 * 3600 + 30 * 60 + 52) * 1000
        );
        let e = ms("yyyy-MM-dd HH:mm:ss", "22/11/2026").unwrap_err();
        assert_eq!(e.kind, ErrorKind::TimeFormat);
        assert!(TimeSpec::new(0, Some("yyyy-MM-dd Q")).is_err());
        assert!(TimeSpec::new(0, None).is_err());
        assert!(TimeSpec::new(11, None).is_err());
    }

    #[test]
    fn fast_parse_matches_chrono() {
        for s in [
            "2026-11-22 06:30:52",
            "2024-02-29 23:59:59",
            "2023-02-29 10:00:00",
            "2026-13-01 00:00:00",
            "2026-1-01 00:00:00",
            "2026-11-22T06:30:52",
        ] {
            let chrono = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok();
            let fast = ymd_hms(s);
            assert!(fast.is_none() || fast == chrono, "{s}");
            if s.len() == 19 && s.as_bytes()[10] == b' ' {
                assert_eq!(fast, chrono, "{s}");
            }
        }
    }

    #[test]
    fn fast_format_matches_chrono() {
        for tz in [tz8(), offset_hours(0).unwrap(), offset_hours(-5).unwrap()] {
            let mut ms: i64 = -5_000_000_000_000;
            while ms < 7_000_000_000_000 {
                let want = tz
                    .timestamp_millis_opt(ms)
                    .unwrap()
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string();
                assert_eq!(format_ms(ms, tz), want, "{ms}");
                ms += 86_399_917_123; // about a day, drifting through every time of day
            }
        }
    }

    #[test]
    fn epochs_parse() {
        let p = |len, v: Value| TimeSpec::new(len, None).unwrap().parse(&v, tz8());
        assert_eq!(p(10, json!(1_795_329_052)).unwrap(), 1_795_329_052_000);
        assert_eq!(p(10, json!("1795329052")).unwrap(), 1_795_329_052_000);
        assert_eq!(
            p(13, json!(1_795_329_052_123i64)).unwrap(),
            1_795_329_052_123
        );
        assert_eq!(
            p(16, json!(1_795_329_052_123_456i64)).unwrap(),
            1_795_329_052_123
        );
        assert_eq!(p(8, json!(29_922_150)).unwrap(), 1_795_329_000_000);
        assert_eq!(
            p(10, json!("soon")).unwrap_err().kind,
            ErrorKind::TimeFormat
        );
        assert_eq!(format_ms(1_795_329_052_000, tz8()), "2026-11-22 14:30:52");
    }
}
