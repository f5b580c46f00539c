//! Result-table rows in and out of Arrow: a stream row (a JSON object, one a line on
//! `rt.{id}`) is read straight into column builders, and SQL output is written back as rows.
use crate::FlowError;
use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, Float64Builder, Int32Array, Int32Builder, Int64Array,
    Int64Builder, RecordBatch, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// The event-time column every result table has (epoch ms).
pub const TIME_COLUMN: &str = "dtEventTimeStamp";

/// The Arrow type of a BKData field type.
pub fn arrow_type(field_type: &str) -> DataType {
    match field_type {
        "int" | "integer" => DataType::Int32,
        "long" | "bigint" | "timestamp" => DataType::Int64,
        "double" | "float" => DataType::Float64,
        _ => DataType::Utf8,
    }
}

/// The BKData field type of an Arrow type (for result tables made by SQL).
pub fn bkdata_type(t: &DataType) -> &'static str {
    match t {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => {
            "int"
        }
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "long",
        DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
            "double"
        }
        _ => "string",
    }
}

/// The schema of a result table from its fields (`[{field_name, field_type}]`), with the time
/// columns every table has.
pub fn schema_of(fields: &[(String, String)]) -> SchemaRef {
    let mut out: Vec<Field> = Vec::new();
    let mut push = |name: &str, t: DataType| {
        if !out.iter().any(|f| f.name() == name) {
            out.push(Field::new(name, t, true));
        }
    };
    for (name, ty) in fields {
        let t = match name.as_str() {
            TIME_COLUMN | "timestamp" => DataType::Int64,
            "dtEventTime" | "localTime" => DataType::Utf8,
            _ => arrow_type(ty),
        };
        push(name, t);
    }
    push("dtEventTime", DataType::Utf8);
    push(TIME_COLUMN, DataType::Int64);
    push("localTime", DataType::Utf8);
    Arc::new(Schema::new(out))
}

/// One value of a row being read.
#[derive(Debug, Clone, Default)]
enum Cell {
    #[default]
    Null,
    Int(i64),
    Float(f64),
    /// Text kept in the row's reusable buffer.
    Str,
}

/// Reads stream rows into a reusable scratch row, then appends it to a [`Columns`].
pub struct RowReader {
    schema: SchemaRef,
    time_idx: usize,
    cells: Vec<Cell>,
    texts: Vec<String>,
}

impl RowReader {
    pub fn new(schema: SchemaRef) -> Self {
        let n = schema.fields().len();
        let time_idx = schema.index_of(TIME_COLUMN).unwrap_or(usize::MAX);
        RowReader {
            schema,
            time_idx,
            cells: vec![Cell::Null; n],
            texts: vec![String::new(); n],
        }
    }

    /// Read one row; answers its event time (ms), or an error for a row that is not a JSON
    /// object or has no event time.
    pub fn read(&mut self, line: &[u8]) -> Result<i64, String> {
        self.cells.iter_mut().for_each(|c| *c = Cell::Null);
        let mut de = serde_json::Deserializer::from_slice(line);
        de.deserialize_map(RowVisitor { r: self })
            .and_then(|_| de.end())
            .map_err(|e| format!("not a JSON object: {e}"))?;
        match self.cells.get(self.time_idx) {
            Some(Cell::Int(t)) => Ok(*t),
            Some(Cell::Float(f)) => Ok(*f as i64),
            _ => Err(format!("the row has no {TIME_COLUMN}")),
        }
    }

    /// Append the row last read.
    pub fn append_to(&self, cols: &mut Columns) {
        for (i, b) in cols.builders.iter_mut().enumerate() {
            let c = &self.cells[i];
            match b {
                Builder::I32(b) => b.append_option(match c {
                    Cell::Int(n) => i32::try_from(*n).ok(),
                    Cell::Float(f) if f.fract() == 0.0 => Some(*f as i32),
                    Cell::Str => self.texts[i].trim().parse().ok(),
                    _ => None,
                }),
                Builder::I64(b) => b.append_option(match c {
                    Cell::Int(n) => Some(*n),
                    Cell::Float(f) if f.fract() == 0.0 => Some(*f as i64),
                    Cell::Str => self.texts[i].trim().parse().ok(),
                    _ => None,
                }),
                Builder::F64(b) => b.append_option(match c {
                    Cell::Int(n) => Some(*n as f64),
                    Cell::Float(f) => Some(*f),
                    Cell::Str => self.texts[i].trim().parse().ok(),
                    Cell::Null => None,
                }),
                Builder::Str(b) => match c {
                    Cell::Null => b.append_null(),
                    Cell::Int(n) => b.append_value(n.to_string()),
                    Cell::Float(f) => b.append_value(f.to_string()),
                    Cell::Str => b.append_value(&self.texts[i]),
                },
            }
        }
        cols.rows += 1;
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The last row's cell `i` as its column would store it, as bytes: rows that store equal
    /// values give equal bytes (`1` and `"1"` in a string column alike), so they hash alike.
    pub fn key_bytes(&self, i: usize, out: &mut Vec<u8>) {
        let c = &self.cells[i];
        let text = &self.texts[i];
        let int = || match c {
            Cell::Int(n) => Some(*n),
            Cell::Float(f) if f.fract() == 0.0 => Some(*f as i64),
            Cell::Str => text.trim().parse().ok(),
            _ => None,
        };
        match self.schema.field(i).data_type() {
            DataType::Int32 | DataType::Int64 => match int() {
                Some(n) => {
                    out.push(1);
                    out.extend_from_slice(&n.to_le_bytes());
                }
                None => out.push(0),
            },
            DataType::Float64 => match c {
                Cell::Int(n) => {
                    out.push(2);
                    out.extend_from_slice(&(*n as f64).to_bits().to_le_bytes());
                }
                Cell::Float(f) => {
                    out.push(2);
                    out.extend_from_slice(&f.to_bits().to_le_bytes());
                }
                Cell::Str => match text.trim().parse::<f64>() {
                    Ok(f) => {
                        out.push(2);
                        out.extend_from_slice(&f.to_bits().to_le_bytes());
                    }
                    Err(_) => out.push(0),
                },
                Cell::Null => out.push(0),
            },
            _ => {
                match c {
                    Cell::Null => out.push(0),
                    Cell::Int(n) => {
                        out.push(3);
                        out.extend_from_slice(n.to_string().as_bytes());
                    }
                    Cell::Float(f) => {
                        out.push(3);
                        out.extend_from_slice(f.to_string().as_bytes());
                    }
                    Cell::Str => {
                        out.push(3);
                        out.extend_from_slice(text.as_bytes());
                    }
                }
                // Ends the text: ("a", "bc") and ("ab", "c") differ.
                out.push(0xff);
            }
        }
    }
}

struct RowVisitor<'a> {
    r: &'a mut RowReader,
}

impl<'de> Visitor<'de> for RowVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let RowReader {
            schema,
            cells,
            texts,
            ..
        } = self.r;
        while let Some(i) = m.next_key_seed(KeyIndex(schema))? {
            match i {
                Some(i) => {
                    cells[i] = m.next_value_seed(CellSeed(&mut texts[i]))?;
                }
                None => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct KeyIndex<'a>(&'a SchemaRef);

impl<'de> DeserializeSeed<'de> for KeyIndex<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIndex<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(self.0.fields().iter().position(|f| f.name() == s))
    }
}

/// A value read into a cell, text into the cell's buffer (no allocation once warm).
struct CellSeed<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for CellSeed<'_> {
    type Value = Cell;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cell, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed<'_> {
    type Value = Cell;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_i64<E>(self, n: i64) -> Result<Cell, E> {
        Ok(Cell::Int(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Cell, E> {
        Ok(i64::try_from(n).map_or(Cell::Float(n as f64), Cell::Int))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Cell, E> {
        Ok(Cell::Float(f))
    }
    fn visit_bool<E>(self, b: bool) -> Result<Cell, E> {
        Ok(Cell::Int(b as i64))
    }
    fn visit_str<E>(self, s: &str) -> Result<Cell, E> {
        self.0.clear();
        self.0.push_str(s);
        Ok(Cell::Str)
    }
    fn visit_unit<E>(self) -> Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Cell, A::Error> {
        let v: Value =
            serde::Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        self.0.clear();
        self.0.push_str(&v.to_string());
        Ok(Cell::Str)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Cell, A::Error> {
        let v: Value =
            serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        self.0.clear();
        self.0.push_str(&v.to_string());
        Ok(Cell::Str)
    }
}

enum Builder {
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Str(StringBuilder),
}

/// Rows accumulated column by column (one pane's rows).
pub struct Columns {
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
}

impl Columns {
    pub fn new(schema: &SchemaRef) -> Self {
        let builders = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Int32 => Builder::I32(Int32Builder::new()),
                DataType::Int64 => Builder::I64(Int64Builder::new()),
                DataType::Float64 => Builder::F64(Float64Builder::new()),
                _ => Builder::Str(StringBuilder::new()),
            })
            .collect();
        Columns {
            schema: schema.clone(),
            builders,
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The rows so far as a batch (the builders keep them: a pane may serve several windows).
    pub fn batch(&self) -> Result<RecordBatch, FlowError> {
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::I32(b) => Arc::new(b.finish_cloned()),
                    Builder::I64(b) => Arc::new(b.finish_cloned()),
                    Builder::F64(b) => Arc::new(b.finish_cloned()),
                    Builder::Str(b) => Arc::new(b.finish_cloned()),
                }
            })
            .collect();
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(FlowError::from)
    }
}

/// Output rows as stream rows (JSON objects), each stamped with the window: `dtEventTime`
/// (`dt_event_time` formats it) and `dtEventTimeStamp` from the window start, `localTime` from
/// the emit time.
pub fn write_rows(
    batch: &RecordBatch,
    window_start_ms: i64,
    dt_event_time: &dyn Fn(i64) -> String,
    local_time: &str,
    out: &mut Vec<Vec<u8>>,
) {
    let schema = batch.schema();
    let keys: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{}:", Value::String(f.name().clone())))
        .collect();
    let skip: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| matches!(f.name().as_str(), "dtEventTime" | TIME_COLUMN | "localTime"))
        .collect();
    // A query that selects the event time keeps it per row (a `none` node passing rows on);
    // otherwise rows are stamped with the window.
    let own_time = schema
        .index_of(TIME_COLUMN)
        .ok()
        .and_then(|i| batch.column(i).as_any().downcast_ref::<Int64Array>());
    let window_dt = dt_event_time(window_start_ms);
    for row in 0..batch.num_rows() {
        let mut line = Vec::with_capacity(128);
        line.push(b'{');
        for (c, col) in batch.columns().iter().enumerate() {
            if skip[c] {
                continue;
            }
            line.extend_from_slice(keys[c].as_bytes());
            let _ = serde_json::to_writer(&mut line, &cell_json(col.as_ref(), row));
            line.push(b',');
        }
        let at = own_time.filter(|a| a.is_valid(row)).map(|a| a.value(row));
        let dt = match at {
            Some(t) => dt_event_time(t),
            None => window_dt.clone(),
        };
        line.extend_from_slice(b"\"dtEventTime\":");
        let _ = serde_json::to_writer(&mut line, &dt);
        line.extend_from_slice(
            format!(
                ",\"{TIME_COLUMN}\":{},\"localTime\":",
                at.unwrap_or(window_start_ms)
            )
            .as_bytes(),
        );
        let _ = serde_json::to_writer(&mut line, local_time);
        line.push(b'}');
        out.push(line);
    }
}

pub fn cell_json(col: &dyn Array, row: usize) -> Value {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes as t;
    if col.is_null(row) {
        return Value::Null;
    }
    match col.data_type() {
        DataType::Int32 => col
            .as_any()
            .downcast_ref::<Int32Array>()
            .map(|a| a.value(row).into()),
        DataType::Int64 => col
            .as_any()
            .downcast_ref::<Int64Array>()
            .map(|a| a.value(row).into()),
        DataType::Float64 => col
            .as_any()
            .downcast_ref::<Float64Array>()
            .and_then(|a| serde_json::Number::from_f64(a.value(row)).map(Value::Number)),
        DataType::Utf8 => col
            .as_any()
            .downcast_ref::<StringArray>()
            .map(|a| a.value(row).into()),
        DataType::Int8 => Some(col.as_primitive::<t::Int8Type>().value(row).into()),
        DataType::Int16 => Some(col.as_primitive::<t::Int16Type>().value(row).into()),
        DataType::UInt8 => Some(col.as_primitive::<t::UInt8Type>().value(row).into()),
        DataType::UInt16 => Some(col.as_primitive::<t::UInt16Type>().value(row).into()),
        DataType::UInt32 => Some(col.as_primitive::<t::UInt32Type>().value(row).into()),
        DataType::UInt64 => Some(col.as_primitive::<t::UInt64Type>().value(row).into()),
        DataType::Float32 => {
            serde_json::Number::from_f64(col.as_primitive::<t::Float32Type>().value(row) as f64)
                .map(Value::Number)
        }
        DataType::Boolean => Some(col.as_boolean().value(row).into()),
        DataType::LargeUtf8 => Some(col.as_string::<i64>().value(row).into()),
        DataType::Utf8View => Some(col.as_string_view().value(row).into()),
        _ => datafusion::arrow::util::display::array_value_to_string(col, row)
            .ok()
            .map(Value::String),
    }
    .unwrap_or(Value::Null)
}
