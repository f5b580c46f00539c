//! Events as bk-monitor cleans them (wire reference §5.1): defaults and clamps, the dedupe
//! keys and `dedupe_md5`, the event id. A bad event is rejected with its reason; the rest of
//! its batch goes on.
use crate::dedupe::count_md5_list;
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

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => crate::pystr::scalar(other),
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

/// `tags` as `[{key, value}]`: from that list, or from an object of key → value.
fn clean_tags(v: Option<&Value>) -> Result<Vec<Value>, String> {
    let pairs: Vec<(String, Value, Map<String, Value>)> = match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.clone(), Map::new()))
            .collect(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|t| match t {
                Value::Object(m) if m.get("key").is_some_and(Value::is_string) => Ok((
                    text(m.get("key")),
                    m.get("value").cloned().unwrap_or(Value::Null),
                    m.clone(),
                )),
                _ => Err("tags must be [{key, value}] or an object".to_string()),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("tags must be [{key, value}] or an object".into()),
    };
    Ok(pairs
        .into_iter()
        .map(|(k, v, mut rest)| {
            let value = match v {
                Value::Object(_) => Value::String(py_json(&v)),
                other => other,
            };
            rest.insert("key".into(), Value::String(k));
            rest.insert("value".into(), value);
            Value::Object(rest)
        })
        .collect())
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

    /// A field's value (the text was checked to parse: see `Checked`).
    fn value(&self, k: &str) -> Option<Value> {
        self.raw(k)
            .map(|t| serde_json::from_str(t).unwrap_or(Value::Null))
    }
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

/// `clean`, from the event's JSON text (an ingest batch is not parsed into trees): the
/// fields the rules read are parsed; the others are copied into the document as they came.
pub fn clean_text(raw: &str, now: i64) -> Result<Event, String> {
    if !raw.trim_start().starts_with('{') {
        return Err("an event must be a JSON object".into());
    }
    // Postgres stores no NUL in text or json: such an event would fail every builder pass
    // it is in, so it is refused here.
    match serde_json::from_str::<Checked>(raw) {
        Ok(Checked(false)) => {}
        Ok(Checked(true)) => {
            let doc: Map<String, Value> = serde_json::from_str(raw).unwrap_or_default();
            let at = doc
                .iter()
                .find_map(|(k, v)| nul_path(v, k))
                .unwrap_or_default();
            return Err(format!(
                "{at} holds the NUL character (\\u0000), which cannot be stored"
            ));
        }
        Err(e) => return Err(format!("the event is not valid JSON: {e}")),
    }
    let fields: Fields = serde_json::from_str(raw).map_err(|e| format!("the event: {e}"))?;
    let get = |k: &str| fields.value(k);
    let given_id = text(get("event_id").as_ref());
    let strategy_id = match get("strategy_id") {
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
    let alert_name = text(get("alert_name").as_ref());
    if strategy_id.is_none() && alert_name.trim().is_empty() {
        return Err("alert_name or strategy_id is required".into());
    }
    let severity = match get("severity") {
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
    let time_of = |k: &str, default: i64| match get(k) {
        None => Ok(default),
        Some(v) => parse_time(&v).ok_or_else(|| format!("unparseable {k} {v}")),
    };
    let ingest = time_of("bk_ingest_time", now)?;
    let time = time_of("time", ingest)?;
    let anomaly_time = time_of("anomaly_time", time)?;
    let status = match text(get("status").as_ref()).as_str() {
        s @ (CLOSED | RECOVERED) => s.to_string(),
        _ => ABNORMAL.to_string(),
    };
    let target_type = {
        let t = text(get("target_type").as_ref());
        let up = t.to_ascii_uppercase();
        if ["HOST", "SERVICE", "TOPO"].contains(&up.as_str()) {
            up
        } else {
            t
        }
    };
    let data_type = match text(get("data_type").as_ref()).as_str() {
        d @ ("time_series" | "log") => d.to_string(),
        _ => "event".to_string(),
    };
    let category = Some(text(get("category").as_ref()))
        .filter(|c| CATEGORIES.contains(&c.as_str()))
        .unwrap_or_else(|| "other_rt".into());
    let tags = clean_tags(get("tags").as_ref())?;
    let mut keys: Vec<String> = if strategy_id.is_some() {
        vec!["strategy_id", "target_type", "target", "bk_biz_id"]
    } else {
        vec!["alert_name", "target_type", "target", "bk_biz_id"]
    }
    .into_iter()
    .map(str::to_string)
    .collect();
    match get("dedupe_keys") {
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
    // The fields the clean sets, over what came.
    let mut set: Vec<(&'static str, Value)> = Vec::with_capacity(18);
    if let Some(s) = strategy_id {
        set.push(("strategy_id", Value::from(s)));
    }
    set.extend([
        ("severity", Value::from(severity)),
        ("status", Value::from(status.clone())),
        ("target_type", Value::from(target_type.clone())),
        ("data_type", Value::from(data_type)),
        ("category", Value::from(category)),
        ("tags", Value::Array(tags)),
        ("time", Value::from(time)),
        ("anomaly_time", Value::from(anomaly_time)),
        ("bk_ingest_time", Value::from(ingest)),
        ("bk_clean_time", Value::from(now)),
        ("create_time", Value::from(now)),
    ]);
    if fields.raw("bk_tenant_id").is_none() {
        set.push(("bk_tenant_id", Value::from("system")));
    }
    // The value a dedupe key reads in the cleaned event: `tags.k` a tag, else a field.
    let cleaned = |set: &[(&str, Value)], key: &str| -> Value {
        let field = |k: &str| {
            set.iter()
                .find(|(x, _)| *x == k)
                .map(|(_, v)| v.clone())
                .or_else(|| get(k))
        };
        match key.strip_prefix("tags.") {
            Some(tag) => field("tags")
                .as_ref()
                .and_then(Value::as_array)
                .and_then(|l| l.iter().find(|t| t["key"] == tag))
                .map(|t| t["value"].clone()),
            None => field(key),
        }
        .unwrap_or(Value::Null)
    };
    // K8S and APM targets dedupe without their target.
    let tt = target_type.to_ascii_uppercase();
    let untargeted = tt.starts_with("K8S") || tt.starts_with("APM");
    let values: Vec<Value> = keys
        .iter()
        .map(|k| match k.as_str() {
            "target" if untargeted => Value::Null,
            "target_type" if untargeted => Value::from(""),
            _ => cleaned(&set, k),
        })
        .collect();
    let dedupe_md5 = count_md5_list(&values);
    // bk-monitor requires an event_id; ours is derived from the event as received, so a
    // resend is the same.
    let event_id = if given_id.is_empty() {
        crate::dedupe::count_md5(&serde_json::from_str(raw).unwrap_or(Value::Null))
    } else {
        given_id
    };
    let id = count_md5_list(&[
        get("plugin_id").unwrap_or(Value::Null),
        Value::from(event_id.clone()),
        Value::from(status.clone()),
        Value::from(time),
    ]);
    set.extend([
        ("event_id", Value::from(event_id.clone())),
        ("id", Value::from(id.clone())),
        ("dedupe_keys", Value::from(keys.clone())),
        ("dedupe_md5", Value::from(dedupe_md5.clone())),
    ]);
    Ok(Event {
        id,
        event_id,
        strategy_id,
        alert_name,
        severity,
        status,
        target_type,
        target: text(get("target").as_ref()),
        bk_biz_id: text(get("bk_biz_id").as_ref()),
        dedupe_keys: keys,
        dedupe_md5,
        time,
        anomaly_time,
        doc: document(&fields, &set, raw.len()),
    })
}

/// The cleaned document's text: the fields that came (but nulls and those the clean set) as
/// they came, then the set ones.
fn document(fields: &Fields, set: &[(&str, Value)], size: usize) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(size + 512);
    out.push(b'{');
    for (k, v) in &fields.0 {
        if v.get() == "null" || set.iter().any(|(x, _)| x == k) {
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        match k {
            // Borrowed: it held no escapes, so it is its own JSON text.
            Cow::Borrowed(k) => {
                out.push(b'"');
                out.extend_from_slice(k.as_bytes());
                out.push(b'"');
            }
            Cow::Owned(k) => serde_json::to_writer(&mut out, k).unwrap_or_default(),
        }
        out.push(b':');
        out.extend_from_slice(v.get().as_bytes());
    }
    for (k, v) in set {
        if out.len() > 1 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
        serde_json::to_writer(&mut out, v).unwrap_or_default();
    }
    out.push(b'}');
    // Made of UTF-8 texts and serde_json's output.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_500;

    /// Expected values: `python3 testdata/event_vectors.py` (bk-monitor's count_md5 over the
    /// values each dedupe key reads after cleaning).
    #[test]
    fn dedupe_md5_and_ids_equal_bk_monitor() {
        let e1 = clean(
            &json!({"event_id": "e1", "plugin_id": "bk_monitor", "alert_name": "CPU使用率过高",
                    "time": 1700000000, "severity": 2, "target_type": "host", "target": "10.0.0.1",
                    "bk_biz_id": 2, "tags": [{"key": "host", "value": "server01"}],
                    "dedupe_keys": ["alert_name", "tags.host", "ip"], "description": null}),
            NOW,
        )
        .unwrap();
        assert_eq!(
            e1.dedupe_keys,
            [
                "alert_name",
                "target_type",
                "target",
                "bk_biz_id",
                "tags.host",
                "ip"
            ]
        );
        assert_eq!(e1.dedupe_md5, "fcdd410bb6079535de0dce4b639300c8");
        assert_eq!(e1.id, "80e6e8fa889bfa034da4a7ce63a92715");
        assert!(
            !e1.document().contains_key("description"),
            "None values are dropped"
        );
        assert_eq!((e1.severity, e1.target_type.as_str()), (2, "HOST"));

        let e2 = clean(
            &json!({"event_id": "e2", "strategy_id": "42", "bk_biz_id": "2", "status": "RECOVERED",
                    "time": "1700000000123", "tags": [{"key": "k", "value": {"b": 1.0, "a": "中"}}],
                    "dedupe_keys": ["tags.k"]}),
            NOW,
        )
        .unwrap();
        assert_eq!(
            e2.document()["tags"][0]["value"],
            "{\"a\": \"\\u4e2d\", \"b\": 1.0}"
        );
        assert_eq!(e2.dedupe_md5, "c7f8f11ace5df2559451dbae7dc17ee2");
        assert_eq!(e2.id, "b2c5d3bcb99b109f510c6abf1b59c5d6");
        assert_eq!(
            (e2.strategy_id, e2.time, e2.severity),
            (Some(42), 1_700_000_000, 3)
        );

        let e3 = clean(
            &json!({"event_id": "e3", "plugin_id": "fta", "strategy_id": 7, "bk_biz_id": 3,
                    "target_type": "K8S-POD", "target": "pod-1", "severity": 9, "time": 1700000100,
                    "tags": {"l": [1, 2.5]}, "dedupe_keys": ["tags.l"]}),
            NOW,
        )
        .unwrap();
        assert_eq!(e3.dedupe_md5, "dd2c6ab9581535cdab1b0acc526109f1");
        assert_eq!(e3.id, "5828c23544ff4cbbbcc0b73ea6506a93");
        assert_eq!(e3.severity, 3, "clamped");
    }

    #[test]
    fn defaults_and_rejections() {
        let e = clean(&json!({"alert_name": "x", "data_type": "metric", "category": "nope", "status": "weird"}), NOW).unwrap();
        assert_eq!(
            (
                e.time,
                e.status.as_str(),
                e.document()["data_type"].as_str(),
                e.document()["category"].as_str()
            ),
            (NOW, "ABNORMAL", Some("event"), Some("other_rt"))
        );
        assert_eq!(e.document()["bk_tenant_id"], "system");
        assert_eq!(
            clean(&json!({"alert_name": "x", "severity": 0}), NOW)
                .unwrap()
                .severity,
            1
        );
        for (bad, why) in [
            (json!({"severity": 1}), "alert_name or strategy_id"),
            (
                json!({"alert_name": "x", "severity": "critical"}),
                "unknown severity",
            ),
            (
                json!({"alert_name": "x", "time": "yesterday"}),
                "unparseable time",
            ),
            (json!({"alert_name": "x", "tags": "a=b"}), "tags"),
            (
                json!({"alert_name": "x", "tags": [{"key": "h", "value": "a\0b"}]}),
                "tags[0].value holds the NUL character",
            ),
            (json!({"alert_name": "x", "a\0": 1}), "a field name holds"),
            (json!("x"), "JSON object"),
        ] {
            let e = clean(&bad, NOW).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let t = clean(
            &json!({"alert_name": "x", "time": "2023-11-14T22:13:20Z"}),
            NOW,
        )
        .unwrap();
        assert_eq!(t.time, 1_700_000_000);
    }

    /// The clean reads the event's text, not a parsed tree: it must take what a tree would.
    #[test]
    fn the_text_is_read_as_a_parsed_map_would_be() {
        // A name given twice counts the last time; a name with escapes keeps them; values
        // not read are copied as they came (escapes included) and read back the same.
        let e = clean_text(
            r#"{"alert_name": "first", "a\"b": {"x": [1, 2.5, "\u4e2d"]}, "alert_name": "cpu",
                "note": null, "bk_tenant_id": "t1", "time": 1700000000}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(e.alert_name, "cpu");
        let doc = e.document();
        assert_eq!(doc["alert_name"], "cpu");
        assert_eq!(doc["a\"b"], json!({"x": [1, 2.5, "中"]}));
        assert!(!doc.contains_key("note"), "None values are dropped");
        assert_eq!(doc["bk_tenant_id"], "t1", "a tenant given is kept");
        assert_eq!(e.doc.matches("\"alert_name\":").count(), 1, "{}", e.doc);
        // The same event as a parsed value cleans to the same event (the derived event id
        // included: a null is part of the event as received).
        let v: Value = serde_json::from_str(
            r#"{"alert_name": "cpu", "a\"b": {"x": [1, 2.5, "中"]}, "note": null, "bk_tenant_id": "t1", "time": 1700000000}"#,
        )
        .unwrap();
        let same = clean(&v, NOW).unwrap();
        assert_eq!((&same.id, &same.dedupe_md5), (&e.id, &e.dedupe_md5));
        assert_eq!(same.document(), doc);

        // What a parsed tree refuses is refused, event by event.
        for (bad, why) in [
            (r#"{"alert_name": "x", "v": 1e400}"#, "not valid JSON"),
            (r#"{"alert_name": "x", "v": ["\ud800"]}"#, "not valid JSON"),
            (
                r#"{"alert_name": "x", "extra": {"a": ["ok", "b\u0000"]}}"#,
                "extra.a[1] holds the NUL character",
            ),
            (r#"["alert_name"]"#, "JSON object"),
        ] {
            let e = clean_text(bad, NOW).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        // An escaped backslash before `u0000` is text, not a NUL.
        let ok = clean_text(r#"{"alert_name": "x", "path": "C:\\u0000"}"#, NOW).unwrap();
        assert_eq!(ok.document()["path"], "C:\\u0000");
    }
}
