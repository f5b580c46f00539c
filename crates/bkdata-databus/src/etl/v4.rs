//! bklog's v4 `clean/debug/` (wire reference §3.3, shape inferred from bklog's
//! `etl_preview_v4`): `{input, rules: [{input_id: "__raw_data", output_id, operator}]}` →
//! `{rules_output: [{output_id, value, key_index: [{type, value}]}]}`. Rules chain by id.
use super::ConfigError;
use regex::Regex;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

fn op_spec(op: &Value) -> Result<(String, Map<String, Value>), ConfigError> {
    let obj = op
        .as_object()
        .ok_or_else(|| ConfigError("operator must be an object".into()))?;
    // Either {"type": "split_str", ...params} or {"split_str": {...params}}.
    if let Some(t) = obj.get("type").and_then(Value::as_str) {
        return Ok((t.to_string(), obj.clone()));
    }
    match obj.iter().next() {
        Some((k, v)) if obj.len() == 1 => {
            Ok((k.clone(), v.as_object().cloned().unwrap_or_default()))
        }
        _ => Err(ConfigError(
            "operator needs a type (split_str, regex, json_de, get, iter)".into(),
        )),
    }
}

fn key_index(v: &Value) -> Value {
    match v {
        Value::Object(m) => json!(m
            .keys()
            .map(|k| json!({"type": "key", "value": k}))
            .collect::<Vec<_>>()),
        Value::Array(l) => json!((0..l.len())
            .map(|i| json!({"type": "index", "value": i}))
            .collect::<Vec<_>>()),
        _ => json!([]),
    }
}

/// Run the rules on `input`; a rule that cannot run is reported in its output, not fatal.
pub fn debug(req: &Value) -> Result<Value, ConfigError> {
    let input = req
        .get("input")
        .ok_or_else(|| ConfigError("input is required".into()))?;
    let input = match input {
        Value::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    };
    let rules = req
        .get("rules")
        .and_then(Value::as_array)
        .ok_or_else(|| ConfigError("rules must be a list".into()))?;
    let mut values: HashMap<String, Value> = HashMap::from([("__raw_data".to_string(), input)]);
    let mut out = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let input_id = rule
            .get("input_id")
            .and_then(Value::as_str)
            .unwrap_or("__raw_data");
        let output_id = rule
            .get("output_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("rule_{i}"));
        let (kind, p) = op_spec(rule.get("operator").unwrap_or(&Value::Null))
            .map_err(|e| ConfigError(format!("rules[{i}]: {e}")))?;
        let Some(src) = values.get(input_id).cloned() else {
            return Err(ConfigError(format!(
                "rules[{i}]: unknown input_id {input_id:?}"
            )));
        };
        let text = || {
            src.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| src.to_string())
        };
        let result: Result<Value, String> = match kind.as_str() {
            "split_str" => {
                let d = p.get("delimiter").and_then(Value::as_str).filter(|d| !d.is_empty()).ok_or_else(|| ConfigError(format!("rules[{i}]: split_str needs a delimiter")))?;
                let max = p.get("max_parts").and_then(Value::as_u64).filter(|n| *n > 0);
                let t = text();
                Ok(json!(match max {
                    Some(n) => t.splitn(n as usize, d).collect::<Vec<_>>(),
                    None => t.split(d).collect::<Vec<_>>(),
                }))
            }
            "regex" => {
                let pat = p.get("regex").and_then(Value::as_str).ok_or_else(|| ConfigError(format!("rules[{i}]: regex needs a regex")))?;
                let re = Regex::new(&pat.replace("(?P<", "(?<")).map_err(|e| ConfigError(format!("rules[{i}]: invalid regex: {e}")))?;
                let t = text();
                match re.captures(&t) {
                    Some(c) => Ok(Value::Object(re.capture_names().flatten().map(|n| (n.to_string(), c.name(n).map_or(Value::Null, |m| json!(m.as_str())))).collect())),
                    None => Err("regex does not match".to_string()),
                }
            }
            "json_de" => serde_json::from_str::<Value>(&text()).map_err(|e| format!("not JSON: {e}")),
            "get" => {
                let mut cur = src.clone();
                for k in p.get("key_index").and_then(Value::as_array).cloned().unwrap_or_default() {
                    let key = k.get("value").cloned().unwrap_or(Value::Null);
                    cur = match (&cur, &key) {
                        (Value::Object(m), Value::String(s)) => m.get(s).cloned().unwrap_or(Value::Null),
                        (Value::Array(l), Value::Number(n)) => n.as_u64().and_then(|n| l.get(n as usize)).cloned().unwrap_or(Value::Null),
                        _ => Value::Null,
                    };
                }
                Ok(cur)
            }
            "iter" => match &src {
                Value::Array(_) => Ok(src.clone()),
                _ => Err("iter needs a list".to_string()),
            },
            other => return Err(ConfigError(format!("rules[{i}]: operator {other:?} is not supported (split_str, regex, json_de, get, iter)"))),
        };
        match result {
            Ok(v) => {
                out.push(json!({"output_id": output_id, "value": v, "key_index": key_index(&v)}));
                values.insert(output_id, v);
            }
            Err(e) => out
                .push(json!({"output_id": output_id, "value": null, "key_index": [], "error": e})),
        }
    }
    Ok(json!({"rules_output": out}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_regex_json() {
        let r = debug(&json!({"input": "a|b|c", "rules": [{"input_id": "__raw_data", "output_id": "bk_separator_object", "operator": {"type": "split_str", "delimiter": "|"}}], "filter_rules": []})).unwrap();
        assert_eq!(r["rules_output"][0]["value"], json!(["a", "b", "c"]));
        assert_eq!(
            r["rules_output"][0]["key_index"][2],
            json!({"type": "index", "value": 2})
        );
        let r = debug(&json!({"input": "ip=1.2.3.4", "rules": [{"input_id": "__raw_data", "output_id": "o", "operator": {"regex": {"regex": "ip=(?P<ip>\\S+)"}}}]})).unwrap();
        assert_eq!(r["rules_output"][0]["value"], json!({"ip": "1.2.3.4"}));
        assert_eq!(
            r["rules_output"][0]["key_index"],
            json!([{"type": "key", "value": "ip"}])
        );
        let r = debug(&json!({"input": "{\"a\": {\"b\": 1}}", "rules": [
            {"input_id": "__raw_data", "output_id": "j", "operator": {"type": "json_de", "error_strategy": "drop"}},
            {"input_id": "j", "output_id": "g", "operator": {"type": "get", "key_index": [{"type": "key", "value": "a"}, {"type": "key", "value": "b"}]}}]})).unwrap();
        assert_eq!(r["rules_output"][1]["value"], 1);
        let r = debug(&json!({"input": "{bad", "rules": [{"output_id": "j", "operator": {"type": "json_de"}}]})).unwrap();
        assert!(r["rules_output"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("not JSON"));
        assert!(
            debug(&json!({"input": "x", "rules": [{"operator": {"type": "teleport"}}]}))
                .unwrap_err()
                .0
                .contains("teleport")
        );
        assert!(debug(&json!({"rules": []})).is_err());
    }
}
