//! The `fun`, `access` and `assign` operators on one value.
use super::types::{java_type, ErrorKind, EtlError};
use super::{Op, Partial};
use serde_json::{Map, Value};

fn err(kind: ErrorKind, detail: impl Into<String>) -> EtlError {
    EtlError::new(kind, detail)
}

fn not_null(op: &str, v: &Value) -> Result<(), EtlError> {
    if v.is_null() {
        Err(err(ErrorKind::NulData, format!("{op} got null")))
    } else {
        Ok(())
    }
}

fn as_str<'a>(op: &str, v: &'a Value) -> Result<&'a str, EtlError> {
    not_null(op, v)?;
    v.as_str().ok_or_else(|| {
        err(
            ErrorKind::PipeExtractor,
            format!("{op} needs a string, got {}", java_type(v)),
        )
    })
}

fn as_map(op: &str, v: Value) -> Result<Map<String, Value>, EtlError> {
    not_null(op, &v)?;
    match v {
        Value::Object(m) => Ok(m),
        other => Err(err(
            ErrorKind::NotMapData,
            format!("{op} needs a map, got {}", java_type(&other)),
        )),
    }
}

fn map_ref<'a>(op: &str, v: &'a Value) -> Result<&'a Map<String, Value>, EtlError> {
    not_null(op, v)?;
    match v {
        Value::Object(m) => Ok(m),
        other => Err(err(
            ErrorKind::NotMapData,
            format!("{op} needs a map, got {}", java_type(other)),
        )),
    }
}

fn list_ref<'a>(op: &str, v: &'a Value) -> Result<&'a [Value], EtlError> {
    not_null(op, v)?;
    match v {
        Value::Array(l) => Ok(l),
        other => Err(err(
            ErrorKind::NotListData,
            format!("{op} needs a list, got {}", java_type(other)),
        )),
    }
}

fn as_list(op: &str, v: Value) -> Result<Vec<Value>, EtlError> {
    not_null(op, &v)?;
    match v {
        Value::Array(l) => Ok(l),
        other => Err(err(
            ErrorKind::NotListData,
            format!("{op} needs a list, got {}", java_type(&other)),
        )),
    }
}

fn snippet(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `fun` and `access` nodes: one value in, one value out.
pub(super) fn apply(op: &Op, v: Value) -> Result<Value, EtlError> {
    Ok(match op {
        Op::FromJson => match v {
            Value::String(s) => serde_json::from_str::<Value>(&s)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| {
                    err(
                        ErrorKind::BadJsonObject,
                        format!("not a JSON object: {}", snippet(&s)),
                    )
                })?,
            Value::Object(_) => v,
            other => {
                return Err(err(
                    ErrorKind::BadJsonObject,
                    format!("from_json needs a string, got {}", java_type(&other)),
                ))
            }
        },
        Op::FromJsonList => match v {
            Value::String(s) => serde_json::from_str::<Value>(&s)
                .ok()
                .filter(Value::is_array)
                .ok_or_else(|| {
                    err(
                        ErrorKind::BadJsonList,
                        format!("not a JSON list: {}", snippet(&s)),
                    )
                })?,
            Value::Array(_) => v,
            other => {
                return Err(err(
                    ErrorKind::BadJsonList,
                    format!("from_json_list needs a string, got {}", java_type(&other)),
                ))
            }
        },
        Op::Split { sep, limit } => {
            let s = as_str("split", &v)?;
            let parts: Vec<Value> = match limit {
                Some(n) => s
                    .splitn(*n, sep.as_str())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
                None => s
                    .split(sep.as_str())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            };
            Value::Array(parts)
        }
        Op::Csvline => Value::Array(
            csv_line(as_str("csvline", &v)?)?
                .into_iter()
                .map(Value::String)
                .collect(),
        ),
        Op::RegexExtract { re, keys } => {
            let s = as_str("regex_extract", &v)?;
            let caps = re.captures(s).ok_or_else(|| {
                err(
                    ErrorKind::PipeExtractor,
                    format!("regexp does not match: {}", snippet(s)),
                )
            })?;
            Value::Object(
                keys.iter()
                    .map(|k| {
                        (
                            k.clone(),
                            caps.name(k)
                                .map_or(Value::Null, |m| Value::String(m.as_str().to_string())),
                        )
                    })
                    .collect(),
            )
        }
        Op::SplitKv { entry, kv } => {
            let s = as_str("splitkv", &v)?;
            let mut m = Map::new();
            for e in s.split(entry.as_str()).filter(|e| !e.is_empty()) {
                let (k, val) = e.split_once(kv.as_str()).unwrap_or((e, ""));
                m.insert(k.to_string(), Value::String(val.to_string()));
            }
            Value::Object(m)
        }
        Op::FromUrl => {
            let s = as_str("from_url", &v)?;
            let query = s.split_once('?').map_or(s, |(_, q)| q);
            let query = query.split('#').next().unwrap_or("");
            let dec = |x: &str| {
                // Every '%' must start a two-digit hex escape (the decoder would pass it through).
                let b = x.as_bytes();
                let bad_escape = b.iter().enumerate().any(|(i, c)| {
                    *c == b'%'
                        && !(i + 2 < b.len()
                            && b[i + 1].is_ascii_hexdigit()
                            && b[i + 2].is_ascii_hexdigit())
                });
                if bad_escape {
                    return Err(err(ErrorKind::UrlDecode, format!("bad escape in {x:?}")));
                }
                urlencoding::decode(&x.replace('+', " "))
                    .map(|c| c.into_owned())
                    .map_err(|_| err(ErrorKind::UrlDecode, format!("cannot decode {x:?}")))
            };
            let mut m = Map::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
                m.insert(dec(k)?, Value::String(dec(val)?));
            }
            Value::Object(m)
        }
        Op::Replace { pairs } => {
            let mut s = as_str("replace", &v)?.to_string();
            for (from, to) in pairs {
                if !from.is_empty() {
                    s = s.replace(from.as_str(), to);
                }
            }
            Value::String(s)
        }
        Op::Items { key_to } => Value::Array(
            as_map("items", v)?
                .into_iter()
                .map(|(k, val)| {
                    let mut m = Map::new();
                    m.insert(key_to.clone(), Value::String(k));
                    m.insert("value".into(), val);
                    Value::Object(m)
                })
                .collect(),
        ),
        Op::Zip { a, b } => {
            let mut m = as_map("zip", v)?;
            let la = as_list("zip", m.remove(a).unwrap_or(Value::Null))?;
            let lb = as_list("zip", m.remove(b).unwrap_or(Value::Null))?;
            Value::Array(
                la.into_iter()
                    .zip(lb)
                    .map(|(x, y)| {
                        let mut o = Map::new();
                        o.insert(a.clone(), x);
                        o.insert(b.clone(), y);
                        Value::Object(o)
                    })
                    .collect(),
            )
        }
        Op::Pop => {
            let mut l = as_list("pop", v)?;
            l.pop()
                .ok_or_else(|| err(ErrorKind::AccessByIndexFailed, "pop on an empty list"))?
        }
        Op::ToString => match v {
            Value::String(_) => v,
            Value::Null => return Err(err(ErrorKind::NulData, "to_string got null")),
            other => Value::String(other.to_string()),
        },
        Op::AccessObj { key, default } => {
            let mut m = as_map("access_obj", v)?;
            match m.remove(key) {
                Some(x) => x,
                None => default.clone().ok_or_else(|| {
                    err(
                        ErrorKind::AccessByKeyFailed,
                        format!("key {key:?} not found"),
                    )
                })?,
            }
        }
        Op::AccessPos { index, default } => {
            let l = as_list("access_pos", v)?;
            let len = l.len();
            match l.into_iter().nth(*index) {
                Some(x) => x,
                None => default.clone().ok_or_else(|| {
                    err(
                        ErrorKind::AccessByIndexFailed,
                        format!("index {index} out of range (length {len})"),
                    )
                })?,
            }
        }
        Op::AccessMulti { keys, sep } => {
            let m = as_map("access_multi", v)?;
            let mut parts = Vec::with_capacity(keys.len());
            for k in keys {
                match m.get(k) {
                    Some(Value::String(s)) => parts.push(s.clone()),
                    Some(Value::Null) | None => {
                        return Err(err(
                            ErrorKind::AccessByKeyFailed,
                            format!("key {k:?} not found"),
                        ))
                    }
                    Some(other) => parts.push(other.to_string()),
                }
            }
            Value::String(parts.join(sep))
        }
        _ => unreachable!("not a one-value operator"),
    })
}

/// `assign` nodes: a value in (borrowed: only the assigned fields are copied), one row of
/// typed fields out.
pub(super) fn assign(op: &Op, v: &Value) -> Result<Partial, EtlError> {
    match op {
        Op::AssignObj(specs) => {
            let m = map_ref("assign_obj", v)?;
            specs
                .iter()
                .map(|(key, idx, ty)| {
                    Ok((
                        *idx,
                        ty.convert(m.get(key).cloned().unwrap_or(Value::Null))
                            .map_err(|e| with_field(e, key))?,
                    ))
                })
                .collect()
        }
        Op::AssignPos(specs) => {
            let l = list_ref("assign_pos", v)?;
            specs
                .iter()
                .map(|(pos, idx, ty)| {
                    Ok((
                        *idx,
                        ty.convert(l.get(*pos).cloned().unwrap_or(Value::Null))
                            .map_err(|e| with_field(e, &format!("index {pos}")))?,
                    ))
                })
                .collect()
        }
        Op::AssignJson(specs) => {
            let m = map_ref("assign_json", v)?;
            specs
                .iter()
                .map(|(key, idx, ty)| {
                    let x = match key {
                        None => Value::String(Value::Object(m.clone()).to_string()),
                        Some(k) => match m.get(k) {
                            None | Some(Value::Null) => Value::Null,
                            Some(x) => Value::String(x.to_string()),
                        },
                    };
                    Ok((*idx, ty.convert(x)?))
                })
                .collect()
        }
        Op::AssignValue(idx, ty) => Ok(vec![(
            *idx,
            ty.convert(v.clone()).map_err(|e| with_field(e, "value"))?,
        )]),
        _ => unreachable!("not an assign operator"),
    }
}

fn with_field(e: EtlError, what: &str) -> EtlError {
    EtlError::new(e.kind, format!("{} ({what})", e.detail))
}

/// One CSV line: commas, double-quoted fields with `""` escapes.
fn csv_line(s: &str) -> Result<Vec<String>, EtlError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => {
                quoted = true;
                at_start = false;
            }
            (true, '"') => {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                    if !matches!(chars.peek(), None | Some(',')) {
                        return Err(err(
                            ErrorKind::BadCsvData,
                            format!("text after a closing quote: {}", snippet(s)),
                        ));
                    }
                }
            }
            (false, ',') => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
            }
            (_, c) => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err(err(
            ErrorKind::BadCsvData,
            format!("unterminated quote: {}", snippet(s)),
        ));
    }
    out.push(cur);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines() {
        assert_eq!(csv_line("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(
            csv_line("\"x,y\",\"he said \"\"hi\"\"\",z").unwrap(),
            ["x,y", "he said \"hi\"", "z"]
        );
        assert_eq!(
            csv_line("\"open,b").unwrap_err().kind,
            ErrorKind::BadCsvData
        );
        assert_eq!(
            csv_line("\"a\"b,c").unwrap_err().kind,
            ErrorKind::BadCsvData
        );
    }
}
