//! The yardstick of issue 18: the answers of BKData's own Java ETL engine on bk-base's test
//! cases (`../shared/conformance/bkbase-etl/cases.jsonl`, its README says what each field
//! means), compared with a `cleans/verify/` answer of ours.
//!
//! What is compared: a refusal (BKData refused to build the config) against our refusing it;
//! otherwise the rows (zipped with the schema, a repeated name as `name#2`: the same field
//! names, and per field the same value of the same JSON type: strings exactly, integers digit
//! for digit, other numbers as doubles; a JSON field's text as JSON; fields whose value is the
//! ingest time are not compared), the errors (the same labels, each with the same error name)
//! and the `error_message`'s error name. Cases listed in `docs/CONFORMANCE.md` may differ
//! (each listed deviation says why).
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub fn cases_path() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    root.join("../../shared/conformance/bkbase-etl/cases.jsonl")
}

#[derive(Debug)]
pub struct Case {
    pub id: String,
    pub conf: String,
    pub msg: String,
    /// The answers this case accepts: BKData's engine's, and the verify service's variant.
    pub expected: Vec<Expected>,
}

#[derive(Debug)]
pub struct Expected {
    pub refused: bool,
    pub rows: Vec<BTreeMap<String, Cell>>,
    pub volatile: BTreeSet<String>,
    pub errors: BTreeMap<String, String>,
    pub error_message: String,
}

/// A value as compared: a JSON type and its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(String),
    Float(f64),
    Str(String),
    /// JSON text of a map (assign_json), compared as JSON.
    Json(Value),
}

pub fn cell(raw: &RawValue, java_class: Option<&str>) -> Cell {
    let t = raw.get().trim();
    match t.as_bytes().first() {
        Some(b'n') => Cell::Null,
        Some(b't') => Cell::Bool(true),
        Some(b'f') => Cell::Bool(false),
        Some(b'"') => {
            let s: String = serde_json::from_str(t).unwrap_or_default();
            if matches!(java_class, Some("HashMap" | "LinkedHashMap")) {
                if let Ok(v) = serde_json::from_str::<Value>(&s) {
                    return Cell::Json(v);
                }
            }
            Cell::Str(s)
        }
        _ if t.contains(['.', 'e', 'E']) => Cell::Float(t.parse().unwrap_or(f64::NAN)),
        _ => Cell::Int(t.trim_start_matches('+').to_string()),
    }
}

/// `{field: value}` per row from a schema and rows of values (a repeated name gets `#2`).
pub fn zip_rows(
    schema: &[String],
    rows: &[Vec<Box<RawValue>>],
    json_fields: &BTreeSet<String>,
) -> Vec<BTreeMap<String, Cell>> {
    let names = numbered(schema);
    rows.iter()
        .map(|r| {
            names
                .iter()
                .zip(r)
                .map(|(n, v)| {
                    let class = json_fields.contains(n).then_some("HashMap");
                    (n.clone(), cell(v, class))
                })
                .collect()
        })
        .collect()
}

/// Field names from `name(type)` entries, the second of a name as `name#2`.
pub fn numbered(schema: &[String]) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    schema
        .iter()
        .map(|s| {
            let name = s
                .rsplit_once('(')
                .map_or(s.as_str(), |(n, _)| n)
                .to_string();
            let n = seen.entry(name.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                name
            } else {
                format!("{name}#{n}")
            }
        })
        .collect()
}

fn error_names(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, e)| (k.clone(), error_name(e.as_str().unwrap_or(""))))
        .collect()
}

fn error_name(s: &str) -> String {
    s.split(':').next().unwrap_or("").trim().to_string()
}

fn expected_of(e: &Value, raw: &RawValue) -> Expected {
    let refused = e["outcome"] != "ok";
    #[derive(serde::Deserialize)]
    struct Rows<'a> {
        #[serde(borrow, default)]
        rows: Vec<BTreeMap<String, &'a RawValue>>,
    }
    let parsed: Rows = serde_json::from_str(raw.get()).unwrap_or(Rows { rows: vec![] });
    let types = e["types"].as_array().cloned().unwrap_or_default();
    let rows = parsed
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.iter()
                .map(|(k, v)| {
                    let class = types.get(i).and_then(|t| t[k].as_str());
                    (k.clone(), cell(v, class))
                })
                .collect()
        })
        .collect();
    Expected {
        refused,
        rows,
        volatile: e["volatile"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        errors: error_names(&e["errors"]),
        error_message: error_name(e["error_message"].as_str().unwrap_or("")),
    }
}

pub fn load() -> Vec<Case> {
    let text = std::fs::read_to_string(cases_path()).expect("the conformance cases (../shared)");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a case");
            #[derive(serde::Deserialize)]
            struct RawCase<'a> {
                #[serde(borrow)]
                expected: &'a RawValue,
            }
            let raw: RawCase = serde_json::from_str(l).expect("a case");
            let mut expected = vec![expected_of(&v["expected"], raw.expected)];
            if let Some(variant) = v["expected"].get("cleanservice_variant") {
                #[derive(serde::Deserialize)]
                struct RawVariant<'a> {
                    #[serde(borrow)]
                    cleanservice_variant: &'a RawValue,
                }
                let rv: RawVariant = serde_json::from_str(raw.expected.get()).expect("variant");
                let mut merged = v["expected"].clone();
                if let (Some(m), Some(var)) = (merged.as_object_mut(), variant.as_object()) {
                    for (k, x) in var {
                        m.insert(k.clone(), x.clone());
                    }
                }
                let raw_merged = if variant.get("rows").is_some() {
                    rv.cleanservice_variant
                } else {
                    raw.expected
                };
                expected.push(expected_of(&merged, raw_merged));
            }
            Case {
                id: v["id"].as_str().unwrap_or("").to_string(),
                conf: v["conf"].as_str().unwrap_or("").to_string(),
                msg: v["msg"].as_str().unwrap_or("").to_string(),
                expected,
            }
        })
        .collect()
}

/// Our answer: `Err` for a refusal, else the verify `data` object's text.
pub type Answer = Result<String, String>;

/// Why our answer differs from every answer the case accepts (`None`: it matches).
pub fn compare(case: &Case, ours: &Answer) -> Option<String> {
    let mut why = Vec::new();
    for e in &case.expected {
        match diff(e, ours) {
            None => return None,
            Some(w) => why.push(w),
        }
    }
    Some(why.join(" | or | "))
}

fn diff(e: &Expected, ours: &Answer) -> Option<String> {
    let data = match (e.refused, ours) {
        (true, Err(_)) => return None,
        (true, Ok(_)) => return Some("BKData refuses the config; we accepted it".into()),
        (false, Err(msg)) => return Some(format!("we refused the config: {msg}")),
        (false, Ok(d)) => d,
    };
    #[derive(serde::Deserialize)]
    struct Data {
        result: Vec<Vec<Box<RawValue>>>,
        schema: Vec<String>,
        #[serde(default)]
        errors: Value,
        #[serde(default)]
        error_message: String,
    }
    let d: Data = match serde_json::from_str(data) {
        Ok(d) => d,
        Err(err) => return Some(format!("our answer does not parse: {err}")),
    };
    let json_fields: BTreeSet<String> = e
        .rows
        .first()
        .map(|r| {
            r.iter()
                .filter(|(_, c)| matches!(c, Cell::Json(_)))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut rows = zip_rows(&d.schema, &d.result, &json_fields);
    let mut want = e.rows.clone();
    for r in rows.iter_mut().chain(want.iter_mut()) {
        for v in &e.volatile {
            r.remove(v);
        }
    }
    let mut out = Vec::new();
    if rows.len() != want.len() {
        out.push(format!("{} rows, BKData {}", rows.len(), want.len()));
    }
    for (i, (a, b)) in rows.iter().zip(&want).enumerate() {
        let ka: BTreeSet<&String> = a.keys().collect();
        let kb: BTreeSet<&String> = b.keys().collect();
        if ka != kb {
            out.push(format!("row {i}: fields {ka:?}, BKData {kb:?}"));
            continue;
        }
        for (k, va) in a {
            let vb = &b[k];
            if !same(va, vb) {
                out.push(format!("row {i}: {k} = {va:?}, BKData {vb:?}"));
            }
        }
    }
    let errs = error_names(&d.errors);
    if errs != e.errors {
        out.push(format!("errors {errs:?}, BKData {:?}", e.errors));
    }
    let msg = error_name(&d.error_message);
    if msg != e.error_message {
        out.push(format!(
            "error_message {msg:?}, BKData {:?}",
            e.error_message
        ));
    }
    (!out.is_empty()).then(|| out.join("; "))
}

fn same(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Float(x), Cell::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Cell::Json(x), Cell::Json(y)) => x == y,
        _ => a == b,
    }
}

/// The case ids `docs/CONFORMANCE.md` lists as reasoned deviations.
pub fn listed_deviations() -> BTreeSet<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("../docs/CONFORMANCE.md")).unwrap_or_default();
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with('|')) {
        let mut rest = line;
        while let Some(i) = rest.find("bkbase-") {
            let id: String = rest[i..].chars().take(10).collect();
            out.insert(id);
            rest = &rest[i + 7..];
        }
    }
    out
}
