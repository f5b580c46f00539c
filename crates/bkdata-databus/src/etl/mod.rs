//! The clean engine: BKData's v3 `json_config`, run as BKData's own Java ETL engine
//! (databus-pipe-extractor) runs it, measured against that engine's answers on bk-base's test
//! cases (`tests/tests/etl_conformance.rs`, `docs/CONFORMANCE.md`).
//!
//! A config is compiled once into a [`CleanPlan`] ([`compile`]: nodes, and the schema as a
//! tree of levels); [`exec`] runs a record through it into slot values; the values are
//! flattened into rows (each `iterate` multiplies the rows of the level above it), the event
//! time is read from `conf`, and `convert`, `calculate` and `derive` run on the rows.
//!
//! Two row shapes come out, as in BKData: [`CleanPlan::verify`] answers `cleans/verify/`
//! (the flattened fields, `_iteration_idx` columns, `timestamp` in epoch ms, only when the
//! config has a `conf`); [`CleanPlan::clean`] gives the stored row (the flattened fields, then
//! `dtEventTime`, `dtEventTimeStamp` in ms, `localTime` and `timestamp` in seconds).
pub mod bklog;
mod build;
mod compile;
mod exec;
pub mod jv;
mod plan;
mod text;
pub mod time;
pub mod types;
pub mod v4;

use chrono::FixedOffset;
use compile::Compiler;
use exec::{Cx, Detail, Slot, Throw, Trace};
pub use jv::J;
use plan::{Built, FieldDef, Ref};
use serde_json::{json, Value};
pub use time::TimeSpec;
pub use types::{ErrorKind, EtlError, FieldType};

/// A config that cannot be compiled; names the node (by label) and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A column of the stored row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Field {
    pub name: String,
    pub field_type: FieldType,
    /// `user_field` (assigned by the config), `hidden` (iteration indexes, the time columns)
    /// or `inter_field` (`timestamp`).
    pub display: &'static str,
}

/// Why a record (or part of it) failed: the node's label and the error.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub label: String,
    pub error: EtlError,
}

/// What one record became: its rows (in [`CleanPlan::schema`] order) and, when something in
/// it failed, the first failure. A record can have both: BKData keeps the rows it could make
/// (a field that failed its cast is null) and reports the record as bad.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub rows: Vec<Vec<J>>,
    pub failure: Option<Failure>,
}

impl Outcome {
    /// The rows as JSON values (for tests and tools).
    pub fn rows_json(&self) -> Vec<Vec<Value>> {
        self.rows
            .iter()
            .map(|r| r.iter().map(J::to_value).collect())
            .collect()
    }
}

/// Buffers reused from one record to the next by [`CleanPlan::clean_into`]: the rows of the
/// last record, and the row vectors and strings of the records before it.
#[derive(Debug, Default)]
pub struct Scratch {
    rows: Vec<Vec<J>>,
    free: Vec<Vec<J>>,
    spare: Vec<String>,
    times: time::TimeCache,
}

/// Buffers kept at most (a record of many rows does not keep its memory for ever).
const KEEP_ROWS: usize = 64;
const KEEP_STRINGS: usize = 1024;

impl Scratch {
    /// The last record's rows, in [`CleanPlan::schema`] order.
    pub fn rows(&self) -> &[Vec<J>] {
        &self.rows
    }

    /// The last record's rows become buffers for the next.
    fn recycle(&mut self) {
        while let Some(row) = self.rows.pop() {
            self.give_back(row);
        }
    }

    fn give_back(&mut self, mut row: Vec<J>) {
        for v in row.drain(..) {
            if let J::Str(s) = v {
                if self.spare.len() < KEEP_STRINGS {
                    self.spare.push(s);
                }
            }
        }
        if self.free.len() < KEEP_ROWS {
            self.free.push(row);
        }
    }
}

/// The `conf` block's time settings.
#[derive(Debug)]
struct TimeConf {
    /// Index into the flattened row; `None` for `localTime` (the ingest time).
    field: Option<usize>,
    spec: Option<TimeSpec>,
    tz_hours: f64,
    round: i64,
}

#[derive(Debug)]
enum CalExpr {
    Field(String),
    Const(J),
    Bin(char, Box<CalExpr>, Box<CalExpr>),
}

#[derive(Debug)]
enum CalKind {
    Expr(CalExpr),
    Minus(String, String),
    Percent(String, String),
    Max(String),
}

#[derive(Debug)]
struct Cal {
    var: String,
    kind: CalKind,
    /// A field the calculation adds (a placeholder is set before flattening).
    added: Option<Ref>,
}

#[derive(Debug)]
struct Derive {
    /// (dimension value, source field name), in the order Java's HashMap gives them.
    dims: Vec<(String, String)>,
    dim_field: String,
    value_field: String,
    slots: [Ref; 2],
}

pub struct CleanPlan {
    built: Built,
    /// The config as compiled (for `Debug`).
    source: Value,
    /// The verify row's columns: name, type name, display, json.
    columns: Vec<(String, String, &'static str, bool)>,
    /// The stored row's columns.
    schema: Vec<Field>,
    time: Option<TimeConf>,
    tz: FixedOffset,
    cals: Vec<Cal>,
    derive: Option<Derive>,
    trims: Vec<usize>,
    /// Stored columns holding an assign_json value (written as JSON text).
    json_cols: Vec<usize>,
    /// One level, a fused root and nothing that adds slots: the row is written in place.
    flat: bool,
    /// `conf.encoding` GBK (or GB2312, GB18030): records are decoded from it.
    gbk: bool,
}

impl std::fmt::Debug for CleanPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CleanPlan")
            .field("config", &self.source)
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl CleanPlan {
    /// Columns of the stored row, in order.
    pub fn schema(&self) -> &[Field] {
        &self.schema
    }

    /// Clean one raw record into stored rows. `ingest_ms` is the arrival time (`localTime`).
    pub fn clean(&self, raw: &[u8], ingest_ms: i64) -> Outcome {
        self.outcome(raw, ingest_ms, false)
    }

    /// `clean` for records cleaned one after another: the rows are left in `scratch` (until
    /// the next call), whose buffers the next record reuses, so a plain record costs no
    /// allocation. Answers the record's failure, as `Outcome::failure`.
    pub fn clean_into(&self, raw: &[u8], ingest_ms: i64, scratch: &mut Scratch) -> Option<Failure> {
        self.clean_with(raw, ingest_ms, false, scratch)
    }

    /// `clean` as verify runs it (every object parsed whole, every node traced), for the
    /// differential test of the key-projected parse.
    #[doc(hidden)]
    pub fn clean_general(&self, raw: &[u8], ingest_ms: i64) -> Outcome {
        self.outcome(raw, ingest_ms, true)
    }

    /// One record on fresh buffers, its rows given to the caller.
    fn outcome(&self, raw: &[u8], ingest_ms: i64, traced: bool) -> Outcome {
        let mut scratch = Scratch::default();
        let failure = self.clean_with(raw, ingest_ms, traced, &mut scratch);
        Outcome {
            rows: scratch.rows,
            failure,
        }
    }

    fn clean_with(
        &self,
        raw: &[u8],
        ingest_ms: i64,
        traced: bool,
        scratch: &mut Scratch,
    ) -> Option<Failure> {
        scratch.recycle();
        // Valid UTF-8 is borrowed (the check is fast); other bytes read as Java decodes them
        // (an invalid sequence is U+FFFD). A GBK config's records are decoded from GBK.
        let text = if self.gbk {
            encoding_rs::GBK.decode_without_bom_handling(raw).0
        } else {
            match std::str::from_utf8(raw) {
                Ok(t) => std::borrow::Cow::Borrowed(t),
                Err(_) => String::from_utf8_lossy(raw),
            }
        };
        let mut trace = Trace::default();
        let mut cx = Cx::new(traced.then_some(&mut trace));
        self.run(&text, ingest_ms, &mut cx, scratch);
        let Scratch {
            rows, spare, times, ..
        } = scratch;
        for r in rows.iter_mut() {
            let event_ms = match self.time {
                Some(_) => match r.pop() {
                    Some(J::Long(ms)) => ms,
                    _ => ingest_ms,
                },
                None => ingest_ms,
            };
            for &i in &self.json_cols {
                if !r[i].is_null() {
                    r[i] = J::Str(r[i].jackson());
                }
            }
            let mut time_text = |ms: i64| {
                let mut s = jv::reuse(spare, "");
                times.write(&mut s, ms, self.tz);
                J::Str(s)
            };
            let (event, local) = (time_text(event_ms), time_text(ingest_ms));
            r.push(event);
            r.push(J::Long(event_ms));
            r.push(local);
            r.push(J::Long(event_ms.div_euclid(1000)));
        }
        cx.bad
            .or(if rows.is_empty() { cx.node_error } else { None })
            .map(|(label, error)| Failure { label, error })
    }

    /// The flattened rows of one record (verify shape, JSON fields still maps), into
    /// `scratch.rows`.
    fn run(&self, text: &str, ingest_ms: i64, cx: &mut Cx, scratch: &mut Scratch) {
        let data = types::java_trim(text);
        let b = &self.built;
        let Some(root) = b.root else {
            // BKData fails on a NullPointerException here and verify shows nothing.
            cx.bad(
                "extract",
                EtlError::new(
                    ErrorKind::AssignNodeNeeded,
                    "the config has no node of a known type",
                ),
            );
            return;
        };
        let n = b.levels[0].items.len();
        let thrown = |cx: &mut Cx, res: Result<(), Throw>| {
            if let Err(Throw { label, error }) = res {
                if error.kind != ErrorKind::EmptyEtlResult {
                    cx.bad(&label, error);
                }
            }
        };
        // A flat plan writes its one row in place (room for the time columns), in a row and
        // strings of an earlier record.
        if self.flat && !cx.tracing() {
            let mut row = scratch
                .free
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(n + 4));
            row.extend(std::iter::repeat_with(|| J::Null).take(n));
            let mut out = exec::FlatRow {
                row,
                reached: 0,
                spare: &mut scratch.spare,
            };
            if let Some(res) = b.exec_str(root, data, &mut out, cx) {
                thrown(cx, res);
                let (row, reached) = (out.row, out.reached);
                if reached == n {
                    scratch.rows.push(row);
                } else {
                    scratch.give_back(row);
                }
                let rows = std::mem::take(&mut scratch.rows);
                scratch.rows = self.finish(rows, ingest_ms, cx);
                return;
            }
            let row = out.row;
            scratch.give_back(row);
        }
        let mut vals: Vec<Slot> = Vec::with_capacity(n);
        let res = match b.exec_str(root, data, &mut vals, cx) {
            Some(r) => r,
            None => b.exec(root, &J::Str(data.to_string()), &mut vals, cx),
        };
        thrown(cx, res);
        if let Some(d) = &self.derive {
            for &s in &d.slots {
                exec::set(&mut vals, b.slots[s], Slot::V(J::Null));
            }
        }
        for cal in &self.cals {
            if let Some(s) = cal.added {
                exec::set(&mut vals, b.slots[s], Slot::V(J::Null));
            }
        }
        let mut rows = std::mem::take(&mut scratch.rows);
        exec::flatten(b, 0, vals, &mut rows);
        scratch.rows = self.finish(rows, ingest_ms, cx);
    }

    /// Time, trims, calculate and derive on the flattened rows.
    fn finish(&self, mut rows: Vec<Vec<J>>, ingest_ms: i64, cx: &mut Cx) -> Vec<Vec<J>> {
        if let Some(t) = &self.time {
            self.times(t, &mut rows, ingest_ms, cx);
        }
        for r in &mut rows {
            for &i in &self.trims {
                if let J::Str(s) = &r[i] {
                    let t = types::java_trim(s);
                    if t.len() != s.len() {
                        r[i] = J::Str(t.to_string());
                    }
                }
            }
        }
        for cal in &self.cals {
            rows = self.calculate(cal, rows, cx);
        }
        if let Some(d) = &self.derive {
            rows = self.derive_rows(d, rows);
        }
        rows
    }

    /// Append the event time (ms) to every row; a row whose time does not parse is dropped.
    fn times(&self, t: &TimeConf, rows: &mut Vec<Vec<J>>, ingest_ms: i64, cx: &mut Cx) {
        rows.retain_mut(|r| {
            let ms = match (t.field, &t.spec) {
                (None, _) => Ok(ingest_ms),
                (Some(i), Some(spec)) => {
                    let v = &r[i];
                    match spec.transform(v, t.tz_hours, t.round) {
                        Ok(p) => {
                            if let (Some(why), Some(tr)) =
                                (&p.bkdata_differs, cx.trace.as_deref_mut())
                            {
                                tr.errors.insert(
                                    "conf.time_format".into(),
                                    format!("BKDataDeviation: {why}; this engine does not"),
                                );
                            }
                            Ok(p.ms)
                        }
                        Err(e) => {
                            if let Some(tr) = cx.trace.as_deref_mut() {
                                tr.error_message.push(format!(
                                    "TimeFormatError: {} -> ({})!",
                                    v.java_string(),
                                    spec.format()
                                ));
                            }
                            Err(e)
                        }
                    }
                }
                (Some(_), None) => Ok(ingest_ms),
            };
            match ms {
                Ok(ms) => {
                    r.push(J::Long(ms));
                    true
                }
                Err(e) => {
                    let label = format!(
                        "conf.time_field_name({})",
                        self.columns[t.field.unwrap_or(0)].0
                    );
                    cx.bad(&label, e);
                    false
                }
            }
        });
    }

    fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().rposition(|c| c.0 == name)
    }

    /// Cast a calculated number to the column's type (`Number.intValue()` and so on).
    fn cal_cast(&self, var: usize, v: f64) -> J {
        match self.columns[var].1.as_str() {
            "int" => J::Int(v as i32),
            "long" => J::Long(v as i64),
            "double" => J::Double(v),
            _ => J::Null,
        }
    }

    fn calculate(&self, cal: &Cal, mut rows: Vec<Vec<J>>, cx: &mut Cx) -> Vec<Vec<J>> {
        let Some(var) = self.col(&cal.var) else {
            return rows;
        };
        let num = |r: &[J], name: &str| -> Result<f64, String> {
            let i = self
                .col(name)
                .ok_or_else(|| format!("{name} does not exist"))?;
            r[i].as_f64()
                .ok_or_else(|| format!("{name} is not a number: {}", r[i].java_string()))
        };
        let fail = |cx: &mut Cx, why: String| {
            cx.bad(
                &format!("calculate({})", cal.var),
                EtlError::new(ErrorKind::PipeExtractor, why),
            )
        };
        match &cal.kind {
            CalKind::Expr(e) => {
                for r in &mut rows {
                    match self.eval(e, r) {
                        Ok(J::Double(d)) => r[var] = self.cal_cast(var, d),
                        Ok(other) => match other.as_f64() {
                            Some(d) if matches!(other, J::Int(_) | J::Long(_)) => {
                                r[var] = match self.columns[var].1.as_str() {
                                    "int" => J::Int(d as i32),
                                    "long" => J::Long(d as i64),
                                    "double" => J::Double(d),
                                    _ => J::Null,
                                }
                            }
                            Some(d) => r[var] = self.cal_cast(var, d),
                            None => fail(cx, format!("{} is not a number", other.java_string())),
                        },
                        Err(why) => fail(cx, why),
                    }
                }
                rows
            }
            CalKind::Minus(a, b) | CalKind::Percent(a, b) => {
                let pct = matches!(cal.kind, CalKind::Percent(..));
                for r in &mut rows {
                    match (num(r, a), num(r, b)) {
                        (Ok(x), Ok(y)) => {
                            let v = if !pct {
                                x - y
                            } else if y == 0.0 {
                                0.0
                            } else {
                                x / y * 100.0
                            };
                            r[var] = self.cal_cast(var, v);
                        }
                        (Err(e), _) | (_, Err(e)) => fail(cx, e),
                    }
                }
                rows
            }
            CalKind::Max(a) => {
                let mut max = 0.0f64;
                for r in &rows {
                    match num(r, a) {
                        Ok(x) if x > max => max = x,
                        Ok(_) => {}
                        Err(e) => fail(cx, e),
                    }
                }
                let v = self.cal_cast(var, max);
                rows.truncate(1);
                for r in &mut rows {
                    r[var] = v.clone();
                }
                rows
            }
        }
    }

    fn eval(&self, e: &CalExpr, r: &[J]) -> Result<J, String> {
        Ok(match e {
            CalExpr::Const(v) => v.clone(),
            CalExpr::Field(name) => {
                let i = self
                    .col(name)
                    .ok_or_else(|| format!("{name} does not exist"))?;
                match &r[i] {
                    J::Null => J::Int(0),
                    v => v.clone(),
                }
            }
            CalExpr::Bin(op, l, rt) => {
                let (a, b) = (self.eval(l, r)?, self.eval(rt, r)?);
                let (x, y) = (
                    a.as_f64()
                        .ok_or_else(|| format!("{} is not a number", a.java_string()))?,
                    b.as_f64()
                        .ok_or_else(|| format!("{} is not a number", b.java_string()))?,
                );
                J::Double(match op {
                    '+' => x + y,
                    '-' => x - y,
                    '*' => x * y,
                    _ => x / y,
                })
            }
        })
    }

    fn derive_rows(&self, d: &Derive, rows: Vec<Vec<J>>) -> Vec<Vec<J>> {
        let (Some(di), Some(vi)) = (self.col(&d.dim_field), self.col(&d.value_field)) else {
            return rows;
        };
        let mut out = Vec::with_capacity(rows.len() * d.dims.len());
        for r in rows {
            for (dim, src) in &d.dims {
                let mut c = r.clone();
                c[di] = J::Str(dim.clone());
                c[vi] = self.col(src).map_or(J::Null, |i| r[i].clone());
                out.push(c);
            }
        }
        out
    }

    /// BKData's `cleans/verify/` answer for one sample message, as JSON text: `nodes`,
    /// `errors`, `error_message`, `output_type`, `result` (rows of the verify columns),
    /// `schema`, `display`, and `json_config_extract` (the config as sent).
    pub fn verify(&self, msg: &str, ingest_ms: i64, conf_text: &str) -> String {
        let mut trace = Trace::default();
        let rows = {
            let mut cx = Cx::new(Some(&mut trace));
            let mut scratch = Scratch::default();
            self.run(msg, ingest_ms, &mut cx, &mut scratch);
            scratch.rows
        };
        let mut out: Vec<u8> = Vec::with_capacity(1024);
        out.extend_from_slice(b"{\"nodes\":{");
        for (i, (k, d)) in trace.nodes.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            jv::write_json_str(&mut out, k);
            out.push(b':');
            match d {
                Detail::One(v) => v.write_json(&mut out, true),
                Detail::Many(l) => J::List(l.clone()).write_json(&mut out, true),
            }
        }
        out.extend_from_slice(b"},\"errors\":");
        out.extend_from_slice(json!(trace.errors).to_string().as_bytes());
        out.extend_from_slice(b",\"error_message\":");
        let msg0 = trace.error_message.first().cloned().unwrap_or_default();
        out.extend_from_slice(json!(msg0).to_string().as_bytes());
        out.extend_from_slice(b",\"output_type\":{");
        for (i, (k, (class, v))) in trace.output.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            jv::write_json_str(&mut out, k);
            out.extend_from_slice(b":{\"type\":");
            jv::write_json_str(&mut out, class);
            out.extend_from_slice(b",\"value\":");
            v.write_json(&mut out, true);
            out.push(b'}');
        }
        out.extend_from_slice(b"},\"result\":[");
        for (i, r) in rows.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'[');
            for (j, v) in r.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                if self.columns.get(j).is_some_and(|c| c.3) {
                    // JSON fields show as their JSON text (null as "null"), as BKData's does.
                    jv::write_json_str(&mut out, &v.jackson());
                } else {
                    v.write_json(&mut out, true);
                }
            }
            out.push(b']');
        }
        out.extend_from_slice(b"],\"schema\":");
        let schema: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("{}({})", c.0, c.1))
            .collect();
        out.extend_from_slice(json!(schema).to_string().as_bytes());
        out.extend_from_slice(b",\"display\":");
        let display: Vec<&str> = self.columns.iter().map(|c| c.2).collect();
        out.extend_from_slice(json!(display).to_string().as_bytes());
        out.extend_from_slice(b",\"json_config_extract\":");
        out.extend_from_slice(json!(conf_text).to_string().as_bytes());
        out.push(b'}');
        String::from_utf8(out).unwrap_or_default()
    }
}

/// `cleans/verify/`: the answer as JSON text, or why the config cannot be built.
pub fn verify(json_config: &str, msg: &str, ingest_ms: i64) -> Result<String, ConfigError> {
    Ok(CleanPlan::compile(json_config)?.verify(msg, ingest_ms, json_config))
}
