//! The values a clean works on, with the classes BKData's Java engine gives them: JSON is read
//! as Jackson reads it (integers as `Integer`, `Long` or `BigInteger` by size, other numbers as
//! `Double`, the object a `from_json` parses as a `HashMap`, objects inside it as
//! `LinkedHashMap`), and values print as Java prints them (`toString`), so a config gives the
//! same strings here as there. Maps keep insertion order and know Java's `HashMap` iteration
//! order, which shows wherever a map is printed or iterated.
mod json;

pub use json::{parse, parse_keys, parse_slots, reuse, JsonError, MAX_DEPTH};
use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq)]
pub enum J {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    /// An integer outside `i64`: its decimal digits, sign first.
    BigInt(Box<str>),
    Double(f64),
    /// A `BigDecimal`, as Java's `toString` writes it (scale kept).
    BigDec(Box<str>),
    Str(String),
    Map(Box<JMap>),
    List(Vec<J>),
}

/// A Java map: `HashMap` (`hashed`) or `LinkedHashMap`, entries in insertion order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JMap {
    pub hashed: bool,
    pub entries: Vec<(String, J)>,
}

impl JMap {
    pub fn new(hashed: bool) -> Self {
        JMap {
            hashed,
            entries: Vec::new(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&J> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `put`: a key already present keeps its place and takes the new value.
    pub fn put(&mut self, key: String, v: J) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = v,
            None => self.entries.push((key, v)),
        }
    }

    /// Entries in the order Java iterates them.
    pub fn iter_java(&self) -> Vec<&(String, J)> {
        if !self.hashed || self.entries.len() < 2 {
            return self.entries.iter().collect();
        }
        let keys: Vec<&str> = self.entries.iter().map(|(k, _)| k.as_str()).collect();
        hash_order(&keys)
            .into_iter()
            .map(|i| &self.entries[i])
            .collect()
    }

    pub fn into_java_order(self) -> Vec<(String, J)> {
        if !self.hashed || self.entries.len() < 2 {
            return self.entries;
        }
        let keys: Vec<&str> = self.entries.iter().map(|(k, _)| k.as_str()).collect();
        let order = hash_order(&keys);
        let mut slots: Vec<Option<(String, J)>> = self.entries.into_iter().map(Some).collect();
        order.into_iter().filter_map(|i| slots[i].take()).collect()
    }
}

/// Java's `String.hashCode` (over UTF-16 code units).
fn java_hash(s: &str) -> i32 {
    let mut h: i32 = 0;
    for u in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(u));
    }
    h
}

/// The order a `java.util.HashMap` filled with `keys` (distinct, in insertion order) iterates
/// them: by bucket of the spread hash in the table's final size, insertion order within a
/// bucket (a resize keeps it). Buckets turned into trees (8 colliding keys in a table of 64 or
/// more) are not modelled.
pub fn hash_order(keys: &[&str]) -> Vec<usize> {
    let mut cap: usize = 16;
    while keys.len() > cap * 3 / 4 {
        cap *= 2;
    }
    let bucket = |k: &str| {
        let h = java_hash(k) as u32;
        ((h ^ (h >> 16)) as usize) & (cap - 1)
    };
    let mut idx: Vec<usize> = (0..keys.len()).collect();
    idx.sort_by_key(|&i| bucket(keys[i]));
    idx
}

impl J {
    /// The Java class name, as verify's `output_type` shows it.
    pub fn class(&self) -> &'static str {
        match self {
            J::Null => "null",
            J::Bool(_) => "Boolean",
            J::Int(_) => "Integer",
            J::Long(_) => "Long",
            J::BigInt(_) => "BigInteger",
            J::Double(_) => "Double",
            J::BigDec(_) => "BigDecimal",
            J::Str(_) => "String",
            J::Map(m) if m.hashed => "HashMap",
            J::Map(_) => "LinkedHashMap",
            J::List(_) => "ArrayList",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, J::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_number(&self) -> bool {
        matches!(
            self,
            J::Int(_) | J::Long(_) | J::BigInt(_) | J::Double(_) | J::BigDec(_)
        )
    }

    /// `Number.doubleValue()`.
    pub fn as_f64(&self) -> Option<f64> {
        Some(match self {
            J::Int(n) => f64::from(*n),
            J::Long(n) => *n as f64,
            J::Double(d) => *d,
            J::BigInt(s) | J::BigDec(s) => s.parse().ok()?,
            _ => return None,
        })
    }

    /// Java's `toString()` (`null` for null inside collections).
    pub fn java_string(&self) -> String {
        let mut out = String::new();
        self.write_java(&mut out);
        out
    }

    fn write_java(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(n) => {
                let _ = write!(out, "{n}");
            }
            J::Long(n) => {
                let _ = write!(out, "{n}");
            }
            J::BigInt(s) | J::BigDec(s) => out.push_str(s),
            J::Double(d) => out.push_str(&java_double(*d)),
            J::Str(s) => out.push_str(s),
            J::Map(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter_java().into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push('=');
                    v.write_java(out);
                }
                out.push('}');
            }
            J::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.write_java(out);
                }
                out.push(']');
            }
        }
    }

    /// The JSON text Jackson writes for this value (maps in Java order, doubles as Java
    /// prints them).
    pub fn jackson(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out, true);
        String::from_utf8(out).unwrap_or_default()
    }

    /// JSON for the wire: numbers keep their class (a double always has a point or an
    /// exponent; NaN and infinities, which JSON lacks, are null); maps in Java order when
    /// `java_order`.
    pub fn write_json(&self, out: &mut Vec<u8>, java_order: bool) {
        match self {
            J::Null => out.extend_from_slice(b"null"),
            J::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            J::Int(n) => out.extend_from_slice(itoa(*n as i64).as_bytes()),
            J::Long(n) => out.extend_from_slice(itoa(*n).as_bytes()),
            J::BigInt(s) | J::BigDec(s) => out.extend_from_slice(s.as_bytes()),
            J::Double(d) => {
                if d.is_finite() {
                    out.extend_from_slice(java_double(*d).as_bytes())
                } else {
                    out.extend_from_slice(b"null")
                }
            }
            J::Str(s) => write_json_str(out, s),
            J::Map(m) => {
                out.push(b'{');
                let entries: Vec<&(String, J)> = if java_order {
                    m.iter_java()
                } else {
                    m.entries.iter().collect()
                };
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json_str(out, k);
                    out.push(b':');
                    v.write_json(out, java_order);
                }
                out.push(b'}');
            }
            J::List(l) => {
                out.push(b'[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write_json(out, java_order);
                }
                out.push(b']');
            }
        }
    }

    /// As a `serde_json::Value` (big numbers that do not fit become doubles).
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Int(n) => Value::from(*n),
            J::Long(n) => Value::from(*n),
            J::BigInt(s) => s
                .parse::<u64>()
                .map(Value::from)
                .or_else(|_| s.parse::<f64>().map(Value::from))
                .unwrap_or(Value::Null),
            J::BigDec(s) => {
                if let Ok(n) = s.parse::<i64>() {
                    Value::from(n)
                } else {
                    s.parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map_or(Value::Null, Value::Number)
                }
            }
            J::Double(d) => serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number),
            J::Str(s) => Value::String(s.clone()),
            J::Map(m) => Value::Object(
                m.iter_java()
                    .into_iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
            J::List(l) => Value::Array(l.iter().map(J::to_value).collect()),
        }
    }

    /// From a `serde_json::Value` (config values: defaults, constants); objects as
    /// `LinkedHashMap`.
    pub fn from_value(v: &serde_json::Value) -> J {
        use serde_json::Value;
        match v {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    int_class(i)
                } else if let Some(u) = n.as_u64() {
                    J::BigInt(u.to_string().into())
                } else {
                    J::Double(n.as_f64().unwrap_or(0.0))
                }
            }
            Value::String(s) => J::Str(s.clone()),
            Value::Array(a) => J::List(a.iter().map(J::from_value).collect()),
            Value::Object(o) => J::Map(Box::new(JMap {
                hashed: false,
                entries: o
                    .iter()
                    .map(|(k, v)| (k.clone(), J::from_value(v)))
                    .collect(),
            })),
        }
    }
}

/// Jackson's class for an integer: `Integer` when it fits, else `Long`.
pub fn int_class(i: i64) -> J {
    match i32::try_from(i) {
        Ok(n) => J::Int(n),
        Err(_) => J::Long(i),
    }
}

fn itoa(n: i64) -> String {
    n.to_string()
}

pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            c if c < 0x20 => {
                out.extend_from_slice(&b[start..i]);
                let _ = write!(VecWriter(out), "\\u{:04x}", c);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// `Double.toString`: plain between 10^-3 and 10^7, else `d.dddE±n`; always a digit after
/// the point; the shortest digits that read back to the same double.
pub fn java_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e-5".
    let sci = format!("{:e}", d.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let sign = if d < 0.0 { "-" } else { "" };
    let a = d.abs();
    if (1e-3..1e7).contains(&a) {
        let point = exp + 1; // digits before the decimal point
        let s = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            let (i, f) = digits.split_at(point as usize);
            format!("{i}.{f}")
        };
        format!("{sign}{s}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exp}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_doubles_print_as_java() {
        for (d, s) in [
            (1.0, "1.0"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1e7, "1.0E7"),
            (9_999_999.0, "9999999.0"),
            (1.5e10, "1.5E10"),
            (-12.25, "-12.25"),
            (0.1, "0.1"),
            (1.1111123230090908e16, "1.1111123230090908E16"),
            (123.456, "123.456"),
        ] {
            assert_eq!(java_double(d), s, "{d}");
        }
    }

    #[test]
    fn hash_map_order_is_javas() {
        // java.util.HashMap of these keys iterates: a, b, c, k1, k2, _time_ ...
        let keys = ["k2", "k1", "b", "a"];
        let order: Vec<&str> = hash_order(&keys).into_iter().map(|i| keys[i]).collect();
        assert_eq!(order, ["a", "b", "k1", "k2"]);
        let mut m = JMap::new(true);
        m.put("b".into(), J::Int(1));
        m.put("a".into(), J::Str("x".into()));
        assert_eq!(J::Map(Box::new(m)).java_string(), "{a=x, b=1}");
    }
}
