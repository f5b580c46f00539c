//! The clean engine. A BKData v3 `json_config` is compiled once into a [`CleanPlan`]: an arena
//! of nodes with their arguments resolved (regexes compiled, fields numbered, types and time
//! settings checked), and a schema. [`CleanPlan::clean`] turns one raw record into typed rows;
//! [`CleanPlan::verify`] does the same while recording every node's value and error, keyed by
//! label, as BKData's `cleans/verify/` answers.
//!
//! Data flows down the tree: each node receives a value and hands its result to `next`. An
//! `iterate` makes one row per element; a `branch` merges the rows of its children (a cross
//! product, so fields assigned beside an iteration land in every row; when two children assign
//! the same field, the later child wins). Any error fails the record: a clean counts and
//! samples it and goes on.
pub mod bklog;
pub mod config;
mod fused;
mod ops;
pub mod time;
pub mod types;
pub mod v4;

use chrono::FixedOffset;
use config::{AccessConf, AssignConf, FunConf, JsonConfig, NodeConf};
use regex::Regex;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
pub use time::TimeSpec;
pub use types::{ErrorKind, EtlError, FieldType};

/// A config that cannot be compiled; names the node (by label) and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A field of the clean's output.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Field {
    pub name: String,
    pub field_type: FieldType,
    /// `user_field` (assigned by the config) or `hidden` (time columns the engine adds).
    pub display: &'static str,
}

#[derive(Debug)]
enum Op {
    FromJson,
    FromJsonList,
    Iterate {
        idx_key: String,
    },
    Split {
        sep: String,
        limit: Option<usize>,
    },
    Csvline,
    RegexExtract {
        re: Regex,
        keys: Vec<String>,
    },
    SplitKv {
        entry: String,
        kv: String,
    },
    FromUrl,
    Replace {
        pairs: Vec<(String, String)>,
    },
    Items {
        key_to: String,
    },
    Zip {
        a: String,
        b: String,
    },
    Pop,
    ToString,
    AccessObj {
        key: String,
        default: Option<Value>,
    },
    AccessPos {
        index: usize,
        default: Option<Value>,
    },
    AccessMulti {
        keys: Vec<String>,
        sep: String,
    },
    AssignObj(Vec<(String, usize, FieldType)>),
    AssignPos(Vec<(usize, usize, FieldType)>),
    /// `None` key: `__all_keys__`, the whole map.
    AssignJson(Vec<(Option<String>, usize, FieldType)>),
    AssignValue(usize, FieldType),
    Branch(Vec<usize>),
}

impl Op {
    fn is_assign(&self) -> bool {
        matches!(
            self,
            Op::AssignObj(_) | Op::AssignPos(_) | Op::AssignJson(_) | Op::AssignValue(..)
        )
    }
}

#[derive(Debug)]
struct Node {
    label: String,
    op: Op,
    next: Option<usize>,
}

/// A row under construction: (field index, value) pairs.
type Partial = Vec<(usize, Value)>;

/// What one record became.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Rows of values in schema order (`CleanPlan::schema`).
    Rows(Vec<Vec<Value>>),
    /// The record is bad: the node's label and the error.
    Failed { label: String, error: EtlError },
}

#[derive(Debug)]
pub struct CleanPlan {
    nodes: Vec<Node>,
    root: usize,
    /// Assigned fields, then the time columns.
    schema: Vec<Field>,
    time_field: Option<usize>,
    time: Option<TimeSpec>,
    tz: FixedOffset,
    output_field: Option<usize>,
    /// Columns of dtEventTime, dtEventTimeStamp, localTime.
    time_cols: [usize; 3],
    config: Value,
    /// By node id: the streamed form of a `from_json` whose `next` is a branch of by-key reads.
    streams: Vec<Option<fused::StreamPlan>>,
}

struct Compiler {
    nodes: Vec<Node>,
    fields: Vec<Field>,
    labels: std::collections::HashSet<String>,
}

fn arg_str(args: &[Value], i: usize) -> Option<String> {
    args.get(i).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn index_of(v: &Value) -> Option<usize> {
    match v {
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Compiler {
    fn label(&mut self, given: &Option<String>, kind: &str) -> Result<String, ConfigError> {
        let label = match given.as_deref().filter(|l| !l.is_empty()) {
            Some(l) => l.to_string(),
            None => format!("{kind}_{}", self.nodes.len() + 1),
        };
        if !self.labels.insert(label.clone()) {
            return Err(ConfigError(format!(
                "label {label:?} is used by more than one node"
            )));
        }
        Ok(label)
    }

    fn field(
        &mut self,
        label: &str,
        name: &str,
        ty: &str,
    ) -> Result<(usize, FieldType), ConfigError> {
        let ty = FieldType::parse(if ty.is_empty() { "string" } else { ty }).ok_or_else(|| {
            ConfigError(format!("node {label}: field {name:?} has unknown type {ty:?} (int, long, double, string, text)"))
        })?;
        if name.is_empty() {
            return Err(ConfigError(format!(
                "node {label}: assign_to must not be empty"
            )));
        }
        if let Some(i) = self.fields.iter().position(|f| f.name == name) {
            return Ok((i, self.fields[i].field_type));
        }
        self.fields.push(Field {
            name: name.to_string(),
            field_type: ty,
            display: "user_field",
        });
        Ok((self.fields.len() - 1, ty))
    }

    fn push(&mut self, label: String, op: Op) -> usize {
        self.nodes.push(Node {
            label,
            op,
            next: None,
        });
        self.nodes.len() - 1
    }

    fn compile(&mut self, conf: &NodeConf) -> Result<usize, ConfigError> {
        match conf {
            NodeConf::Fun(f) => self.fun(f),
            NodeConf::Access(a) => self.access(a),
            NodeConf::Assign(a) => self.assign(a),
            NodeConf::Branch(b) => {
                let label = self.label(&b.label, "branch")?;
                if b.next.is_empty() {
                    return Err(ConfigError(format!("branch {label} has no next nodes")));
                }
                let id = self.push(label, Op::Branch(vec![]));
                let kids = b
                    .next
                    .iter()
                    .map(|n| self.compile(n))
                    .collect::<Result<Vec<_>, _>>()?;
                self.nodes[id].op = Op::Branch(kids);
                Ok(id)
            }
        }
    }

    fn chain(&mut self, id: usize, next: &Option<Box<NodeConf>>) -> Result<usize, ConfigError> {
        match next {
            Some(n) => {
                let nid = self.compile(n)?;
                self.nodes[id].next = Some(nid);
            }
            None => {
                return Err(ConfigError(format!(
                    "AssignNodeNeededError: node {} has no next node; every path must end in an assign node",
                    self.nodes[id].label
                )))
            }
        }
        Ok(id)
    }

    fn fun(&mut self, f: &FunConf) -> Result<usize, ConfigError> {
        let label = self.label(&f.label, &f.method)?;
        let need = |what: &str| ConfigError(format!("node {label} ({}): {what}", f.method));
        let op = match f.method.as_str() {
            "from_json" => Op::FromJson,
            "from_json_list" => Op::FromJsonList,
            "iterate" => Op::Iterate {
                idx_key: arg_str(&f.args, 0).unwrap_or_else(|| "_iteration_idx".into()),
            },
            "split" => Op::Split {
                sep: arg_str(&f.args, 0).filter(|s| !s.is_empty()).ok_or_else(|| need("args[0] must be the separator"))?,
                limit: f.args.get(1).and_then(index_of).filter(|n| *n > 0),
            },
            "csvline" => Op::Csvline,
            "regex_extract" => {
                let spec = f.args.first().and_then(Value::as_object).ok_or_else(|| need("args[0] must be {regexp, keys}"))?;
                let pattern = spec.get("regexp").and_then(Value::as_str).ok_or_else(|| need("regexp is required"))?;
                let re = Regex::new(pattern).map_err(|e| need(&format!("invalid regexp: {e}")))?;
                let mut keys: Vec<String> = spec
                    .get("keys")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                if keys.is_empty() {
                    keys = re.capture_names().flatten().map(str::to_string).collect();
                }
                if let Some(k) = keys.iter().find(|k| !re.capture_names().flatten().any(|n| n == k.as_str())) {
                    return Err(need(&format!("key {k:?} is not a named group of the regexp")));
                }
                Op::RegexExtract { re, keys }
            }
            "splitkv" => Op::SplitKv {
                entry: arg_str(&f.args, 0).filter(|s| !s.is_empty()).ok_or_else(|| need("args[0] must be the entry separator"))?,
                kv: arg_str(&f.args, 1).filter(|s| !s.is_empty()).ok_or_else(|| need("args[1] must be the key-value separator"))?,
            },
            "from_url" => Op::FromUrl,
            "replace" => {
                if !f.args.len().is_multiple_of(2) {
                    return Err(need("args must be pairs: [from1, to1, from2, to2, …]"));
                }
                let strs: Vec<String> = (0..f.args.len()).map(|i| arg_str(&f.args, i).unwrap_or_default()).collect();
                Op::Replace {
                    pairs: strs.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect(),
                }
            }
            "items" => Op::Items {
                key_to: arg_str(&f.args, 0).unwrap_or_else(|| "key".into()),
            },
            "zip" => Op::Zip {
                a: arg_str(&f.args, 0).ok_or_else(|| need("args must be [listA, listB]"))?,
                b: arg_str(&f.args, 1).ok_or_else(|| need("args must be [listA, listB]"))?,
            },
            "pop" => Op::Pop,
            "to_string" => Op::ToString,
            other => {
                return Err(ConfigError(format!(
                    "node {label}: unknown method {other:?} (from_json, from_json_list, iterate, split, csvline, regex_extract, splitkv, from_url, replace, items, zip, pop, to_string)"
                )))
            }
        };
        let id = self.push(label, op);
        self.chain(id, &f.next)
    }

    fn access(&mut self, a: &AccessConf) -> Result<usize, ConfigError> {
        let label = self.label(&a.label, &a.subtype)?;
        let default = match a.default_type.as_deref() {
            None | Some("null") | Some("") => None,
            Some(ty) => {
                let t = FieldType::parse(ty).ok_or_else(|| {
                    ConfigError(format!("node {label}: unknown default_type {ty:?}"))
                })?;
                Some(
                    t.convert(a.default_value.clone().unwrap_or(Value::Null))
                        .map_err(|e| ConfigError(format!("node {label}: default_value: {e}")))?,
                )
            }
        };
        let op = match a.subtype.as_str() {
            "access_obj" => Op::AccessObj {
                key: a.key.clone().filter(|k| !k.is_empty()).ok_or_else(|| ConfigError(format!("node {label}: access_obj needs a key")))?,
                default,
            },
            "access_pos" => Op::AccessPos {
                index: a.index.as_ref().and_then(index_of).ok_or_else(|| ConfigError(format!("node {label}: access_pos needs a non-negative index")))?,
                default,
            },
            "access_multi" => Op::AccessMulti {
                keys: a
                    .keys
                    .as_deref()
                    .unwrap_or("")
                    .split(',')
                    .map(|k| k.trim().to_string())
                    .filter(|k| !k.is_empty())
                    .collect(),
                sep: a.separator.clone().unwrap_or_default(),
            },
            other => return Err(ConfigError(format!("node {label}: unknown access subtype {other:?} (access_obj, access_pos, access_multi)"))),
        };
        if let Op::AccessMulti { keys, .. } = &op {
            if keys.is_empty() {
                return Err(ConfigError(format!(
                    "node {label}: access_multi needs keys"
                )));
            }
        }
        let id = self.push(label, op);
        self.chain(id, &a.next)
    }

    fn assign(&mut self, a: &AssignConf) -> Result<usize, ConfigError> {
        let label = self.label(&a.label, &a.subtype)?;
        let items: Vec<Value> = match &a.assign {
            Value::Array(v) => v.clone(),
            Value::Object(_) => vec![a.assign.clone()],
            _ => {
                return Err(ConfigError(format!(
                    "node {label}: assign must be a list or an object"
                )))
            }
        };
        let get = |item: &Value, key: &str| {
            item.get(key).and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
        };
        let mut specs = Vec::new();
        for item in &items {
            let to = get(item, "assign_to").unwrap_or_default();
            let ty = get(item, "type").unwrap_or_default();
            let (idx, ty) = self.field(&label, &to, &ty)?;
            specs.push((item.clone(), idx, ty));
        }
        let op = match a.subtype.as_str() {
            "assign_obj" => Op::AssignObj(
                specs
                    .into_iter()
                    .map(|(item, idx, ty)| {
                        let key = get(&item, "key").filter(|k| !k.is_empty()).ok_or_else(|| ConfigError(format!("node {label}: assign_obj item needs a key")))?;
                        Ok((key, idx, ty))
                    })
                    .collect::<Result<_, ConfigError>>()?,
            ),
            "assign_pos" => Op::AssignPos(
                specs
                    .into_iter()
                    .map(|(item, idx, ty)| {
                        let pos = item.get("index").and_then(index_of).ok_or_else(|| ConfigError(format!("node {label}: assign_pos item needs an index")))?;
                        Ok((pos, idx, ty))
                    })
                    .collect::<Result<_, ConfigError>>()?,
            ),
            "assign_json" => Op::AssignJson(
                specs
                    .into_iter()
                    .map(|(item, idx, ty)| {
                        let key = get(&item, "key").unwrap_or_default();
                        (Some(key).filter(|k| k != "__all_keys__" && !k.is_empty()), idx, ty)
                    })
                    .collect(),
            ),
            "assign_value" => {
                let [(_, idx, ty)] = specs[..] else {
                    return Err(ConfigError(format!("node {label}: assign_value assigns exactly one field")));
                };
                Op::AssignValue(idx, ty)
            }
            other => return Err(ConfigError(format!("node {label}: unknown assign subtype {other:?} (assign_obj, assign_pos, assign_json, assign_value)"))),
        };
        Ok(self.push(label, op))
    }
}

/// Per-node values and errors, for verify.
#[derive(Default)]
struct Trace {
    nodes: BTreeMap<String, Value>,
    errors: BTreeMap<String, String>,
}

impl CleanPlan {
    /// Compile a `json_config` (the JSON string BKData and bklog send).
    pub fn compile(json_config: &str) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(json_config)
            .map_err(|e| ConfigError(format!("json_config is not valid JSON: {e}")))?;
        Self::compile_value(value)
    }

    pub fn compile_value(value: Value) -> Result<Self, ConfigError> {
        let cfg: JsonConfig = serde_json::from_value(value.clone())
            .map_err(|e| ConfigError(format!("json_config: {e}")))?;
        let mut c = Compiler {
            nodes: Vec::new(),
            fields: Vec::new(),
            labels: Default::default(),
        };
        let root = c.compile(&cfg.extract)?;
        if c.fields.is_empty() {
            return Err(ConfigError(
                "AssignNodeNeededError: the config assigns no field".into(),
            ));
        }
        let conf = &cfg.conf;
        if !matches!(
            conf.encoding.to_ascii_uppercase().replace('-', "").as_str(),
            "UTF8" | ""
        ) {
            return Err(ConfigError(format!(
                "encoding {:?} is not supported: records must be UTF-8",
                conf.encoding
            )));
        }
        let tz = time::offset_hours(conf.timezone).map_err(ConfigError)?;
        let mut fields = c.fields;
        let (time_field, time) =
            if conf.time_field_name == "localTime" || conf.time_field_name.is_empty() {
                (None, None)
            } else {
                let i = fields
                    .iter()
                    .position(|f| f.name == conf.time_field_name)
                    .ok_or_else(|| {
                        ConfigError(format!(
                            "time_field_name {:?} is not assigned by any node",
                            conf.time_field_name
                        ))
                    })?;
                let spec = TimeSpec::new(conf.timestamp_len, conf.time_format.as_deref())
                    .map_err(ConfigError)?;
                (Some(i), Some(spec))
            };
        for (name, ty) in [
            ("dtEventTime", FieldType::String),
            ("dtEventTimeStamp", FieldType::Long),
            ("localTime", FieldType::String),
        ] {
            if let Some(f) = fields.iter_mut().find(|f| f.name == name) {
                f.field_type = ty;
                f.display = "hidden";
            } else {
                fields.push(Field {
                    name: name.into(),
                    field_type: ty,
                    display: "hidden",
                });
            }
        }
        let col = |name: &str| {
            fields
                .iter()
                .position(|f| f.name == name)
                .unwrap_or_default()
        };
        let time_cols = [
            col("dtEventTime"),
            col("dtEventTimeStamp"),
            col("localTime"),
        ];
        let output_field = match conf.output_field_name.as_str() {
            "" => None,
            name => Some(match fields.iter().position(|f| f.name == name) {
                Some(i) => i,
                None => {
                    fields.push(Field {
                        name: name.into(),
                        field_type: FieldType::Long,
                        display: "hidden",
                    });
                    fields.len() - 1
                }
            }),
        };
        let streams = (0..c.nodes.len())
            .map(|id| stream_plan(&c.nodes, id))
            .collect();
        Ok(CleanPlan {
            streams,
            nodes: c.nodes,
            root,
            schema: fields,
            time_field,
            time,
            tz,
            output_field,
            time_cols,
            config: value,
        })
    }

    /// Output columns, in row order.
    pub fn schema(&self) -> &[Field] {
        &self.schema
    }

    /// Clean one raw record. `ingest_ms` is the arrival time (for `localTime`).
    pub fn clean(&self, raw: &[u8], ingest_ms: i64) -> Outcome {
        self.run(raw, ingest_ms, None)
    }

    /// `clean` through the general path only (no fused fast paths), for differential tests.
    #[doc(hidden)]
    pub fn clean_general(&self, raw: &[u8], ingest_ms: i64) -> Outcome {
        self.run(raw, ingest_ms, Some(&mut Trace::default()))
    }

    fn run(&self, raw: &[u8], ingest_ms: i64, mut trace: Option<&mut Trace>) -> Outcome {
        let root_label = self.nodes[self.root].label.clone();
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(e) => {
                let error = EtlError::new(
                    ErrorKind::PipeExtractor,
                    format!("record is not valid UTF-8 ({e})"),
                );
                if let Some(t) = trace.as_deref_mut() {
                    t.errors.insert(root_label.clone(), error.to_string());
                }
                return Outcome::Failed {
                    label: root_label,
                    error,
                };
            }
        };
        let mut first_error: Option<(String, EtlError)> = None;
        if let (None, Some(next)) = (&trace, self.nodes[self.root].next) {
            let mut row = vec![Value::Null; self.schema.len()];
            if let Some(res) = self.fused(self.root, next, text, &mut row[..]) {
                if let Err((at, error)) = res {
                    let label = self.nodes[at].label.clone();
                    return Outcome::Failed { label, error };
                }
                let local = time::format_ms(ingest_ms, self.tz);
                return match self.finish(&mut row, ingest_ms, &local, None) {
                    Ok(()) => Outcome::Rows(vec![row]),
                    Err((label, error)) => Outcome::Failed { label, error },
                };
            }
        }
        let partials = self.eval(
            self.root,
            Value::String(text.to_string()),
            &mut first_error,
            trace.as_deref_mut(),
        );
        if let Some((label, error)) = first_error {
            return Outcome::Failed { label, error };
        }
        let partials = partials.unwrap_or_default();
        if partials.is_empty() {
            let error = EtlError::new(ErrorKind::EmptyEtlResult, "the record produced no rows");
            if let Some(t) = trace {
                t.errors.insert(root_label.clone(), error.to_string());
            }
            return Outcome::Failed {
                label: root_label,
                error,
            };
        }
        let mut rows = Vec::with_capacity(partials.len());
        let local = time::format_ms(ingest_ms, self.tz);
        for p in partials {
            let mut row = vec![Value::Null; self.schema.len()];
            for (i, v) in p {
                row[i] = v;
            }
            if let Err((label, error)) =
                self.finish(&mut row, ingest_ms, &local, trace.as_deref_mut())
            {
                return Outcome::Failed { label, error };
            }
            rows.push(row);
        }
        Outcome::Rows(rows)
    }

    /// Parse the event time and fill the time columns of a row.
    fn finish(
        &self,
        row: &mut [Value],
        ingest_ms: i64,
        local: &str,
        trace: Option<&mut Trace>,
    ) -> Result<(), (String, EtlError)> {
        let event_ms = match (self.time_field, &self.time) {
            (Some(i), Some(spec)) => match spec.parse(&row[i], self.tz) {
                Ok(ms) => ms,
                Err(error) => {
                    let label = format!("conf.time_field_name({})", self.schema[i].name);
                    if let Some(t) = trace {
                        t.errors.insert(label.clone(), error.to_string());
                    }
                    return Err((label, error));
                }
            },
            _ => ingest_ms,
        };
        let [dt, dts, lt] = self.time_cols;
        row[dt] = Value::String(time::format_ms(event_ms, self.tz));
        row[dts] = json!(event_ms);
        row[lt] = Value::String(local.to_string());
        if let Some(i) = self.output_field {
            row[i] = json!(event_ms.div_euclid(1000));
        }
        Ok(())
    }

    /// The fused fast path for `id` (a from_json or split) followed by `next` (its assign),
    /// writing into `out`; `None` when the pair has none. Errors carry their node.
    fn fused<S: fused::Sink + ?Sized>(
        &self,
        id: usize,
        next: usize,
        text: &str,
        out: &mut S,
    ) -> Option<Result<(), (usize, EtlError)>> {
        match (&self.nodes[id].op, &self.nodes[next].op) {
            (Op::FromJson, Op::AssignObj(specs)) => {
                Some(fused::json_assign(text, specs, out).map_err(|e| {
                    if e.kind == ErrorKind::BadJsonObject {
                        (id, e)
                    } else {
                        (next, e)
                    }
                }))
            }
            (Op::Split { sep, limit }, Op::AssignPos(specs)) => {
                Some(fused::split_assign(text, sep, *limit, specs, out).map_err(|e| (next, e)))
            }
            _ => None,
        }
    }

    fn fail(
        &self,
        id: usize,
        err: EtlError,
        first: &mut Option<(String, EtlError)>,
        trace: Option<&mut Trace>,
    ) {
        let label = &self.nodes[id].label;
        if let Some(t) = trace {
            t.errors
                .entry(label.clone())
                .or_insert_with(|| err.to_string());
        }
        if first.is_none() {
            *first = Some((label.clone(), err));
        }
    }

    /// Rows produced below `id` for `input`; `None` when this subtree failed.
    fn eval_assign(
        &self,
        id: usize,
        input: &Value,
        first: &mut Option<(String, EtlError)>,
        trace: Option<&mut Trace>,
    ) -> Option<Vec<Partial>> {
        let node = &self.nodes[id];
        match ops::assign(&node.op, input) {
            Ok(row) => {
                if let Some(t) = trace {
                    let shown: Map<String, Value> = row
                        .iter()
                        .map(|(i, v)| (self.schema[*i].name.clone(), v.clone()))
                        .collect();
                    t.nodes.insert(node.label.clone(), Value::Object(shown));
                }
                Some(vec![row])
            }
            Err(e) => {
                self.fail(id, e, first, trace);
                None
            }
        }
    }

    /// A branch without a trace: assign children read the input in place and the last other
    /// child takes it, so nothing is deep-copied unless two children transform it. Children
    /// after that one are assigns: they run first, but their error counts only when it
    /// would have been the first.
    fn branch(
        &self,
        kids: &[usize],
        input: Value,
        first: &mut Option<(String, EtlError)>,
    ) -> Option<Vec<Partial>> {
        let taker = kids
            .iter()
            .rposition(|&k| !self.nodes[k].op.is_assign())
            .unwrap_or(kids.len());
        let mut outs: Vec<Vec<Partial>> = Vec::with_capacity(kids.len());
        for &k in &kids[..taker] {
            let out = if self.nodes[k].op.is_assign() {
                self.eval_assign(k, &input, first, None)
            } else {
                self.eval(k, input.clone(), first, None)
            };
            outs.push(out?);
        }
        if taker < kids.len() {
            let mut later_error = None;
            let mut later = Vec::with_capacity(kids.len() - taker - 1);
            for &k in &kids[taker + 1..] {
                later.push(self.eval_assign(k, &input, &mut later_error, None));
            }
            outs.push(self.eval(kids[taker], input, first, None)?);
            if later_error.is_some() {
                *first = later_error;
                return None;
            }
            outs.extend(later.into_iter().flatten());
        }
        Some(outs.into_iter().fold(vec![Vec::new()], cross))
    }

    /// A streamed `from_json → branch` (see [`fused::StreamPlan`]); `None` sends the record
    /// down the general path, which then reports its error.
    fn json_branch(
        &self,
        plan: &fused::StreamPlan,
        text: &str,
        first: &mut Option<(String, EtlError)>,
    ) -> Option<Option<Vec<Partial>>> {
        let mut slots = plan.fill(text)?;
        let mut acc: Vec<Partial> = vec![Vec::new()];
        for kid in &plan.kids {
            let rows = match kid {
                fused::StreamKid::Assign(specs) => {
                    let mut row = Partial::with_capacity(specs.len());
                    for &(slot, idx, conv) in specs {
                        let v = match slots[slot].take() {
                            Some(v) => v,
                            None => fused::absent(conv)?,
                        };
                        row.push((idx, v));
                    }
                    vec![row]
                }
                &fused::StreamKid::Access { slot, node } => {
                    let n = &self.nodes[node];
                    let Op::AccessObj { default, .. } = &n.op else {
                        return None;
                    };
                    let v = match slots[slot].take() {
                        Some(v) => v,
                        None => default.clone()?,
                    };
                    match self.eval(n.next?, v, first, None) {
                        Some(rows) => rows,
                        None => return Some(None),
                    }
                }
            };
            acc = cross(acc, rows);
        }
        Some(Some(acc))
    }

    fn eval(
        &self,
        id: usize,
        input: Value,
        first: &mut Option<(String, EtlError)>,
        mut trace: Option<&mut Trace>,
    ) -> Option<Vec<Partial>> {
        let node = &self.nodes[id];
        if let Op::Branch(kids) = &node.op {
            if let Some(t) = trace.as_deref_mut() {
                t.nodes.insert(node.label.clone(), input.clone());
            }
            if trace.is_none() {
                return self.branch(kids, input, first);
            }
            let mut acc: Vec<Partial> = vec![Vec::new()];
            let mut failed = false;
            for &k in kids {
                // Verify keeps every child's trace: each gets its own copy of the input.
                let out = if self.nodes[k].op.is_assign() {
                    self.eval_assign(k, &input, first, trace.as_deref_mut())
                } else {
                    self.eval(k, input.clone(), first, trace.as_deref_mut())
                };
                match out {
                    Some(rows) => acc = cross(acc, rows),
                    None => failed = true,
                }
            }
            return (!failed).then_some(acc);
        }
        if node.op.is_assign() {
            return self.eval_assign(id, &input, first, trace);
        }
        if let Op::Iterate { idx_key } = &node.op {
            let list = match input {
                Value::Array(l) => l,
                Value::Null => {
                    self.fail(
                        id,
                        EtlError::new(ErrorKind::NulData, "iterate got null"),
                        first,
                        trace,
                    );
                    return None;
                }
                other => {
                    self.fail(
                        id,
                        EtlError::new(
                            ErrorKind::NotListData,
                            format!("iterate needs a list, got {}", types::java_type(&other)),
                        ),
                        first,
                        trace,
                    );
                    return None;
                }
            };
            if let Some(t) = trace.as_deref_mut() {
                t.nodes
                    .insert(node.label.clone(), Value::Array(list.clone()));
            }
            let next = node.next?;
            let mut out = Vec::new();
            let mut failed = false;
            for (i, mut item) in list.into_iter().enumerate() {
                if let Value::Object(m) = &mut item {
                    m.insert(idx_key.clone(), json!(i));
                }
                match self.eval(next, item, first, trace.as_deref_mut()) {
                    Some(rows) => out.extend(rows),
                    None if trace.is_none() => return None,
                    None => failed = true,
                }
            }
            return (!failed).then_some(out);
        }
        if trace.is_none() {
            if let (Value::String(text), Some(plan)) = (&input, &self.streams[id]) {
                if let Some(out) = self.json_branch(plan, text, first) {
                    return out;
                }
            }
            if let (Value::String(text), Some(next)) = (&input, node.next) {
                let mut row = Partial::new();
                if let Some(res) = self.fused(id, next, text, &mut row) {
                    return match res {
                        Ok(()) => Some(vec![row]),
                        Err((at, e)) => {
                            self.fail(at, e, first, None);
                            None
                        }
                    };
                }
            }
        }
        match ops::apply(&node.op, input) {
            Ok(v) => {
                if let Some(t) = trace.as_deref_mut() {
                    t.nodes.insert(node.label.clone(), v.clone());
                }
                self.eval(node.next?, v, first, trace)
            }
            Err(e) => {
                self.fail(id, e, first, trace);
                None
            }
        }
    }

    /// BKData's `cleans/verify/` answer for one sample message.
    pub fn verify(&self, msg: &str, ingest_ms: i64) -> Value {
        let mut trace = Trace::default();
        let outcome = self.run(msg.as_bytes(), ingest_ms, Some(&mut trace));
        let (result, error_message) = match outcome {
            Outcome::Rows(rows) => (rows, String::new()),
            Outcome::Failed { label, error } => (Vec::new(), format!("{label}: {error}")),
        };
        let output_type: Map<String, Value> = trace
            .nodes
            .iter()
            .map(|(k, v)| (k.clone(), json!({"type": types::java_type(v), "value": v})))
            .collect();
        json!({
            "result": result,
            "schema": self.schema.iter().map(|f| format!("{}({})", f.name, f.field_type.name())).collect::<Vec<_>>(),
            "display": self.schema.iter().map(|f| f.display).collect::<Vec<_>>(),
            "nodes": trace.nodes,
            "output_type": output_type,
            "errors": trace.errors,
            "error_message": error_message,
            "json_config_extract": self.config,
        })
    }
}

/// `cleans/verify/` for a config that may not compile: config errors answer as `errors`.
/// The rows of a branch so far merged with one child's rows: every pair, the child's fields
/// after (so they win). Values are moved where only one copy is needed.
fn cross(mut acc: Vec<Partial>, mut rows: Vec<Partial>) -> Vec<Partial> {
    if acc.len() == 1 {
        let a = acc.pop().unwrap_or_default();
        if rows.len() == 1 {
            let mut m = a;
            m.append(&mut rows[0]);
            return vec![m];
        }
        return rows
            .into_iter()
            .map(|r| {
                let mut m = a.clone();
                m.extend(r);
                m
            })
            .collect();
    }
    let mut next = Vec::with_capacity(acc.len() * rows.len().max(1));
    for a in &acc {
        for r in &rows {
            let mut m = a.clone();
            m.extend(r.iter().cloned());
            next.push(m);
        }
    }
    next
}

/// The streamed form of node `id` when it is a `from_json` followed by a branch whose
/// children all read the object by key.
fn stream_plan(nodes: &[Node], id: usize) -> Option<fused::StreamPlan> {
    if !matches!(nodes[id].op, Op::FromJson) {
        return None;
    }
    let Op::Branch(kids) = &nodes[nodes[id].next?].op else {
        return None;
    };
    let mut shapes = Vec::with_capacity(kids.len());
    for &k in kids {
        shapes.push(match &nodes[k].op {
            Op::AssignObj(specs) => fused::KidShape::Assign(
                specs
                    .iter()
                    .map(|(key, idx, ty)| (key.as_str(), *idx, fused::Conv::Typed(*ty)))
                    .collect(),
            ),
            Op::AssignJson(specs) => fused::KidShape::Assign(
                specs
                    .iter()
                    .map(|(key, idx, ty)| Some((key.as_deref()?, *idx, fused::Conv::JsonText(*ty))))
                    .collect::<Option<_>>()?,
            ),
            Op::AccessObj { key, .. } => fused::KidShape::Access(key, k),
            _ => return None,
        });
    }
    Some(fused::StreamPlan::new(shapes))
}

pub fn verify(json_config: &str, msg: &str, ingest_ms: i64) -> Result<Value, ConfigError> {
    Ok(CleanPlan::compile(json_config)?.verify(msg, ingest_ms))
}
