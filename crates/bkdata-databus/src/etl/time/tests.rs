//! Unit tests of `time`.
use super::*;
use chrono::TimeZone;

fn ms(fmt: &str, v: &str, tz: f64) -> Result<i64, EtlError> {
    TimeSpec::new(0, Some(fmt))
        .unwrap()
        .transform(&J::Str(v.into()), tz, 1)
        .map(|p| p.ms)
}

#[test]
fn java_patterns_parse() {
    // 2026-11-22 14:30:52 at +08:00 = 06:30:52 UTC
    let base = 1_795_329_052_000i64;
    assert_eq!(
        ms("yyyy-MM-dd HH:mm:ss", "2026-11-22 14:30:52", 8.0).unwrap(),
        base
    );
    assert_eq!(
        ms("yyyy-MM-dd HH:mm:ss.SSS", "2026-11-22 14:30:52.123", 8.0).unwrap(),
        base + 123
    );
    assert_eq!(
        ms("yyyy-MM-dd'T'HH:mm:ssXXX", "2026-11-22T06:30:52+00:00", 8.0).unwrap(),
        base
    );
    assert_eq!(
        ms("dd/MMM/yyyy:HH:mm:ss Z", "22/Nov/2026:14:30:52 +0800", 8.0).unwrap(),
        base
    );
    assert_eq!(ms("yyyyMMddHHmmss", "20261122143052", 8.0).unwrap(), base);
    assert_eq!(
        ms("yyyyyyyy-MM-dd HH:mm:ss", "2026-11-22 14:30:52", 8.0).unwrap(),
        base
    );
    // Trailing text is not read; fields skip the spaces before them.
    assert_eq!(
        ms("yyyy-MM-dd HH:mm:ss", "2026-11-22 14:30:52 tail", 8.0).unwrap(),
        base
    );
    assert_eq!(
        ms("yyyy-MM-dd", "2026-11-22", 8.0).unwrap(),
        base - 52_252_000
    );
    assert_eq!(
        ms("yyyy-MM-dd HH:mm:ss", "2026-11-22 14:30:52", 5.5).unwrap(),
        base + 9_000_000
    );
    assert_eq!(
        ms(
            "yyyy-MM-dd HH:mm:ss.SSSSSS",
            "2026-11-22 14:30:52.123456",
            8.0
        )
        .unwrap(),
        base + 123
    );
    for bad in [
        "22/11/2026",
        "2026-13-01 00:00:00",
        "2026-11-31 00:00:00",
        "2026-11-22 14:30:",
    ] {
        let e = ms("yyyy-MM-dd HH:mm:ss", bad, 8.0).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TimeFormat, "{bad}");
    }
    assert!(TimeSpec::new(0, Some("yyyy-MM-dd Q"))
        .unwrap()
        .transform(&J::Str("x".into()), 8.0, 1)
        .is_err());
    assert!(TimeSpec::new(0, None).is_err());
    assert!(TimeSpec::new(0, Some("")).is_err());
    assert!(TimeSpec::new(11, None).is_err());
}

#[test]
fn fast_format_matches_chrono() {
    for tz in [
        offset_hours(8.0).unwrap(),
        offset_hours(0.0).unwrap(),
        offset_hours(-5.0).unwrap(),
    ] {
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
    let p = |len, v: J| {
        TimeSpec::new(len, None)
            .unwrap()
            .transform(&v, 8.0, 1)
            .map(|p| p.ms)
    };
    assert_eq!(p(10, J::Long(1_795_329_052)).unwrap(), 1_795_329_052_000);
    assert_eq!(
        p(10, J::Str(" 1795329052 ".into())).unwrap(),
        1_795_329_052_000
    );
    assert_eq!(
        p(13, J::Long(1_795_329_052_123)).unwrap(),
        1_795_329_052_123
    );
    assert_eq!(
        p(16, J::Long(1_795_329_052_123_456)).unwrap(),
        1_795_329_052_123
    );
    assert_eq!(p(8, J::Int(29_922_150)).unwrap(), 1_795_329_000_000);
    assert_eq!(
        p(10, J::Str("soon".into())).unwrap_err().kind,
        ErrorKind::TimeFormat
    );
    assert_eq!(
        p(10, J::Double(1.5e9)).unwrap_err().kind,
        ErrorKind::TimeFormat
    );
    assert_eq!(p(10, J::Null).unwrap_err().kind, ErrorKind::TimeFormat);
    assert_eq!(
        format_ms(1_795_329_052_000, offset_hours(8.0).unwrap()),
        "2026-11-22 14:30:52"
    );
}
