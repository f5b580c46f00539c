//! A `json_config` compiled the way BKData's Java engine builds it: nodes are made in
//! pre-order (unlabelled ones numbered 1, 2, … as they are made), each `assign` appends its
//! fields to the schema of the level it sits in, and each `iterate` (or `items`) opens a
//! nested level whose rows are multiplied into the level above when the record is flattened.
//! Where two fields (or two nested levels) of one level are equal, values of either land in
//! the last one's slot, as Java's `Fields.fieldIndex` resolves them.
use super::jv::J;
use super::types::FieldType;
use super::ConfigError;
use regex::Regex;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: String,
    /// The type as written, lower-cased; `ty` is `None` for a name BKData does not know
    /// (every value then casts to null).
    pub ty_name: String,
    pub ty: Option<FieldType>,
    pub dimension: bool,
    pub json: bool,
    pub internal: bool,
}

impl FieldDef {
    fn key(&self) -> String {
        format!(
            "F{}\u{0}{}\u{0}{}{}{}",
            self.name, self.ty_name, self.dimension as u8, self.json as u8, self.internal as u8
        )
    }

    /// `cast` of a string (json fields never take one).
    pub fn cast_str(&self, s: &str) -> Result<J, super::EtlError> {
        if self.json {
            return self.cast(&J::Str(s.to_string()));
        }
        match self.ty {
            Some(t) => t.cast_str(s),
            None => Ok(J::Null),
        }
    }

    /// `cast` in place (a failed cast leaves null).
    pub fn cast_in_place(&self, v: &mut J) -> Result<(), super::EtlError> {
        match (self.json, self.ty) {
            (false, Some(t)) => t.cast_in_place(v),
            _ => {
                let c = self.cast(v);
                *v = J::Null;
                c.map(|c| *v = c)
            }
        }
    }

    /// `cast` of a value the caller gives up.
    pub fn cast_owned(&self, v: J) -> Result<J, super::EtlError> {
        match (self.json, self.ty) {
            (false, Some(t)) => t.cast_owned(v),
            _ => self.cast(&v),
        }
    }

    /// `Field.castType`: json fields take maps only.
    pub fn cast(&self, v: &J) -> Result<J, super::EtlError> {
        if v.is_null() {
            return Ok(J::Null);
        }
        if self.json && self.ty.is_some_and(FieldType::is_text) {
            return match v {
                J::Map(_) => Ok(v.clone()),
                other => Err(super::EtlError::new(
                    super::ErrorKind::TypeConversion,
                    format!(
                        "can not convert {} to json {}. data type: {}",
                        other.java_string(),
                        self.ty_name,
                        other.class()
                    ),
                )),
            };
        }
        match self.ty {
            Some(t) => t.cast(v),
            None => Ok(J::Null),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Item {
    Field(usize),
    Sub(usize),
}

#[derive(Debug, Default)]
pub struct Level {
    pub items: Vec<Item>,
}

/// Where a value goes: a slot of a level, resolved after the whole config is built.
pub type Ref = usize;

#[derive(Debug)]
pub struct AssignSpec {
    pub keys: Vec<Option<String>>,
    pub slot: Ref,
    pub field: usize,
}

#[derive(Debug)]
pub enum Op {
    FromJson {
        /// Build only these keys of the object (every reader of it reads by key).
        keys: Option<Vec<String>>,
    },
    FromJsonList,
    Iterate {
        sub: Ref,
    },
    Items {
        entries: bool,
    },
    Split {
        delim: char,
        limit: usize,
    },
    Csvline,
    RegexExtract {
        re: Regex,
        keys: Vec<String>,
    },
    SplitKv {
        entry: Vec<char>,
        kv: Vec<char>,
    },
    FromUrl,
    Replace(Vec<(String, String)>),
    Zip(String, String),
    Pop,
    ToString,
    AccessObj {
        key: Option<String>,
        default: Option<J>,
    },
    AccessPos {
        index: i64,
        default: Option<J>,
    },
    AccessMulti {
        keys: Vec<String>,
        sep: String,
    },
    AssignObj(Vec<AssignSpec>),
    AssignPos(Vec<(i64, Ref, usize)>),
    AssignJson(Vec<AssignSpec>),
    AssignValue(Ref, usize),
    Branch(Vec<Option<usize>>),
    /// The first branch whose condition holds (or the last, an `else`, when there is one
    /// branch more than conditions) runs; fields only other branches assign get defaults.
    Selector {
        conds: Vec<Option<Cond>>,
        branches: Vec<Option<usize>>,
        /// Per branch: the positions (in the level) of nested levels it lacks.
        missing: Vec<Vec<usize>>,
        defaults: Vec<super::exec::Slot>,
    },
}

/// A selector condition (`{op, lval, rval}`; `$ALL`, `$0`, `$key` read the input).
#[derive(Debug)]
pub enum Cond {
    And(Box<Option<Cond>>, Box<Option<Cond>>),
    Or(Box<Option<Cond>>, Box<Option<Cond>>),
    Not(Box<Option<Cond>>),
    /// A comparison; `None` operands (not valid for the operator) make it false.
    Cmp(String, Option<Var>, Option<Var>),
}

#[derive(Debug)]
pub enum Var {
    All,
    Index(i64),
    Key(String),
    Const(J),
}

fn cond_of(v: &Value) -> Option<Cond> {
    let op = v.get("op")?.as_str()?;
    let sub = |k: &str| Box::new(v.get(k).and_then(cond_of));
    Some(match op {
        "and" => Cond::And(sub("lval"), sub("rval")),
        "or" => Cond::Or(sub("lval"), sub("rval")),
        "not" => Cond::Not(sub("lval")),
        "equal" | "not_equal" | "contains" | "startswith" | "endswith" | "greater"
        | "not_greater" | "less" | "not_less" => Cond::Cmp(
            op.to_string(),
            v.get("lval").and_then(|x| var_of(op, x)),
            v.get("rval").and_then(|x| var_of(op, x)),
        ),
        _ => return None,
    })
}

fn var_of(op: &str, v: &Value) -> Option<Var> {
    let symbol = text(v)?;
    if let Some(rest) = symbol.strip_prefix('$') {
        if symbol == "$ALL" {
            return Some(Var::All);
        }
        let name = rest.trim();
        return Some(match name.parse::<i32>() {
            Ok(i) => Var::Index(i64::from(i)),
            Err(_) => Var::Key(name.to_string()),
        });
    }
    match op {
        "equal" | "not_equal" | "startswith" | "endswith" | "contains" => {
            Some(Var::Const(J::Str(symbol)))
        }
        _ => match v {
            Value::String(s) if s.contains('.') => {
                super::types::java_parse_double(s).map(|d| Var::Const(J::Double(d)))
            }
            Value::String(s) => s.trim().parse::<i64>().ok().map(|n| Var::Const(J::Long(n))),
            other => Some(Var::Const(J::from_value(other))),
        },
    }
}

#[derive(Debug)]
pub struct Node {
    pub label: String,
    pub op: Op,
    pub next: Option<usize>,
}

/// The keys an `assign_obj` reads, for reading them straight from JSON text: each distinct
/// key once, and per spec the indexes of its keys.
#[derive(Debug)]
pub struct ObjKeys {
    pub keys: Vec<String>,
    pub per_spec: Vec<Vec<usize>>,
    /// How many specs read each key (a value read twice is copied, else moved).
    pub uses: Vec<usize>,
    /// By key: the slot it fills, when every spec reads one key, every key is read once and
    /// no two specs fill one slot (values can then be parsed straight into a flat row).
    pub direct: Option<Vec<usize>>,
}

pub struct Built {
    /// By node: the keys of an `assign_obj` that follows a `from_json`.
    pub obj_keys: Vec<Option<ObjKeys>>,
    pub nodes: Vec<Node>,
    pub root: Option<usize>,
    pub levels: Vec<Level>,
    pub fields: Vec<FieldDef>,
    /// By `Ref`: the slot in its level.
    pub slots: Vec<usize>,
}

pub struct Compiler {
    nodes: Vec<Node>,
    levels: Vec<Level>,
    fields: Vec<FieldDef>,
    cur: usize,
    stack: Vec<usize>,
    refs: Vec<(usize, Item)>,
    auto: u64,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Default for Compiler {
    fn default() -> Self {
        Compiler {
            nodes: Vec::new(),
            levels: vec![Level::default()],
            fields: Vec::new(),
            cur: 0,
            stack: Vec::new(),
            refs: Vec::new(),
            auto: 1,
        }
    }
}

impl Compiler {
    /// Compile the node tree of a config (the `extract` value, or the config itself when it
    /// has none, as BKData accepts).
    pub fn root(&mut self, root: &Value) -> Result<Option<usize>, ConfigError> {
        self.gen(root)
    }

    /// A field appended to the top level (what `derive` and `calculate` add).
    pub fn add_root_field(&mut self, f: FieldDef) -> (Ref, usize) {
        let cur = std::mem::replace(&mut self.cur, 0);
        let out = self.add_field(f);
        self.cur = cur;
        out
    }

    /// `Fields.searchFieldByName`: the last field of that name in a level, else the first
    /// found in its nested levels.
    pub fn search_field(&self, name: &str) -> Option<usize> {
        self.search_in(0, name)
    }

    fn search_in(&self, level: usize, name: &str) -> Option<usize> {
        let items = &self.levels[level].items;
        let direct = items.iter().rev().find_map(|it| match it {
            Item::Field(f) if self.fields[*f].name == name => Some(*f),
            _ => None,
        });
        direct.or_else(|| {
            items.iter().find_map(|it| match it {
                Item::Sub(l) => self.search_in(*l, name),
                _ => None,
            })
        })
    }

    pub fn field(&self, id: usize) -> &FieldDef {
        &self.fields[id]
    }

    pub fn finish(self, root: Option<usize>) -> Built {
        let slots = self.resolve();
        let obj_keys = self.nodes.iter().map(|n| obj_keys(n, &slots)).collect();
        let mut built = Built {
            obj_keys,
            nodes: self.nodes,
            root,
            levels: self.levels,
            fields: self.fields,
            slots,
        };
        project_keys(&mut built);
        built
    }
}

impl Built {
    /// The fields of the flattened row: each level's fields, then its last nested level's.
    pub fn flat_fields(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut level = Some(0);
        while let Some(l) = level {
            level = None;
            for it in &self.levels[l].items {
                match it {
                    Item::Field(f) => out.push(*f),
                    Item::Sub(s) => level = Some(*s),
                }
            }
        }
        out
    }
}

impl Compiler {
    fn label(&mut self, conf: &Value) -> String {
        match conf.get("label").and_then(text) {
            Some(l) if !l.trim().is_empty() => l,
            _ => {
                let l = self.auto.to_string();
                self.auto += 1;
                l
            }
        }
    }

    fn push_level(&mut self) -> (usize, Ref) {
        let id = self.levels.len();
        self.levels.push(Level::default());
        self.levels[self.cur].items.push(Item::Sub(id));
        let r = self.reference(self.cur, Item::Sub(id));
        self.stack.push(self.cur);
        self.cur = id;
        (id, r)
    }

    fn pop_level(&mut self) {
        self.cur = self.stack.pop().unwrap_or(0);
    }

    fn reference(&mut self, level: usize, item: Item) -> Ref {
        self.refs.push((level, item));
        self.refs.len() - 1
    }

    fn add_field(&mut self, f: FieldDef) -> (Ref, usize) {
        let id = self.fields.len();
        self.fields.push(f);
        self.levels[self.cur].items.push(Item::Field(id));
        (self.reference(self.cur, Item::Field(id)), id)
    }

    fn node(&mut self, label: String, op: Op, next: Option<usize>) -> usize {
        self.nodes.push(Node { label, op, next });
        self.nodes.len() - 1
    }

    fn gen_next(&mut self, conf: &Value) -> Result<Option<usize>, ConfigError> {
        match conf.get("next") {
            Some(n) => self.gen(n),
            None => Ok(None),
        }
    }

    /// One node and what follows it; `None` where BKData makes no node (no or unknown type,
    /// method or subtype): the node before it then reports `AssignNodeNeededError`.
    fn gen(&mut self, conf: &Value) -> Result<Option<usize>, ConfigError> {
        let Some(ty) = conf.get("type").and_then(Value::as_str) else {
            return Ok(None);
        };
        match ty.to_ascii_lowercase().as_str() {
            "fun" => self.fun(conf),
            "access" => self.access(conf),
            "assign" => self.assign(conf),
            "branch" => {
                let label = self.label(conf);
                let kids = conf.get("next").and_then(Value::as_array).ok_or_else(|| {
                    ConfigError(format!("branch {label}: next must be a list of nodes"))
                })?;
                let mut ids = Vec::with_capacity(kids.len());
                for k in kids {
                    ids.push(self.gen(k)?);
                }
                Ok(Some(self.node(label, Op::Branch(ids), None)))
            }
            _ => Ok(None),
        }
    }

    fn fun(&mut self, conf: &Value) -> Result<Option<usize>, ConfigError> {
        let method = conf
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| ConfigError("a fun node needs a method".into()))?;
        let known = [
            "from_json",
            "from_json_list",
            "iterate",
            "split",
            "csvline",
            "regex_extract",
            "splitkv",
            "from_url",
            "replace",
            "items",
            "zip",
            "pop",
            "to_string",
        ];
        if method == "selector" {
            return self.selector(conf).map(Some);
        }
        if !known.contains(&method) {
            return Ok(None);
        }
        let label = self.label(conf);
        let args: &[Value] = conf
            .get("args")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        let need = |what: &str| ConfigError(format!("node {label} ({method}): {what}"));
        let (op, next) = match method {
            "iterate" => {
                let (_, sub) = self.push_level();
                let idx_name = args
                    .first()
                    .and_then(text)
                    .unwrap_or_else(|| "_iteration_idx".into());
                let next = self.gen_next(conf)?;
                self.add_field(FieldDef {
                    name: idx_name,
                    ty_name: "int".into(),
                    ty: Some(FieldType::Int),
                    dimension: false,
                    json: false,
                    internal: true,
                });
                self.pop_level();
                (Op::Iterate { sub }, next)
            }
            "items" => {
                self.push_level();
                let next = self.gen_next(conf)?;
                let args = conf.get("args").and_then(Value::as_array).ok_or_else(|| {
                    need("args must be a list ([] or [key_field, \"dimension\"?])")
                })?;
                let entries = args.is_empty();
                if let Some(key_to) = args.first().and_then(text) {
                    let dim = args.len() == 2 && args[1].as_str() == Some("dimension");
                    self.add_field(FieldDef {
                        name: key_to,
                        ty_name: "string".into(),
                        ty: Some(FieldType::String),
                        dimension: dim,
                        json: false,
                        internal: false,
                    });
                }
                self.pop_level();
                (Op::Items { entries }, next)
            }
            _ => {
                let op = match method {
                    "from_json" => Op::FromJson { keys: None },
                    "from_json_list" => Op::FromJsonList,
                    "split" => {
                        let sep = args
                            .first()
                            .and_then(Value::as_str)
                            .ok_or_else(|| need("args[0] must be the separator"))?
                            .replace("\\n", "\n");
                        let delim = sep
                            .chars()
                            .next()
                            .ok_or_else(|| need("the separator must not be empty"))?;
                        let limit = match args.get(1) {
                            None => 1001,
                            Some(v) => int(v)
                                .ok_or_else(|| need("args[1] must be the number of parts"))?
                                .clamp(0, 1001) as usize,
                        };
                        Op::Split { delim, limit }
                    }
                    "csvline" => Op::Csvline,
                    "regex_extract" => {
                        let spec = args
                            .first()
                            .and_then(Value::as_object)
                            .ok_or_else(|| need("args[0] must be {regexp, keys}"))?;
                        let pattern = spec
                            .get("regexp")
                            .and_then(Value::as_str)
                            .ok_or_else(|| need("regexp is required"))?;
                        let re = java_regex(pattern).map_err(|e| need(&e))?;
                        let mut keys: Vec<String> = spec
                            .get("keys")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(text).collect())
                            .unwrap_or_default();
                        if keys.is_empty() {
                            keys = re.capture_names().flatten().map(str::to_string).collect();
                        }
                        if let Some(k) = keys
                            .iter()
                            .find(|k| !re.capture_names().flatten().any(|n| n == k.as_str()))
                        {
                            return Err(need(&format!("No group with name <{k}> in the regexp")));
                        }
                        Op::RegexExtract { re, keys }
                    }
                    "splitkv" => {
                        let (e, kv) = if args.len() >= 2 {
                            (
                                text(&args[0]).unwrap_or_default(),
                                text(&args[1]).unwrap_or_default(),
                            )
                        } else {
                            (",".into(), ":".into())
                        };
                        Op::SplitKv {
                            entry: e.chars().collect(),
                            kv: kv.chars().collect(),
                        }
                    }
                    "from_url" => Op::FromUrl,
                    "replace" => Op::Replace(
                        args.chunks(2)
                            .map(|c| {
                                (
                                    text(&c[0]).unwrap_or_else(|| "null".into()),
                                    c.get(1)
                                        .map(|v| text(v).unwrap_or_else(|| "null".into()))
                                        .unwrap_or_default(),
                                )
                            })
                            .collect(),
                    ),
                    "zip" => Op::Zip(
                        args.first()
                            .and_then(text)
                            .ok_or_else(|| need("args must be [listA, listB]"))?,
                        args.get(1)
                            .and_then(text)
                            .ok_or_else(|| need("args must be [listA, listB]"))?,
                    ),
                    "pop" => Op::Pop,
                    _ => Op::ToString,
                };
                (op, self.gen_next(conf)?)
            }
        };
        Ok(Some(self.node(label, op, next)))
    }

    fn default_of(&self, label: &str, conf: &Value) -> Result<Option<J>, ConfigError> {
        let ty = conf
            .get("default_type")
            .and_then(text)
            .unwrap_or_else(|| "null".into());
        if ty == "null" {
            return Ok(None);
        }
        let value = conf
            .get("default_value")
            .map(J::from_value)
            .unwrap_or(J::Null);
        let value = match value {
            J::Str(_) | J::Null => value,
            other => J::Str(other.java_string()),
        };
        match FieldType::parse_engine(&ty) {
            None => Ok(Some(J::Null)),
            Some(t) => t
                .cast(&value)
                .map(Some)
                .map_err(|e| ConfigError(format!("node {label}: default_value: {e}"))),
        }
    }

    fn access(&mut self, conf: &Value) -> Result<Option<usize>, ConfigError> {
        let sub = conf.get("subtype").and_then(Value::as_str).unwrap_or("");
        if !matches!(sub, "access_obj" | "access_pos" | "access_multi") {
            return Ok(None);
        }
        let label = self.label(conf);
        let op = match sub {
            "access_obj" => {
                let key = conf.get("key").and_then(text);
                let next = self.gen_next(conf)?;
                let default = self.default_of(&label, conf)?;
                return Ok(Some(self.node(label, Op::AccessObj { key, default }, next)));
            }
            "access_pos" => {
                let index = conf.get("index").and_then(int).ok_or_else(|| {
                    ConfigError(format!("node {label}: access_pos needs an integer index"))
                })?;
                let next = self.gen_next(conf)?;
                let default = self.default_of(&label, conf)?;
                return Ok(Some(self.node(
                    label,
                    Op::AccessPos { index, default },
                    next,
                )));
            }
            _ => {
                let keys = conf.get("keys").and_then(Value::as_str).ok_or_else(|| {
                    ConfigError(format!("node {label}: access_multi needs keys (a, b, …)"))
                })?;
                Op::AccessMulti {
                    keys: java_split_plain(keys, ','),
                    sep: conf
                        .get("separator")
                        .and_then(text)
                        .unwrap_or_else(|| "null".into()),
                }
            }
        };
        let next = self.gen_next(conf)?;
        Ok(Some(self.node(label, op, next)))
    }

    fn assign(&mut self, conf: &Value) -> Result<Option<usize>, ConfigError> {
        let sub = conf.get("subtype").and_then(Value::as_str).unwrap_or("");
        if !matches!(
            sub,
            "assign_obj" | "assign_pos" | "assign_json" | "assign_value"
        ) {
            return Ok(None);
        }
        let label = self.label(conf);
        let field_of = |item: &Value, json: bool| -> Result<FieldDef, ConfigError> {
            let name = item.get("assign_to").and_then(text).ok_or_else(|| {
                ConfigError(format!("node {label}: every assign item needs assign_to"))
            })?;
            let ty_name = match item.get("type") {
                None => "string".to_string(),
                Some(t) => text(t)
                    .ok_or_else(|| {
                        ConfigError(format!("node {label}: field {name}: type is null"))
                    })?
                    .to_lowercase(),
            };
            if json && !matches!(ty_name.as_str(), "string" | "text") {
                return Err(ConfigError(format!(
                    "BadJsonObjectError: {ty_name} is not string or text type, unable to assign json!"
                )));
            }
            Ok(FieldDef {
                ty: FieldType::parse_engine(&ty_name),
                name,
                ty_name,
                dimension: item.get("is_dimension").is_some(),
                json,
                internal: false,
            })
        };
        if sub == "assign_value" {
            let item = conf
                .get("assign")
                .filter(|a| a.is_object())
                .ok_or_else(|| {
                    ConfigError(format!(
                        "node {label}: assign_value takes one {{assign_to, type}}"
                    ))
                })?;
            let f = field_of(item, false)?;
            let (r, id) = self.add_field(f);
            return Ok(Some(self.node(label, Op::AssignValue(r, id), None)));
        }
        let items = conf
            .get("assign")
            .and_then(Value::as_array)
            .ok_or_else(|| ConfigError(format!("node {label}: assign must be a list")))?;
        let op = if sub == "assign_pos" {
            let mut specs: Vec<(i64, Ref, usize)> = Vec::new();
            for item in items {
                let index = item.get("index").and_then(int).ok_or_else(|| {
                    ConfigError(format!(
                        "node {label}: every assign_pos item needs an integer index"
                    ))
                })?;
                let f = field_of(item, false)?;
                let (r, id) = self.add_field(f);
                // One field per position: a later item at the same index replaces the earlier.
                specs.retain(|(i, ..)| *i != index);
                specs.push((index, r, id));
            }
            Op::AssignPos(specs)
        } else {
            let json = sub == "assign_json";
            let mut specs: Vec<AssignSpec> = Vec::new();
            for item in items {
                let f = field_of(item, json)?;
                let key = item.get("key").and_then(text);
                match specs
                    .iter_mut()
                    .find(|s| self.fields[s.field].name == f.name)
                {
                    Some(s) => s.keys.push(key),
                    None => {
                        let (slot, field) = self.add_field(f);
                        specs.push(AssignSpec {
                            keys: vec![key],
                            slot,
                            field,
                        });
                    }
                }
            }
            if json {
                Op::AssignJson(specs)
            } else {
                Op::AssignObj(specs)
            }
        };
        Ok(Some(self.node(label, op, None)))
    }

    fn selector(&mut self, conf: &Value) -> Result<usize, ConfigError> {
        let label = self.label(conf);
        let args: Vec<Value> = conf
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let kids = conf.get("next").and_then(Value::as_array).ok_or_else(|| {
            ConfigError(format!("selector {label}: next must be a list of nodes"))
        })?;
        let diff = kids.len() as i64 - args.len() as i64;
        if !(0..=1).contains(&diff) {
            return Err(ConfigError(format!(
                "ConditionAndBranchNotMatch: next.len - args.len should be 0 or 1, but {diff}"
            )));
        }
        let base = self.levels[self.cur].items.len();
        let mut merged: Vec<Item> = Vec::new();
        let mut merged_keys: Vec<String> = Vec::new();
        let mut branches = Vec::new();
        let mut missing = Vec::new();
        let mut temps = Vec::new();
        for k in kids {
            // Each branch is built on a schema of its own, then merged into this level.
            let t = self.levels.len();
            self.levels.push(Level::default());
            temps.push(t);
            let saved = (self.cur, std::mem::take(&mut self.stack));
            self.cur = t;
            let node = self.gen(k);
            self.cur = saved.0;
            self.stack = saved.1;
            branches.push(node?);
            let mut memo = vec![None; self.levels.len()];
            let own: Vec<String> = self.levels[t]
                .items
                .iter()
                .map(|it| self.item_key(*it, &mut memo))
                .collect();
            for (it, key) in self.levels[t].items.clone().into_iter().zip(&own) {
                if !merged_keys.contains(key) {
                    merged.push(it);
                    merged_keys.push(key.clone());
                }
            }
            missing.push(
                merged
                    .iter()
                    .zip(&merged_keys)
                    .enumerate()
                    .filter(|(_, (it, key))| matches!(it, Item::Sub(_)) && !own.contains(key))
                    .map(|(i, _)| i + base)
                    .collect(),
            );
        }
        let cur = self.cur;
        for r in &mut self.refs {
            if temps.contains(&r.0) {
                r.0 = cur;
            }
        }
        let mut defaults = vec![super::exec::Slot::Null; base];
        for it in &merged {
            defaults.push(self.default_slot(*it));
        }
        self.levels[cur].items.extend(merged);
        let conds = args.iter().map(cond_of).collect();
        Ok(self.node(
            label,
            Op::Selector {
                conds,
                branches,
                missing,
                defaults,
            },
            None,
        ))
    }

    /// A field's default is null; a nested level's is one row of defaults.
    fn default_slot(&self, it: Item) -> super::exec::Slot {
        match it {
            Item::Field(_) => super::exec::Slot::Null,
            Item::Sub(l) => super::exec::Slot::Rows(vec![self.levels[l]
                .items
                .iter()
                .map(|i| self.default_slot(*i))
                .collect()]),
        }
    }

    /// Every reference's slot: the last item of its level equal to it.
    fn resolve(&self) -> Vec<usize> {
        let mut memo: Vec<Option<String>> = vec![None; self.levels.len()];
        let keys: Vec<Vec<String>> = (0..self.levels.len())
            .map(|l| {
                self.levels[l]
                    .items
                    .iter()
                    .map(|it| self.item_key(*it, &mut memo))
                    .collect()
            })
            .collect();
        self.refs
            .iter()
            .map(|&(level, item)| {
                let k = self.item_key(item, &mut memo);
                keys[level].iter().rposition(|x| *x == k).unwrap_or(0)
            })
            .collect()
    }

    fn item_key(&self, item: Item, memo: &mut Vec<Option<String>>) -> String {
        match item {
            Item::Field(f) => self.fields[f].key(),
            Item::Sub(l) => {
                if let Some(k) = &memo[l] {
                    return k.clone();
                }
                let inner: Vec<String> = self.levels[l]
                    .items
                    .iter()
                    .map(|it| self.item_key(*it, memo))
                    .collect();
                let k = format!("S({})", inner.join("\u{1}"));
                memo[l] = Some(k.clone());
                k
            }
        }
    }
}

fn obj_keys(n: &Node, slots: &[usize]) -> Option<ObjKeys> {
    let Op::AssignObj(specs) = &n.op else {
        return None;
    };
    let mut keys: Vec<String> = Vec::new();
    let mut per_spec = Vec::new();
    for s in specs {
        let mut idx = Vec::new();
        for k in s.keys.iter().flatten() {
            let i = match keys.iter().position(|x| x == k) {
                Some(i) => i,
                None => {
                    keys.push(k.clone());
                    keys.len() - 1
                }
            };
            idx.push(i);
        }
        per_spec.push(idx);
    }
    let mut uses = vec![0; keys.len()];
    for i in per_spec.iter().flatten() {
        uses[*i] += 1;
    }
    let mut direct = Some(vec![usize::MAX; keys.len()]);
    let mut filled = std::collections::HashSet::new();
    for (spec, idx) in specs.iter().zip(&per_spec) {
        match (&idx[..], direct.as_mut()) {
            (&[k], Some(d)) if uses[k] == 1 && filled.insert(slots[spec.slot]) => {
                d[k] = slots[spec.slot]
            }
            _ => {
                direct = None;
                break;
            }
        }
    }
    Some(ObjKeys {
        direct,
        keys,
        per_spec,
        uses,
    })
}

/// Java's `String.split` on one char: trailing empty parts dropped.
pub fn java_split_plain(s: &str, c: char) -> Vec<String> {
    let mut parts: Vec<String> = s.split(c).map(str::to_string).collect();
    while parts.len() > 1 && parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    if parts.len() == 1 && parts[0].is_empty() && !s.is_empty() {
        parts.clear();
    }
    parts
}

/// A Java regular expression as Rust's regex crate reads it. Java's `\d`, `\w` and `\s` are
/// ASCII classes (Rust's are Unicode) and `\Q…\E` quotes a literal; both are translated.
/// Python's `(?P<name>` is a syntax error in Java (BKData refuses it); look-around and
/// back-references, which Java has and this engine does not, are refused with a clear message.
pub fn java_regex(pattern: &str) -> Result<Regex, String> {
    if let Some(i) = pattern.find("(?P<") {
        return Err(format!(
            "PatternSyntaxException: Unknown inline modifier near index {} (Java writes named groups as (?<name>…))",
            i + 2
        ));
    }
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str("[0-9]"),
            Some('D') => out.push_str("[^0-9]"),
            Some('w') => out.push_str("[a-zA-Z0-9_]"),
            Some('W') => out.push_str("[^a-zA-Z0-9_]"),
            Some('s') => out.push_str("[ \\t\\n\\x0B\\f\\r]"),
            Some('S') => out.push_str("[^ \\t\\n\\x0B\\f\\r]"),
            Some('Q') => {
                let mut lit = String::new();
                while let Some(q) = chars.next() {
                    if q == '\\' && chars.peek() == Some(&'E') {
                        chars.next();
                        break;
                    }
                    lit.push(q);
                }
                out.push_str(&regex::escape(&lit));
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Regex::new(&out).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("look-around") || msg.contains("backreferences") {
            format!("invalid regexp: look-around and back-references are not supported: {msg}")
        } else {
            format!("invalid regexp: {msg}")
        }
    })
}

/// Let a `from_json` build only the keys its readers need, when every reader reads by key
/// (an assign_obj, an assign_json of named keys, an access_obj, a branch of these).
fn project_keys(b: &mut Built) {
    for id in 0..b.nodes.len() {
        if !matches!(b.nodes[id].op, Op::FromJson { .. }) {
            continue;
        }
        let mut keys = Vec::new();
        if let Some(next) = b.nodes[id].next {
            if readers_keys(&b.nodes, next, &mut keys) {
                b.nodes[id].op = Op::FromJson { keys: Some(keys) };
            }
        }
    }
}

fn readers_keys(nodes: &[Node], id: usize, out: &mut Vec<String>) -> bool {
    let mut add = |k: &Option<String>| match k {
        Some(k) => {
            if !out.contains(k) {
                out.push(k.clone());
            }
            true
        }
        None => false,
    };
    match &nodes[id].op {
        Op::AssignObj(specs) => specs.iter().all(|s| s.keys.iter().all(&mut add)),
        Op::AssignJson(specs) => specs.iter().all(|s| {
            s.keys
                .iter()
                .all(|k| k.as_deref() != Some("__all_keys__") && add(k))
        }),
        Op::AccessObj { key, .. } => add(key),
        Op::Branch(kids) => {
            let kids = kids.clone();
            kids.iter()
                .all(|k| k.is_some_and(|k| readers_keys(nodes, k, out)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::java_regex;

    #[test]
    fn java_regex_classes_are_ascii() {
        let re = java_regex(r"^(?<n>\d+)\s(?<w>\w+)$").unwrap();
        assert!(re.is_match("12 ab_c"));
        assert!(!re.is_match("١٢ ab"), "Arabic digits are not \\d in Java");
        let re = java_regex(r"[\d.]+\Q(x)\E").unwrap();
        assert!(re.is_match("1.5(x)"));
        assert!(java_regex(r"(?<a>x)\k<a>").is_err());
        assert!(java_regex(r"(?P<a>x)")
            .unwrap_err()
            .contains("PatternSyntaxException"));
    }
}
