//! Field types, their casts (as BKData's `Field.castType` does them, less its bugs) and
//! BKData's error names.
use super::jv::{java_double, J};
use std::fmt;

/// The value types of a result table field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Int,
    Long,
    Double,
    BigInt,
    BigDecimal,
    String,
    Text,
}

impl FieldType {
    /// BKData's type names (case-insensitive). `integer` and `float` are the result-table
    /// aliases bklog and older APIs send; the clean engine itself knows only BKData's seven.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "int" | "integer" => FieldType::Int,
            "long" => FieldType::Long,
            "bigint" => FieldType::BigInt,
            "double" | "float" => FieldType::Double,
            "bigdecimal" => FieldType::BigDecimal,
            "string" => FieldType::String,
            "text" => FieldType::Text,
            _ => return None,
        })
    }

    /// The seven names BKData's engine casts to; any other name casts every value to null.
    pub fn parse_engine(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "integer" | "float" => None,
            other => Self::parse(other),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::Int => "int",
            FieldType::Long => "long",
            FieldType::Double => "double",
            FieldType::BigInt => "bigint",
            FieldType::BigDecimal => "bigdecimal",
            FieldType::String => "string",
            FieldType::Text => "text",
        }
    }

    pub fn is_text(self) -> bool {
        matches!(self, FieldType::String | FieldType::Text)
    }

    /// Cast a value: text types take Java's `toString`; number types read numbers and number
    /// strings leniently (`"12.7"` to int is 12; blank and `"null"` are null). What cannot
    /// be cast is a `TypeConversionError` (the assign node then stores null).
    pub fn cast(self, v: &J) -> Result<J, EtlError> {
        match (self, v) {
            (_, J::Null) => Ok(J::Null),
            (_, J::Str(s)) => self.cast_str(s),
            (FieldType::String | FieldType::Text, other) => Ok(J::Str(other.java_string())),
            (_, n) if n.is_number() => self
                .cast_number(n)
                .ok_or_else(|| self.fail(v, "out of range")),
            _ => Err(self.fail(v, &format!("data type: {}", v.class()))),
        }
    }

    /// `cast` in place: a value that already has the type stays where it is; a failed cast
    /// leaves null.
    pub fn cast_in_place(self, v: &mut J) -> Result<(), EtlError> {
        use FieldType as T;
        match (self, &*v) {
            (_, J::Null)
            | (T::String | T::Text, J::Str(_))
            | (T::Int, J::Int(_))
            | (T::Long, J::Long(_))
            | (T::Double, J::Double(_)) => Ok(()),
            (T::Long, J::Int(i)) => {
                *v = J::Long(i64::from(*i));
                Ok(())
            }
            (T::Double, J::Int(_) | J::Long(_)) => {
                *v = J::Double(v.as_f64().unwrap_or_default());
                Ok(())
            }
            _ => self
                .cast_owned(std::mem::replace(v, J::Null))
                .map(|c| *v = c),
        }
    }

    /// `cast` of a value the caller gives up (a string is moved, not copied).
    pub fn cast_owned(self, v: J) -> Result<J, EtlError> {
        match (self, v) {
            (FieldType::String | FieldType::Text, s @ J::Str(_)) => Ok(s),
            (_, v) => self.cast(&v),
        }
    }

    /// `cast` of a string.
    pub fn cast_str(self, s: &str) -> Result<J, EtlError> {
        if self.is_text() {
            return Ok(J::Str(s.to_string()));
        }
        let t = java_trim(s);
        if t.is_empty() || t.eq_ignore_ascii_case("null") {
            return Ok(J::Null);
        }
        let fail = |why: &str| self.fail(&J::Str(s.to_string()), why);
        // The common case first: plain digits, no copy.
        if matches!(self, FieldType::Int | FieldType::Long) && t.bytes().all(|b| b.is_ascii_digit())
        {
            return match self {
                FieldType::Int => t.parse::<i32>().map(J::Int).map_err(|_| fail("not an int")),
                _ => t
                    .parse::<i64>()
                    .map(J::Long)
                    .map_err(|_| fail("not a long")),
            };
        }
        match self {
            FieldType::Int => integer_text(t)
                .and_then(|d| d.parse::<i32>().ok())
                .map(J::Int)
                .ok_or_else(|| fail("not an int")),
            FieldType::Long => integer_text(t)
                .and_then(|d| d.parse::<i64>().ok())
                .map(J::Long)
                .ok_or_else(|| fail("not a long")),
            FieldType::BigInt => integer_text(t)
                .and_then(|d| big_integer(&d))
                .ok_or_else(|| fail("not an integer")),
            FieldType::Double => java_parse_double(t)
                .map(J::Double)
                .ok_or_else(|| fail("not a double")),
            FieldType::BigDecimal => big_decimal(&t.replace('"', ""))
                .map(|s| J::BigDec(s.into()))
                .ok_or_else(|| fail("not a decimal")),
            FieldType::String | FieldType::Text => unreachable!("handled above"),
        }
    }

    fn fail(self, v: &J, why: &str) -> EtlError {
        EtlError::new(
            ErrorKind::TypeConversion,
            format!("can not convert {} to {}. {why}", short(v), self.name()),
        )
    }

    /// A number to a number type. Unlike Java's `intValue()`, a value out of range is an error
    /// rather than wrapped, and a double to bigint keeps its integer part (Java reads
    /// `1.5E10` as 1).
    fn cast_number(self, n: &J) -> Option<J> {
        let whole = |n: &J| -> Option<String> {
            match n {
                J::Int(i) => Some(i.to_string()),
                J::Long(i) => Some(i.to_string()),
                J::BigInt(s) => Some(s.to_string()),
                J::Double(d) if d.is_finite() => Some(format!("{:.0}", d.trunc())),
                J::BigDec(s) => integer_text(&plain_decimal(s)?),
                _ => None,
            }
        };
        Some(match self {
            FieldType::Int => J::Int(whole(n)?.parse().ok()?),
            FieldType::Long => J::Long(whole(n)?.parse().ok()?),
            FieldType::BigInt => big_integer(&whole(n)?)?,
            FieldType::Double => J::Double(n.as_f64()?),
            FieldType::BigDecimal => J::BigDec(
                big_decimal(&match n {
                    J::Double(d) => java_double(*d),
                    other => other.java_string(),
                })?
                .into(),
            ),
            FieldType::String | FieldType::Text => J::Str(n.java_string()),
        })
    }
}

/// Java's `String.trim()`: every char up to U+0020 off both ends.
pub fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// An integer string as BKData reads one: the part before a decimal point, quotes removed,
/// an optional sign, digits.
fn integer_text(t: &str) -> Option<String> {
    let t = match t.split_once('.') {
        // `StringUtils.split` drops empty parts: ".5" reads as "5".
        Some(_) => t.split('.').find(|p| !p.is_empty())?,
        None => t,
    };
    let t = t.replace('"', "");
    let digits = t.strip_prefix(['+', '-']).unwrap_or(&t);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| {
        if let Some(rest) = t.strip_prefix('+') {
            rest.to_string()
        } else {
            t.clone()
        }
    })
}

fn big_integer(d: &str) -> Option<J> {
    let neg = d.starts_with('-');
    let digits = d.trim_start_matches(['+', '-']).trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let text = if neg && digits != "0" {
        format!("-{digits}")
    } else {
        digits.to_string()
    };
    Some(match text.parse::<i64>() {
        Ok(n) => J::BigInt(n.to_string().into()),
        Err(_) => J::BigInt(text.into()),
    })
}

/// `Double.parseDouble`: optional sign, `NaN`, `Infinity`, decimal digits with an optional
/// point and exponent, an optional `f`/`d` suffix (hex floats are not read).
pub fn java_parse_double(t: &str) -> Option<f64> {
    let t = java_trim(t);
    // Plain decimals (nearly every value) read as they are: Rust's reading of those is Java's,
    // correctly rounded.
    if t.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        if let Ok(d) = t.parse::<f64>() {
            return Some(d);
        }
    }
    let (sign, body) = match t.as_bytes().first()? {
        b'-' => (-1.0, &t[1..]),
        b'+' => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    match body {
        "NaN" => return Some(f64::NAN),
        "Infinity" => return Some(sign * f64::INFINITY),
        _ => {}
    }
    let body = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (ip.is_empty() && fp.is_empty()) || !digits(ip) || !digits(fp) {
        return None;
    }
    if let Some(e) = exp {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if e.is_empty() || !digits(e) {
            return None;
        }
    }
    let n: f64 = format!(
        "{}{}",
        if ip.is_empty() { "0" } else { ip },
        &body[ip.len()..]
    )
    .parse()
    .ok()?;
    Some(sign * n)
}

/// `new BigDecimal(s).toString()`: the number with its scale, in Java's notation (plain unless
/// the exponent is positive or the value is below 10^-6).
pub fn big_decimal(s: &str) -> Option<String> {
    let s = s.trim();
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i64>().ok()?),
        None => (body, 0),
    };
    let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
    if (ip.is_empty() && fp.is_empty())
        || !ip.bytes().all(|b| b.is_ascii_digit())
        || !fp.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut unscaled = format!("{ip}{fp}").trim_start_matches('0').to_string();
    if unscaled.is_empty() {
        unscaled = "0".into();
    }
    let scale = fp.len() as i64 - exp;
    let n = unscaled.len() as i64;
    let adjusted = -scale + (n - 1);
    let sign = if neg && unscaled != "0" { "-" } else { "" };
    if scale >= 0 && adjusted >= -6 {
        let body = if scale == 0 {
            unscaled
        } else if n > scale {
            let (i, f) = unscaled.split_at((n - scale) as usize);
            format!("{i}.{f}")
        } else {
            format!("0.{}{}", "0".repeat((scale - n) as usize), unscaled)
        };
        Some(format!("{sign}{body}"))
    } else {
        let (first, rest) = unscaled.split_at(1);
        let point = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if adjusted >= 0 { "+" } else { "" };
        Some(format!("{sign}{first}{point}E{esign}{adjusted}"))
    }
}

/// A BigDecimal's text in plain notation (for its integer part).
fn plain_decimal(s: &str) -> Option<String> {
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    if exp == 0 {
        return Some(mant.to_string());
    }
    let neg = mant.starts_with('-');
    let m = mant.trim_start_matches('-');
    let (ip, fp) = m.split_once('.').unwrap_or((m, ""));
    let digits = format!("{ip}{fp}");
    let point = ip.len() as i64 + exp;
    let body = if point <= 0 {
        "0".to_string()
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        digits[..point as usize].to_string()
    };
    Some(format!("{}{body}", if neg { "-" } else { "" }))
}

fn short(v: &J) -> String {
    let s = v.java_string();
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// BKData's extractor error names (databus-pipe-extractor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    AccessByIndexFailed,
    AccessByKeyFailed,
    AssignNodeNeeded,
    BadCsvData,
    BadJsonList,
    BadJsonObject,
    EmptyEtlResult,
    NotListData,
    NotMapData,
    NulData,
    PipeExtractor,
    TimeFormat,
    TypeConversion,
    UrlDecode,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::AccessByIndexFailed => "AccessByIndexFailedError",
            ErrorKind::AccessByKeyFailed => "AccessByKeyFailedError",
            ErrorKind::AssignNodeNeeded => "AssignNodeNeededError",
            ErrorKind::BadCsvData => "BadCsvDataError",
            ErrorKind::BadJsonList => "BadJsonListError",
            ErrorKind::BadJsonObject => "BadJsonObjectError",
            ErrorKind::EmptyEtlResult => "EmptyEtlResultError",
            ErrorKind::NotListData => "NotListDataError",
            ErrorKind::NotMapData => "NotMapDataError",
            ErrorKind::NulData => "NullDataError",
            ErrorKind::PipeExtractor => "PipeExtractorException",
            ErrorKind::TimeFormat => "TimeFormatError",
            ErrorKind::TypeConversion => "TypeConversionError",
            ErrorKind::UrlDecode => "UrlDecodeError",
        }
    }
}

/// A record-level error: the kind (BKData's name) and what went wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct EtlError {
    pub kind: ErrorKind,
    pub detail: String,
}

impl EtlError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        EtlError {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for EtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.detail)
    }
}

impl std::error::Error for EtlError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> J {
        J::Str(x.into())
    }

    #[test]
    fn casts_follow_bkdata() {
        assert_eq!(FieldType::Int.cast(&s("42")).unwrap(), J::Int(42));
        assert_eq!(FieldType::Int.cast(&s(" 12.7 ")).unwrap(), J::Int(12));
        assert_eq!(FieldType::Int.cast(&s("")).unwrap(), J::Null);
        assert_eq!(FieldType::Long.cast(&s("NULL")).unwrap(), J::Null);
        assert_eq!(
            FieldType::Long.cast(&s("9000000000")).unwrap(),
            J::Long(9_000_000_000)
        );
        assert_eq!(FieldType::Double.cast(&s("1.5")).unwrap(), J::Double(1.5));
        assert_eq!(
            FieldType::Double.cast(&s("1e3d")).unwrap(),
            J::Double(1000.0)
        );
        assert_eq!(FieldType::String.cast(&J::Int(7)).unwrap(), s("7"));
        assert_eq!(
            FieldType::String.cast(&J::Double(1e10)).unwrap(),
            s("1.0E10")
        );
        assert_eq!(FieldType::Int.cast(&J::Double(12.7)).unwrap(), J::Int(12));
        assert_eq!(
            FieldType::BigInt.cast(&J::Double(1.5e10)).unwrap(),
            J::BigInt("15000000000".into())
        );
        assert_eq!(
            FieldType::BigDecimal
                .cast(&s("11111123230090909.09883"))
                .unwrap(),
            J::BigDec("11111123230090909.09883".into())
        );
        assert_eq!(
            FieldType::BigDecimal
                .cast(&J::Double(1.1111123230090908e16))
                .unwrap(),
            J::BigDec("11111123230090908".into())
        );
        for (ty, bad) in [
            (FieldType::Int, s("abc")),
            (FieldType::Int, J::Long(9_000_000_000)),
            (FieldType::Int, s("1e5")),
            (FieldType::Long, J::Bool(true)),
            (FieldType::Double, s("x1")),
            (FieldType::Double, J::List(vec![])),
        ] {
            let e = ty.cast(&bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::TypeConversion, "{ty:?} {bad:?}");
        }
        assert_eq!(FieldType::parse("bigint"), Some(FieldType::BigInt));
        assert_eq!(FieldType::parse_engine("float"), None);
        assert_eq!(FieldType::parse("blob"), None);
    }

    #[test]
    fn big_decimals_print_as_java() {
        for (i, o) in [
            ("1.50", "1.50"),
            ("-.5", "-0.5"),
            ("1E+3", "1E+3"),
            ("1.0E10", "1.0E+10"),
            ("0.0000001", "1E-7"),
            ("0.000001", "0.000001"),
            ("43452000", "43452000"),
            ("007", "7"),
        ] {
            assert_eq!(big_decimal(i).as_deref(), Some(o), "{i}");
        }
        assert_eq!(big_decimal("1.2.3"), None);
    }
}
