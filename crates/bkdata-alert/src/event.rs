//! Events as bk-monitor cleans them (wire reference §5.1): defaults and clamps, the dedupe
//! keys and `dedupe_md5`, the event id. A bad event is rejected with its reason; the rest of
//! its batch goes on.
use crate::dedupe::{of_list, of_str, of_value, Hex};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

pub const ABNORMAL: &str = "ABNORMAL";
pub const RECOVERED: &str = "RECOVERED";
pub const CLOSED: &str = "CLOSED";

/// Events older than this do not build alerts (they are still saved).
pub const EXPIRE_SECS: i64 = 24 * 3600;

const CATEGORIES: &[&str] = &[
    "uptimecheck",
    "application_check",
    "service_module",
    "component",
    "service_process",
    "host_process",
    "os",
    "hardware",
    "host_device",
    "kubernetes",
    "apm",
    "data_center",
    "others",
    "other_rt",
];

/// A cleaned event: the fields the builder reads, and the whole document as bk-monitor
/// stores it, as JSON text (stored and sent on as it is; parsed only where an alert takes it).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub event_id: String,
    pub strategy_id: Option<i64>,
    pub alert_name: String,
    pub severity: i32,
    pub status: String,
    pub target_type: String,
    pub target: String,
    pub bk_biz_id: String,
    pub dedupe_keys: Vec<String>,
    pub dedupe_md5: String,
    pub time: i64,
    /// `anomaly_time` (`time` when absent).
    pub anomaly_time: i64,
    /// The document: a JSON object.
    pub doc: String,
}

impl Event {
    /// The whole document, parsed.
    pub fn document(&self) -> Map<String, Value> {
        serde_json::from_str(&self.doc).unwrap_or_default()
    }
}

/// The path of the first key or string under `v` (at `path`) that holds a NUL character.
fn nul_path(v: &Value, path: &str) -> Option<String> {
    if path.contains('\0') {
        return Some("a field name".into());
    }
    match v {
        Value::String(s) if s.contains('\0') => Some(path.to_string()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_path(x, &format!("{path}[{i}]"))),
        Value::Object(m) => m
            .iter()
            .find_map(|(k, x)| nul_path(x, &format!("{path}.{k}"))),
        _ => None,
    }
}

/// Epoch seconds from seconds, milliseconds, a numeric string or an RFC 3339 time.
pub fn parse_time(v: &Value) -> Option<i64> {
    let secs = |x: f64| {
        if !x.is_finite() || x < 0.0 {
            None
        } else if x > 1e11 {
            Some((x / 1000.0) as i64)
        } else {
            Some(x as i64)
        }
    };
    match v {
        Value::Number(n) => secs(n.as_f64()?),
        Value::String(s) => {
            let s = s.trim();
            match s.parse::<f64>() {
                Ok(x) => secs(x),
                Err(_) => chrono::DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|t| t.timestamp()),
            }
        }
        _ => None,
    }
}

/// Python's `json.dumps(v)` (separators `, ` and `: `, non-ASCII escaped), for dict tag values.
pub fn py_json(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !(n.is_i64() || n.is_u64()) => crate::pystr::float(f),
            _ => n.to_string(),
        },
        Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        let mut buf = [0u16; 2];
                        for u in c.encode_utf16(&mut buf) {
                            out.push_str(&format!("\\u{u:04x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Value::Array(a) => format!("[{}]", a.iter().map(py_json).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", py_json(&Value::String(k.clone())), py_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `tags` as `[{key, value}]`: from that list, or from an object of key → value; dict
/// values JSON-encoded as Python's `json.dumps` would.
fn clean_tags(v: Option<Value>) -> Result<Vec<Value>, String> {
    const BAD: &str = "tags must be [{key, value}] or an object";
    let encoded = |v: Value| match v {
        Value::Object(_) => Value::String(py_json(&v)),
        other => other,
    };
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => Ok(m
            .into_iter()
            .map(|(k, v)| {
                let mut t = Map::new();
                t.insert("key".into(), Value::String(k));
                t.insert("value".into(), encoded(v));
                Value::Object(t)
            })
            .collect()),
        Some(Value::Array(list)) => list
            .into_iter()
            .map(|t| match t {
                Value::Object(mut m) if m.get("key").is_some_and(Value::is_string) => {
                    let v = m.get_mut("value").map(std::mem::take);
                    m.insert("value".into(), encoded(v.unwrap_or(Value::Null)));
                    Ok(Value::Object(m))
                }
                _ => Err(BAD.to_string()),
            })
            .collect(),
        Some(_) => Err(BAD.into()),
    }
}

/// An event's top-level fields as they came: each name (unescaped) with its value's JSON
/// text, nothing below the top level parsed. A name given twice counts the last time, as in
/// a parsed map.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Fields<'a> {
    /// A field's JSON text; a null counts as absent (bk-monitor drops None values).
    fn raw(&self, k: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.get())
            .filter(|t| *t != "null")
    }

    /// A field's value (its text was checked to parse: see `check`).
    fn value(&self, k: &str) -> Option<Value> {
        self.raw(k)
            .map(|t| serde_json::from_str(t).unwrap_or(Value::Null))
    }

    /// A field read as cheaply as it can be: a plain string (no escapes) in place, anything
    /// else parsed.
    fn read(&self, k: &str) -> Option<Result<&'a str, Value>> {
        self.raw(k).map(|raw| {
            plain_str(raw).ok_or_else(|| serde_json::from_str(raw).unwrap_or(Value::Null))
        })
    }

    /// Python's `str()` of a field as the rules read it: "" when absent, a string as it is,
    /// another value as Python prints it.
    fn text(&self, k: &str) -> Cow<'a, str> {
        match self.read(k) {
            None | Some(Err(Value::Null)) => Cow::Borrowed(""),
            Some(Ok(s)) => Cow::Borrowed(s),
            Some(Err(Value::String(s))) => Cow::Owned(s),
            Some(Err(other)) => Cow::Owned(crate::pystr::scalar(&other)),
        }
    }

    /// The digest `count_md5` gives a field as a list item (`None` when absent).
    fn digest(&self, k: &str) -> Hex {
        match self.read(k) {
            None => of_str("None"),
            Some(Ok(s)) => of_str(s),
            Some(Err(v)) => of_value(&v),
        }
    }

    /// Refuse what parsing the event into a tree would refuse (a number out of range, a bad
    /// escape), and NUL characters, which Postgres does not store in text: such an event
    /// would fail every builder pass it is in. Only values with escapes, numbers and
    /// containers are walked; a plain string is valid as the split found it.
    fn check(&self) -> Result<(), String> {
        for (k, v) in &self.0 {
            let raw = v.get();
            let nul = match raw.as_bytes().first() {
                Some(b'"') if !raw.contains('\\') => false,
                Some(b'"') => serde_json::from_str::<String>(raw)
                    .map_err(|e| invalid(k, e))?
                    .contains('\0'),
                Some(b't' | b'f' | b'n') => false,
                _ => {
                    serde_json::from_str::<Checked>(raw)
                        .map_err(|e| invalid(k, e))?
                        .0
                }
            };
            if nul || k.contains('\0') {
                let v: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
                let at = nul_path(&v, k).unwrap_or_else(|| k.to_string());
                return Err(format!(
                    "{at} holds the NUL character (\\u0000), which cannot be stored"
                ));
            }
        }
        Ok(())
    }
}

fn invalid(k: &str, e: serde_json::Error) -> String {
    format!("the event is not valid JSON: field {k:?}: {e}")
}

/// A JSON string literal's content when it holds no escapes (it is then its own text).
fn plain_str(raw: &str) -> Option<&str> {
    raw.strip_prefix('"')?
        .strip_suffix('"')
        .filter(|s| !s.contains('\\'))
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Fields<'de>, A::Error> {
                let mut pairs: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::with_capacity(24);
                while let Some(Name(k)) = m.next_key()? {
                    let v: &'de RawValue = m.next_value()?;
                    match pairs.iter_mut().find(|(x, _)| *x == k) {
                        Some(p) => p.1 = v,
                        None => pairs.push((k, v)),
                    }
                }
                Ok(Fields(pairs))
            }
        }
        d.deserialize_map(Object)
    }
}

/// A field name, borrowed from the text unless it holds escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(s)))
            }
        }
        d.deserialize_str(Text)
    }
}

/// A JSON text walked as it would be parsed into a `Value` (numbers in range, escapes
/// valid), building nothing: whether a name or string in it holds a NUL character.
struct Checked(bool);

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Walk;
        impl<'de> Visitor<'de> for Walk {
            type Value = Checked;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
                Ok(Checked(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
                Ok(Checked(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
                Ok(Checked(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
                Ok(Checked(false))
            }
            fn visit_unit<E>(self) -> Result<Checked, E> {
                Ok(Checked(false))
            }
            fn visit_str<E>(self, s: &str) -> Result<Checked, E> {
                Ok(Checked(s.contains('\0')))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Checked, A::Error> {
                let mut nul = false;
                while let Some(Checked(n)) = a.next_element()? {
                    nul |= n;
                }
                Ok(Checked(nul))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Checked, A::Error> {
                let mut nul = false;
                while let Some(Checked(k)) = m.next_key()? {
                    let Checked(v) = m.next_value()?;
                    nul |= k || v;
                }
                Ok(Checked(nul))
            }
        }
        d.deserialize_any(Walk)
    }
}

/// Clean one event at `now` (epoch seconds). `Err` is the reason it is rejected.
pub fn clean(raw: &Value, now: i64) -> Result<Event, String> {
    clean_text(&raw.to_string(), now)
}

/// A value the clean sets in the event.
enum Set<'a> {
    Int(i64),
    Str(&'a str),
    Json(&'a Value),
}

impl Set<'_> {
    fn digest(&self) -> Hex {
        match self {
            Set::Int(n) => of_str(&n.to_string()),
            Set::Str(s) => of_str(s),
            Set::Json(v) => of_value(v),
        }
    }
}

/// The fields the clean writes from what it derived last (the ids and dedupe fields); a
/// dedupe key naming one of them reads it as it came.
const DERIVED: [&str; 4] = ["event_id", "id", "dedupe_keys", "dedupe_md5"];

/// `clean`, from the event's JSON text (an ingest batch is not parsed into trees): the
/// fields the rules read are parsed (strings without escapes are read in place); the others
/// are copied into the document as they came.
pub fn clean_text(raw: &str, now: i64) -> Result<Event, String> {
    if !raw.trim_start().starts_with('{') {
        return Err("an event must be a JSON object".into());
    }
    let fields: Fields =
        serde_json::from_str(raw).map_err(|e| format!("the event is not valid JSON: {e}"))?;
    fields.check()?;
    let given_id = fields.text("event_id");
    let strategy_id = match fields.value("strategy_id") {
        None => None,
        Some(v) => match v {
            Value::Number(n) if n.is_i64() => n.as_i64(),
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some(
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("strategy_id {s:?} is not an integer"))?,
            ),
            other => return Err(format!("strategy_id {other} is not an integer")),
        },
    };
    let alert_name = fields.text("alert_name");
    if strategy_id.is_none() && alert_name.trim().is_empty() {
        return Err("alert_name or strategy_id is required".into());
    }
    let severity = match fields.value("severity") {
        None => 3,
        Some(v) => {
            let n = match &v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|f| f.fract() == 0.0)
            .ok_or_else(|| {
                format!("unknown severity {v}: use 1 (fatal), 2 (warning) or 3 (remind)")
            })?;
            (n as i64).clamp(1, 3) as i32
        }
    };
    let time_of = |k: &str, default: i64| match fields.value(k) {
        None => Ok(default),
        Some(v) => parse_time(&v).ok_or_else(|| format!("unparseable {k} {v}")),
    };
    let ingest = time_of("bk_ingest_time", now)?;
    let time = time_of("time", ingest)?;
    let anomaly_time = time_of("anomaly_time", time)?;
    let status = match &*fields.text("status") {
        CLOSED => CLOSED,
        RECOVERED => RECOVERED,
        _ => ABNORMAL,
    };
    let target_type = {
        let t = fields.text("target_type");
        match ["HOST", "SERVICE", "TOPO"]
            .into_iter()
            .find(|x| t.eq_ignore_ascii_case(x))
        {
            Some(up) => Cow::Borrowed(up),
            None => t,
        }
    };
    let data_type = match &*fields.text("data_type") {
        "time_series" => "time_series",
        "log" => "log",
        _ => "event",
    };
    let category = {
        let c = fields.text("category");
        CATEGORIES
            .iter()
            .find(|x| **x == c)
            .copied()
            .unwrap_or("other_rt")
    };
    let tags = Value::Array(clean_tags(fields.value("tags"))?);
    let mut keys: Vec<String> = if strategy_id.is_some() {
        ["strategy_id", "target_type", "target", "bk_biz_id"]
    } else {
        ["alert_name", "target_type", "target", "bk_biz_id"]
    }
    .into_iter()
    .map(str::to_string)
    .collect();
    match fields.value("dedupe_keys") {
        None => {}
        Some(Value::Array(extra)) => {
            for k in extra {
                let k = k
                    .as_str()
                    .ok_or_else(|| "dedupe_keys must be a list of field names".to_string())?;
                if !keys.iter().any(|x| x == k) {
                    keys.push(k.to_string());
                }
            }
        }
        Some(_) => return Err("dedupe_keys must be a list of field names".into()),
    }
    let tenant_set = fields.raw("bk_tenant_id").is_none();
    // What the clean sets, in the document's order: these replace what came, and a dedupe
    // key reads them rather than the field as it came (`strategy_id` and `bk_tenant_id`
    // only when set).
    let set: Vec<(&str, Set)> = [
        ("strategy_id", strategy_id.map(Set::Int)),
        ("severity", Some(Set::Int(severity.into()))),
        ("status", Some(Set::Str(status))),
        ("target_type", Some(Set::Str(&target_type))),
        ("data_type", Some(Set::Str(data_type))),
        ("category", Some(Set::Str(category))),
        ("tags", Some(Set::Json(&tags))),
        ("time", Some(Set::Int(time))),
        ("anomaly_time", Some(Set::Int(anomaly_time))),
        ("bk_ingest_time", Some(Set::Int(ingest))),
        ("bk_clean_time", Some(Set::Int(now))),
        ("create_time", Some(Set::Int(now))),
        ("bk_tenant_id", tenant_set.then_some(Set::Str("system"))),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k, v?)))
    .collect();
    let set_value = |k: &str| set.iter().find(|(n, _)| *n == k).map(|(_, v)| v);
    // K8S and APM targets dedupe without their target.
    let untargeted = ["K8S", "APM"].into_iter().any(|p| {
        target_type
            .get(..p.len())
            .is_some_and(|x| x.eq_ignore_ascii_case(p))
    });
    let mut digests: Vec<Hex> = keys
        .iter()
        .map(|k| match k.as_str() {
            "target" if untargeted => of_str("None"),
            "target_type" if untargeted => of_str(""),
            k => match k.strip_prefix("tags.") {
                Some(tag) => tags
                    .as_array()
                    .and_then(|l| l.iter().find(|t| t["key"] == tag))
                    .map_or_else(|| of_str("None"), |t| of_value(&t["value"])),
                None => set_value(k).map_or_else(|| fields.digest(k), Set::digest),
            },
        })
        .collect();
    let dedupe_md5 = of_list(&mut digests);
    // bk-monitor requires an event_id; ours is derived from the event as received, so a
    // resend is the same.
    let event_id = if given_id.is_empty() {
        crate::dedupe::count_md5(&serde_json::from_str(raw).unwrap_or(Value::Null))
    } else {
        given_id.into_owned()
    };
    let id = of_list(&mut [
        fields.digest("plugin_id"),
        of_str(&event_id),
        of_str(status),
        Set::Int(time).digest(),
    ]);
    // The document: the fields that came (but nulls and those the clean sets) as they came,
    // then the set ones.
    let mut out = Out(Vec::with_capacity(raw.len() + 512));
    out.0.push(b'{');
    for (k, v) in &fields.0 {
        if v.get() == "null" || set_value(k).is_some() || DERIVED.contains(&k.as_ref()) {
            continue;
        }
        out.name(k);
        out.0.extend_from_slice(v.get().as_bytes());
    }
    for (k, v) in &set {
        out.name(k);
        match v {
            Set::Int(n) => out.int(*n),
            Set::Str(s) => out.json(s),
            Set::Json(v) => out.json(v),
        }
    }
    out.field("event_id", &event_id);
    out.field("id", &id);
    out.name("dedupe_keys");
    out.json(&keys);
    out.field("dedupe_md5", &dedupe_md5);
    out.0.push(b'}');
    Ok(Event {
        id,
        event_id,
        strategy_id,
        alert_name: alert_name.into_owned(),
        severity,
        status: status.to_string(),
        target_type: target_type.into_owned(),
        target: fields.text("target").into_owned(),
        bk_biz_id: fields.text("bk_biz_id").into_owned(),
        dedupe_keys: keys,
        dedupe_md5,
        time,
        anomaly_time,
        // Made of UTF-8 texts and serde_json's output.
        doc: String::from_utf8(out.0).unwrap_or_default(),
    })
}

/// A JSON object's text being written.
struct Out(Vec<u8>);

impl Out {
    /// `"k":`, after a comma unless it is the first.
    fn name(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push(b',');
        }
        self.json(k);
        self.0.push(b':');
    }
    fn field(&mut self, k: &str, v: &str) {
        self.name(k);
        self.json(v);
    }
    fn int(&mut self, n: i64) {
        self.0.extend_from_slice(n.to_string().as_bytes());
    }
    fn json<T: serde::Serialize + ?Sized>(&mut self, v: &T) {
        serde_json::to_writer(&mut self.0, v).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests;
