//! Events as bk-monitor cleans them (wire reference §5.1): defaults and clamps, the dedupe
//! keys and `dedupe_md5`, the event id. A bad event is rejected with its reason; the rest of
//! its batch goes on.
use crate::dedupe::count_md5_list;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

/// A cleaned event: the document (`doc`, every field as bk-monitor stores it) and the fields
/// the builder reads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
    pub doc: Map<String, Value>,
    /// The document as text when `doc` was left empty: the builder reads only the fields
    /// above, and an alert takes its latest event's document once, when written.
    #[serde(skip)]
    pub raw: Option<std::sync::Arc<str>>,
}

impl Event {
    /// The document's text when it was left unparsed.
    pub fn unparsed(&self) -> Option<&str> {
        self.raw.as_deref().filter(|_| self.doc.is_empty())
    }

    /// The whole document.
    pub fn document(&self) -> Map<String, Value> {
        match self.unparsed() {
            Some(text) => serde_json::from_str(text).unwrap_or_default(),
            None => self.doc.clone(),
        }
    }
}

/// Whether a key or string under `v` holds a NUL character (no paths built: most don't).
fn holds_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(m) => m.iter().any(|(k, x)| k.contains('\0') || holds_nul(x)),
        _ => false,
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

/// The value a dedupe key reads: `tags.k` a tag, anything else a field.
fn key_value(doc: &Map<String, Value>, key: &str) -> Value {
    if let Some(tag) = key.strip_prefix("tags.") {
        return doc
            .get("tags")
            .and_then(Value::as_array)
            .and_then(|l| l.iter().find(|t| t["key"] == tag))
            .map(|t| t["value"].clone())
            .unwrap_or(Value::Null);
    }
    doc.get(key).cloned().unwrap_or(Value::Null)
}

/// Clean one event at `now` (epoch seconds). `Err` is the reason it is rejected.
pub fn clean(raw: &Value, now: i64) -> Result<Event, String> {
    clean_owned(raw.clone(), now)
}

/// `clean`, taking the event (a batch's events are not copied).
pub fn clean_owned(raw: Value, now: i64) -> Result<Event, String> {
    // bk-monitor requires an event_id; ours is derived from the event as received, so a
    // resend is the same.
    let derived_id = match raw.get("event_id") {
        Some(v) if !text(Some(v)).is_empty() => None,
        _ => Some(crate::dedupe::count_md5(&raw)),
    };
    // Postgres stores no NUL in text or jsonb: such an event would fail every builder pass
    // it is in, so it is refused here.
    let nul = holds_nul(&raw);
    let Value::Object(mut doc) = raw else {
        return Err("an event must be a JSON object".into());
    };
    if nul {
        let at = doc
            .iter()
            .find_map(|(k, v)| nul_path(v, k))
            .unwrap_or_default();
        return Err(format!(
            "{at} holds the NUL character (\\u0000), which cannot be stored"
        ));
    }
    // Drop None values.
    doc.retain(|_, v| !v.is_null());
    let strategy_id = match doc.get("strategy_id") {
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
    let alert_name = text(doc.get("alert_name"));
    if strategy_id.is_none() && alert_name.trim().is_empty() {
        return Err("alert_name or strategy_id is required".into());
    }
    let severity = match doc.get("severity") {
        None => 3,
        Some(v) => {
            let n = match v {
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
    let ingest = match doc.get("bk_ingest_time") {
        None => now,
        Some(v) => parse_time(v).ok_or_else(|| format!("unparseable bk_ingest_time {v}"))?,
    };
    let time = match doc.get("time") {
        None => ingest,
        Some(v) => parse_time(v).ok_or_else(|| format!("unparseable time {v}"))?,
    };
    let anomaly_time = match doc.get("anomaly_time") {
        None => time,
        Some(v) => parse_time(v).ok_or_else(|| format!("unparseable anomaly_time {v}"))?,
    };
    let status = match text(doc.get("status")).as_str() {
        s @ (CLOSED | RECOVERED) => s.to_string(),
        _ => ABNORMAL.to_string(),
    };
    let target_type = {
        let t = text(doc.get("target_type"));
        let up = t.to_ascii_uppercase();
        if ["HOST", "SERVICE", "TOPO"].contains(&up.as_str()) {
            up
        } else {
            t
        }
    };
    let data_type = match text(doc.get("data_type")).as_str() {
        d @ ("time_series" | "log") => d.to_string(),
        _ => "event".to_string(),
    };
    let category = Some(text(doc.get("category")))
        .filter(|c| CATEGORIES.contains(&c.as_str()))
        .unwrap_or_else(|| "other_rt".into());
    let tags = clean_tags(doc.get("tags"))?;
    let mut keys: Vec<String> = if strategy_id.is_some() {
        vec!["strategy_id", "target_type", "target", "bk_biz_id"]
    } else {
        vec!["alert_name", "target_type", "target", "bk_biz_id"]
    }
    .into_iter()
    .map(str::to_string)
    .collect();
    match doc.get("dedupe_keys") {
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
    let put = |doc: &mut Map<String, Value>, k: &str, v: Value| {
        doc.insert(k.to_string(), v);
    };
    if let Some(s) = strategy_id {
        put(&mut doc, "strategy_id", Value::from(s));
    }
    put(&mut doc, "severity", Value::from(severity));
    put(&mut doc, "status", Value::from(status.clone()));
    put(&mut doc, "target_type", Value::from(target_type.clone()));
    put(&mut doc, "data_type", Value::from(data_type));
    put(&mut doc, "category", Value::from(category));
    put(&mut doc, "tags", Value::Array(tags));
    put(&mut doc, "time", Value::from(time));
    put(&mut doc, "anomaly_time", Value::from(anomaly_time));
    put(&mut doc, "bk_ingest_time", Value::from(ingest));
    put(&mut doc, "bk_clean_time", Value::from(now));
    put(&mut doc, "create_time", Value::from(now));
    if !doc.contains_key("bk_tenant_id") {
        put(&mut doc, "bk_tenant_id", Value::from("system"));
    }
    // K8S and APM targets dedupe without their target.
    let tt = target_type.to_ascii_uppercase();
    let untargeted = tt.starts_with("K8S") || tt.starts_with("APM");
    let values: Vec<Value> = keys
        .iter()
        .map(|k| match k.as_str() {
            "target" if untargeted => Value::Null,
            "target_type" if untargeted => Value::from(""),
            _ => key_value(&doc, k),
        })
        .collect();
    let dedupe_md5 = count_md5_list(&values);
    let event_id = match derived_id {
        Some(id) => id,
        None => text(doc.get("event_id")),
    };
    put(&mut doc, "event_id", Value::from(event_id.clone()));
    let id = count_md5_list(&[
        doc.get("plugin_id").cloned().unwrap_or(Value::Null),
        Value::from(event_id.clone()),
        Value::from(status.clone()),
        Value::from(time),
    ]);
    put(&mut doc, "id", Value::from(id.clone()));
    put(&mut doc, "dedupe_keys", Value::from(keys.clone()));
    put(&mut doc, "dedupe_md5", Value::from(dedupe_md5.clone()));
    Ok(Event {
        id,
        event_id,
        strategy_id,
        alert_name,
        severity,
        status,
        target_type,
        target: text(doc.get("target")),
        bk_biz_id: text(doc.get("bk_biz_id")),
        dedupe_keys: keys,
        dedupe_md5,
        time,
        anomaly_time,
        doc,
        raw: None,
    })
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
            !e1.doc.contains_key("description"),
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
            e2.doc["tags"][0]["value"],
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
                e.doc["data_type"].as_str(),
                e.doc["category"].as_str()
            ),
            (NOW, "ABNORMAL", Some("event"), Some("other_rt"))
        );
        assert_eq!(e.doc["bk_tenant_id"], "system");
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
}
