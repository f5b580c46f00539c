//! Field types and BKData's error names.
use serde_json::{Number, Value};
use std::fmt;

/// The value types of a result table field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Int,
    Long,
    Double,
    String,
    Text,
}

impl FieldType {
    /// BKData's names, with the aliases it accepts (`bigint`, `bigdecimal`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "int" | "integer" => FieldType::Int,
            "long" | "bigint" => FieldType::Long,
            "double" | "float" | "bigdecimal" => FieldType::Double,
            "string" => FieldType::String,
            "text" => FieldType::Text,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::Int => "int",
            FieldType::Long => "long",
            FieldType::Double => "double",
            FieldType::String => "string",
            FieldType::Text => "text",
        }
    }

    /// Convert a value to this type; null stays null.
    pub fn convert(self, v: Value) -> Result<Value, EtlError> {
        let fail = |v: &Value| {
            EtlError::new(
                ErrorKind::TypeConversion,
                format!("cannot convert {} to {}", short(v), self.name()),
            )
        };
        match (self, v) {
            (_, Value::Null) => Ok(Value::Null),
            (FieldType::String | FieldType::Text, Value::String(s)) => Ok(Value::String(s)),
            (FieldType::String | FieldType::Text, other) => Ok(Value::String(other.to_string())),
            (FieldType::Int | FieldType::Long, v) => {
                let n = match &v {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                };
                let n = n.ok_or_else(|| fail(&v))?;
                if self == FieldType::Int && i32::try_from(n).is_err() {
                    return Err(fail(&v));
                }
                Ok(Value::Number(n.into()))
            }
            (FieldType::Double, v) => {
                let n = match &v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                n.and_then(Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| fail(&v))
            }
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 64 {
        format!(
            "{}…",
            &s[..s.char_indices().take(64).last().map_or(0, |(i, _)| i)]
        )
    } else {
        s
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
            ErrorKind::NulData => "NulDataError",
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

/// Java collection names, as BKData's verify `output_type` shows them.
pub fn java_type(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "HashMap",
        Value::Array(_) => "ArrayList",
        Value::String(_) => "String",
        Value::Number(n) if n.is_f64() => "Double",
        Value::Number(_) => "Long",
        Value::Bool(_) => "Boolean",
        Value::Null => "Null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversions_follow_bkdata() {
        assert_eq!(FieldType::Int.convert(json!("42")).unwrap(), json!(42));
        assert_eq!(
            FieldType::Long.convert(json!(" 9000000000 ")).unwrap(),
            json!(9_000_000_000i64)
        );
        assert_eq!(FieldType::Double.convert(json!("1.5")).unwrap(), json!(1.5));
        assert_eq!(FieldType::String.convert(json!(7)).unwrap(), json!("7"));
        assert_eq!(
            FieldType::Text.convert(json!({"a": 1})).unwrap(),
            json!("{\"a\":1}")
        );
        assert_eq!(FieldType::Int.convert(Value::Null).unwrap(), Value::Null);
        for (ty, bad) in [
            (FieldType::Int, json!("abc")),
            (FieldType::Int, json!(9_000_000_000i64)),
            (FieldType::Int, json!("1.5")),
            (FieldType::Long, json!(true)),
            (FieldType::Double, json!("x1")),
            (FieldType::Double, json!([1])),
        ] {
            let e = ty.convert(bad.clone()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::TypeConversion, "{ty:?} {bad}");
            assert!(e.to_string().starts_with("TypeConversionError: "));
        }
        assert_eq!(FieldType::parse("bigint"), Some(FieldType::Long));
        assert_eq!(FieldType::parse("bigdecimal"), Some(FieldType::Double));
        assert_eq!(FieldType::parse("blob"), None);
    }
}
