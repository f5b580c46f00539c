//! Fast paths for the two shapes nearly every clean has: `from_json → assign_obj` and
//! `split → assign_pos`. They give the same rows and errors as the general path (a test
//! checks), without building intermediate values: JSON is streamed with borrowed keys, unwanted
//! values are skipped, and wanted ones are converted straight to their field type.
use super::types::{ErrorKind, EtlError, FieldType};
use super::Partial;

/// Where fused paths put fields: a partial row, or the final row directly.
pub(super) trait Sink {
    fn set(&mut self, idx: usize, v: Value);
    /// Whether a field the input lacks must be set to null: in a partial row it overwrites
    /// what an earlier branch assigned, as the general path does; a final row starts null.
    const SETS_ABSENT: bool;
}

impl Sink for Partial {
    fn set(&mut self, idx: usize, v: Value) {
        self.push((idx, v));
    }
    const SETS_ABSENT: bool = true;
}

impl Sink for [Value] {
    fn set(&mut self, idx: usize, v: Value) {
        self[idx] = v;
    }
    const SETS_ABSENT: bool = false;
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
    if S::SETS_ABSENT {
        // Every field starts null; the keys the input has overwrite it (later wins).
        for (_, idx, _) in specs {
            out.set(*idx, Value::Null);
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let res = de.deserialize_any(ObjVisitor {
        specs,
        out: &mut *out,
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
        let specs = self.specs;
        while let Some(want) =
            map.next_key_seed(KeySeed(|s: &str| specs.iter().position(|(k, _, _)| k == s)))?
        {
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
struct KeySeed<F>(F);

impl<'de, F: FnOnce(&str) -> Option<usize>> DeserializeSeed<'de> for KeySeed<F> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, F: FnOnce(&str) -> Option<usize>> Visitor<'de> for KeySeed<F> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok((self.0)(s))
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

/// `from_json → branch` streamed, for a branch whose children read the object by key only
/// (`assign_obj`, `assign_json` of named keys, `access_obj`), the shape of bklog's envelope
/// configs. One pass over the text fills a slot per (child, key); nothing else is built. The
/// caller merges the slots child by child, as the branch would.
#[derive(Debug)]
pub(super) struct StreamPlan {
    /// Distinct keys of the object and the slots each one fills.
    keys: Vec<(String, Vec<(usize, Conv)>)>,
    pub(super) kids: Vec<StreamKid>,
    slots: usize,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Conv {
    /// `assign_obj`: the value converted to the field type.
    Typed(FieldType),
    /// `assign_json`: the value's JSON text (null stays null), converted.
    JsonText(FieldType),
    /// `access_obj`: the value as it is.
    Raw,
}

impl Conv {
    fn apply(self, v: Value) -> Result<Value, EtlError> {
        match self {
            Conv::Typed(ty) => ty.convert(v),
            Conv::JsonText(ty) => match v {
                Value::Null => ty.convert(Value::Null),
                x => ty.convert(Value::String(x.to_string())),
            },
            Conv::Raw => Ok(v),
        }
    }
}

#[derive(Debug)]
pub(super) enum StreamKid {
    /// (slot, field index, conversion) per assigned key.
    Assign(Vec<(usize, usize, Conv)>),
    /// The slot holding the key's value and the access node (its default and `next`).
    Access { slot: usize, node: usize },
}

/// A child of a streamable branch, as the plan builder sees it.
pub(super) enum KidShape<'a> {
    Assign(Vec<(&'a str, usize, Conv)>),
    Access(&'a str, usize),
}

impl StreamPlan {
    pub(super) fn new(kids: Vec<KidShape<'_>>) -> StreamPlan {
        let mut keys: Vec<(String, Vec<(usize, Conv)>)> = Vec::new();
        let mut slots = 0;
        let mut slot_for = |key: &str, conv: Conv| {
            let slot = slots;
            slots += 1;
            match keys.iter_mut().find(|(k, _)| k == key) {
                Some((_, t)) => t.push((slot, conv)),
                None => keys.push((key.to_string(), vec![(slot, conv)])),
            }
            slot
        };
        let kids = kids
            .into_iter()
            .map(|k| match k {
                KidShape::Assign(specs) => StreamKid::Assign(
                    specs
                        .into_iter()
                        .map(|(key, idx, conv)| (slot_for(key, conv), idx, conv))
                        .collect(),
                ),
                KidShape::Access(key, node) => StreamKid::Access {
                    slot: slot_for(key, Conv::Raw),
                    node,
                },
            })
            .collect();
        StreamPlan { keys, kids, slots }
    }

    /// Fill the slots from the JSON text; `None` when the text is not an object or a value
    /// does not convert (the general path then reports the error exactly as it would).
    pub(super) fn fill(&self, text: &str) -> Option<Vec<Option<Value>>> {
        let mut slots = vec![None; self.slots];
        let mut de = serde_json::Deserializer::from_str(text);
        let mut ok = true;
        de.deserialize_map(SlotVisitor {
            plan: self,
            slots: &mut slots,
            ok: &mut ok,
        })
        .ok()?;
        de.end().ok()?;
        ok.then_some(slots)
    }
}

struct SlotVisitor<'s> {
    plan: &'s StreamPlan,
    slots: &'s mut [Option<Value>],
    ok: &'s mut bool,
}

impl<'de> Visitor<'de> for SlotVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let keys = &self.plan.keys;
        while let Some(want) =
            map.next_key_seed(KeySeed(|s: &str| keys.iter().position(|(k, _)| k == s)))?
        {
            let Some(i) = want else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            match keys[i].1.as_slice() {
                // One typed target: convert while parsing (no string built for numbers).
                [(slot, Conv::Typed(ty))] => match map.next_value_seed(TypedSeed(*ty))? {
                    Ok(v) => self.slots[*slot] = Some(v),
                    Err(_) => *self.ok = false,
                },
                targets => {
                    let v: Value = map.next_value()?;
                    for (slot, conv) in targets {
                        match conv.apply(v.clone()) {
                            Ok(x) => self.slots[*slot] = Some(x),
                            Err(_) => *self.ok = false,
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The value of a slot never filled (the key was absent), as the general path gives it.
pub(super) fn absent(conv: Conv) -> Option<Value> {
    conv.apply(Value::Null).ok()
}
