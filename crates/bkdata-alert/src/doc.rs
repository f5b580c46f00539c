//! A JSON document kept as its text. An alert's event and dimensions go from Postgres to the
//! rules, back to Postgres, to Redis and to the API with nothing reading inside them: a
//! builder pass touching thousands of alerts parsed and printed each one several times when
//! they were trees.
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::io::Write;

/// Valid JSON text (checked when made), stored in a `json` column as it is.
#[derive(Debug, Clone, AsExpression, FromSqlRow, Serialize, Deserialize)]
#[diesel(sql_type = Json)]
#[serde(transparent)]
pub struct Doc(Box<RawValue>);

impl Doc {
    /// The text, if it is one JSON value (checked by scanning; no tree is built).
    pub fn parse(text: &str) -> Result<Doc, serde_json::Error> {
        serde_json::from_str(text).map(Doc)
    }

    /// A value printed.
    pub fn of(v: &impl Serialize) -> Doc {
        // Printing a `Value` (or a struct of them) cannot fail.
        Doc(serde_json::value::to_raw_value(v).unwrap_or_else(|_| Self::null()))
    }

    fn null() -> Box<RawValue> {
        serde_json::value::to_raw_value(&Value::Null).expect("null prints")
    }

    pub fn text(&self) -> &str {
        self.0.get()
    }

    pub fn value(&self) -> Value {
        serde_json::from_str(self.text()).unwrap_or(Value::Null)
    }

    /// The document as an object (empty when it is not one).
    pub fn object(&self) -> Map<String, Value> {
        serde_json::from_str(self.text()).unwrap_or_default()
    }
}

/// The same JSON, however it is spaced or ordered.
impl PartialEq for Doc {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text() || self.value() == other.value()
    }
}

impl FromSql<Json, Pg> for Doc {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let text = std::str::from_utf8(bytes.as_bytes())?;
        Ok(Doc::parse(text)?)
    }
}

impl ToSql<Json, Pg> for Doc {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.text().as_bytes())?;
        Ok(IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_doc_is_its_text() {
        let d = Doc::parse(r#"{"b": [1, 2.5], "a": "中"}"#).unwrap();
        assert_eq!(d.value(), json!({"a": "中", "b": [1, 2.5]}));
        assert_eq!(d, Doc::of(&json!({"a": "中", "b": [1, 2.5]})), "same JSON");
        assert_ne!(d, Doc::of(&json!({"a": "中"})));
        // Inside a struct it prints as itself.
        let wrapped = serde_json::to_string(&json!({"x": 1})).unwrap();
        let holder = serde_json::to_string(&vec![Doc::parse(&wrapped).unwrap()]).unwrap();
        assert_eq!(holder, r#"[{"x":1}]"#);
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            d.value(),
            "as a Value, parsed"
        );
        assert!(Doc::parse("{").is_err());
        assert!(Doc::parse("{} x").is_err());
    }
}
