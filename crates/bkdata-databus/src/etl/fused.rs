//! Fast paths for the two shapes nearly every clean has: `from_json → assign_obj` and
//! `split → assign_pos`. They give the same rows and errors as the general path (a test
//! checks), without building intermediate values: JSON is streamed with borrowed keys, unwanted
//! values are skipped, and wanted ones are converted straight to their field type.
use super::types::{ErrorKind, EtlError, FieldType};
use super::Partial;

/// Where fused paths put fields: a partial row, or the final row directly.
pub(super) trait Sink {
    fn set(&mut self, idx: usize, v: Value);
}

impl Sink for Partial {
    fn set(&mut self, idx: usize, v: Value) {
        self.push((idx, v));
    }
}

impl Sink for [Value] {
    fn set(&mut self, idx: usize, v: Value) {
        self[idx] = v;
    }
}
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// `from_json` then `assign_obj` on a JSON text.
pub(super) fn json_assign<S: Sink + ?Sized>(
    text: &str,
    specs: &[(String, usize, FieldType)],
    out: &mut S,
) -> Result<(), EtlError> {
    let mut conv_err = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let res = de.deserialize_any(ObjVisitor {
        specs,
        out,
        conv_err: &mut conv_err,
    });
    let res = res.and_then(|_| de.end());
    if let Err(e) = res {
        return Err(EtlError::new(
            ErrorKind::BadJsonObject,
            format!("not a JSON object: {e}"),
        ));
    }
    match conv_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `split` then `assign_pos` on a line.
pub(super) fn split_assign<S: Sink + ?Sized>(
    text: &str,
    sep: &str,
    limit: Option<usize>,
    specs: &[(usize, usize, FieldType)],
    out: &mut S,
) -> Result<(), EtlError> {
    let mut parts: Vec<&str> = Vec::with_capacity(16);
    match limit {
        Some(n) => parts.extend(text.splitn(n, sep)),
        None => parts.extend(text.split(sep)),
    }
    for (pos, idx, ty) in specs {
        let v = match parts.get(*pos) {
            Some(s) => from_str(*ty, s)
                .map_err(|e| EtlError::new(e.kind, format!("{} (index {pos})", e.detail)))?,
            None => Value::Null,
        };
        out.set(*idx, v);
    }
    Ok(())
}

/// The same conversion as `FieldType::convert(Value::String(s))`, without building the
/// string value for numbers. Errors go through `convert` so the message is the same.
pub(super) fn from_str(ty: FieldType, s: &str) -> Result<Value, EtlError> {
    let ok = match ty {
        FieldType::String | FieldType::Text => return Ok(Value::String(s.to_string())),
        FieldType::Long => s.trim().parse::<i64>().ok().map(Value::from),
        FieldType::Int => s.trim().parse::<i32>().ok().map(Value::from),
        FieldType::Double => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
    };
    match ok {
        Some(v) => Ok(v),
        None => ty.convert(Value::String(s.to_string())),
    }
}

struct ObjVisitor<'s, S: ?Sized> {
    specs: &'s [(String, usize, FieldType)],
    out: &'s mut S,
    conv_err: &'s mut Option<EtlError>,
}

impl<'de, S: Sink + ?Sized> Visitor<'de> for ObjVisitor<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(want) = map.next_key_seed(KeySeed(self.specs))? {
            match want {
                Some(i) => {
                    let (key, idx, ty) = &self.specs[i];
                    match map.next_value_seed(TypedSeed(*ty))? {
                        Ok(v) => self.out.set(*idx, v),
                        Err(e) => {
                            if self.conv_err.is_none() {
                                *self.conv_err =
                                    Some(EtlError::new(e.kind, format!("{} ({key})", e.detail)));
                            }
                        }
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A key, matched against the wanted keys without allocating.
struct KeySeed<'s>(&'s [(String, usize, FieldType)]);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|(k, _, _)| k == s))
    }
}

/// A value converted to a field type; conversion failures are kept aside, not parse errors.
struct TypedSeed(FieldType);

impl<'de> DeserializeSeed<'de> for TypedSeed {
    type Value = Result<Value, EtlError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TypedSeed {
    type Value = Result<Value, EtlError>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(from_str(self.0, s))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(self.0.convert(Value::from(n)))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(self.0.convert(Value::from(n)))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Self::Value, E> {
        Ok(self.0.convert(Value::from(n)))
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(self.0.convert(Value::Bool(b)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Ok(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let v: Value =
            serde::Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(self.0.convert(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v: Value =
            serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(self.0.convert(v))
    }
}
